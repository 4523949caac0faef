package exporter

import (
	"bytes"
	"fmt"
	"math/rand/v2"
	"testing"
	"time"

	"github.com/dexplane/dexplane/dataplane/telemetry"
)

// layoutRecord is a record with every field of layoutMask set to a value
// whose octets are all distinct from 0 and from each other's.
func layoutRecord() telemetry.Record {
	r := recordF()
	r.TraceType = 0xF00000
	r.HopLimit, r.NodeID = 0x3F, 0xA1B2C3
	r.IngressIfID, r.EgressIfID = 0x1112, 0x1314
	r.TimestampSec, r.TimestampFrac = 0x21222324, 0x25262728
	r.FlowID, r.Seq = 0x31323334, 0x35363738
	r.Src, r.Dst = [16]byte{0x20, 1, 0xd, 0xb8, 15: 1}, [16]byte{0x20, 1, 0xd, 0xb8, 15: 2}
	r.NextHeader, r.SrcPort, r.DstPort, r.FlowLabel = 17, 0x4142, 0x4344, 0xFFF45678
	r.IngressPort, r.EgressPort = 1, 0
	r.RxTime = 1700000000_123456789
	return r
}

// TestLayoutMatchesEncodeData checks every field set a layout takes
// against encodeData (itself checked against the field table): the same
// octets, nothing written before the record, and past its end only
// within the slack.
func TestLayoutMatchesEncodeData(t *testing.T) {
	r := layoutRecord()
	groups := []uint32{1<<fHopLim | 1<<fNodeID, 1<<fIngressIfID | 1<<fEgressIfID, 1 << fTimestampSec,
		1 << fTimestampFrac, 1 << fFlowID, 1 << fSeq, standardMask}
	for set := range 1 << len(groups) {
		mask := uint32(1 << fNamespace)
		for i, g := range groups {
			if set&(1<<i) != 0 {
				mask |= g
			}
		}
		l, ok := newLayout(mask)
		if !ok {
			t.Fatalf("mask %#x: no layout", mask)
		}
		want := make([]byte, 256)
		n := encodeData(mask, want, &r)
		got := bytes.Repeat([]byte{0xEE}, 8+n+layoutSlack)
		l.put((*[layoutSlack]byte)(got[8:]), &r)
		if !bytes.Equal(got[8:8+n], want[:n]) {
			t.Fatalf("mask %#x: layout wrote\n%x\nencodeData\n%x", mask, got[8:8+n], want[:n])
		}
		if !bytes.Equal(got[:8], bytes.Repeat([]byte{0xEE}, 8)) {
			t.Fatalf("mask %#x: layout wrote before the record: %x", mask, got[:8])
		}
	}
}

// TestNewLayoutRejects: field sets a layout cannot write go to encodeData.
func TestNewLayoutRejects(t *testing.T) {
	for _, mask := range []uint32{
		0, // no namespace
		1<<fNamespace | 1<<fHopLim | 1<<fNodeIDWide,                   // trace bit 8
		1<<fNamespace | 1<<fHopLim,                                    // half a group
		1<<fNamespace | 1<<fIngressIfID,                               // half a group
		1<<fNamespace | 1<<fQueueDepth,                                // trace bit 6
		1<<fNamespace | 1<<fSchemaID | 1<<fOSSData,                    // variable length
		1<<fNamespace | standardMask | 1<<fRawSection | 1<<fRawLength, // raw section
		1<<fNamespace | 1<<fSrcAddr | 1<<fDstAddr,                     // part of the standard group
		1<<fNamespace | 1<<fTraceData,                                 // a trace
		1<<fNamespace | 1<<fTraceHop | 1<<fTraceHops | 1<<fTraceFlags, // a hop record
	} {
		if _, ok := newLayout(mask); ok {
			t.Errorf("mask %#x: layout accepted", mask)
		}
	}
}

// testCustom is a one-field custom record.
type testCustom uint32

func (c testCustom) Put(d []byte) { be.PutUint32(d, uint32(c)) }

var testCustomTemplate = NewCustomTemplate([]FieldSpec{{ID: 1, Len: 4, Name: "octetDeltaCount"}})

// randomRecord returns record i of a random stream of many field sets
// (fixed ones with and without a layout, raw sections, traces), in runs
// of one set.
func randomRecord(rnd *rand.Rand, i int, clock int64) telemetry.Record {
	types := []uint32{0x800000, 0xF00000, 0xC00000, 0x300000, 0x008000, 0xF00000 | telemetry.TraceOSS, 0x400000, 0}
	r := layoutRecord()
	r.TraceType = types[i/16%len(types)]
	if rnd.IntN(7) == 0 {
		r.TraceType = types[rnd.IntN(len(types))]
	}
	r.HasFlowID, r.HasSeq = rnd.IntN(8) != 0, rnd.IntN(8) != 0
	r.Seq, r.RxTime = uint32(i), clock+int64(rnd.IntN(2e9))
	if r.TraceType&telemetry.TraceOSS != 0 {
		r.OSSLen = uint16(4 * rnd.IntN(3))
	}
	if rnd.IntN(10) == 0 {
		r.RawLen = uint16(rnd.IntN(telemetry.RawSectionMax))
	}
	if rnd.IntN(50) == 0 {
		r.Trace = telemetry.Trace{Has: true, NodeLen: 2, TraceType: 0xC00000, DataLen: 16}
	}
	return r
}

// TestEncodeRunMatchesEncodeAt encodes one random stream by runs of
// random lengths (EncodeRun) and record by record (EncodeAt), with
// message budgets that end messages inside runs, and compares every
// message octet for octet.
func TestEncodeRunMatchesEncodeAt(t *testing.T) {
	for _, size := range []int{0, 600, 1400, 9000} {
		var byRun, one sink
		clock := int64(1700000000e9)
		cfg := EncoderConfig{ObservationDomain: 7, MessageSize: size, Fields: FieldsStandard | FieldsRaw, TemplateRefresh: time.Second,
			Now: func() time.Time { return time.Unix(0, clock) }}
		cfg.Emit = byRun.emit
		er, _ := NewEncoder(cfg)
		cfg.Emit = one.emit
		eo, _ := NewEncoder(cfg)
		rnd := rand.New(rand.NewPCG(2, uint64(size)))
		rs := make([]telemetry.Record, 20000)
		for i := range rs {
			rs[i] = randomRecord(rnd, i, clock)
		}
		for len(rs) > 0 {
			n := min(len(rs), rnd.IntN(300))
			now := clock + int64(rnd.IntN(3e9))
			if failed, err := er.EncodeRun(rs[:n], now); failed != 0 {
				t.Fatalf("%d records failed: %v", failed, err)
			}
			for i := range rs[:n] {
				if err := eo.EncodeAt(&rs[i], now); err != nil {
					t.Fatal(err)
				}
			}
			rs = rs[n:]
			if rnd.IntN(20) == 0 {
				er.Flush()
				eo.Flush()
			}
			clock += int64(rnd.IntN(2)) * 1e9
		}
		sameMessages(t, fmt.Sprintf("size %d, by runs", size), er, eo, &byRun, &one, 50)
	}
}

// sameMessages flushes both encoders and fails unless got emitted the
// same messages as want, octet for octet, and at least atLeast of them.
func sameMessages(t *testing.T, what string, eg, ew *Encoder, got, want *sink, atLeast int) {
	t.Helper()
	eg.Flush()
	ew.Flush()
	if len(got.msgs) != len(want.msgs) || len(want.msgs) < atLeast {
		t.Fatalf("%s: %d messages, want %d (at least %d)", what, len(got.msgs), len(want.msgs), atLeast)
	}
	for i := range want.msgs {
		if !bytes.Equal(got.msgs[i], want.msgs[i]) {
			t.Fatalf("%s: message %d differs\n got %x\nwant %x", what, i, got.msgs[i], want.msgs[i])
		}
	}
}

// TestAllowNMatchesAllow: a run's AllowN admits exactly what as many
// Allow calls at the same instant admit, whatever the bucket's state.
func TestAllowNMatchesAllow(t *testing.T) {
	rnd := rand.New(rand.NewPCG(3, 4))
	a, b := NewTokenBucket(1000, 50), NewTokenBucket(1000, 50)
	now := int64(0)
	for i := range 100000 {
		if rnd.IntN(3) != 0 {
			now += int64(rnd.IntN(20e6)) // up to 20 ms: up to 20 records' worth
		}
		n := rnd.IntN(70) - 2
		got := a.AllowN(now, n)
		want := 0
		for range n {
			if b.Allow(now) {
				want++
			}
		}
		if got != want || a.tokens != b.tokens || a.last != b.last {
			t.Fatalf("step %d, n %d at %d: AllowN %d (tokens %d), Allow %d times (tokens %d)", i, n, now, got, a.tokens, want, b.tokens)
		}
		if rnd.IntN(1000) == 0 {
			a.SetRate(uint64(1+rnd.IntN(5000)), uint64(1+rnd.IntN(100)))
			b.SetRate(a.rate, a.max/nanoRecord)
		}
	}
}

// TestEncodeFastMatchesSlow runs one random stream of records of many
// field sets (fixed ones with and without a layout, raw sections, traces),
// custom records, template refreshes and session resets through Encode
// and EncodeAt and through the general path alone, and compares every
// message octet for octet.
func TestEncodeFastMatchesSlow(t *testing.T) {
	for _, fs := range []FieldSet{FieldsLiege, FieldsStandard, FieldsStandard | FieldsRaw} {
		var fast, slow sink
		cfg := EncoderConfig{ObservationDomain: 7, MessageSize: 600, Fields: fs, TemplateRefresh: time.Second}
		clock := int64(1700000000e9)
		cfg.Now = func() time.Time { return time.Unix(0, clock) }
		cfg.Emit = fast.emit
		ef, _ := NewEncoder(cfg)
		cfg.Emit = slow.emit
		es, _ := NewEncoder(cfg)
		rnd := rand.New(rand.NewPCG(1, uint64(fs)))
		for i := range 20000 {
			r := randomRecord(rnd, i, clock)
			now := int64(0)
			switch rnd.IntN(200) {
			case 0:
				ef.RefreshTemplates()
				es.RefreshTemplates()
			case 1:
				ef.ResetSession()
				es.ResetSession()
			case 2:
				ef.Flush()
				es.Flush()
			case 3, 4:
				if ef.EncodeCustom(testCustomTemplate, testCustom(i)) != nil || es.EncodeCustom(testCustomTemplate, testCustom(i)) != nil {
					t.Fatal("custom record refused")
				}
			case 5:
				clock += int64(rnd.IntN(3)) * 1e9 // template refresh due
			case 6, 7, 8:
				now = clock - 1e6 // the caller's clock, read a little earlier
			}
			var errF, errS error
			if now != 0 {
				errF = ef.EncodeAt(&r, now)
				es.now = now
			} else {
				errF = ef.Encode(&r)
			}
			errS = es.encodeTrace(&r)
			es.now = 0
			if (errF == nil) != (errS == nil) {
				t.Fatalf("record %d: Encode %v, general path %v", i, errF, errS)
			}
		}
		sameMessages(t, fmt.Sprintf("fields %v, fast path", fs), ef, es, &fast, &slow, 100)
	}
}

// BenchmarkEncodeAt is BenchmarkEncoder as the exporter's drainer runs the
// encoder: the clock read once per batch of 64 records (EncodeAt), not
// once per message.
func BenchmarkEncodeAt(b *testing.B) {
	enc, _ := NewEncoder(EncoderConfig{Fields: FieldsStandard, TemplateRefresh: time.Minute,
		Emit: func([]byte, int) bool { return true }})
	r := layoutRecord()
	now := time.Now().UnixNano()
	b.ReportAllocs()
	for i := 0; b.Loop(); i++ {
		if i&63 == 0 {
			now = time.Now().UnixNano()
		}
		r.Seq, r.RxTime = uint32(i), now
		enc.EncodeAt(&r, now)
	}
	b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "records/s")
}

// BenchmarkLayout measures a layout's writer alone, for the field set of
// BenchmarkEncoder, beside encodeData's for the same set.
func BenchmarkLayout(b *testing.B) {
	r := layoutRecord()
	mask := fieldMask(&r, FieldsStandard)
	l, _ := newLayout(mask)
	buf := make([]byte, 64+layoutSlack)
	b.Run("layout", func(b *testing.B) {
		for i := 0; b.Loop(); i++ {
			r.Seq = uint32(i)
			l.put((*[layoutSlack]byte)(buf[i&63:]), &r)
		}
	})
	b.Run("encodeData", func(b *testing.B) {
		for i := 0; b.Loop(); i++ {
			r.Seq = uint32(i)
			encodeData(mask, buf[i&63:], &r)
		}
	})
}
