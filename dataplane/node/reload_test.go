package node

import (
	"net/netip"
	"testing"
	"time"

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
