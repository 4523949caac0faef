package collector

import (
	"encoding/hex"
	"net/netip"
	"testing"

	"github.com/dexplane/dexplane/dataplane/telemetry"
	"github.com/dexplane/dexplane/exporter"
	"github.com/dexplane/dexplane/internal/ipfixtest"
)

// traceRec is a decap record of a trace-only packet whose 24-octet trace
// (type 0xc00000, NodeLen 2) holds three hops: node 1 (encap, hl 64, if
// 1>2), node 77 (hl 63, if 5>6), node 44 (hl 62, if 9>10), with Overflow set.
func traceRec(t *testing.T) telemetry.Record {
	r := telemetry.Record{RxTime: 1700000000_000000001, Role: telemetry.RoleDecap, Namespace: 123, SrcPort: 40000, DstPort: 5001, NextHeader: 17}
	r.Src = netip.MustParseAddr("2001:db8::1").As16()
	r.Dst = netip.MustParseAddr("2001:db8::2").As16()
	r.Trace = telemetry.Trace{Has: true, Namespace: 123, NodeLen: 2, Flags: 0x8, RemLen: 0, TraceType: 0xC00000, DataLen: 24}
	data, _ := hex.DecodeString("3e00002c" + "0009000a" + "3f00004d" + "00050006" + "40000001" + "00010002")
	copy(r.Trace.Data[:], data)
	return r
}

// TestTraceIPFIX: a trace record is exported as itself with the raw trace,
// then one record per hop in path order with the ULiège node IEs; the
// decoder gets all of it back.
func TestTraceIPFIX(t *testing.T) {
	want := traceRec(t)
	msgs := ipfixtest.Encode(t, 4, exporter.FieldsStandard, want)
	d := NewDecoder()
	var got []Event
	for _, m := range msgs {
		if err := d.Decode(netip.MustParseAddrPort("[::1]:1"), m, func(ev *Event) { got = append(got, *ev) }); err != nil {
			t.Fatal(err)
		}
	}
	if len(got) != 4 {
		t.Fatalf("%d events, want the trace record and 3 hops", len(got))
	}
	if got[0].Record.Trace != want.Trace || got[0].Record.TraceHops != 0 {
		t.Errorf("trace record: %+v", got[0].Record.Trace)
	}
	for i, h := range []struct {
		id, in, out uint32
		hl          uint8
	}{{1, 1, 2, 64}, {77, 5, 6, 63}, {44, 9, 10, 62}} {
		r := got[1+i].Record
		if r.TraceHop != uint8(i) || r.TraceHops != 3 || r.NodeID != h.id || r.HopLimit != h.hl ||
			uint32(r.IngressIfID) != h.in || uint32(r.EgressIfID) != h.out || r.Trace.Flags != 0x8 ||
			r.Src != want.Src || r.DstPort != 5001 || r.Namespace != 123 || r.HasSeq {
			t.Errorf("hop %d: %+v", i, r)
		}
	}
}
