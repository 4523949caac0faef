package exporter_test

import (
	"bytes"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"net"
	"net/netip"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/dexplane/dexplane/collector"
	"github.com/dexplane/dexplane/exporter"
	"github.com/dexplane/dexplane/exporter/aggregate"
	"github.com/dexplane/dexplane/internal/testutil"
)

// analyticsRecords are one aggregate and two delay records (a segment and
// a path position) with distinct values in every field.
func analyticsRecords() (*aggregate.Record, []*collector.DelayRecord) {
	a := &aggregate.Record{Start: 1_700_000_000_123_000_000, End: 1_700_000_001_456_000_000, Packets: 1000, Octets: 1_500_000,
		HasSeq: true, FirstSeq: 77, LastSeq: 1100, Gaps: 25, Duplicates: 2, Reordered: 3,
		DelaySamples: 990, DelayMin: 1200, DelayMax: 98000, DelaySum: 4_000_000}
	a.Route = 3
	a.Namespace, a.FlowID, a.HasFlowID, a.Proto, a.SrcPort, a.DstPort = 123, 0xDEADBEEF, true, 17, 40000, 5001
	a.Src[0], a.Src[15] = 0x20, 1
	a.Dst[0], a.Dst[15] = 0x20, 2
	seg := &collector.DelayRecord{Namespace: 123, From: 2, To: 3, Hops: 2, Start: 1_700_000_000_000_000_000, End: 1_700_000_010_000_000_000,
		Packets: 5000, MeanUs: 78, MinUs: 40, MaxUs: 410, SumUs: 390000}
	path := &collector.DelayRecord{Namespace: 123, PathID: 0x01020304, From: 1, To: 4, Hops: 4, Start: seg.Start, End: seg.End,
		Packets: 4990, MeanUs: 147, MinUs: 100, MaxUs: 900, SumUs: 733530}
	return a, []*collector.DelayRecord{seg, path}
}

// encodeAnalytics encodes the records of analyticsRecords as domain 42.
func encodeAnalytics(t *testing.T) [][]byte {
	t.Helper()
	var msgs [][]byte
	enc, err := exporter.NewEncoder(exporter.EncoderConfig{ObservationDomain: 42,
		Emit: func(m []byte, _ int) bool { msgs = append(msgs, bytes.Clone(m)); return true }})
	if err != nil {
		t.Fatal(err)
	}
	a, ds := analyticsRecords()
	if err := enc.EncodeCustom(exporter.AggregateTemplate, (*exporter.AggRecord)(a)); err != nil {
		t.Fatal(err)
	}
	for _, d := range ds {
		if err := enc.EncodeCustom(collector.DelayTemplate, d); err != nil {
			t.Fatal(err)
		}
	}
	enc.Flush()
	return msgs
}

// TestGoldenDelayRecord pins the octets of one RFC 9951 delay data record.
func TestGoldenDelayRecord(t *testing.T) {
	_, ds := analyticsRecords()
	got := make([]byte, collector.DelayTemplate.RecordLen())
	ds[1].Put(got)
	want := "" +
		"007b" + // ioamNamespaceId 123
		"01020304" + // dexPathId
		"00000001" + "00000004" + // from domain 1, to domain 4
		"04" + // 4 hops
		"0000018bcfe56800" + "0000018bcfe58f10" + // flowStart/EndMilliseconds 1700000000000, 1700000010000
		"000000000000137e" + // packetDeltaCount 4990
		"00000093" + "00000064" + "00000384" + // mean 147, min 100, max 900 µs
		"00000000000b315a" // sum 733530 µs
	if fmt.Sprintf("%x", got) != want {
		t.Fatalf("record\n got %x\nwant %s", got, want)
	}
}

// TestPeerTsharkAnalytics dissects the aggregate and delay records with
// tshark's cflow dissector: well formed, templates with the announced
// element ids, and the values of the IANA elements tshark knows.
func TestPeerTsharkAnalytics(t *testing.T) {
	bin := tsharkPath(t)
	msgs := encodeAnalytics(t)
	pcap := filepath.Join(t.TempDir(), "analytics.pcap")
	writePcap(t, pcap, 4739, msgs)
	layers := tsharkCflow(t, bin, pcap, 4739)
	// template id → field types in order; data set id → flows
	types := map[string][]string{}
	flows := map[string][]map[string]any{}
	for _, layer := range layers {
		var cf map[string]any
		json.Unmarshal(layer, &cf)
		for k, v := range cf {
			set, ok := v.(map[string]any)
			if !ok || !strings.HasPrefix(k, "Set ") {
				continue
			}
			for fk, fv := range set {
				if strings.HasPrefix(fk, "Template (") {
					tm := fv.(map[string]any)
					id := tm["cflow.template_id"].(string)
					for i := 1; ; i++ {
						var field map[string]any
						for name, x := range tm {
							if strings.HasPrefix(name, fmt.Sprintf("Field (%d/", i)) {
								field = x.(map[string]any)
							}
						}
						if field == nil {
							break
						}
						ty, _ := field["cflow.template_ipfix_field_type"].(string)
						if ty == "" {
							ty = field["cflow.template_ipfix_field_pen"].(string) + "/" + field["cflow.template_ipfix_field_type_enterprise"].(string)
						}
						types[id] = append(types[id], ty+":"+field["cflow.template_field_length"].(string))
					}
				}
				if strings.HasPrefix(fk, "Flow ") {
					// "Flow N": N-th record of the set, in record order
					id := set["cflow.flowset_id"].(string)
					n, _ := strconv.Atoi(strings.TrimPrefix(fk, "Flow "))
					for len(flows[id]) < n {
						flows[id] = append(flows[id], nil)
					}
					flows[id][n-1] = fv.(map[string]any)
				}
			}
		}
	}
	wantTypes := map[string]string{
		"256": "10383/0:2 10383/15:4 27:16 28:16 4:1 7:2 11:2 152:8 153:8 2:8 1:8 32473/1:4 32473/2:4 32473/3:8 32473/4:8 32473/5:8 32473/6:8 32473/7:4 32473/8:4 32473/9:8 32473/10:2",
		"257": "10383/0:2 32473/20:4 32473/21:4 32473/22:4 32473/23:1 152:8 153:8 2:8 530:4 531:4 532:4 533:8",
	}
	for id, w := range wantTypes {
		if g := strings.Join(types[id], " "); g != w {
			t.Errorf("template %s: tshark saw\n %s\nwant\n %s", id, g, w)
		}
	}
	if len(flows["256"]) != 1 || len(flows["257"]) != 2 {
		t.Fatalf("tshark flows: %v", flows)
	}
	agg := flows["256"][0]
	for k, v := range map[string]string{"cflow.packets": "1000", "cflow.octets": "1500000", "cflow.srcaddrv6": "2000::1",
		"cflow.dstaddrv6": "2000::2", "cflow.srcport": "40000", "cflow.timedelta": "1.333000000"} {
		if agg[k] != v {
			t.Errorf("aggregate %s: tshark %v, want %s", k, agg[k], v)
		}
	}
	_, ds := analyticsRecords()
	for i, f := range flows["257"] {
		// tshark 4.0 predates RFC 9951: it lists 530-533 (and the
		// enterprise elements) as raw octets, in template order
		raw := make([]byte, collector.DelayTemplate.RecordLen())
		ds[i].Put(raw)
		want := []string{colonHex(raw[0:2]), colonHex(raw[2:6]), colonHex(raw[6:10]), colonHex(raw[10:14]), colonHex(raw[14:15]),
			colonHex(raw[39:43]), colonHex(raw[43:47]), colonHex(raw[47:51]), colonHex(raw[51:59])}
		got, _ := f["cflow.enterprise_private_entry"].([]any)
		if fmt.Sprint(got) != fmt.Sprint(want) || f["cflow.packets"] != fmt.Sprint(ds[i].Packets) || f["cflow.timedelta"] != "10.000000000" {
			t.Errorf("delay record %d: tshark %v packets %v, want %v packets %d", i, got, f["cflow.packets"], want, ds[i].Packets)
		}
	}
	t.Logf("tshark %s: aggregate and RFC 9951 delay templates and records as sent (530-533 shown as Unknown: tshark 4.0 predates RFC 9951)", "4.0")
}

// TestPeerGoflow2Analytics sends the records to goflow2 v2.2.6 (-produce
// raw) and compares every field's element id, enterprise and octets.
func TestPeerGoflow2Analytics(t *testing.T) {
	port, out, log := startGoflow2Raw(t)
	conn, err := net.Dial("udp", fmt.Sprintf("127.0.0.1:%d", port))
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	msgs := encodeAnalytics(t)
	for _, m := range msgs {
		conn.Write(m)
	}
	var got [][]goflowValue
	testutil.Eventually(t, "goflow2 output", 5*time.Second, func() bool {
		got = got[:0]
		for _, l := range testutil.Lines(out) {
			var m struct {
				Message struct {
					FlowSets []goflowFlowSet `json:"flow-sets"`
				} `json:"message"`
			}
			if err := json.Unmarshal([]byte(l), &m); err != nil {
				t.Fatalf("goflow2 line not JSON: %v: %s", err, l)
			}
			for _, s := range m.Message.FlowSets {
				if s.ID >= 256 {
					for _, r := range s.Records {
						got = append(got, r.Values)
					}
				}
			}
		}
		return len(got) >= 3
	})
	a, ds := analyticsRecords()
	want := []struct {
		t   *exporter.CustomTemplate
		rec exporter.CustomRecord
	}{{exporter.AggregateTemplate, (*exporter.AggRecord)(a)}, {collector.DelayTemplate, ds[0]}, {collector.DelayTemplate, ds[1]}}
	if len(got) != len(want) {
		t.Fatalf("goflow2 decoded %d records, want %d\n%s", len(got), len(want), log)
	}
	for i, w := range want {
		raw := make([]byte, w.t.RecordLen())
		w.rec.Put(raw)
		fs := w.t.Fields()
		if len(got[i]) != len(fs) {
			t.Fatalf("record %d: %d fields, want %d", i, len(got[i]), len(fs))
		}
		off := 0
		for j, f := range fs {
			v := got[i][j]
			b, _ := base64.StdEncoding.DecodeString(v.Value)
			if v.Type != f.ID || v.Pen != f.PEN || v.PenProvided != (f.PEN != 0) || !bytes.Equal(b, raw[off:off+int(f.Len)]) {
				t.Errorf("record %d %s: goflow2 %d/%d %x, want %d/%d %x", i, f.Name, v.Pen, v.Type, b, f.PEN, f.ID, raw[off:off+int(f.Len)])
			}
			off += int(f.Len)
		}
	}
	t.Logf("goflow2 v2.2.6 decoded 1 aggregate and 2 RFC 9951 delay records, every field as sent")
}

// TestAggregateRouteDecodes: the route an aggregate is keyed on
// (dexRouteIndex) comes back from the collector's decoder with every other
// field, and the decoded JSON and text name it.
func TestAggregateRouteDecodes(t *testing.T) {
	want, _ := analyticsRecords()
	var got []aggregate.Record
	d := collector.NewDecoder()
	d.OnAggregate = func(_ netip.AddrPort, _ uint32, r *aggregate.Record) { got = append(got, *r) }
	for _, m := range encodeAnalytics(t) {
		if err := d.Decode(netip.MustParseAddrPort("[::1]:1"), m, func(*collector.Event) {}); err != nil {
			t.Fatal(err)
		}
	}
	if len(got) != 1 || got[0] != *want || got[0].Route != 3 {
		t.Fatalf("decoded %+v, want %+v", got, *want)
	}
	js := string(exporter.AppendAggregate(nil, &got[0], true))
	txt := string(exporter.AppendAggregate(nil, &got[0], false))
	if !strings.Contains(js, `"flow_id":3735928559,"route":3,"packets":1000`) || !strings.Contains(txt, " route=3 ") {
		t.Fatalf("JSON %s text %s", js, txt)
	}
}
