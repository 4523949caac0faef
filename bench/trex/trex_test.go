// Package trex holds dexplane's TRex profiles and runner (Python, in this
// directory) and the Go test that checks the bytes they build: the profiles
// are imported without TRex by Debian's python3 with scapy, their packets
// written to a pcap, and the pcap decoded by `dexplane decode --json`.
package trex

import (
	"bytes"
	"encoding/json"
	"fmt"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/dexplane/dexplane/bench/scenario"
	"github.com/dexplane/dexplane/internal/decodejson"
	"github.com/dexplane/dexplane/internal/testutil"
)

// debianPython is the interpreter the test uses: Debian's, where the
// python3-scapy package installs scapy (not a pyenv/venv python on PATH).
const debianPython = "/usr/bin/python3"

// expectation is what selftest.py says it built for one packet: the case,
// and the DEX fields (ns, ext_flags, trace_type, flow_id, seq) under the
// keys `dexplane decode --json` uses.
type expectation struct {
	Case     map[string]any `json:"case"`
	Stream   string         `json:"stream"`
	FrameLen int            `json:"frame_len"`
	Encap    string         `json:"encap"`
	decodejson.Option
}

func eqPtr[T comparable](a, b *T) bool {
	if a == nil || b == nil {
		return a == nil && b == nil
	}
	return *a == *b
}

func show[T any](p *T) string {
	if p == nil {
		return "absent"
	}
	return fmt.Sprint(*p)
}

func TestProfilesDecodeWithDexplane(t *testing.T) {
	testutil.NeedTool(t, debianPython, "Debian's python3, with python3-scapy")
	if out, code := testutil.Run(t, debianPython, "-c", "import scapy.all"); code != 0 {
		t.Skipf("needs scapy for %s (apt-get install python3-scapy): exit %d\n%s", debianPython, code, out)
	}
	testutil.NeedTool(t, "go", "to run dexplane decode")
	dir := t.TempDir()
	pcap := filepath.Join(dir, "profiles.pcap")

	var stdout, stderr bytes.Buffer
	cmd := exec.Command(debianPython, "selftest.py", pcap)
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	if err := cmd.Run(); err != nil {
		t.Fatalf("selftest.py: %v\n%s", err, stderr.String())
	}
	var want []expectation
	if err := json.Unmarshal(stdout.Bytes(), &want); err != nil {
		t.Fatalf("selftest.py output: %v\n%s", err, stdout.String())
	}

	bin := testutil.BuildDexplane(t)
	got := testutil.DecodePcap(t, bin, pcap)
	if len(got) != len(want) {
		t.Fatalf("decoded %d packets, profiles built %d", len(got), len(want))
	}
	for i, w := range want {
		g := got[i]
		name := fmt.Sprintf("packet %d (%v, stream %s)", i, w.Case, w.Stream)
		if !g.OK {
			t.Errorf("%s: decode error %s", name, g.Error)
			continue
		}
		if g.Encap != w.Encap {
			t.Errorf("%s: encap %q, want %q", name, g.Encap, w.Encap)
		}
		if w.Encap == "none" {
			if len(g.IOAM) != 0 {
				t.Errorf("%s: plain packet carries IOAM %+v", name, g.IOAM)
			}
			continue
		}
		if len(g.IOAM) != 1 {
			t.Errorf("%s: %d IOAM options, want 1", name, len(g.IOAM))
			continue
		}
		o := g.IOAM[0]
		if o.OptionType != 0x31 || o.IOAMType != 4 || !eqPtr(o.NS, w.NS) || !eqPtr(o.ExtFlags, w.ExtFlags) ||
			!eqPtr(o.TraceType, w.TraceType) || !eqPtr(o.FlowID, w.FlowID) || !eqPtr(o.Seq, w.Seq) {
			t.Errorf("%s: option %#x type %d ns %s ext %s trace %s flow %s seq %s; want 0x31 type 4 ns %s ext %s trace %s flow %s seq %s",
				name, o.OptionType, o.IOAMType, show(o.NS), show(o.ExtFlags), show(o.TraceType), show(o.FlowID), show(o.Seq),
				show(w.NS), show(w.ExtFlags), show(w.TraceType), show(w.FlowID), show(w.Seq))
		}
	}
}

// The TRex runner must write the CSV columns and scenario names of
// bench/scenario, so that dexbench plot draws its results beside ours.
func TestRunnerMatchesScenarioColumnsAndNames(t *testing.T) {
	testutil.NeedTool(t, debianPython, "Debian's python3, with python3-scapy")
	out, code := testutil.Run(t, debianPython, "-c", "import run_matrix; print(','.join(run_matrix.COLUMNS))")
	if code != 0 {
		if strings.Contains(out, "No module named 'scapy'") {
			t.Skipf("needs scapy for %s: %s", debianPython, out)
		}
		t.Fatalf("import run_matrix: exit %d\n%s", code, out)
	}
	if got, want := strings.TrimSpace(out), strings.Join(scenario.Columns(), ","); got != want {
		t.Errorf("run_matrix.COLUMNS\n got %s\nwant %s", got, want)
	}
	out, code = testutil.Run(t, debianPython, "run_matrix.py", "--list", "--matrix", "paper")
	if code != 0 {
		t.Fatalf("run_matrix.py --list: exit %d\n%s", code, out)
	}
	known := map[string]bool{}
	for _, s := range scenario.Full() {
		known[s.Name()] = true
	}
	for _, name := range strings.Fields(out) {
		if !known[name] {
			t.Errorf("run_matrix.py scenario %q is not named like any bench/scenario scenario", name)
		}
	}
}
