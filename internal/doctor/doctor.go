// Package doctor checks a host before dexplane attaches anything to it: the
// kernel and the BPF and AF_XDP features the data plane uses (probed by
// syscall the way github.com/cilium/ebpf/features probes, not guessed from
// the version), the process's capabilities and locked-memory limit, each
// port (driver, native XDP and zero-copy support, channels versus
// dataplane.queues, RSS spread, IRQ affinity versus dataplane.cpus, TX
// checksum offload, MTU versus the largest route overhead, another XDP
// program already attached) and the reachability of the collectors.
//
// Every check yields one [Check] with a status and, for a warning or an
// error, the command that fixes it. The package also turns the errors a
// first run hits into messages that name the cause and the fix
// ([Explain]).
//
// Checks only read: nothing is attached to a port, no socket is bound to
// a port's queue. Feature probes load tiny programs and create tiny maps
// and sockets that are closed before Run returns; the bpf_link probe
// attaches to the loopback device, and the shared-UMEM probe binds two
// AF_XDP sockets to a veth pair, of a private network namespace that exists
// only for the probe (on a thread of its own). Run must be called in the
// node's network namespace. It is safe for concurrent use.
package doctor

import (
	"encoding/json"
	"fmt"
	"io"
	"strings"
)

// Status is the outcome of one check.
type Status int

// Check outcomes, in increasing severity.
const (
	OK   Status = iota // ✓ nothing to do
	Warn               // ⚠ dexplane runs, but not as well as it could
	Fail               // ✗ dexplane will not run, or will not do its job
)

// String returns the symbol printed for s: ✓, ⚠ or ✗.
func (s Status) String() string {
	switch s {
	case OK:
		return "✓"
	case Warn:
		return "⚠"
	default:
		return "✗"
	}
}

// MarshalText encodes s as "ok", "warn" or "fail" (for --json).
func (s Status) MarshalText() ([]byte, error) {
	switch s {
	case OK:
		return []byte("ok"), nil
	case Warn:
		return []byte("warn"), nil
	default:
		return []byte("fail"), nil
	}
}

// UnmarshalText decodes what MarshalText encodes.
func (s *Status) UnmarshalText(b []byte) error {
	switch string(b) {
	case "ok":
		*s = OK
	case "warn":
		*s = Warn
	case "fail":
		*s = Fail
	default:
		return fmt.Errorf("doctor: status %q: want ok, warn or fail", b)
	}
	return nil
}

// Find returns the first check of scope (a prefix, such as "port 0")
// named name, or nil.
func (r *Report) Find(scope, name string) *Check {
	for i := range r.Checks {
		if strings.HasPrefix(r.Checks[i].Scope, scope) && r.Checks[i].Name == name {
			return &r.Checks[i]
		}
	}
	return nil
}

// Check is the result of one check.
type Check struct {
	// Scope is what was checked: "host", "port 0 west", "collector ADDR".
	Scope string `json:"scope"`
	// Name is the short name of the check, such as "CAP_BPF" or "mtu".
	Name string `json:"name"`
	// Status is the outcome.
	Status Status `json:"status"`
	// Detail says what was found.
	Detail string `json:"detail"`
	// Fix is the command (or configuration change) that resolves a
	// warning or an error; empty when Status is OK.
	Fix string `json:"fix,omitempty"`
}

// Report is the outcome of Run.
type Report struct {
	// Source names the configuration the checks used.
	Source string `json:"source"`
	// Checks are in the order they ran: host, ports, collectors.
	Checks []Check `json:"checks"`
}

// Worst returns the highest severity among the checks (OK when none).
func (r *Report) Worst() Status {
	w := OK
	for _, c := range r.Checks {
		w = max(w, c.Status)
	}
	return w
}

// ExitCode is the exit status of `dexplane doctor`: 0 when every check
// passed, 1 with warnings only, 2 with an error.
func (r *Report) ExitCode() int { return int(r.Worst()) }

// WriteText writes one line per check: the symbol, the scope, the name and
// the detail, and for a warning or an error an indented "fix:" line ("as
// above" when it repeats the previous fix).
func (r *Report) WriteText(w io.Writer) error {
	var b strings.Builder
	fmt.Fprintf(&b, "dexplane doctor: %s\n", r.Source)
	scope, lastFix := "", ""
	for _, c := range r.Checks {
		if c.Scope != scope {
			scope = c.Scope
			fmt.Fprintf(&b, "%s:\n", scope)
		}
		fmt.Fprintf(&b, "  %s %-18s %s\n", c.Status, c.Name, c.Detail)
		if c.Fix != "" && c.Fix == lastFix {
			fmt.Fprintf(&b, "      fix: as above\n")
		} else if c.Fix != "" {
			lastFix = c.Fix
			for i, l := range strings.Split(c.Fix, "\n") {
				if i == 0 {
					fmt.Fprintf(&b, "      fix: %s\n", l)
				} else {
					fmt.Fprintf(&b, "           %s\n", l)
				}
			}
		}
	}
	var n [3]int
	for _, c := range r.Checks {
		n[c.Status]++
	}
	fmt.Fprintf(&b, "%d ok, %d warning(s), %d error(s)\n", n[OK], n[Warn], n[Fail])
	_, err := io.WriteString(w, b.String())
	return err
}

// WriteJSON writes the report as one JSON object with the exit code.
func (r *Report) WriteJSON(w io.Writer) error {
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	return enc.Encode(struct {
		*Report
		Exit int `json:"exit"`
	}{r, r.ExitCode()})
}

// add appends a check.
func (r *Report) add(scope, name string, s Status, detail, fix string) {
	if s == OK {
		fix = ""
	}
	r.Checks = append(r.Checks, Check{Scope: scope, Name: name, Status: s, Detail: detail, Fix: fix})
}
