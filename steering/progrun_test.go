package steering_test

import (
	"bytes"
	"testing"

	"github.com/cilium/ebpf"

	"github.com/dexplane/dexplane/dataplane/policy"
	"github.com/dexplane/dexplane/steering"
)

// Per-frame tests of dxp_steer without a network: BPF_PROG_TEST_RUN
// (Program.Run) runs a port's copy of the program on one frame and
// reports its action and output; the maps and counters are the real ones.
// The frame arrives on RX queue 0, which has no AF_XDP socket, so a frame
// steered to a worker is counted under its reason and then as
// ReasonXSKMiss, and crosses to the peer like every other frame that is not
// dropped: its action is XDP_REDIRECT to tx_ports (the loopback device
// stands in for the peer) and its output carries the metadata.

// XDP actions (enum xdp_action).
const (
	xdpDrop     = 1
	xdpRedirect = 4
)

// xdpRun is dxp_steer loaded for BPF_PROG_TEST_RUN, one copy per port
// asked for, sharing the node's maps.
type xdpRun struct {
	objs  *steering.Objects
	progs [steering.MaxPorts]*ebpf.Program
}

// xdpResult is what one frame did.
type xdpResult struct {
	action  uint32
	reason  steering.Reason // the one classification counted
	n       int             // classifications counted (1 unless broken)
	meta    steering.Meta
	hasMeta bool
	metaRaw []byte // the output's octets before the packet
	out     []byte // the frame as it leaves, without metadata
}

// newXDPRun loads opts' objects (skipping when not root) and the programs
// of ports 0 .. len(roles)-1, port i with role roles[i] (each load runs the
// verifier: load only the ports a test sends frames into).
func newXDPRun(t testing.TB, opts steering.Options, roles ...policy.Domain) *xdpRun {
	t.Helper()
	skipIfNoBPF(t)
	opts.Logger = quiet
	objs, err := steering.Load(opts)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { objs.Close() })
	x := &xdpRun{objs: objs}
	for p, role := range roles {
		if err := objs.SetPeerForTest(p, 1); err != nil { // lo
			t.Fatal(err)
		}
		if x.progs[p], err = objs.ProgramForTest(p, role); err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { x.progs[p].Close() })
	}
	return x
}

// counters returns the program's counters of both ports.
func (x *xdpRun) counters(t testing.TB) steering.Counters {
	t.Helper()
	c, err := x.objs.Counters()
	if err != nil {
		t.Fatal(err)
	}
	return c
}

// run sends frame into port's program once.
func (x *xdpRun) run(t testing.TB, port int, frame []byte) xdpResult {
	t.Helper()
	before := x.counters(t)
	out := make([]byte, len(frame)+256)
	opts := &ebpf.RunOptions{Data: frame, DataOut: out}
	action, err := x.progs[port].Run(opts)
	if err != nil {
		t.Fatalf("BPF_PROG_TEST_RUN port %d: %v (frame %x)", port, err, frame)
	}
	after := x.counters(t)
	r := xdpResult{action: action}
	for c := steering.ReasonNotIPv6; c < steering.ReasonXSKMiss; c++ {
		if d := after[port][c].Packets - before[port][c].Packets; d != 0 {
			r.reason, r.n = c, r.n+int(d)
		}
	}
	// The output starts at data_meta: metadata, if any, then the packet.
	if extra := len(opts.DataOut) - len(frame); extra >= 0 {
		r.out, r.metaRaw = opts.DataOut[extra:], opts.DataOut[:extra]
		r.meta, r.hasMeta = steering.ParseMeta(r.metaRaw)
	}
	return r
}

// Ethernet addresses of the frames the per-frame tests build.
const (
	macA = "02:00:00:00:00:0a"
	macB = "02:00:00:00:00:0b"
)

// checkFate checks what dxp_steer did with frame: counted under exactly one
// classification; a malformed frame dropped (XDP_DROP); every other frame
// crossing to the peer (XDP_REDIRECT: RX queue 0 has no socket) with its
// octets unchanged; a steered frame carrying the metadata of its reason in
// front (route id only for ReasonSampled), an unsteered one none.
func checkFate(t *testing.T, name string, r xdpResult, frame []byte) {
	t.Helper()
	switch {
	case r.n != 1:
		t.Errorf("%s: counted under %d classifications", name, r.n)
	case r.reason.Dropped():
		if r.action != xdpDrop {
			t.Errorf("%s: %v, action %d, want XDP_DROP", name, r.reason, r.action)
		}
	default:
		if r.action != xdpRedirect || !bytes.Equal(r.out, frame) {
			t.Errorf("%s: %v, action %d, out %x; want XDP_REDIRECT of the frame unchanged", name, r.reason, r.action, r.out)
		}
		want := r.reason.Steered()
		if r.hasMeta != want || (want && r.meta.Reason != r.reason) || (r.meta.RouteID != 0 && r.reason != steering.ReasonSampled) {
			t.Errorf("%s: %v, metadata %+v (present %v), want present %v with that reason", name, r.reason, r.meta, r.hasMeta, want)
		}
	}
}
