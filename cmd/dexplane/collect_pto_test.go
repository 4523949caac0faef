package main

import (
	"encoding/hex"
	"net/netip"
	"testing"

	"github.com/dexplane/dexplane/dataplane/telemetry"
)

// TestCollectTrace sends what a decapsulating node exports for one packet
// with a Pre-allocated Trace (the trace record and its hop records) and
// checks the per-hop path collect prints.
func TestCollectTrace(t *testing.T) {
	col := startCollect(t, "--paths", "1", "--listen", "udp://127.0.0.1:0")
	r := telemetry.Record{RxTime: 1700000000_000000001, Role: telemetry.RoleDecap, Namespace: 123, SrcPort: 40000, DstPort: 5001}
	r.Src = netip.MustParseAddr("2001:db8::1").As16()
	r.Dst = netip.MustParseAddr("2001:db8::2").As16()
	// type 0xc00000: hop limit + node id, interface ids; three hops, Overflow.
	r.Trace = telemetry.Trace{Has: true, Namespace: 123, NodeLen: 2, Flags: 0x8, TraceType: 0xC00000, DataLen: 24}
	data, _ := hex.DecodeString("3e00002c" + "0009000a" + "3f00004d" + "00050006" + "40000001" + "00010002")
	copy(r.Trace.Data[:], data)
	conn := dial(t, "udp", col.addrs["udp"])
	sendNode(t, conn, 4, []telemetry.Record{r})
	col.expect(t, 4,
		"pto=ns:123,type:0xc00000,flags:0x8,rem:0,hops:3 hop0=1/hl64/if1>2 hop1=77/hl63/if5>6 hop2=44/hl62/if9>10",
		"node=77 if=5>6 trace_hop=1/3 overflow",
		"--- 4 record(s)",
		"--- traces of 1 packet(s)\npto ns 123 [2001:db8::1]:40000 > [2001:db8::2]:5001 exported by node 4 (overflow: later nodes are missing):\n"+
			"  hop 0 node_id 1 hop_limit 64 if 1>2\n"+
			"  hop 1 node_id 77 hop_limit 63 if 5>6\n"+
			"  hop 2 node_id 44 hop_limit 62 if 9>10\n",
	)
}
