package node

import (
	"fmt"
	"net/netip"
	"testing"

	"github.com/dexplane/dexplane/dataplane/flow"
	"github.com/dexplane/dexplane/dataplane/packet"
	"github.com/dexplane/dexplane/dataplane/policy"
)

// TestFlowCache sends more flows than the flow cache holds, over and over
// and across reloads that change the Flow ID seed, the routes and the
// collectors, and checks every packet against what the uncached rules
// give: flow.Key.ID under the current seed, one sequence per Flow ID, the
// current route (or none), the export-traffic exclusion of the current
// collector port; with a route inserting DEX alone and one inserting a
// trace too. Every fifth flow is ICMPv6, keyed by its Flow Label.
func TestFlowCache(t *testing.T) {
	for _, trace := range []bool{false, true} {
		t.Run(fmt.Sprintf("trace=%v", trace), func(t *testing.T) { testFlowCache(t, trace) })
	}
}

func testFlowCache(t *testing.T, trace bool) {
	spec := func(seed uint32, prefix string, collectorPort int) policy.Spec {
		s := baseSpec(encapDir)
		if trace {
			s = traceSpec(encapDir, policy.ModeInline, 0xC40000, 36, true, 1)
		}
		s.Flows = policy.Flows{MaxFlows: 65536, FlowIDSeed: seed}
		s.Routes[0].Prefix = netip.MustParsePrefix(prefix)
		s.Routes[0].DEX.ExtFlags = packet.ExtFlagFlowID | packet.ExtFlagSeq
		s.Export.Collectors = []policy.Collector{{Address: fmt.Sprintf("[2001:db8:ffff::9]:%d", collectorPort)}}
		return s
	}
	n, ptr := newNode(t, spec(0, "2001:db8::/32", 9000))
	nextSeq := map[uint32]uint32{}
	f := newFrame(udpPacket("2001:db8::1", "2001:db8::2", 1, 2, 100), 0)
	for round, c := range []struct {
		seed     uint32
		prefix   string
		exportTo int
	}{
		{0, "2001:db8::/32", 9000}, {0, "2001:db8::/32", 9000}, // the second: hits
		{7, "2001:db8::/32", 9000}, {7, "2001:db8::/32", 5001}, {7, "2001:db9::/32", 9000}, {0, "2001:db8::/32", 9000},
	} {
		s, err := policy.New(spec(c.seed, c.prefix, c.exportTo), nil)
		if err != nil {
			t.Fatal(err)
		}
		ptr.Store(s)
		for i := range 2000 { // more flows than entries: replacements
			src := fmt.Sprintf("2001:db8:1::%x", i%700)
			dst := fmt.Sprintf("2001:db8::%x", 1+i%3)
			sport, dport := uint16(1000+i), uint16(5001+i%2)
			proto, label := uint8(packet.ProtoUDP), uint32(0)
			if i%5 == 0 {
				// ICMPv6 echo requests between one pair of hosts: no
				// ports, so only the Flow Label tells the flows apart.
				src, dst = "2001:db8:1::ffff", "2001:db8::1"
				proto, label, sport, dport = packet.ProtoICMPv6, uint32(1+i*13)&0xFFFFF, 0, 0
			}
			ip6 := udpPacket(src, dst, sport, dport, 100)
			if proto == packet.ProtoICMPv6 {
				ip6[1] = ip6[1]&0xF0 | byte(label>>16)
				ip6[2], ip6[3] = byte(label>>8), byte(label)
				ip6[6], ip6[40], ip6[41] = proto, 128, 0
			}
			resetFrame(f, ip6)
			n.Handle(f)
			out := parseOut(t, f)
			routed := c.prefix == "2001:db8::/32"
			export := proto == packet.ProtoUDP && int(dport) == c.exportTo
			if out.HasDEX != (routed && !export) || out.HasPTO != (trace && out.HasDEX) {
				t.Fatalf("round %d flow %d: DEX %v, trace %v, routed %v, export traffic %v", round, i, out.HasDEX, out.HasPTO, routed, export)
			}
			if !out.HasDEX {
				continue
			}
			k := flow.NewKey(netip.MustParseAddr(src).As16(), netip.MustParseAddr(dst).As16(), proto, sport, dport, label)
			id := k.ID(c.seed)
			if out.DEX.FlowID != id || out.DEX.Seq != nextSeq[id] {
				t.Fatalf("round %d flow %d: flow id %#x seq %d, want %#x seq %d", round, i, out.DEX.FlowID, out.DEX.Seq, id, nextSeq[id])
			}
			nextSeq[id]++
		}
		records(n)
	}
}

// BenchmarkFlowCache is the encapsulating role's per-packet flow lookup of
// a known flow (64 flows, all cached): key, hash, comparison.
func BenchmarkFlowCache(b *testing.B) {
	n, _ := newNode(b, baseSpec(encapDir))
	var frames [64][]byte
	var pkts [64]packet.Packet
	for i := range frames {
		frames[i] = append(append([]byte(nil), ethHeader...), udpPacket("2001:db8::1", "2001:db8::2", uint16(40000+i), 5001, 200)...)
		if err := packet.Parse(frames[i], &pkts[i]); err != nil {
			b.Fatal(err)
		}
	}
	for i := 0; b.Loop(); i++ {
		if n.flowOf(frames[i&63], &pkts[i&63]).route == nil {
			b.Fatal("no route")
		}
	}
}
