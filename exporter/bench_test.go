package exporter

import (
	"testing"
	"time"

	"github.com/dexplane/dexplane/dataplane/policy"
	"github.com/dexplane/dexplane/dataplane/telemetry"
)

// BenchmarkDrain measures the drainer's cost per record: pop from a ring,
// rate limit, encode for one IPFIX collector and copy the finished messages
// into the writer's queue (the writer here only recycles the buffers).
func BenchmarkDrain(b *testing.B) {
	q, _ := telemetry.NewRing(4096)
	x, err := New(Options{Export: policy.Export{
		RateLimit:  policy.RateLimit{RecordsPerSecond: 1 << 40, Burst: 1 << 30},
		Collectors: []policy.Collector{{Transport: policy.TransportUDP, Address: "127.0.0.1:9"}},
	}}, []*telemetry.Ring{q})
	if err != nil {
		b.Fatal(err)
	}
	c := x.collectors[0]
	c.up.Store(true)
	stop := make(chan struct{})
	go func() {
		for {
			select {
			case m := <-c.q.full:
				c.q.recycle(m)
			case <-stop:
				return
			}
		}
	}()
	defer close(stop)
	x.bucket.Reset(1)
	benchDrain(b, q, x, func(*telemetry.Record) {})
}

// benchDrain pushes records (next sets each one's varying fields after
// its Seq is incremented) into q and lets x drain them 1024 at a time.
func benchDrain(b *testing.B, q *telemetry.Ring, x *Exporter, next func(r *telemetry.Record)) {
	r := telemetry.Record{Namespace: 123, TraceType: 0xF00000, HasFlowID: true, HasSeq: true, FlowID: 1}
	b.ReportAllocs()
	n := 0
	for b.Loop() {
		r.Seq++
		next(&r)
		if !q.TryPush(&r) {
			b.Fatal("ring full")
		}
		if n++; n == 1024 {
			for x.drain() > 0 {
			}
			n = 0
		}
	}
	for x.drain() > 0 {
	}
	b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "records/s")
}

// newRouteAggExporter is an exporter without outputs whose node aggregates
// and whose route 2 exports per packet (export.aggregate per route).
func newRouteAggExporter(tb testing.TB, q *telemetry.Ring) *Exporter {
	x, err := New(Options{Export: policy.Export{
		RateLimit: policy.RateLimit{RecordsPerSecond: 1 << 40, Burst: 1 << 30},
		Aggregate: policy.Aggregate{Interval: time.Hour, Routes: []policy.RouteAggregate{{}, {Override: true}}},
	}}, []*telemetry.Ring{q})
	if err != nil {
		tb.Fatal(err)
	}
	x.bucket.Reset(1)
	return x
}

// BenchmarkDrainPerRoute measures the drainer's per-record cost when the
// view (aggregate or per packet) is chosen per route: records alternate
// between an aggregated route and a per-packet one.
func BenchmarkDrainPerRoute(b *testing.B) {
	q, _ := telemetry.NewRing(4096)
	x := newRouteAggExporter(b, q)
	benchDrain(b, q, x, func(r *telemetry.Record) { r.Route = uint16(1 + r.Seq%2) })
}

// TestDrainPerRouteAllocs: choosing the view per route allocates nothing
// once the aggregated flows are known.
func TestDrainPerRouteAllocs(t *testing.T) {
	q, _ := telemetry.NewRing(64)
	x := newRouteAggExporter(t, q)
	r := telemetry.Record{Namespace: 123, TraceType: 0xF00000, HasFlowID: true, HasSeq: true, FlowID: 1}
	push := func() {
		for _, route := range []uint16{0, 1, 2, 7} {
			r.Seq++
			r.Route = route
			q.TryPush(&r)
		}
		for x.drain() > 0 {
		}
	}
	push() // the aggregated flows are created here
	if n := testing.AllocsPerRun(1000, push); n != 0 {
		t.Fatalf("%v allocations per drain", n)
	}
	// push ran 1002 times (once above, once to warm up, 1000 measured):
	// every record offered, only route 2's exported per packet; the
	// aggregated ones are counted when the interval (1h) ends.
	if c := x.Counters(); c.Offered != 4*1002 || c.Exported != 1002 || c.Aggregated != 0 {
		t.Fatalf("offered %d (want %d), exported %d (want %d), aggregated %d (want 0)", c.Offered, 4*1002, c.Exported, 1002, c.Aggregated)
	}
}
