package exporter_test

import (
	"encoding/hex"
	"encoding/json"
	"fmt"
	"net/netip"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/dexplane/dexplane/dataplane/telemetry"
	"github.com/dexplane/dexplane/internal/testutil"
)

// exportRecords is exportTo waiting for want IPFIX data records (a trace
// record becomes one record plus one per hop).
func exportRecords(t *testing.T, addr string, recs []telemetry.Record, want uint64) {
	t.Helper()
	exportWith(t, addr, recs, want, false)
}

// traceRecord is what a decapsulating node exports for a packet carrying a
// 24-octet Pre-allocated Trace (type 0xc00000) in which three nodes wrote:
// node 1 (hl 64, if 1>2), node 77 (hl 63, if 5>6), node 44 (hl 62, if
// 9>10); Overflow set.
func traceRecord() telemetry.Record {
	r := telemetry.Record{RxTime: 1700000000_123456789, Role: telemetry.RoleDecap, Namespace: 123,
		NextHeader: 17, SrcPort: 40000, DstPort: 5001, IngressPort: 0, EgressPort: 1}
	r.Src = netip.MustParseAddr("2001:db8::1").As16()
	r.Dst = netip.MustParseAddr("2001:db8::2").As16()
	r.Trace = telemetry.Trace{Has: true, Namespace: 123, NodeLen: 2, Flags: 0x8, TraceType: 0xC00000, DataLen: 24}
	data, _ := hex.DecodeString("3e00002c" + "0009000a" + "3f00004d" + "00050006" + "40000001" + "00010002")
	copy(r.Trace.Data[:], data)
	return r
}

// TestPeerGoflow2TraceHops: goflow2 with the shipped mapping decodes the
// trace record (raw trace) and one record per hop, each hop with its node
// id, hop limit, interface ids, index, count and flags, in path order.
func TestPeerGoflow2TraceHops(t *testing.T) {
	port, out := startGoflow2Mapped(t)
	exportRecords(t, fmt.Sprintf("127.0.0.1:%d", port), []telemetry.Record{traceRecord()}, 4)
	var lines []string
	testutil.Eventually(t, "goflow2 output", 5*time.Second, func() bool {
		lines = testutil.Lines(out)
		return len(lines) >= 4
	})
	var first map[string]any
	if err := json.Unmarshal([]byte(lines[0]), &first); err != nil {
		t.Fatal(err)
	}
	// Trace header: ns 0x007b | NodeLen 2, Overflow, RemLen 0 (0x1400) |
	// type 0xc00000, then the 24-octet data area.
	if got, want := first["ioam_preallocated_trace_data"], "007b1400c0000000"+
		"3e00002c0009000a3f00004d000500064000000100010002"; got != want {
		t.Errorf("raw trace %v, want %v", got, want)
	}
	for i, h := range []struct{ id, hl, in, out float64 }{{1, 64, 1, 2}, {77, 63, 5, 6}, {44, 62, 9, 10}} {
		var m map[string]any
		if err := json.Unmarshal([]byte(lines[1+i]), &m); err != nil {
			t.Fatal(err)
		}
		want := map[string]any{"ioam_trace_hop_index": float64(i), "ioam_trace_hop_count": float64(3), "ioam_trace_flags": float64(8),
			"ioam_node_id": h.id, "ioam_hop_lim": h.hl, "ioam_ingress_if_id": h.in, "ioam_egress_if_id": h.out,
			"ioam_namespace_id": float64(123), "dst_port": float64(5001)}
		for k, v := range want {
			if m[k] != v {
				t.Errorf("hop %d: %s = %v, want %v", i, k, m[k], v)
			}
		}
	}
	t.Logf("goflow2 decoded the trace record and %d hop records", len(lines)-1)
}

// TestPeerTsharkTraceHops: tshark dissects the trace record and the hop
// records without a malformed or expert mark; each hop's enterprise
// entries are, in template order, namespace, Hop_Lim, node_id, ingress and
// egress if id, hop index, hop count and flags, as sent.
func TestPeerTsharkTraceHops(t *testing.T) {
	bin := tsharkPath(t)
	msgs, port := captureWith(t, func(addr string) { exportRecords(t, addr, []telemetry.Record{traceRecord()}, 4) })
	pcap := filepath.Join(t.TempDir(), "export.pcap")
	writePcap(t, pcap, port, msgs)
	layers := tsharkCflow(t, bin, pcap, port)
	var hops [][]any
	for _, layer := range layers {
		var cf map[string]any
		if err := json.Unmarshal(layer, &cf); err != nil {
			t.Fatal(err)
		}
		for k, v := range cf {
			if !strings.HasPrefix(k, "Set ") {
				continue
			}
			for fk, fv := range v.(map[string]any) {
				if !strings.HasPrefix(fk, "Flow ") {
					continue
				}
				if ent, _ := fv.(map[string]any)["cflow.enterprise_private_entry"].([]any); len(ent) == 8 {
					hops = append(hops, ent)
				}
			}
		}
	}
	want := [][]string{
		{"00:7b", "40", "00:00:01", "00:01", "00:02", "00", "03", "08"},
		{"00:7b", "3f", "00:00:4d", "00:05", "00:06", "01", "03", "08"},
		{"00:7b", "3e", "00:00:2c", "00:09", "00:0a", "02", "03", "08"},
	}
	if len(hops) != len(want) {
		t.Fatalf("tshark found %d hop records, want %d: %s", len(hops), len(want), layers)
	}
	for _, h := range hops {
		i := -1
		for j, w := range want {
			if h[5] == w[5] {
				i = j
			}
		}
		if i < 0 {
			t.Fatalf("hop record %v", h)
		}
		for k := range want[i] {
			if h[k] != want[i][k] {
				t.Errorf("hop %d entry %d: tshark %v, want %s", i, k, h[k], want[i][k])
			}
		}
	}
	t.Logf("tshark dissected %d hop records with their values", len(hops))
}

// TestPeerNfacctdTraceHops: nfacctd with the shipped primitives prints the
// hop records of a trace with their node id, hop limit, interface ids and
// hop index. (The trace record itself holds a variable-length field, which
// nfacctd 1.7.7 mis-sizes, see TestPeerNfacctd; the hop records have none.)
func TestPeerNfacctdTraceHops(t *testing.T) {
	aggregate := "src_host, dst_host, src_port, dst_port, ioam_hop_lim, ioam_node_id, ioam_ingress_if_id, ioam_egress_if_id, " +
		"ioam_trace_hop_index, ioam_trace_hop_count, ioam_trace_flags"
	port, out := startNfacctd(t, aggregate)
	// nfacctd keeps a partial plugin buffer until more data comes: send the
	// trace record repeatedly (the rows aggregate) until the hops appear.
	rows := map[string]map[string]any{}
	testutil.Eventually(t, "nfacctd output", 20*time.Second, func() bool {
		exportRecords(t, fmt.Sprintf("127.0.0.1:%d", port), []telemetry.Record{traceRecord(), traceRecord(), traceRecord()}, 12)
		for _, l := range testutil.Lines(out) {
			var m map[string]any
			if json.Unmarshal([]byte(l), &m) == nil && fmt.Sprint(m["ioam_trace_hop_count"]) == "3" {
				rows[fmt.Sprint(m["ioam_trace_hop_index"])] = m
			}
		}
		return len(rows) == 3
	})
	for i, h := range []struct{ id, hl, in, out string }{{"00-00-01", "64", "1", "2"}, {"00-00-4D", "63", "5", "6"}, {"00-00-2C", "62", "9", "10"}} {
		m := rows[fmt.Sprint(i)]
		for k, v := range map[string]string{"ioam_node_id": h.id, "ioam_hop_lim": h.hl, "ioam_ingress_if_id": h.in,
			"ioam_egress_if_id": h.out, "ioam_trace_flags": "8", "port_dst": "5001"} {
			if got := fmt.Sprint(m[k]); got != v {
				t.Errorf("hop %d: %s = %s, want %s (%v)", i, k, got, v, m)
			}
		}
	}
	t.Logf("nfacctd printed the 3 hop records with their values")
}
