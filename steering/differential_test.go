package steering_test

import (
	"bytes"
	"encoding/hex"
	"fmt"
	"net/netip"
	"os"
	"strings"
	"sync"
	"sync/atomic"
	"testing"

	"github.com/dexplane/dexplane/dataplane"
	"github.com/dexplane/dexplane/dataplane/handle"
	dxnode "github.com/dexplane/dexplane/dataplane/node"
	"github.com/dexplane/dexplane/dataplane/packet"
	"github.com/dexplane/dexplane/dataplane/policy"
	"github.com/dexplane/dexplane/dataplane/telemetry"
	"github.com/dexplane/dexplane/internal/hostile"
	"github.com/dexplane/dexplane/internal/specvec"
	"github.com/dexplane/dexplane/steering"
)

// The differential test runs every frame through dxp_steer with
// BPF_PROG_TEST_RUN (no network) in steer: sampled and through the Go node
// in steer: all (every frame to the worker, which samples), and checks one
// classifier:
//
//   - a frame dxp_steer drops (malformed IPv6) the node drops too;
//   - a frame dxp_steer lets cross in the kernel the node forwards
//     byte for byte unchanged, so the two modes put the same frame on the
//     wire;
//   - every route's k/n counter moves by the same amount in XDP and in Go
//     for every frame, so both select the same packets on any sequence
//     (the counters are 64 bits in both);
//   - a frame dxp_steer steers to a worker leaves the steer: sampled node,
//     which takes dxp_steer's decision from the metadata the program wrote
//     in front of it (dataplane.Presampled, as the daemon wires it) and
//     never samples again, exactly as it leaves the steer: all node
//     (verdict and bytes).
//
// Frames shorter than an Ethernet header are skipped: BPF_PROG_TEST_RUN
// refuses them (devices never deliver them either).

// diffHarness holds one role's XDP program and its two Go nodes.
type diffHarness struct {
	role   telemetry.Role
	x      *xdpRun         // dxp_steer; the frames arrive on port 0
	all    *dxnode.Handler // steer: all
	smp    *dxnode.Handler // steer: sampled
	snapA  *policy.Snapshot
	snapS  *policy.Snapshot
	routes []policy.Route
}

// diffSpec is hostile.Spec(r) with k/n samplers that select only some
// frames, on two routes.
func diffSpec(r telemetry.Role) policy.Spec {
	s := hostile.Spec(r)
	s.Routes[0].K, s.Routes[0].N = 2, 5
	extra := s.Routes[0]
	extra.Prefix = netip.MustParsePrefix("2001:db8:9::/48") // hostile's addrOther
	extra.K, extra.N = 1, 3
	s.Routes = append(s.Routes, extra)
	return s
}

func newDiffHarness(t testing.TB, r telemetry.Role) *diffHarness {
	return newDiffHarnessSpec(t, r, diffSpec(r))
}

// newDiffHarnessSpec is newDiffHarness for a given policy; the XDP options
// are the engine's for it (dataplane.OptionsFromSnapshot: PassForeignHbH
// when no outside port drops or strips foreign IOAM).
func newDiffHarnessSpec(t testing.TB, r telemetry.Role, spec policy.Spec) *diffHarness {
	t.Helper()
	h := &diffHarness{role: r}
	var err error
	if h.snapA, err = policy.New(spec, nil); err != nil {
		t.Fatal(err)
	}
	if h.snapS, err = policy.New(spec, nil); err != nil {
		t.Fatal(err)
	}
	h.routes = h.snapA.Routes.Routes()
	var pa, ps atomic.Pointer[policy.Snapshot]
	pa.Store(h.snapA)
	ps.Store(h.snapS)
	if h.all, err = dxnode.New(dxnode.Config{Policy: &pa, RingSize: 64}); err != nil {
		t.Fatal(err)
	}
	if h.smp, err = dxnode.New(dxnode.Config{Policy: &ps, RingSize: 64, Presampled: dataplane.Presampled}); err != nil {
		t.Fatal(err)
	}
	opts, err := dataplane.OptionsFromSnapshot(h.snapA)
	if err != nil {
		t.Fatal(err)
	}
	h.x = newXDPRun(t, steering.Options{Steer: policy.SteerSampled, PassForeignHbH: opts.PassForeignHbH}, opts.Roles[0])
	var sr []steering.SteerRoute
	for _, rt := range h.routes {
		sr = append(sr, steering.SteerRoute{Prefix: rt.Prefix, RouteID: uint32(rt.ID), K: rt.K, N: rt.N})
	}
	if err := h.x.objs.SetRoutes(sr); err != nil {
		t.Fatal(err)
	}
	if err := h.x.objs.SetDecapEndpoints(h.snapA.DecapEndpoints.All()); err != nil {
		t.Fatal(err)
	}
	return h
}

// runGo hands frame to n as a worker would (in a chunk with headroom, meta
// the octets right before it) and returns the verdict and the frame as it
// leaves (nil when dropped).
func runGo(n *dxnode.Handler, meta, frame []byte) (handle.Verdict, []byte) {
	const headroom = 256
	buf := make([]byte, headroom+len(frame)+64)
	copy(buf[headroom-len(meta):], meta)
	copy(buf[headroom:], frame)
	f := &handle.Frame{Buf: buf, Off: headroom, Len: len(frame), RxTime: 1_700_000_000_000_000_000}
	v := n.Handle(f)
	if v == handle.Drop {
		return v, nil
	}
	return v, append([]byte(nil), buf[f.Off:f.Off+f.Len]...)
}

// samplerCounts returns route id → XDP k/n counter.
func (h *diffHarness) samplerCounts(t testing.TB) map[int]uint64 {
	t.Helper()
	m := map[int]uint64{}
	for _, r := range h.routes {
		c, err := h.x.objs.SamplerCount(uint32(r.ID))
		if err != nil {
			t.Fatal(err)
		}
		m[r.ID] = c
	}
	return m
}

// goCounts returns route id → Go sampler count of snapshot s.
func goCounts(s *policy.Snapshot) map[int]uint64 {
	m := map[int]uint64{}
	for _, r := range s.Routes.Routes() {
		m[r.ID] = r.Sampler.Count()
	}
	return m
}

// check runs one frame through both classifiers and reports every
// difference as an error string (none: "").
func (h *diffHarness) check(t testing.TB, name string, frame []byte) string {
	t.Helper()
	if len(frame) < packet.EthernetLen {
		return ""
	}
	x0 := h.samplerCounts(t)
	g0 := goCounts(h.snapA)
	res := h.x.run(t, 0, frame)
	x1 := h.samplerCounts(t)
	reason := res.reason
	var errs []string
	if res.n != 1 {
		return fmt.Sprintf("%s/%v: dxp_steer counted the frame under %d classifications", name, h.role, res.n)
	}
	vAll, outAll := runGo(h.all, nil, frame)
	g1 := goCounts(h.snapA)
	for id := range x1 {
		if dxd, gd := x1[id]-x0[id], g1[id]-g0[id]; dxd != gd {
			errs = append(errs, fmt.Sprintf("route %d: XDP sampler +%d, Go sampler (steer: all) +%d", id, dxd, gd))
		}
	}
	switch {
	case reason.Dropped():
		if vAll != handle.Drop {
			errs = append(errs, fmt.Sprintf("dxp_steer drops it (%v), the steer: all node %v it", reason, vAll))
		}
	case !reason.Steered():
		if vAll != handle.Forward || !bytes.Equal(outAll, frame) {
			errs = append(errs, fmt.Sprintf("dxp_steer lets it cross (%v), the steer: all node gives %v %x", reason, vAll, outAll))
		}
	default:
		if !res.hasMeta {
			errs = append(errs, fmt.Sprintf("steered (%v) without metadata", reason))
		}
		vS, outS := runGo(h.smp, res.metaRaw, frame)
		if vS != vAll || !bytes.Equal(outS, outAll) {
			errs = append(errs, fmt.Sprintf("steered (%v): steer: sampled node %v %x, steer: all node %v %x", reason, vS, outS, vAll, outAll))
		}
	}
	for id, c := range goCounts(h.snapS) {
		if c != 0 {
			errs = append(errs, fmt.Sprintf("route %d: the steer: sampled node sampled %d frames itself", id, c))
		}
	}
	if len(errs) == 0 {
		return ""
	}
	return fmt.Sprintf("%s/%v: %s\n  frame %x", name, h.role, strings.Join(errs, "; "), frame)
}

func skipIfNoBPF(t testing.TB) {
	t.Helper()
	if os.Geteuid() != 0 {
		t.Skip("needs root to load XDP programs and run BPF_PROG_TEST_RUN (CI runs as root)")
	}
}

// Spec §7 golden vectors (IPv6 packets), by subtest name.
var goldenVectors = map[string]string{
	"plain": specvec.Plain, "a": specvec.A, "b": specvec.B, "b2": specvec.B2,
	"c": specvec.C, "d": specvec.D, "e-pto": specvec.E,
}

// linkHeaders are the VLAN stacks the golden vectors are sent behind:
// destination, source, tags, EtherType IPv6.
var linkHeaders = map[string]string{
	"untagged": "020000000002020000000001" + "86dd",
	"8100":     "020000000002020000000001" + "81000064" + "86dd",
	"88a8":     "020000000002020000000001" + "88a800c8" + "86dd",
	"9100":     "020000000002020000000001" + "91000012" + "86dd",
	"qinq":     "020000000002020000000001" + "88a800c8" + "81000064" + "86dd",
	"3tags":    "020000000002020000000001" + "88a800c8" + "81000064" + "81000065" + "86dd",
}

// diffCorpus is the hostile table, then every golden vector behind every
// link header, then each of them again to a second route, repeated so the
// k/n samplers go round several times.
func diffCorpus(t testing.TB) (names []string, frames [][]byte) {
	for _, f := range hostile.Frames() {
		names, frames = append(names, f.Name), append(frames, f.Bytes)
	}
	other := netip.MustParseAddr("2001:db8:9::7").As16()
	for round := range 3 {
		for vn, v := range goldenVectors {
			for ln, l := range linkHeaders {
				b, err := hex.DecodeString(l + v)
				if err != nil {
					t.Fatal(err)
				}
				names, frames = append(names, fmt.Sprintf("golden-%s-%s-%d", vn, ln, round)), append(frames, b)
				o := append([]byte(nil), b...)
				copy(o[len(l)/2+24:], other[:])
				names, frames = append(names, fmt.Sprintf("golden-%s-%s-other-%d", vn, ln, round)), append(frames, o)
			}
		}
	}
	return names, frames
}

// diffConfigs are the node configurations the differential test covers:
// the three roles of the hostile suite (foreign IOAM dropped), and the
// encapsulating role with foreign IOAM stripped and forwarded (the latter
// loads dxp_steer with PassForeignHbH, as the engine does).
var diffConfigs = []struct {
	name    string
	role    telemetry.Role
	foreign policy.ForeignIOAM
}{
	{"encap", telemetry.RoleEncap, policy.ForeignDrop},
	{"transit", telemetry.RoleTransit, policy.ForeignDrop},
	{"decap", telemetry.RoleDecap, policy.ForeignDrop},
	{"encap-foreign-strip", telemetry.RoleEncap, policy.ForeignStrip},
	{"encap-foreign-forward", telemetry.RoleEncap, policy.ForeignForward},
}

func newDiffConfig(t testing.TB, i int) *diffHarness {
	c := diffConfigs[i]
	spec := diffSpec(c.role)
	for p := range spec.Ports {
		spec.Ports[p].ForeignIOAM = c.foreign
	}
	return newDiffHarnessSpec(t, c.role, spec)
}

// TestDifferentialSteer runs the hostile corpus and the golden vectors
// through dxp_steer and the Go node in every configuration (see the
// comment at the top of the file). It fails on a single difference.
func TestDifferentialSteer(t *testing.T) {
	skipIfNoBPF(t)
	names, frames := diffCorpus(t)
	for i, c := range diffConfigs {
		t.Run(c.name, func(t *testing.T) {
			h := newDiffConfig(t, i)
			bad := 0
			for j, f := range frames {
				if msg := h.check(t, names[j], f); msg != "" {
					bad++
					t.Error(msg)
				}
			}
			x := h.samplerCounts(t)
			t.Logf("%d frames, %d differ; XDP route counters %v, Go %v", len(frames), bad, x, goCounts(h.snapA))
		})
	}
}

// fuzzHarnesses are shared by the inputs of one fuzzing process: the k/n
// counters keep running across inputs in XDP and in Go alike.
var (
	fuzzOnce      sync.Once
	fuzzHarnesses []*diffHarness
	fuzzErr       error
)

// FuzzDifferentialSteer is TestDifferentialSteer's property for arbitrary
// frames: cfg selects the configuration (mod len(diffConfigs)), frame is
// sent on port 0. Needs root; scripts/fuzz.sh (CI) runs it, or
// go test -run '^$' -fuzz FuzzDifferentialSteer ./steering/.
func FuzzDifferentialSteer(f *testing.F) {
	skipIfNoBPF(f)
	_, frames := diffCorpus(f)
	for i, fr := range frames {
		f.Add(uint8(i%len(diffConfigs)), fr)
	}
	fuzzOnce.Do(func() {
		defer func() {
			if r := recover(); r != nil {
				fuzzErr = fmt.Errorf("%v", r)
			}
		}()
		for i := range diffConfigs {
			fuzzHarnesses = append(fuzzHarnesses, newDiffConfig(f, i))
		}
	})
	if fuzzErr != nil {
		f.Fatal(fuzzErr)
	}
	f.Fuzz(func(t *testing.T, cfg uint8, frame []byte) {
		if len(frame) > 3000 {
			return // BPF_PROG_TEST_RUN's XDP frames fit one page
		}
		h := fuzzHarnesses[int(cfg)%len(fuzzHarnesses)]
		if msg := h.check(t, "fuzz", frame); msg != "" {
			t.Error(msg)
		}
	})
}

// TestSamplerWidth: dxp_steer's k/n counter is 64 bits wide like the Go
// sampler's, so the k-of-n cycle does not break at 2^32 (a 32-bit counter
// wraps to 0 and selects again early when n does not divide 2^32).
func TestSamplerWidth(t *testing.T) {
	skipIfNoBPF(t)
	h := newDiffHarness(t, telemetry.RoleEncap)
	r := h.routes[1] // 2001:db8:9::/48, 1 of every 3
	if r.K != 1 || r.N != 3 {
		t.Fatalf("route %v: k/n %d/%d", r.Prefix, r.K, r.N)
	}
	start := uint64(1)<<32 - 1 // ≡ 0 (mod 3): selected; then 2^32 ≡ 1, 2^32+1 ≡ 2, 2^32+2 ≡ 0
	if err := h.x.objs.SetSamplerCount(uint32(r.ID), start); err != nil {
		t.Fatal(err)
	}
	frame, err := hex.DecodeString(linkHeaders["untagged"] + goldenVectors["plain"])
	if err != nil {
		t.Fatal(err)
	}
	other := netip.MustParseAddr("2001:db8:9::7").As16()
	copy(frame[14+24:], other[:])
	var got []bool
	for range 4 {
		got = append(got, h.x.run(t, 0, frame).reason == steering.ReasonSampled)
	}
	if want := []bool{true, false, false, true}; fmt.Sprint(got) != fmt.Sprint(want) {
		t.Errorf("selected %v from counter 2^32-1, want %v (64-bit k/n)", got, want)
	}
	if c, err := h.x.objs.SamplerCount(uint32(r.ID)); err != nil || c != start+4 {
		t.Errorf("counter %d (%v), want %d", c, err, start+4)
	}
}
