package exporter

import (
	"testing"

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
	r := telemetry.Record{Namespace: 123, TraceType: 0xF00000, HasFlowID: true, HasSeq: true, FlowID: 1}
	b.ReportAllocs()
	n := 0
	for b.Loop() {
		r.Seq++
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
