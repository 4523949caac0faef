package testbed

import (
	"path/filepath"
	"testing"

	"github.com/dexplane/dexplane/internal/testbed/plan"
)

// TestDomain4TapCapture proves the point of Domain4Tap: with every bump node
// forwarding by bpf_redirect (frames that never pass the nodes' own taps), a
// capture on each wire sees exactly the echo requests host-a sent, in the
// eastbound direction only, and the westbound capture sees the replies.
func TestDomain4TapCapture(t *testing.T) {
	tb := New(t, Domain4Tap)
	if len(tb.Wires) != 3 {
		t.Fatalf("Domain4Tap built %d wires, want 3", len(tb.Wires))
	}
	// Without forwarding the bumps are walls, the bridges included.
	if err := tb.HostA.Ping(tb.AddrB, 1); err == nil {
		t.Fatal("ping crossed bumps that have no forwarding program")
	}
	for _, n := range tb.Bumps {
		attachRedirect(t, n, plan.West, n.MustIfindex(t, plan.East))
		attachRedirect(t, n, plan.East, n.MustIfindex(t, plan.West))
	}
	dir := t.TempDir()
	type tap struct {
		c    *Capture
		east bool
	}
	var taps []tap
	for i := range tb.Wires {
		for _, east := range []bool{true, false} {
			ns, ifname := tb.TapPoint(t, i, east)
			c, err := ns.StartCapture(t, ifname, "in", filepath.Join(dir, ns.Node+"-"+ifname+".pcap"))
			if err != nil {
				t.Fatal(err)
			}
			taps = append(taps, tap{c, east})
		}
	}
	const pings = 5
	if err := tb.HostA.Ping(tb.AddrB, pings); err != nil {
		t.Fatalf("host-a → host-b through Domain4Tap: %v", err)
	}
	for _, tp := range taps {
		st, err := tp.c.Stop()
		if err != nil {
			t.Fatal(err)
		}
		// One echo per ping and direction; nothing else may be on the wire.
		if st.Captured != pings || st.Dropped != 0 {
			t.Errorf("%s/%s (eastbound %v): %+v, want %d captured, 0 dropped", tp.c.NS.Node, tp.c.Iface, tp.east, st, pings)
		}
	}
}
