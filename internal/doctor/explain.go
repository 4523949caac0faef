package doctor

import (
	"errors"
	"fmt"
	"net"
	"strings"

	"github.com/cilium/ebpf"
	"golang.org/x/sys/unix"

	"github.com/dexplane/dexplane/steering"
)

// Sentinel errors a first-run error wraps, for callers that branch.
var (
	// ErrNoInterface: a port names an interface that does not exist.
	ErrNoInterface = errors.New("no such interface")
	// ErrPrivileges: a capability or the locked-memory limit is missing.
	ErrPrivileges = errors.New("missing privileges")
	// ErrKernelFeature: the kernel lacks a feature dexplane needs.
	ErrKernelFeature = errors.New("kernel lacks a feature")
	// ErrQueueBusy: another AF_XDP socket is bound to a port's queue.
	ErrQueueBusy = errors.New("queue in use by another AF_XDP socket")
)

// FirstRunError is an error that says what went wrong, why, and what to
// do about it. Error returns the three on separate lines:
//
//	what
//	  cause: why
//	  fix:   what to do (further lines indented alike)
type FirstRunError struct {
	// What happened; Cause, why; Fix, the commands that resolve it.
	What, Cause, Fix string
	// Err is the underlying error (a sentinel of this package and/or the
	// error the data plane returned).
	Err error
}

// Error returns What, then the cause and the fix on indented lines.
func (e *FirstRunError) Error() string {
	var b strings.Builder
	b.WriteString(e.What)
	if e.Cause != "" {
		b.WriteString("\n  cause: ")
		b.WriteString(e.Cause)
	}
	if e.Fix != "" {
		for i, l := range strings.Split(e.Fix, "\n") {
			if i == 0 {
				b.WriteString("\n  fix:   ")
			} else {
				b.WriteString("\n         ")
			}
			b.WriteString(l)
		}
	}
	return b.String()
}

// Unwrap returns the underlying error.
func (e *FirstRunError) Unwrap() error { return e.Err }

// Host is what the preflight checks read from the running process and
// kernel; CurrentHost reads it, tests set it.
type Host struct {
	// Caps is the effective capability set (CapEff).
	Caps uint64
	// Memlock is RLIMIT_MEMLOCK's soft limit (unix.RLIM_INFINITY: none).
	Memlock uint64
	// Kernel is the release, such as "6.1.0-18-amd64"; Major.Minor its version.
	Kernel       string
	Major, Minor int
	// Interfaces reports whether an interface exists.
	Interfaces func(name string) bool
}

// CurrentHost reads the calling process's capabilities, memlock limit,
// the kernel release and the interfaces of its network namespace.
func CurrentHost() Host {
	h := Host{Interfaces: func(name string) bool { _, err := net.InterfaceByName(name); return err == nil }}
	h.Caps, _ = effectiveCaps()
	var lim unix.Rlimit
	if unix.Getrlimit(unix.RLIMIT_MEMLOCK, &lim) == nil {
		h.Memlock = lim.Cur
	}
	h.Kernel, h.Major, h.Minor = kernelRelease()
	return h
}

// Preflight checks, before anything is loaded or attached, what a first
// run most often lacks: the ports' interfaces and the privileges. It
// returns nil or a *FirstRunError naming every problem found.
func Preflight(t *Target, h Host) error {
	var errs []*FirstRunError
	var missing []string
	for p := range 2 {
		if h.Interfaces != nil && !h.Interfaces(t.Ports[p].Name) {
			missing = append(missing, fmt.Sprintf("\n  %s: no interface %q in this network namespace", t.portLabel(p), t.Ports[p].Name))
		}
	}
	if len(missing) > 0 {
		errs = append(errs, &FirstRunError{Err: ErrNoInterface,
			What:  "a port of " + t.Source + " does not exist:" + strings.Join(missing, ""),
			Cause: "the configuration names interfaces this host (or namespace) does not have",
			Fix:   HowToGivePorts})
	}
	if e := privileges(t, h); e != nil {
		errs = append(errs, e)
	}
	switch len(errs) {
	case 0:
		return nil
	case 1:
		return errs[0]
	}
	joined := make([]error, len(errs))
	for i, e := range errs {
		joined[i] = e
	}
	return errors.Join(joined...)
}

// privileges names the missing capabilities and whether memlock is short.
func privileges(t *Target, h Host) *FirstRunError {
	has := func(bit uint) bool { return h.Caps&(1<<bit) != 0 }
	memOK := h.Memlock == unix.RLIM_INFINITY || h.Memlock >= t.MemlockBytes || has(capIPCLock)
	var missing []string
	for _, c := range neededCaps {
		switch {
		case has(c.bit):
		case c.bit == capBPF && (has(capSysAdmin) || h.Major != 0 && !versionAtLeast(h.Major, h.Minor, "5.8")):
		case c.bit == capIPCLock: // only needed when memlock is short: said below
		default:
			missing = append(missing, fmt.Sprintf("%s (%s)", c.name, c.why))
		}
	}
	if len(missing) == 0 && memOK {
		return nil
	}
	e := &FirstRunError{Err: ErrPrivileges}
	if len(missing) > 0 {
		e.What = "missing capabilities: " + strings.Join(missing, ", ")
		e.Cause = "dexplane loads an XDP program and opens AF_XDP sockets, which need these capabilities; this process does not hold them (not root?)"
		e.Fix = CapsFix
	}
	if !memOK {
		m := fmt.Sprintf("no CAP_IPC_LOCK, and RLIMIT_MEMLOCK is %s but the node locks %s of UMEM (%d worker(s) × dataplane.umem_frames × frame_size)",
			limitStr(h.Memlock), bytesStr(t.MemlockBytes), max(t.Queues, 1))
		if e.What == "" {
			e.What, e.Cause, e.Fix = m, "the kernel charges AF_XDP UMEM pages to RLIMIT_MEMLOCK unless the process holds CAP_IPC_LOCK", MemlockFix
		} else {
			e.What += "; " + m // CapsFix grants CAP_IPC_LOCK too
		}
	}
	return e
}

// Explain turns an error from starting the data plane into a
// *FirstRunError that names the cause and the fix, when it recognises it;
// otherwise it returns err unchanged.
func Explain(t *Target, h Host, err error) error {
	if err == nil {
		return nil
	}
	var fre *FirstRunError
	if errors.As(err, &fre) {
		return err
	}
	switch {
	case errors.Is(err, steering.ErrForeignProgram) || errors.Is(err, steering.ErrPortBusy):
		for p := range 2 {
			x, xerr := AttachedXDP(t.Ports[p].Name)
			// The engine names the port it failed on: `port 0 "eth1"`.
			if xerr != nil || x == nil || !strings.Contains(err.Error(), fmt.Sprintf("port %d %q", p, t.Ports[p].Name)) {
				continue
			}
			return ExplainXDP(t, p, x, err)
		}
		return &FirstRunError{What: err.Error(), Err: err,
			Cause: "a port already has an XDP program that dexplane may not replace",
			Fix:   "see it with: ip -d link show dev IF; dexplane doctor names it and its detach command"}
	case errors.Is(err, unix.EBUSY) && strings.Contains(err.Error(), "xsk: bind"):
		cause := "another AF_XDP socket is bound to that queue: another dexplane on the same ports, or another AF_XDP program"
		var held []string
		for p := range 2 {
			if ifc, ierr := net.InterfaceByName(t.Ports[p].Name); ierr == nil {
				xs, _ := BoundXSKs(ifc.Index)
				for _, x := range xs {
					held = append(held, fmt.Sprintf("%s: %s", t.portLabel(p), x))
				}
			}
		}
		if len(held) > 0 {
			cause += "\n         " + strings.Join(held, "\n         ")
		}
		return &FirstRunError{What: err.Error(), Err: errors.Join(ErrQueueBusy, err), Cause: cause,
			Fix: "find it: ss -a --xdp -p (the owning process is listed); stop it, or give this node other ports"}
	case errors.Is(err, unix.EPERM) || errors.Is(err, unix.EACCES):
		if e := privileges(t, h); e != nil {
			e.What += "\n  (the data plane failed with: " + err.Error() + ")"
			e.Err = errors.Join(ErrPrivileges, err)
			return e
		}
		return &FirstRunError{What: err.Error(), Err: errors.Join(ErrPrivileges, err),
			Cause: "the kernel refused although the process holds CAP_NET_ADMIN, CAP_BPF, CAP_NET_RAW and CAP_IPC_LOCK: a seccomp or LSM policy (a container runtime?) or kernel.unprivileged_bpf_disabled in a user namespace",
			Fix:   "run in the host's user namespace with those capabilities (a privileged container), or allow bpf(2) in the seccomp profile"}
	case errors.Is(err, ebpf.ErrNotSupported) || errors.Is(err, unix.EAFNOSUPPORT) || errors.Is(err, unix.EINVAL) && strings.Contains(err.Error(), "ebpf:"):
		for _, f := range kernelFeatures {
			if f.probe == nil || !f.required {
				continue
			}
			if perr := probeFeature(f); errors.Is(perr, ebpf.ErrNotSupported) {
				return &FirstRunError{What: err.Error(), Err: errors.Join(ErrKernelFeature, err),
					Cause: fmt.Sprintf("kernel %s lacks %s (Linux %s), needed for %s", h.Kernel, f.name, f.minimum, f.why),
					Fix:   fmt.Sprintf("upgrade to Linux %s or later; dexplane doctor lists every feature it probes", MinKernel)}
			}
		}
	}
	return err
}

// probeFeature runs f's probe; tests replace it to play an older kernel.
var probeFeature = func(f feature) error { return f.probe() }

// stopOther is how to stop the dexplane holding x.
func stopOther(x *XDPProgram) string {
	if x.LinkPID != 0 {
		return fmt.Sprintf("stop it: kill %d (%s), or systemctl stop dexplane if it runs as the service;\nor give this node other ports", x.LinkPID, x.LinkComm)
	}
	return fmt.Sprintf("stop it: systemctl stop dexplane, or the process `bpftool link show id %d` names;\nor give this node other ports", x.LinkID)
}

// ExplainXDP explains a port that already has an XDP program.
func ExplainXDP(t *Target, p int, x *XDPProgram, err error) *FirstRunError {
	name := t.Ports[p].Name
	if x.Ours && x.LinkID != 0 {
		return &FirstRunError{What: fmt.Sprintf("%s of %s is in use: %s", t.portLabel(p), t.Source, x), Err: err,
			Cause: "another dexplane runs on this port (its program is held by a bpf_link of a live process)",
			Fix:   stopOther(x)}
	}
	return &FirstRunError{What: fmt.Sprintf("%s of %s is in use: %s", t.portLabel(p), t.Source, x), Err: err,
		Cause: "another program uses this port, and dexplane does not remove other people's programs",
		Fix:   "if it may go, detach it: " + x.Detach(name) + "\nthen start dexplane again"}
}
