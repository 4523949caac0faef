package exporter

import (
	"encoding/hex"
	"encoding/json"
	"strings"
	"testing"

	"github.com/dexplane/dexplane/dataplane/telemetry"
)

// traceRecord is a decap record of a 12-octet trace (type 0xc00000, NodeLen
// 2) with two hops written: node 1 (encap, hl 64, if 1>2) and node 2 (hl 63,
// if 3>4); 4 octets free.
func traceRecord(t *testing.T) *telemetry.Record {
	r := &telemetry.Record{Role: telemetry.RoleDecap, Namespace: 123}
	r.Trace = telemetry.Trace{Has: true, Namespace: 123, NodeLen: 2, RemLen: 1, TraceType: 0xC00000, DataLen: 20}
	data, err := hex.DecodeString("00000000" + "3f000002" + "00030004" + "40000001" + "00010002")
	if err != nil {
		t.Fatal(err)
	}
	copy(r.Trace.Data[:], data)
	return r
}

func TestTraceJSON(t *testing.T) {
	r := traceRecord(t)
	var v struct {
		PTO struct {
			Namespace int `json:"namespace"`
			RemLen    int `json:"rem_len"`
			Overflow  bool
			Hops      []struct {
				Index    int `json:"index"`
				NodeID   int `json:"node_id"`
				HopLimit int `json:"hop_limit"`
				In       int `json:"ingress_if_id"`
				Out      int `json:"egress_if_id"`
			} `json:"hops"`
		} `json:"pto"`
	}
	line := AppendJSON(nil, r)
	if err := json.Unmarshal(line, &v); err != nil {
		t.Fatalf("%v: %s", err, line)
	}
	h := v.PTO.Hops
	if v.PTO.Namespace != 123 || v.PTO.RemLen != 1 || len(h) != 2 ||
		h[0].NodeID != 1 || h[0].HopLimit != 64 || h[0].In != 1 || h[0].Out != 2 ||
		h[1].NodeID != 2 || h[1].HopLimit != 63 || h[1].Index != 1 || h[1].In != 3 {
		t.Errorf("decoded %+v from %s", v.PTO, line)
	}
	text := string(AppendText(nil, r))
	if !strings.Contains(text, " pto=ns:123,type:0xc00000,flags:0x0,rem:1,hops:2 hop0=1/hl64/if1>2 hop1=2/hl63/if3>4") {
		t.Errorf("text: %s", text)
	}
	// A hostile RemLen past the data yields no hops and no panic.
	r.Trace.RemLen = 100
	if err := json.Unmarshal(AppendJSON(nil, r), &v); err != nil || len(v.PTO.Hops) != 0 {
		t.Errorf("hostile: %v %+v", err, v.PTO)
	}
}

// TestAppendAllocs: the text and JSON writers allocate nothing when the
// buffer has room, for a record with every node data field and a trace
// (a table of functions over the node data once made it escape to the heap).
func TestAppendAllocs(t *testing.T) {
	r := traceRecord(t)
	r.TraceType = 0xFFF002
	r.HasFlowID, r.HasSeq = true, true
	buf := make([]byte, 0, 8192)
	for name, f := range map[string]func([]byte, *telemetry.Record) []byte{"AppendText": AppendText, "AppendJSON": AppendJSON} {
		if n := testing.AllocsPerRun(100, func() { buf = f(buf[:0], r) }); n != 0 {
			t.Errorf("%s: %v allocations per record, want 0", name, n)
		}
	}
}
