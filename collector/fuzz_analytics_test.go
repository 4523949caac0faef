package collector

import (
	"net/netip"
	"testing"
	"time"

	"github.com/dexplane/dexplane/exporter"
	"github.com/dexplane/dexplane/exporter/aggregate"
)

// analyticsMessages encodes one aggregate and one delay record (seeds).
func analyticsMessages(tb testing.TB) [][]byte {
	var msgs [][]byte
	enc, err := exporter.NewEncoder(exporter.EncoderConfig{ObservationDomain: 7,
		Emit: func(m []byte, _ int) bool { msgs = append(msgs, append([]byte(nil), m...)); return true }})
	if err != nil {
		tb.Fatal(err)
	}
	a := aggregate.Record{Packets: 10, Octets: 15000, Gaps: 2, Reordered: 1, HasSeq: true, FirstSeq: 1, LastSeq: 12}
	a.Namespace, a.FlowID = 123, 0xABCD
	if err := enc.EncodeCustom(exporter.AggregateTemplate, (*exporter.AggRecord)(&a)); err != nil {
		tb.Fatal(err)
	}
	d := DelayRecord{Namespace: 123, From: 1, To: 2, Hops: 2, Packets: 10, MeanUs: 5, MinUs: 1, MaxUs: 9, SumUs: 50}
	if err := enc.EncodeCustom(DelayTemplate, &d); err != nil {
		tb.Fatal(err)
	}
	enc.Flush()
	return msgs
}

// FuzzDecodeAnalytics feeds arbitrary messages to a Decoder that takes
// aggregate and RFC 9951 delay records: it must never panic, and what it
// hands over must encode again under its template.
func FuzzDecodeAnalytics(f *testing.F) {
	for _, m := range analyticsMessages(f) {
		f.Add(m)
	}
	f.Fuzz(func(t *testing.T, msg []byte) {
		d := NewDecoder()
		buf := make([]byte, 256)
		d.OnAggregate = func(_ netip.AddrPort, _ uint32, r *aggregate.Record) {
			(*exporter.AggRecord)(r).Put(buf[:exporter.AggregateTemplate.RecordLen()])
			_ = exporter.AppendAggregate(nil, r, true)
		}
		d.OnDelay = func(_ uint32, r *DelayRecord) { r.Put(buf[:DelayTemplate.RecordLen()]) }
		src := netip.MustParseAddrPort("[::1]:1")
		for range 2 {
			_ = d.Decode(src, msg, func(*Event) {})
		}
	})
}

// FuzzPaths drives Paths and Delays with arbitrary (packet, node, time)
// operations and expiries: never a panic, never more open packets than the
// bound, and every path delivered with at most MaxPathHops hops.
func FuzzPaths(f *testing.F) {
	f.Add([]byte{1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12})
	f.Add([]byte{0, 0, 0, 0, 0, 0, 0, 0, 0xFF, 0xFF, 0xFF, 0xFF, 0, 0, 0, 0})
	f.Fuzz(func(t *testing.T, ops []byte) {
		d := NewDelays(0)
		d.MaxKeys = 16
		p := NewPaths(8, time.Duration(10), func(pa *Path) {
			if len(pa.Hops) > MaxPathHops {
				t.Fatalf("%d hops", len(pa.Hops))
			}
			d.AddPath(pa)
		})
		now := int64(0)
		for len(ops) >= 4 {
			k := PacketKey{uint16(ops[0] & 3), uint32(ops[1] & 7), uint32(ops[2])}
			now += int64(ops[3] & 3)
			if ops[0]&0x80 != 0 {
				p.Expire(now)
			} else {
				p.Add(k, uint32(ops[3]>>4), int64(ops[2])*1000-int64(ops[3])*100, now)
			}
			if p.Open() > 8 {
				t.Fatalf("%d open packets, bound 8", p.Open())
			}
			ops = ops[4:]
		}
		p.Flush()
		d.Flush(now, func(*DelayRecord) {})
	})
}
