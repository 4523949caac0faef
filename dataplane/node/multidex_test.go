package node

import (
	"testing"

	"github.com/dexplane/dexplane/dataplane/handle"
)

// Packets whose Hop-by-Hop header carries two DEX options (PadN(2), then a
// DEX option of 12 octets, then one of 16 with a Flow ID), UDP 40000 → 5001.
const (
	// vecUnknownThenKnown: namespace 999 (not configured), then namespace
	// 123 with Flow ID 0xabcd.
	vecUnknownThenKnown = "60000000002c004020010db800000000000000000000000120010db8000000000000000000000002" +
		"1103 0100 310a000403e7000080000000 310e0004007b008080000000 0000abcd" + "9c401389000c15c770696e67"
	// vecKnownThenKnown: namespace 123 without Flow ID, then namespace
	// 123 with Flow ID 0xabcd.
	vecKnownThenKnown = "60000000002c004020010db800000000000000000000000120010db8000000000000000000000002" +
		"1103 0100 310a0004007b000080000000 310e0004007b008080000000 0000abcd" + "9c401389000c15c770696e67"
	// vecUnknownTwice: namespaces 999 and 998, neither configured.
	vecUnknownTwice = "60000000002c004020010db800000000000000000000000120010db8000000000000000000000002" +
		"1103 0100 310a000403e7000080000000 310e000403e6008080000000 0000abcd" + "9c401389000c15c770696e67"
)

// TestSeveralDEXOptions checks that transit and decap export one record
// per packet, for the first DEX option whose namespace is configured.
func TestSeveralDEXOptions(t *testing.T) {
	tests := []struct {
		name    string
		pkt     string
		records int
		flowID  bool // the record comes from the second option
		counter string
	}{
		{"unknown then known", vecUnknownThenKnown, 1, true, "records_exported"},
		{"known twice: first wins", vecKnownThenKnown, 1, false, "records_exported"},
		{"unknown twice", vecUnknownTwice, 0, false, "unknown_namespace"},
	}
	for _, dir := range []int{transitDir, decapDir} {
		for _, tc := range tests {
			t.Run(tc.name, func(t *testing.T) {
				n, _ := newNode(t, baseSpec(dir))
				f := newFrame(unhex(t, tc.pkt), 0)
				if v := n.Handle(f); v != handle.Forward {
					t.Fatalf("verdict %v", v)
				}
				recs := records(n)
				if len(recs) != tc.records {
					t.Fatalf("%d records, want %d", len(recs), tc.records)
				}
				if got := counters(n)[tc.counter]; got != 1 {
					t.Errorf("%s = %d, want 1 (%v)", tc.counter, got, counters(n))
				}
				if tc.records == 0 {
					return
				}
				r := &recs[0]
				if r.Namespace != 123 || r.HasFlowID != tc.flowID || tc.flowID && r.FlowID != 0xabcd {
					t.Errorf("record namespace %d flow id %v %#x", r.Namespace, r.HasFlowID, r.FlowID)
				}
				if dir == decapDir {
					if p := parseOut(t, f); p.NumIOAM != 0 || p.HbH != 0 {
						t.Errorf("decap left IOAM: %+v", p)
					}
				}
			})
		}
	}
}
