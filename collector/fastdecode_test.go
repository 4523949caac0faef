package collector

import (
	"math/rand/v2"
	"net/netip"
	"reflect"
	"testing"

	"github.com/dexplane/dexplane/dataplane/telemetry"
	"github.com/dexplane/dexplane/exporter"
	"github.com/dexplane/dexplane/internal/ipfixtest"
)

// TestDecodeFastMatchesGeneral decodes random per-packet records (several
// field sets, fixed and variable length, templates redefined mid-stream)
// with the fast path and with goflow2's general path: the events and the
// counters must be identical, and the fast path must have been taken.
func TestDecodeFastMatchesGeneral(t *testing.T) {
	rng := rand.New(rand.NewPCG(7, 8))
	traceTypes := []uint32{0x800000, 0xF00000, 0xC20000, 0xFFF000, 0x800002}
	var msgs [][]byte
	for round := range 6 {
		fs := []exporter.FieldSet{exporter.FieldsStandard, exporter.FieldsLiege, exporter.FieldsStandard | exporter.FieldsRaw}[round%3]
		enc, err := exporter.NewEncoder(exporter.EncoderConfig{ObservationDomain: uint32(1 + round%2), Fields: fs,
			TemplateIDBase: 256, // each round redefines the same template ids
			Emit:           func(m []byte, _ int) bool { msgs = append(msgs, append([]byte(nil), m...)); return true }})
		if err != nil {
			t.Fatal(err)
		}
		for i := range 300 {
			r := ipfixtest.Record(42)
			r.TraceType = traceTypes[rng.IntN(len(traceTypes))]
			r.Seq = uint32(i)
			r.HasFlowID = rng.IntN(5) != 0
			r.OSSLen = uint16(4 * rng.IntN(3))
			if err := enc.Encode(&r); err != nil {
				t.Fatal(err)
			}
		}
		enc.Flush()
	}
	src := netip.MustParseAddrPort("[2001:db8::1]:4739")
	run := func(noFast bool) ([]Event, *Decoder) {
		d := NewDecoder()
		d.noFast = noFast
		var evs []Event
		for _, m := range msgs {
			if err := d.Decode(src, m, func(ev *Event) { evs = append(evs, *ev) }); err != nil {
				t.Fatal(err)
			}
		}
		return evs, d
	}
	fast, df := run(false)
	slow, ds := run(true)
	if len(fast) != 1800 || !reflect.DeepEqual(fast, slow) || df.BadRecords != ds.BadRecords || df.MissingTemplate != ds.MissingTemplate {
		t.Fatalf("fast %d events (bad %d), general %d (bad %d); equal %v", len(fast), df.BadRecords, len(slow), ds.BadRecords, reflect.DeepEqual(fast, slow))
	}
	if len(df.fast) == 0 {
		t.Fatal("the fast path was never taken")
	}
	usedFast := 0
	for _, ft := range df.fast {
		if ft.ok {
			usedFast++
		}
	}
	if usedFast == 0 {
		t.Fatal("no template compiled for the fast path")
	}
	t.Logf("%d events identical; %d templates compiled (%d fast)", len(fast), len(df.fast), usedFast)
}

// TestDecodeFastDataOnly: a message of data sets only, after the one that
// carried the template, takes the fast path.
func TestDecodeFastDataOnly(t *testing.T) {
	var msgs [][]byte
	enc, _ := exporter.NewEncoder(exporter.EncoderConfig{ObservationDomain: 1, Fields: exporter.FieldsLiege,
		Emit: func(m []byte, _ int) bool { msgs = append(msgs, append([]byte(nil), m...)); return true }})
	r := telemetry.Record{Namespace: 1, TraceType: telemetry.TraceHopLimNodeID, HasFlowID: true, FlowID: 9, HasSeq: true}
	enc.Encode(&r)
	enc.Flush()
	r.Seq = 1
	enc.Encode(&r)
	enc.Flush()
	d := NewDecoder()
	n := 0
	for _, m := range msgs {
		if err := d.Decode(netip.MustParseAddrPort("[::1]:1"), m, func(*Event) { n++ }); err != nil {
			t.Fatal(err)
		}
	}
	if n != 2 || len(d.fast) != 1 {
		t.Fatalf("%d events, %d compiled templates", n, len(d.fast))
	}
}

// FuzzDecodeFast primes two decoders with the same templates, then feeds
// both an arbitrary message: the fast path and goflow2's general path must
// return the same events and counters (and neither may panic).
func FuzzDecodeFast(f *testing.F) {
	var msgs [][]byte
	enc, err := exporter.NewEncoder(exporter.EncoderConfig{ObservationDomain: 1, Fields: exporter.FieldsStandard,
		Emit: func(m []byte, _ int) bool { msgs = append(msgs, append([]byte(nil), m...)); return true }})
	if err != nil {
		f.Fatal(err)
	}
	r := ipfixtest.Record(42)
	r.OSSLen = 0
	r.TraceType = 0xF00000
	enc.Encode(&r)
	enc.Flush()
	r.Seq++
	enc.Encode(&r)
	enc.Encode(&r)
	enc.Flush()
	prime := msgs[0]
	for _, m := range msgs[1:] {
		f.Add(m)
	}
	src := netip.MustParseAddrPort("[::1]:1")
	f.Fuzz(func(t *testing.T, msg []byte) {
		var got [2][]Event
		var errs [2]error
		var decs [2]*Decoder
		for i := range 2 {
			d := NewDecoder()
			d.noFast = i == 1
			if err := d.Decode(src, prime, func(*Event) {}); err != nil {
				t.Fatal(err)
			}
			errs[i] = d.Decode(src, msg, func(ev *Event) { got[i] = append(got[i], *ev) })
			decs[i] = d
		}
		if (errs[0] == nil) != (errs[1] == nil) || !reflect.DeepEqual(got[0], got[1]) ||
			decs[0].BadRecords != decs[1].BadRecords || decs[0].MissingTemplate != decs[1].MissingTemplate {
			t.Fatalf("fast: %d events, err %v, bad %d; general: %d events, err %v, bad %d",
				len(got[0]), errs[0], decs[0].BadRecords, len(got[1]), errs[1], decs[1].BadRecords)
		}
	})
}
