package collector

import (
	"bytes"
	"encoding/hex"
	"errors"
	"net/netip"
	"strings"
	"testing"

	"github.com/dexplane/dexplane/dataplane/telemetry"
	"github.com/dexplane/dexplane/exporter"
	"github.com/dexplane/dexplane/internal/ipfixtest"
)

func TestRoundTripAllFields(t *testing.T) {
	want := ipfixtest.Record(42)
	msgs := ipfixtest.Encode(t, 9, exporter.FieldsStandard|exporter.FieldsRaw, want)
	d := NewDecoder()
	src := netip.MustParseAddrPort("[::1]:1234")
	var got []Event
	for _, m := range msgs {
		if err := d.Decode(src, m, func(ev *Event) { got = append(got, *ev) }); err != nil {
			t.Fatal(err)
		}
	}
	if len(got) != 1 {
		t.Fatalf("%d events", len(got))
	}
	ev := got[0]
	if ev.Domain != 9 || ev.Unknown != 0 || ev.Exporter != src {
		t.Fatalf("event meta %+v", ev)
	}
	if ev.Present != 1<<exporter.NumDEXFields-1 {
		t.Fatalf("present mask %#x", ev.Present)
	}
	if ev.Record != want {
		t.Fatalf("round trip differs\n got %+v\nwant %+v", ev.Record, want)
	}
}

func TestDecodeLiegeGolden(t *testing.T) {
	r := telemetry.Record{Namespace: 123, TraceType: telemetry.TraceHopLimNodeID, HopLimit: 63, NodeID: 1,
		HasFlowID: true, FlowID: 0x12345678, HasSeq: true, Seq: 1}
	msgs := ipfixtest.Encode(t, 1, exporter.FieldsLiege, r)
	d := NewDecoder()
	n := 0
	err := d.Decode(netip.AddrPort{}, msgs[0], func(ev *Event) {
		n++
		r.ExtFlags = 0xC0
		if ev.Record != r {
			t.Errorf("decoded %+v", ev.Record)
		}
	})
	if err != nil || n != 1 {
		t.Fatalf("err %v, %d events", err, n)
	}
}

func TestDecodeMissingTemplateAndFraming(t *testing.T) {
	r := ipfixtest.Record(42)
	msgs := ipfixtest.Encode(t, 1, exporter.FieldsStandard, r, r)
	d := NewDecoder()
	// Data without its template (a second exporter never sent one).
	m := bytes.Clone(msgs[0])
	if err := d.Decode(netip.MustParseAddrPort("1.2.3.4:5"), m, func(*Event) {}); err != nil {
		t.Fatal(err)
	}
	other := netip.MustParseAddrPort("1.2.3.4:6")
	// strip the template set: header + data set only
	tl := int(m[18])<<8 | int(m[19])
	noTmpl := append(bytes.Clone(m[:16]), m[16+tl:]...)
	noTmpl[2], noTmpl[3] = byte(len(noTmpl)>>8), byte(len(noTmpl))
	if err := d.Decode(other, noTmpl, func(*Event) { t.Error("decoded without template") }); err != nil {
		t.Fatal(err)
	}
	if d.MissingTemplate != 1 {
		t.Fatalf("MissingTemplate = %d", d.MissingTemplate)
	}
	for _, tc := range []struct {
		name string
		msg  []byte
		want error
	}{
		{"short", m[:10], ErrFraming},
		{"version", append([]byte{0, 9}, m[2:]...), ErrVersion},
		{"length", append(bytes.Clone(m), 0), ErrFraming},
		{"set overrun", func() []byte { b := bytes.Clone(m); b[19] = 0xFF; return b }(), ErrFraming},
		{"set id 1", func() []byte { b := bytes.Clone(m); b[17] = 1; return b }(), ErrFraming},
	} {
		if err := CheckFraming(tc.msg); !errors.Is(err, tc.want) {
			t.Errorf("%s: err %v, want %v", tc.name, err, tc.want)
		}
	}
}

func TestReadMessageStream(t *testing.T) {
	r := ipfixtest.Record(42)
	msgs := ipfixtest.Encode(t, 1, exporter.FieldsStandard, r)
	stream := bytes.NewReader(append(append(bytes.Clone(msgs[0]), msgs[0]...), 0, 10, 0))
	for range 2 {
		m, err := ReadMessage(stream, nil)
		if err != nil || !bytes.Equal(m, msgs[0]) {
			t.Fatalf("ReadMessage: %v", err)
		}
	}
	if _, err := ReadMessage(stream, nil); err == nil {
		t.Fatal("truncated header accepted")
	}
}

// ev builds an event for node dom seeing (flow, seq) at time t (ns).
func ev(dom uint32, flow, seq uint32, hop uint8, t int64) *Event {
	e := &Event{Domain: dom}
	e.Record = telemetry.Record{Namespace: 1, HasFlowID: true, FlowID: flow, HasSeq: true, Seq: seq,
		TraceType: telemetry.TraceHopLimNodeID | telemetry.TraceTimestampSec | telemetry.TraceTimestampFrac,
		NodeID:    dom, HopLimit: hop, TimestampSec: uint32(t / 1e9), TimestampFrac: uint32(t % 1e9 / 1e3)}
	for i, f := range exporter.Fields {
		if f.Name == "ioamHopLim" {
			e.Present |= 1 << i
		}
	}
	return e
}

func TestCorrelatePathsAndSequences(t *testing.T) {
	c := NewCorrelator()
	base := int64(1700000000) * 1e9
	// Three nodes 1 > 2 > 3, 10 packets; node 3 misses seq 4, node 2 sees
	// seq 7 twice, node 3 gets seq 8 before 7.
	for seq := uint32(0); seq < 10; seq++ {
		t0 := base + int64(seq)*1e6
		c.Add(ev(1, 0xF, seq, 64, t0))
		c.Add(ev(2, 0xF, seq, 63, t0+100_000))
		if seq == 7 {
			c.Add(ev(2, 0xF, seq, 63, t0+100_000))
			continue
		}
		if seq != 4 {
			c.Add(ev(3, 0xF, seq, 62, t0+300_000))
		}
		if seq == 8 {
			c.Add(ev(3, 0xF, 7, 62, t0+300_000))
		}
	}
	if c.Add(&Event{}) {
		t.Fatal("event without flow id correlated")
	}
	p := c.Path(PacketKey{1, 0xF, 3})
	if len(p) != 3 || p[0].Domain != 1 || p[2].Domain != 3 || p[2].Time-p[0].Time != 300_000 {
		t.Fatalf("path %+v", p)
	}
	s := c.Summary()
	if len(s) != 1 {
		t.Fatalf("%d flows", len(s))
	}
	n := s[0].Nodes
	if n[0].Lost != 0 || n[0].Received != 10 || n[1].Duplicates != 1 || n[2].Lost != 1 || n[2].Reordered != 1 {
		t.Fatalf("node stats %+v", n)
	}
	top := s[0].Paths[0]
	if len(top.Nodes) != 3 || top.Packets < 8 || top.DelayNs[0]/top.DelaySamples[0] != 100_000 || top.DelayMax[1] != 200_000 {
		t.Fatalf("top path %+v", top)
	}
	var b strings.Builder
	if err := WriteSummary(&b, s); err != nil || !strings.Contains(b.String(), "path 1 > 2 > 3") {
		t.Fatalf("summary:\n%s", b.String())
	}
	// Eviction keeps statistics.
	c2 := NewCorrelator()
	c2.MaxPackets = 4
	for seq := uint32(0); seq < 100; seq++ {
		c2.Add(ev(1, 1, seq, 64, base+int64(seq)*1e6))
		c2.Add(ev(2, 1, seq, 63, base+int64(seq)*1e6+5000))
	}
	if c2.Open() > 4 {
		t.Fatalf("%d packets kept", c2.Open())
	}
	if s := c2.Summary(); s[0].Paths[0].Packets != 100 || s[0].Paths[0].DelayNs[0] != 500_000 {
		t.Fatalf("after eviction %+v", s[0].Paths)
	}
}

func TestSeqTrackerWrap(t *testing.T) {
	var s seqTracker
	for _, q := range []uint32{0xFFFFFFFE, 0xFFFFFFFF, 1, 0, 1} {
		s.add(q)
	}
	if s.max != 1 || s.dups != 1 || s.reorder != 1 || s.first != 0xFFFFFFFE {
		t.Fatalf("%+v", s)
	}
	s.add(1 + 3*seqWindow) // a big gap clears the window
	s.add(1 + 2*seqWindow) // too old: late
	if s.reorder != 2 {
		t.Fatalf("reorder %d", s.reorder)
	}
}

func TestAppendEvent(t *testing.T) {
	r := ipfixtest.Record(42)
	e := &Event{Domain: 3, Exporter: netip.MustParseAddrPort("[2001:db8::9]:4739"), Record: r}
	txt := string(AppendEvent(nil, e, false))
	if !strings.HasPrefix(txt, "domain=3 from=[2001:db8::9]:4739 2023-11-14T22:13:20.123456789Z ns=123") || strings.Contains(txt, "encap") {
		t.Fatalf("text: %s", txt)
	}
	js := string(AppendEvent(nil, e, true))
	if !strings.HasPrefix(js, `{"exporter":"[2001:db8::9]:4739","domain":3,"template":0,"time":`) || strings.Contains(js, "role") {
		t.Fatalf("json: %s", js)
	}
}

// TestDecodeUnusableTemplates: templates whose data records would be zero
// octets long are rejected before goflow2 sees them (it would decode their
// data sets into endless empty records); usable ones pass.
func TestDecodeUnusableTemplates(t *testing.T) {
	// msg wraps one set (id, body) in an IPFIX header (version 10, length,
	// export time 0, sequence 0, observation domain 1).
	msg := func(id uint16, body string) []byte {
		b, _ := hex.DecodeString(strings.ReplaceAll(body, " ", ""))
		set := append([]byte{byte(id >> 8), byte(id), byte((len(b) + 4) >> 8), byte(len(b) + 4)}, b...)
		l := 16 + len(set)
		return append([]byte{0, 10, byte(l >> 8), byte(l), 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 1}, set...)
	}
	for _, tc := range []struct {
		name    string
		set     uint16
		body    string // template records: id, field count, [scope count], (field id, length[, PEN])…
		wantErr bool
	}{
		{"one 4-octet field", 2, "0100 0001  0008 0004", false},
		{"variable-length field only", 2, "0100 0001  0008 ffff", false},
		{"enterprise field", 2, "0100 0001  8001 0004 0000 d3a0", false},
		{"zero-length fields only", 2, "0100 0002  0008 0000 000c 0000", true},
		{"withdrawal (no fields)", 2, "0100 0000", false},
		{"options withdrawal", 3, "0100 0000", false},
		{"withdrawal, then a bad template", 2, "0100 0000  0101 0002 0008 0000 000c 0000", true},
		{"second template bad", 2, "0100 0001 0008 0004  0101 0001 0008 0000", true},
		{"field overruns the set", 2, "0100 0002  0008 0004", true},
		{"enterprise number overruns", 2, "0100 0001  8001 0004 0000", true},
		{"options template, zero length", 3, "0100 0001 0001  0008 0000", true},
		{"options template, fine", 3, "0100 0001 0001  0008 0004", false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			err := NewDecoder().Decode(netip.MustParseAddrPort("[::1]:1"), msg(tc.set, tc.body), func(*Event) {})
			if got := errors.Is(err, ErrTemplate); got != tc.wantErr {
				t.Errorf("Decode: %v; want ErrTemplate: %v", err, tc.wantErr)
			}
		})
	}
}
