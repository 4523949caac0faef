package aggregate_test

import (
	"math/rand/v2"
	"testing"

	"github.com/dexplane/dexplane/collector"
	"github.com/dexplane/dexplane/dataplane/telemetry"
	"github.com/dexplane/dexplane/exporter/aggregate"
)

func record(flow, seq uint32, t int64) telemetry.Record {
	r := telemetry.Record{RxTime: t, Namespace: 123, HasFlowID: true, FlowID: flow, HasSeq: true, Seq: seq,
		NextHeader: 17, SrcPort: 40000, DstPort: 5001, RawLen: 40,
		TraceType: telemetry.TraceTransitDelay, TransitDelay: 1000 + seq%50}
	r.RawSection[4], r.RawSection[5] = 0x05, 0xAA // payload 1450 → packet 1490
	r.Src[0], r.Dst[0] = 0x20, 0x20
	return r
}

// stream returns the arrival order of sequence numbers 0..n-1 of one flow
// after the given impairments.
func stream(n int, lossEvery, dupEvery, swapEvery int, rng *rand.Rand) []uint32 {
	var s []uint32
	for i := 0; i < n; i++ {
		if lossEvery > 0 && i%lossEvery == lossEvery-1 {
			continue
		}
		s = append(s, uint32(i))
		if dupEvery > 0 && i%dupEvery == 0 {
			s = append(s, uint32(i))
		}
	}
	if swapEvery > 0 {
		for i := 1; i < len(s); i += swapEvery {
			j := i + 1 + rng.IntN(3)
			if j < len(s) {
				s[i], s[j] = s[j], s[i]
			}
		}
	}
	return s
}

// TestLossMatchesPerPacket checks that the aggregates of a node, summed
// over the intervals, give the loss, duplicates and reordering that the
// collector computes from every per-packet record of the same stream.
func TestLossMatchesPerPacket(t *testing.T) {
	rng := rand.New(rand.NewPCG(1, 2))
	for _, tc := range []struct {
		name                        string
		loss, dup, swap, flushEvery int
	}{
		{"clean", 0, 0, 0, 1000},
		{"loss", 7, 0, 0, 1000},
		{"duplicates", 0, 11, 0, 333},
		{"reordered", 0, 0, 13, 97},
		{"all", 5, 9, 17, 50},
		{"reorder across every interval", 0, 0, 3, 2},
	} {
		t.Run(tc.name, func(t *testing.T) {
			agg := aggregate.New(aggregate.Config{})
			corr := collector.NewCorrelator()
			var tot collector.AggregateTotals
			var intervals int
			flush := func() {
				intervals++
				agg.Flush(func(r *aggregate.Record) { tot.Add(r) })
			}
			for i, seq := range stream(5000, tc.loss, tc.dup, tc.swap, rng) {
				r := record(0x42, seq, int64(i)*1000)
				agg.Add(&r)
				corr.Add(&collector.Event{Domain: 1, Record: r})
				if i%tc.flushEvery == tc.flushEvery-1 {
					flush()
				}
			}
			flush()
			s := corr.Summary()
			if len(s) != 1 || len(s[0].Nodes) != 1 {
				t.Fatalf("summary %+v", s)
			}
			want := s[0].Nodes[0]
			if tot.Packets != want.Received || tot.Lost() != want.Lost || tot.Duplicates != want.Duplicates || tot.Reordered != want.Reordered {
				t.Fatalf("aggregates: packets %d lost %d dups %d reordered %d; per-packet: received %d lost %d dups %d reordered %d",
					tot.Packets, tot.Lost(), tot.Duplicates, tot.Reordered, want.Received, want.Lost, want.Duplicates, want.Reordered)
			}
			if tot.Octets != 1490*tot.Packets {
				t.Fatalf("octets %d for %d packets", tot.Octets, tot.Packets)
			}
			if tc.loss > 0 && want.Lost == 0 || tc.dup > 0 && want.Duplicates == 0 || tc.swap > 0 && want.Reordered == 0 {
				t.Fatalf("the stream has no impairment to compare: %+v", want)
			}
			t.Logf("%d intervals, %d aggregate records for %d packets: lost %d dups %d reordered %d",
				intervals, tot.Records, tot.Packets, tot.Lost(), tot.Duplicates, tot.Reordered)
		})
	}
}

func TestDelayAndTimes(t *testing.T) {
	agg := aggregate.New(aggregate.Config{})
	for i := range 100 {
		r := record(1, uint32(i), int64(1e9+i*1000))
		r.TransitDelay = uint32(500 + i)
		if i == 50 {
			r.TransitDelay = 0x80000010 // overflow: not a sample
		}
		agg.Add(&r)
	}
	var got []aggregate.Record
	if n := agg.Flush(func(r *aggregate.Record) { got = append(got, *r) }); n != 1 {
		t.Fatalf("%d records", n)
	}
	g := got[0]
	// delays 500..599 ns except the overflowed one (i = 50, 550 ns)
	if g.Packets != 100 || g.Start != 1e9 || g.End != 1e9+99000 || g.FirstSeq != 0 || g.LastSeq != 99 ||
		g.DelaySamples != 99 || g.DelayMin != 500 || g.DelayMax != 599 || g.DelaySum != 54950-550 {
		t.Fatalf("%+v", g)
	}
	// idle flows are forgotten after three empty intervals
	for range 3 {
		agg.Flush(func(*aggregate.Record) { t.Fatal("an idle flow was exported") })
	}
	if agg.Flows() != 0 {
		t.Fatalf("%d flows left", agg.Flows())
	}
}

func TestMaxFlows(t *testing.T) {
	agg := aggregate.New(aggregate.Config{MaxFlows: 10})
	for f := range uint32(20) {
		r := record(f, 0, 1)
		agg.Add(&r)
	}
	if agg.Flows() != 10 || agg.Overflow != 10 {
		t.Fatalf("flows %d overflow %d", agg.Flows(), agg.Overflow)
	}
}

func TestAddAllocs(t *testing.T) {
	agg := aggregate.New(aggregate.Config{})
	r := record(7, 0, 1)
	agg.Add(&r)
	n := testing.AllocsPerRun(10000, func() {
		r.Seq++
		agg.Add(&r)
	})
	if n != 0 {
		t.Fatalf("%v allocations per Add", n)
	}
}

func BenchmarkAdd(b *testing.B) {
	agg := aggregate.New(aggregate.Config{})
	recs := make([]telemetry.Record, 1000)
	for i := range recs {
		recs[i] = record(uint32(i), 0, 1)
	}
	b.ReportAllocs()
	for i := 0; b.Loop(); i++ {
		r := &recs[i%len(recs)]
		r.Seq++
		agg.Add(r)
	}
}
