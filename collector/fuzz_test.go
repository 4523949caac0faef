package collector

import (
	"bytes"
	"encoding/binary"
	"net/netip"
	"testing"

	"github.com/dexplane/dexplane/dataplane/telemetry"
	"github.com/dexplane/dexplane/exporter"
	"github.com/dexplane/dexplane/internal/ipfixtest"
)

// FuzzDecode feeds arbitrary messages to the Decoder: it must never panic,
// and every event it returns must re-encode (all fields it reports present
// have valid lengths).
func FuzzDecode(f *testing.F) {
	r := ipfixtest.Record(42)
	for _, m := range ipfixtest.Encode(f, 1, exporter.FieldsStandard|exporter.FieldsRaw, r) {
		f.Add(m)
	}
	for _, m := range ipfixtest.Encode(f, 1, exporter.FieldsLiege, telemetry.Record{Namespace: 1, TraceType: 0x800000, HasFlowID: true}) {
		f.Add(m)
	}
	f.Add([]byte{0, 10, 0, 16, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 1})
	// Template, data, withdrawal of the template and of all templates, data
	// again, an options template withdrawal: template withdrawals (RFC 7011
	// §8.1) split the message.
	if m := ipfixtest.Encode(f, 1, exporter.FieldsStandard, r)[0]; len(m) > 20 {
		tl := int(binary.BigEndian.Uint16(m[18:]))
		hdr, tmpl, data := m[:16], m[16:16+tl], m[16+tl:]
		wd := []byte{0, 2, 0, 12, m[20], m[21], 0, 0, 0, 2, 0, 0}
		opt := []byte{0, 3, 0, 8, 1, 0, 0, 0}
		msg := append(append(append(append(append(bytes.Clone(hdr), tmpl...), data...), wd...), data...), opt...)
		binary.BigEndian.PutUint16(msg[2:], uint16(len(msg)))
		f.Add(msg)
	}
	f.Fuzz(func(t *testing.T, msg []byte) {
		d := NewDecoder()
		src := netip.MustParseAddrPort("[::1]:1")
		c := NewCorrelator()
		// twice: the second pass sees the templates of the first
		for range 2 {
			_ = d.Decode(src, msg, func(ev *Event) {
				c.Add(ev)
				_ = AppendEvent(nil, ev, true)
				enc, err := exporter.NewEncoder(exporter.EncoderConfig{Emit: func([]byte, int) bool { return true }})
				if err != nil {
					t.Fatal(err)
				}
				if err := enc.Encode(&ev.Record); err != nil {
					t.Fatalf("decoded record does not re-encode: %v", err)
				}
			})
		}
		_ = c.Summary()
	})
}

// FuzzReadMessage checks stream framing never panics and never returns a
// message whose Length field disagrees with its size.
func FuzzReadMessage(f *testing.F) {
	for _, m := range ipfixtest.Encode(f, 1, exporter.FieldsStandard, ipfixtest.Record(42)) {
		f.Add(append(bytes.Clone(m), m...))
	}
	f.Add([]byte{0, 10, 0, 3})
	f.Fuzz(func(t *testing.T, stream []byte) {
		rd := bytes.NewReader(stream)
		buf := make([]byte, MaxMessageSize)
		for {
			m, err := ReadMessage(rd, buf)
			if err != nil {
				return
			}
			if int(m[2])<<8|int(m[3]) != len(m) {
				t.Fatalf("message of %d octets has Length %d", len(m), int(m[2])<<8|int(m[3]))
			}
		}
	})
}

// FuzzCorrelate drives the Correlator with arbitrary (node, flow, seq,
// time) tuples; it must never panic and its loss figures must stay within
// the expected span.
func FuzzCorrelate(f *testing.F) {
	f.Add([]byte{1, 0, 0, 0, 1, 2, 0, 0, 0, 1, 1, 0, 0, 0, 2, 3, 0, 0, 0, 1})
	f.Add([]byte{1, 0xFF, 0xFF, 0xFF, 0xFF, 1, 0, 0, 0, 0, 1, 0, 0, 0x10, 0})
	f.Fuzz(func(t *testing.T, ops []byte) {
		c := NewCorrelator()
		c.MaxPackets = 8
		for len(ops) >= 5 {
			seq := uint32(ops[1])<<24 | uint32(ops[2])<<16 | uint32(ops[3])<<8 | uint32(ops[4])
			c.Add(ev(uint32(ops[0]%4), uint32(ops[0]>>4), seq, 64-ops[0]%4, int64(ops[4])*1e6))
			ops = ops[5:]
		}
		for _, fl := range c.Summary() {
			for _, n := range fl.Nodes {
				if n.Lost > n.Expected {
					t.Fatalf("lost %d > expected %d", n.Lost, n.Expected)
				}
			}
		}
	})
}

// FuzzRoundTrip builds a Record from arbitrary octets, encodes it, decodes
// the message and encodes the result again: both messages must be
// identical (decoding loses nothing the encoder wrote), whatever the record
// holds (including lengths beyond the arrays).
func FuzzRoundTrip(f *testing.F) {
	seed := ipfixtest.Record(42)
	var b bytes.Buffer
	binary.Write(&b, binary.LittleEndian, &seed)
	f.Add(b.Bytes())
	f.Add([]byte{1, 2, 3})
	f.Fuzz(func(t *testing.T, data []byte) {
		var r telemetry.Record
		buf := make([]byte, binary.Size(&r))
		copy(buf, data)
		if err := binary.Read(bytes.NewReader(buf), binary.LittleEndian, &r); err != nil {
			t.Fatal(err)
		}
		r.TraceType &= 0xFFFFFF
		first := ipfixtest.Encode(t, 7, exporter.FieldsStandard|exporter.FieldsRaw, r)
		var got []Event
		d := NewDecoder()
		for _, m := range first {
			if err := d.Decode(netip.AddrPort{}, m, func(ev *Event) { got = append(got, *ev) }); err != nil {
				t.Fatalf("decode our own message: %v\n%x", err, m)
			}
		}
		// A record with a trace is followed by one record per hop, which
		// the encoder derives from the trace: re-encoding the first event
		// must give them all again.
		if len(got) < 1 || (len(got) > 1 && !got[0].Record.Trace.Has) {
			t.Fatalf("%d events from %d messages", len(got), len(first))
		}
		second := ipfixtest.Encode(t, 7, exporter.FieldsStandard|exporter.FieldsRaw, got[0].Record)
		// Per-hop records may spill into a second message.
		same := len(first) == len(second)
		for i := 0; same && i < len(first); i++ {
			same = bytes.Equal(first[i], second[i])
		}
		if !same {
			t.Fatalf("round trip differs\n first %x\nsecond %x", first, second)
		}
	})
}
