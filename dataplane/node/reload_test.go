package node

import (
	"net/netip"
	"testing"
	"time"

	"github.com/dexplane/dexplane/dataplane/handle"
	"github.com/dexplane/dexplane/dataplane/policy"
)

// TestReload swaps snapshots under a node: counters survive, sequences
// continue while the flow settings are unchanged and restart when they
// change, and the new routes apply at the next frame.
func TestReload(t *testing.T) {
	spec := baseSpec(encapDir)
	spec.Routes[0].DEX.ExtFlags = 0x40
	n, ptr := newNode(t, spec)
	send := func() uint32 {
		f := newFrame(unhex(t, vecPlain), 0)
		n.Handle(f)
		p := parseOut(t, f)
		if !p.HasDEX {
			return ^uint32(0)
		}
		return p.DEX.Seq
	}
	reload := func(s policy.Spec) {
		t.Helper()
		next, err := policy.New(s, ptr.Load())
		if err != nil {
			t.Fatal(err)
		}
		ptr.Store(next)
	}
	if a, b := send(), send(); a != 0 || b != 1 {
		t.Fatalf("seqs %d %d", a, b)
	}
	spec.Routes[0].DEX.TraceType = 0xC00000 // flows unchanged
	reload(spec)
	if s := send(); s != 2 {
		t.Errorf("after a reload keeping flow settings: seq %d, want 2", s)
	}
	if rec := records(n); rec[len(rec)-1].TraceType != 0xC00000 {
		t.Errorf("new trace type not applied: %#x", rec[len(rec)-1].TraceType)
	}
	spec.Flows.SeqStart = 1
	spec.Flows.IdleTimeout = time.Minute
	reload(spec)
	if s := send(); s != 1 {
		t.Errorf("after seq_start change: seq %d, want 1", s)
	}
	spec.Routes[0].Prefix = netip.MustParsePrefix("2001:db9::/32") // no longer matches
	reload(spec)
	if s := send(); s != ^uint32(0) {
		t.Errorf("route removed but DEX inserted (seq %d)", s)
	}
	wantCounters(t, n, map[string]uint64{"forwarded": 5, "dex_inserted": 4, "no_route": 1, "flows_new": 2, "flows_active": 1})
}

func TestExpireFlows(t *testing.T) {
	spec := baseSpec(encapDir)
	spec.Routes[0].DEX.ExtFlags = 0xC0
	spec.Flows.IdleTimeout = time.Second
	n, _ := newNode(t, spec)
	for i := range 10 {
		f := newFrame(udpPacket("2001:db8::1", "2001:db8::2", uint16(i), 1, 64), 0)
		n.Handle(f)
	}
	wantCounters(t, n, map[string]uint64{"flows_active": 10, "flows_new": 10})
	got := 0
	for range 10 { // each call scans at most 4·budget slots
		got += n.ExpireFlows(testNow+int64(2*time.Second), 100)
	}
	if got != 10 {
		t.Errorf("expired %d, want 10", got)
	}
	wantCounters(t, n, map[string]uint64{"flows_active": 0, "flows_expired": 10})
}

// TestSamplerSharedByWorkers checks that two workers' nodes on one snapshot
// share each route's k/n counter, so the selection is exact over the
// route's traffic as a whole, and that each worker has its own flow table.
func TestSamplerSharedByWorkers(t *testing.T) {
	spec := baseSpec(encapDir)
	spec.Routes[0].K, spec.Routes[0].N = 2, 5
	spec.Routes[0].DEX.ExtFlags = 0x40
	n0, ptr := newNode(t, spec)
	n1, err := New(Config{Policy: ptr, Clock: fixedClock})
	if err != nil {
		t.Fatal(err)
	}
	selected := 0
	for i := range 50 {
		n := n0
		if i%3 == 0 {
			n = n1
		}
		f := newFrame(unhex(t, vecPlain), 0)
		n.Handle(f)
		if parseOut(t, f).HasDEX {
			selected++
		}
	}
	if selected != 20 {
		t.Errorf("%d of 50 selected, want 20", selected)
	}
	if n0.flows == n1.flows {
		t.Error("workers share a flow table")
	}
}

// TestPresampled checks that an XDP decision replaces the Go sampler, that
// frames without a decision (PresampleNone) are sampled by the node, and
// that frames whose decision is missing are counted, not selected and not
// sampled again.
func TestPresampled(t *testing.T) {
	spec := baseSpec(encapDir)
	spec.Routes[0].K, spec.Routes[0].N = 1, 2
	s, err := policy.New(spec, nil)
	if err != nil {
		t.Fatal(err)
	}
	decision := []Presample{PresampleSelected, PresampleSelected, PresampleNotSelected, PresampleNone, PresampleNone,
		PresampleMissing, PresampleMissing}
	i := 0
	n, err := New(Config{Policy: newPtr(s), Presampled: func(*handle.Frame) Presample { return decision[i] }})
	if err != nil {
		t.Fatal(err)
	}
	var got []bool
	for i = range decision {
		f := newFrame(unhex(t, vecPlain), 0)
		n.Handle(f)
		got = append(got, parseOut(t, f).HasDEX)
	}
	// XDP said yes, yes, no; then the Go sampler (1/2) selects its first;
	// the two without metadata are not selected.
	want := []bool{true, true, false, true, false, false, false}
	for i := range want {
		if got[i] != want[i] {
			t.Errorf("frame %d: DEX %v, want %v", i, got[i], want[i])
		}
	}
	r, _ := s.Routes.Lookup(netip.MustParseAddr("2001:db8::2").As16())
	if c := r.Sampler.Count(); c != 2 {
		t.Errorf("Go sampler counted %d frames, want 2 (the undecided ones)", c)
	}
	wantCounters(t, n, map[string]uint64{"meta_missing": 2, "not_sampled": 2, "dex_inserted": 3})
}

// TestSamplerCountsEveryRoutedPacket checks the kernel's counting: export
// traffic and foreign-IOAM packets that match a route advance the counter.
func TestSamplerCountsEveryRoutedPacket(t *testing.T) {
	spec := baseSpec(encapDir)
	spec.Routes[0].K, spec.Routes[0].N = 1, 2
	n, ptr := newNode(t, spec)
	for _, pkt := range [][]byte{
		udpPacket("2001:db8::1", "2001:db8::2", 1, 4739, 60), // export traffic, counter 0 (selected, skipped)
		unhex(t, vecA),     // foreign, dropped; counter 1
		unhex(t, vecPlain), // counter 2: selected
	} {
		n.Handle(newFrame(pkt, 0))
	}
	r, _ := ptr.Load().Routes.Lookup(netip.MustParseAddr("2001:db8::2").As16())
	if c := r.Sampler.Count(); c != 3 {
		t.Errorf("sampler counted %d, want 3", c)
	}
	wantCounters(t, n, map[string]uint64{"skipped_export": 1, "foreign_dropped": 1, "dex_inserted": 1})
}
