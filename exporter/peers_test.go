package exporter_test

import (
	"bytes"
	"encoding/base64"
	"encoding/binary"
	"encoding/json"
	"fmt"
	"net"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/gopacket/gopacket/layers"

	"github.com/dexplane/dexplane/dataplane/policy"
	"github.com/dexplane/dexplane/dataplane/telemetry"
	"github.com/dexplane/dexplane/exporter"
	"github.com/dexplane/dexplane/internal/ipfixtest"
	"github.com/dexplane/dexplane/internal/testutil"
)

// exportTo sends recs through a real Exporter over UDP to addr and waits
// until they are written to the socket.
func exportTo(t *testing.T, addr string, recs []telemetry.Record) {
	t.Helper()
	exportWith(t, addr, recs, uint64(len(recs)), true)
}

// exportWith sends recs through a real Exporter (RawSection as raw) over
// UDP to addr and waits until it has written want IPFIX data records.
func exportWith(t *testing.T, addr string, recs []telemetry.Record, want uint64, raw bool) {
	t.Helper()
	q, _ := telemetry.NewRing(1024)
	x, err := exporter.New(exporter.Options{Export: policy.Export{
		RateLimit:  policy.RateLimit{RecordsPerSecond: 1e6},
		Collectors: []policy.Collector{{Transport: policy.TransportUDP, Address: addr, ObservationDomainID: 42}},
	}, RawSection: raw}, []*telemetry.Ring{q})
	if err != nil {
		t.Fatal(err)
	}
	stop := start(t, x)
	// The rate limit's bucket starts empty when Run starts (export never
	// exceeds rate × time): records pushed before Run has been scheduled
	// would meet an empty bucket and be rate-limited on a loaded machine.
	// Wait for Run's collector to be up, then give the bucket 50 ms.
	testutil.Eventually(t, "collector up", 5*time.Second, func() bool { return x.Counters().Collectors[0].Up })
	time.Sleep(50 * time.Millisecond)
	for i := range recs {
		if !q.TryPush(&recs[i]) {
			t.Fatal("ring full")
		}
	}
	testutil.Eventually(t, "records sent", 5*time.Second, func() bool { return x.Counters().Collectors[0].Records == want })
	if c := x.Counters(); c.RateLimited != 0 {
		t.Errorf("%d records rate-limited (counters %+v)", c.RateLimited, c)
	}
	stop()
}

// fieldBytes returns the value octets we expect on the wire for field f of
// r, built independently of the encoder (big-endian, reduced size).
func fieldBytes(name string, r *telemetry.Record) []byte {
	u := func(v uint64, n int) []byte {
		b := make([]byte, 8)
		binary.BigEndian.PutUint64(b, v)
		return b[8-n:]
	}
	// Integer fields: value and size in octets.
	ints := map[string]struct {
		v uint64
		n int
	}{
		"ioamNamespaceId":          {uint64(r.Namespace), 2},
		"ioamNodeId":               {uint64(r.NodeID), 3},
		"ioamIngressIfId":          {uint64(r.IngressIfID), 2},
		"ioamEgressIfId":           {uint64(r.EgressIfID), 2},
		"ioamTimestampSeconds":     {uint64(r.TimestampSec), 4},
		"ioamTimestampFraction":    {uint64(r.TimestampFrac), 4},
		"ioamNamespaceData":        {uint64(r.NamespaceData), 4},
		"ioamQueueDepth":           {uint64(r.QueueDepth), 4},
		"ioamNodeIdWide":           {r.NodeIDWide, 7},
		"ioamIngressIfIdWide":      {uint64(r.IngressIfIDWide), 4},
		"ioamEgressIfIdWide":       {uint64(r.EgressIfIDWide), 4},
		"ioamNamespaceDataWide":    {r.NamespaceDataWide, 8},
		"ioamOssSchemaId":          {uint64(r.SchemaID), 3},
		"ioamDexFlowId":            {uint64(r.FlowID), 4},
		"ioamDexSequenceNumber":    {uint64(r.Seq), 4},
		"sourceTransportPort":      {uint64(r.SrcPort), 2},
		"destinationTransportPort": {uint64(r.DstPort), 2},
		"flowLabelIPv6":            {uint64(r.FlowLabel), 4},
		"ingressInterface":         {uint64(r.IngressPort), 4},
		"egressInterface":          {uint64(r.EgressPort), 4},
		"sectionExportedOctets":    {uint64(r.RawLen), 2},
	}
	if f, ok := ints[name]; ok {
		return u(f.v, f.n)
	}
	switch name {
	case "ioamHopLim":
		return []byte{r.HopLimit}
	case "ioamOssData":
		return r.OSSData[:r.OSSLen]
	case "sourceIPv6Address":
		return r.Src[:]
	case "destinationIPv6Address":
		return r.Dst[:]
	case "protocolIdentifier":
		return []byte{r.NextHeader}
	case "observationTimeNanoseconds":
		// 1700000000.123456789 s: NTP seconds, fraction = ns * 2^32 / 1e9
		return u(uint64(1700000000+2208988800)<<32|uint64(123456789)<<32/1e9, 8)
	case "ipHeaderPacketSection":
		return r.RawSection[:r.RawLen]
	}
	panic("no expectation for " + name)
}

// TestPeerGoflow2Raw decodes a live export with goflow2 v2.2.6
// (-produce raw, one worker) and compares every field's octets.
func TestPeerGoflow2Raw(t *testing.T) {
	port, out, log := startGoflow2Raw(t)
	recs := []telemetry.Record{ipfixtest.Record(0), ipfixtest.Record(1), ipfixtest.Record(2)}
	exportTo(t, fmt.Sprintf("127.0.0.1:%d", port), recs)
	var got [][]goflowValue
	testutil.Eventually(t, "goflow2 output", 5*time.Second, func() bool {
		got = got[:0]
		for _, l := range testutil.Lines(out) {
			var m struct {
				Type    string `json:"type"`
				Message struct {
					Domain   uint32          `json:"observation-domain-id"`
					FlowSets json.RawMessage `json:"flow-sets"`
				} `json:"message"`
			}
			if err := json.Unmarshal([]byte(l), &m); err != nil {
				t.Fatalf("goflow2 line not JSON: %v: %s", err, l)
			}
			var sets []goflowFlowSet
			json.Unmarshal(m.Message.FlowSets, &sets)
			for _, s := range sets {
				if s.ID < 256 {
					continue
				}
				if m.Type != "ipfix" || m.Message.Domain != 42 {
					t.Fatalf("goflow2 message type %q domain %d", m.Type, m.Message.Domain)
				}
				for _, r := range s.Records {
					got = append(got, r.Values)
				}
			}
		}
		return len(got) >= len(recs)
	})
	if len(got) != len(recs) {
		t.Fatalf("goflow2 decoded %d records, want %d\n%s", len(got), len(recs), log)
	}
	for i, vals := range got {
		if len(vals) != exporter.NumDEXFields {
			t.Fatalf("record %d: %d fields, want %d", i, len(vals), exporter.NumDEXFields)
		}
		for j, v := range vals {
			f := &exporter.Fields[j]
			// goflow2 reports the element id without the enterprise bit
			if v.Type != f.ElementId || v.PenProvided != f.Enterprise() || v.Pen != f.EnterpriseId {
				t.Errorf("record %d field %d: goflow2 saw type %d pen %d, want %s (%d/%d)", i, j, v.Type, v.Pen, f.Name, f.EnterpriseId, f.ElementId)
			}
			b, _ := base64.StdEncoding.DecodeString(v.Value)
			if want := fieldBytes(f.Name, &recs[i]); !bytes.Equal(b, want) {
				t.Errorf("record %d %s: goflow2 decoded %x, want %x", i, f.Name, b, want)
			}
		}
	}
	t.Logf("goflow2 v2.2.6 decoded %d records x %d fields", len(got), exporter.NumDEXFields)
}

// TestPeerGoflow2Mapping runs goflow2's sample producer with the shipped
// mapping file and checks the IOAM fields come out with our values.
func TestPeerGoflow2Mapping(t *testing.T) {
	port, out := startGoflow2Mapped(t)
	r := ipfixtest.Record(5)
	exportTo(t, fmt.Sprintf("127.0.0.1:%d", port), []telemetry.Record{r})
	var m map[string]any
	testutil.Eventually(t, "goflow2 output", 5*time.Second, func() bool {
		l := testutil.Lines(out)
		if len(l) == 0 {
			return false
		}
		if err := json.Unmarshal([]byte(l[0]), &m); err != nil {
			t.Fatalf("%v: %s", err, l[0])
		}
		return true
	})
	t.Logf("goflow2 sample producer: %v", m)
	want := map[string]any{
		"type": "IPFIX", "src_addr": "2001:db8::1", "dst_addr": "2001:db8::2", "src_port": float64(40000), "dst_port": float64(5001),
		"proto": "UDP", "ipv6_flow_label": float64(0xABCDE), "in_if": float64(0), "out_if": float64(1),
		"ioam_namespace_id": float64(123), "ioam_hop_lim": float64(63), "ioam_node_id": float64(0x010203),
		"ioam_ingress_if_id": float64(11), "ioam_egress_if_id": float64(12), "ioam_timestamp_seconds": float64(1700000000),
		"ioam_timestamp_fraction": float64(123456), "ioam_namespace_data": float64(0xDEADBEEF), "ioam_queue_depth": float64(77),
		"ioam_ingress_if_id_wide": float64(0x01020304), "ioam_egress_if_id_wide": float64(0x05060708),
		"ioam_oss_schema_id": float64(0xABCDEF), "ioam_dex_flow_id": float64(0x12345678), "ioam_dex_sequence_number": float64(5),
		"section_exported_octets": float64(48), "ioam_oss_data": "00010203fcfdfeff",
		"ip_header_packet_section": fmt.Sprintf("%x", r.RawSection[:48]),
	}
	for k, v := range want {
		if m[k] != v {
			t.Errorf("%s = %v (%T), want %v", k, m[k], m[k], v)
		}
	}
}

// TestPeerNfacctd decodes a live export with pmacct's nfacctd using the
// shipped aggregate_primitives and checks the values it prints.
//
// nfacctd 1.7.7 mis-sizes data records whose template holds a variable-length
// field together with IEs it does not track (here 31, 325 and the PEN
// fields): every field after the first variable-length one, and every
// record after the first, is read at a wrong offset. goflow2, tshark and
// python3-ipfix decode the same messages correctly (see their tests), so
// this test exports records without the two variable-length fields (OSS
// data, raw header section); ioamNamespaceId cannot be a pmacct primitive
// (element id 0).
func TestPeerNfacctd(t *testing.T) {
	aggregate := "src_host, dst_host, src_port, dst_port, proto, ioam_hop_lim, ioam_node_id, ioam_ingress_if_id, " +
		"ioam_egress_if_id, ioam_timestamp_seconds, ioam_timestamp_fraction, ioam_namespace_data, ioam_queue_depth, " +
		"ioam_node_id_wide, ioam_ingress_if_id_wide, ioam_egress_if_id_wide, ioam_namespace_data_wide, " +
		"ioam_dex_flow_id, ioam_dex_sequence_number, flow_label_i_pv6, observation_time_nanoseconds"
	port, out := startNfacctd(t, aggregate)
	// nfacctd hands records to its plugin a buffer (plugin_buffer_size,
	// default 1476 octets) at a time and keeps a partial buffer until more
	// data comes: follow the 64 records under test with as many fillers
	// (another flow) so that all 64 reach the print plugin.
	var recs, sent []telemetry.Record
	for i := range 128 {
		r := ipfixtest.Record(uint32(i))
		r.TraceType &^= telemetry.TraceOSS
		r.RawLen = 0
		if i >= 64 {
			r.FlowID = 0xF111E4
		} else {
			recs = append(recs, r)
		}
		sent = append(sent, r)
	}
	exportTo(t, fmt.Sprintf("127.0.0.1:%d", port), sent)
	rows := map[string]map[string]any{} // by sequence number
	// On a loaded machine nfacctd may still hold part of the records in a
	// plugin buffer: push more fillers every 2 s until all rows are out.
	fillers := sent[64:]
	lastPush := time.Now()
	testutil.Eventually(t, "nfacctd output", 20*time.Second, func() bool {
		if time.Since(lastPush) > 2*time.Second {
			exportTo(t, fmt.Sprintf("127.0.0.1:%d", port), fillers)
			lastPush = time.Now()
		}
		for _, l := range testutil.Lines(out) {
			d := json.NewDecoder(strings.NewReader(l))
			d.UseNumber()
			var m map[string]any
			if d.Decode(&m) == nil && fmt.Sprint(m["ioam_dex_flow_id"]) == fmt.Sprint(0x12345678) {
				rows[fmt.Sprint(m["ioam_dex_sequence_number"])] = m
			}
		}
		return len(rows) == len(recs)
	})
	for seq, m := range rows {
		var r telemetry.Record
		for i := range recs {
			if fmt.Sprint(recs[i].Seq) == seq {
				r = recs[i]
			}
		}
		if !r.HasSeq {
			t.Fatalf("nfacctd printed sequence number %s we never sent: %v", seq, m)
		}
		// pmacct prints u_int in decimal and raw as upper-case hex octets
		// separated by '-'.
		want := map[string]any{
			"ip_src": "2001:db8::1", "ip_dst": "2001:db8::2", "port_src": 40000, "port_dst": 5001, "ip_proto": "udp",
			"ioam_hop_lim": 63, "ioam_node_id": "01-02-03", "ioam_ingress_if_id": 11, "ioam_egress_if_id": 12,
			"ioam_timestamp_seconds": 1700000000, "ioam_timestamp_fraction": 123456,
			"ioam_namespace_data": uint32(0xDEADBEEF), "ioam_queue_depth": 77, "ioam_node_id_wide": "A1-B2-C3-D4-E5-F6-01",
			"ioam_ingress_if_id_wide": 0x01020304, "ioam_egress_if_id_wide": 0x05060708,
			"ioam_namespace_data_wide": uint64(0x1122334455667788), "ioam_dex_flow_id": 0x12345678,
			"flow_label_i_pv6":             0xABCDE,
			"observation_time_nanoseconds": fmt.Sprintf("%x", fieldBytes("observationTimeNanoseconds", &r)),
		}
		for k, v := range want {
			if got := fmt.Sprint(m[k]); got != fmt.Sprint(v) {
				t.Errorf("seq %s: %s = %s, want %v", seq, k, got, v)
			}
		}
	}
	t.Logf("nfacctd printed all %d records with every field as sent", len(rows))
}

// captureExport exports recs over UDP to a socket of the test and returns
// the datagrams received (the IPFIX messages as they were on the wire) and
// the collector port.
func captureExport(t *testing.T, recs []telemetry.Record) ([][]byte, int) {
	t.Helper()
	return captureWith(t, func(addr string) { exportTo(t, addr, recs) })
}

// captureWith runs export with the address of a UDP socket of the test and
// returns the datagrams that arrived until none came for 200 ms, and the
// socket's port.
func captureWith(t *testing.T, export func(addr string)) ([][]byte, int) {
	t.Helper()
	pc, err := net.ListenPacket("udp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer pc.Close()
	export(pc.LocalAddr().String())
	var msgs [][]byte
	buf := make([]byte, 65535)
	for {
		pc.SetReadDeadline(time.Now().Add(200 * time.Millisecond))
		n, _, err := pc.ReadFrom(buf)
		if err != nil {
			break
		}
		msgs = append(msgs, bytes.Clone(buf[:n]))
	}
	if len(msgs) == 0 {
		t.Fatal("no datagram captured")
	}
	return msgs, pc.LocalAddr().(*net.UDPAddr).Port
}

// writePcap writes the datagrams as IPv4/UDP packets 127.0.0.1:40000 →
// 127.0.0.1:port in a pcap file with LINKTYPE_IPV4 (228).
func writePcap(t *testing.T, path string, port int, msgs [][]byte) {
	t.Helper()
	pkts := make([][]byte, len(msgs))
	for i, m := range msgs {
		pkt := make([]byte, 28+len(m))
		pkt[0], pkt[8], pkt[9] = 0x45, 64, 17 // IPv4, TTL 64, UDP
		binary.BigEndian.PutUint16(pkt[2:], uint16(len(pkt)))
		copy(pkt[12:], []byte{127, 0, 0, 1, 127, 0, 0, 1})
		var sum uint32
		for j := 0; j < 20; j += 2 {
			sum += uint32(binary.BigEndian.Uint16(pkt[j:]))
		}
		sum = sum>>16 + sum&0xFFFF
		sum += sum >> 16
		binary.BigEndian.PutUint16(pkt[10:], ^uint16(sum))
		binary.BigEndian.PutUint16(pkt[20:], 40000)
		binary.BigEndian.PutUint16(pkt[22:], uint16(port))
		binary.BigEndian.PutUint16(pkt[24:], uint16(8+len(m))) // checksum 0: none
		copy(pkt[28:], m)
		pkts[i] = pkt
	}
	testutil.WriteCapture(t, path, testutil.Capture{LinkType: layers.LinkTypeIPv4}, pkts)
}

func colonHex(b []byte) string {
	s := make([]string, len(b))
	for i, c := range b {
		s[i] = fmt.Sprintf("%02x", c)
	}
	return strings.Join(s, ":")
}

// TestPeerTshark dissects a pcap of a live export with tshark's cflow
// dissector and compares every field.
func TestPeerTshark(t *testing.T) {
	bin := tsharkPath(t)
	recs := []telemetry.Record{ipfixtest.Record(0), ipfixtest.Record(1), ipfixtest.Record(2)}
	msgs, port := captureExport(t, recs)
	pcap := filepath.Join(t.TempDir(), "export.pcap")
	writePcap(t, pcap, port, msgs)
	var flows []map[string]any
	for i, layer := range tsharkCflow(t, bin, pcap, port) {
		var cf map[string]any
		if err := json.Unmarshal(layer, &cf); err != nil {
			t.Fatalf("packet %d has no cflow layer", i)
		}
		if cf["cflow.version"] != "10" || cf["cflow.od_id"] != "42" || cf["cflow.len"] != fmt.Sprint(len(msgs[i])) {
			t.Fatalf("packet %d header: %v", i, cf)
		}
		for k, v := range cf {
			if strings.HasPrefix(k, "Set ") {
				for fk, fv := range v.(map[string]any) {
					if strings.HasPrefix(fk, "Template (") && fk != fmt.Sprintf("Template (Id = 256, Count = %d)", exporter.NumDEXFields) {
						t.Errorf("template %s", fk)
					}
					if strings.HasPrefix(fk, "Flow ") {
						flows = append(flows, fv.(map[string]any))
					}
				}
			}
		}
	}
	if len(flows) != len(recs) {
		t.Fatalf("tshark found %d flows, want %d", len(flows), len(recs))
	}
	for _, f := range flows {
		ent, _ := f["cflow.enterprise_private_entry"].([]any)
		if len(ent) != 17 {
			t.Fatalf("flow has %d enterprise entries: %v", len(ent), f)
		}
		seq := binary.BigEndian.Uint32(mustColonHex(t, ent[16].(string)))
		r := recs[seq]
		for i := range 17 {
			if want := colonHex(fieldBytes(exporter.Fields[i].Name, &r)); ent[i] != want {
				t.Errorf("seq %d %s: tshark %v, want %s", seq, exporter.Fields[i].Name, ent[i], want)
			}
		}
		want := map[string]string{
			"cflow.srcaddrv6": "2001:db8::1", "cflow.dstaddrv6": "2001:db8::2", "cflow.protocol": "17",
			"cflow.srcport": "40000", "cflow.dstport": "5001", "cflow.ipv6flowlabel": fmt.Sprint(0xABCDE),
			"cflow.inputint": "0", "cflow.outputint": "1", "cflow.section_exported_octets": "48",
			"cflow.section_header": colonHex(r.RawSection[:48]),
		}
		for k, v := range want {
			if f[k] != v {
				t.Errorf("seq %d %s: tshark %v, want %s", seq, k, f[k], v)
			}
		}
		// tshark truncates the NTP fraction to ns: ...123456788
		if ts, _ := f["cflow.observation_time_nanoseconds"].(string); !strings.HasPrefix(ts, "Nov 14, 2023 22:13:20.1234567") {
			t.Errorf("observation time %q", ts)
		}
	}
	t.Logf("tshark dissected %d messages, %d records, all fields as sent", len(msgs), len(flows))
}

func mustColonHex(t *testing.T, s string) []byte {
	t.Helper()
	var b []byte
	for _, p := range strings.Split(s, ":") {
		var c byte
		if _, err := fmt.Sscanf(p, "%02x", &c); err != nil {
			t.Fatalf("hex %q: %v", s, err)
		}
		b = append(b, c)
	}
	return b
}

// pythonIPFIX is the python3-ipfix reader used by TestPeerPythonIPFIX: it
// reads an RFC 5655 file (concatenated messages) and prints the records as
// JSON, or the decoding error and exit status 3.
const pythonIPFIX = `
import json, sys
import ipfix.ie, ipfix.reader, ipfix.message
ipfix.ie.use_iana_default()
for spec in sys.argv[2:]:
    ipfix.ie.for_spec(spec)
out = []
try:
    with open(sys.argv[1], "rb") as f:
        for rec in ipfix.reader.from_stream(f).namedict_iterator():
            out.append({k: (v.hex() if isinstance(v, (bytes, bytearray)) else str(v)) for k, v in rec.items()})
except ipfix.message.IpfixDecodeError as e:
    print("IpfixDecodeError:", e)
    sys.exit(3)
print(json.dumps(out))
`

// TestPeerPythonIPFIX reads the export with Debian's python3-ipfix, whose
// message reader checks framing (version, message length, set lengths), and
// checks it rejects deliberately broken framing.
func TestPeerPythonIPFIX(t *testing.T) {
	const py = "/usr/bin/python3"
	testutil.NeedTool(t, py, "Debian package python3")
	if _, code := testutil.Run(t, py, "-c", "import ipfix.reader"); code != 0 {
		t.Skip("python3-ipfix not installed (Debian package python3-ipfix for /usr/bin/python3)")
	}
	recs := []telemetry.Record{ipfixtest.Record(0), ipfixtest.Record(1)}
	msgs, _ := captureExport(t, recs)
	// IE specs for the enterprise fields; python3-ipfix has no reduced-size
	// decoding for 3- and 7-octet integers, so those are read as octets.
	var specs []string
	for _, f := range exporter.Fields {
		if !f.Enterprise() {
			continue
		}
		typ := "octetArray"
		switch {
		case f.Variable():
		case f.Len == 1:
			typ = "unsigned8"
		case f.Len == 2:
			typ = "unsigned16"
		case f.Len == 4:
			typ = "unsigned32"
		case f.Len == 8:
			typ = "unsigned64"
		}
		specs = append(specs, fmt.Sprintf("%s(%d/%d)<%s>[%d]", f.Name, f.EnterpriseId, f.ElementId, typ, f.Len))
	}
	dir := t.TempDir()
	run := func(name string, data []byte) (string, int) {
		p := testutil.WriteFile(t, filepath.Join(dir, name), data)
		return testutil.Run(t, py, append([]string{"-c", pythonIPFIX, p}, specs...)...)
	}
	out, code := run("good.ipfix", bytes.Join(msgs, nil))
	if code != 0 {
		t.Fatalf("python3-ipfix rejected our export (%d): %s", code, out)
	}
	var got []map[string]string
	if err := json.Unmarshal([]byte(out), &got); err != nil {
		t.Fatalf("%v: %s", err, out)
	}
	if len(got) != len(recs) {
		t.Fatalf("python3-ipfix read %d records: %s", len(got), out)
	}
	for i, g := range got {
		r := &recs[i]
		want := map[string]string{
			"ioamNamespaceId": "123", "ioamHopLim": "63", "ioamNodeId": "010203", "ioamNodeIdWide": "a1b2c3d4e5f601",
			"ioamOssSchemaId": "abcdef", "ioamOssData": "00010203fcfdfeff", "ioamDexFlowId": fmt.Sprint(0x12345678),
			"ioamDexSequenceNumber": fmt.Sprint(i), "ioamNamespaceDataWide": fmt.Sprint(uint64(0x1122334455667788)),
			"sourceIPv6Address": "2001:db8::1", "destinationIPv6Address": "2001:db8::2", "sourceTransportPort": "40000",
			"flowLabelIPv6": fmt.Sprint(0xABCDE), "egressInterface": "1", "sectionExportedOctets": "48",
			"ipHeaderPacketSection": fmt.Sprintf("%x", r.RawSection[:48]),
		}
		for k, v := range want {
			if g[k] != v {
				t.Errorf("record %d %s: python3-ipfix %q, want %q", i, k, g[k], v)
			}
		}
		// python3-ipfix reads the NTP seconds of dateTimeNanoseconds from the
		// Unix epoch (RFC 5101's wording); RFC 7011 §6.1.10 and tshark count
		// from 1900, as we do. So it shows our time 2208988800 s late.
		late := time.Unix(1700000000+2208988800, 0).UTC().Format("2006-01-02 15:04:05")
		if !strings.HasPrefix(g["observationTimeNanoseconds"], late+".12345") {
			t.Errorf("record %d observation time %q", i, g["observationTimeNanoseconds"])
		}
	}
	// Malformed framing must be rejected: a message cut short, and a set
	// whose length runs past the end of its message.
	short := bytes.Clone(msgs[0][:len(msgs[0])-1])
	if out, code := run("short.ipfix", short); code != 3 || !strings.Contains(out, "Short read") {
		t.Errorf("truncated message: exit %d, %s", code, out)
	}
	overrun := bytes.Clone(msgs[0])
	binary.BigEndian.PutUint16(overrun[18:], uint16(len(overrun)))
	if out, code := run("overrun.ipfix", overrun); code != 3 || !strings.Contains(out, "Set too long") {
		t.Errorf("set overrun: exit %d, %s", code, out)
	}
}
