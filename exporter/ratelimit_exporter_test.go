package exporter

import (
	"context"
	"testing"
	"time"

	"github.com/dexplane/dexplane/dataplane/policy"
	"github.com/dexplane/dexplane/dataplane/telemetry"
)

// TestExporterRateLimitSynthetic offers 1,000,000 records/s for 3 s of a
// synthetic clock to an exporter limited to 10,000 records/s and checks each
// second exports 10,000 ± 2 % and everything else is counted as rate-limited.
func TestExporterRateLimitSynthetic(t *testing.T) {
	now := time.Unix(1700000000, 0)
	q, _ := telemetry.NewRing(2048)
	x, err := New(Options{Export: policy.Export{RateLimit: policy.RateLimit{RecordsPerSecond: 10000, Burst: 100}},
		Now: func() time.Time { return now }}, []*telemetry.Ring{q})
	if err != nil {
		t.Fatal(err)
	}
	x.bucket.Reset(now.UnixNano())
	r := telemetry.Record{Namespace: 1, TraceType: telemetry.TraceHopLimNodeID}
	for sec := range 3 {
		before := x.admitted.Load()
		for range 1000 { // 1 ms steps of 1000 records
			for range 1000 {
				if !q.TryPush(&r) {
					t.Fatal("ring full")
				}
			}
			now = now.Add(time.Millisecond)
			for x.drain() > 0 {
			}
		}
		if got := x.admitted.Load() - before; got < 9800 || got > 10200 {
			t.Errorf("second %d: exported %d, want 10000 ± 2%%", sec, got)
		}
	}
	c := x.Counters()
	if c.Offered != 3_000_000 || c.Exported+c.RateLimited != c.Offered || c.RateLimited < 2_960_000 {
		t.Fatalf("counters %+v", c)
	}
	// A flooded bucket is empty; 5 ms of quiet refills 50 tokens, and the
	// one record drained then takes one of them.
	if tok := x.Tokens(); tok >= 1 {
		t.Errorf("Tokens after a flood = %v, want < 1", tok)
	}
	now = now.Add(5 * time.Millisecond)
	q.TryPush(&r)
	x.drain()
	if tok := x.Tokens(); tok < 48.9 || tok > 50 {
		t.Errorf("Tokens after 5 ms idle and one record = %v, want about 49", tok)
	}
}

// TestExporterRateLimitRealTime runs the drainer on the real clock for
// 0.5 s with records offered at up to 1,000,000/s. The bucket starts empty
// when Run starts, so the export can never exceed 10,000/s times the time
// since then; its default depth (one second's worth) keeps the credit when
// the drainer is descheduled for a while on a loaded machine.
func TestExporterRateLimitRealTime(t *testing.T) {
	if testing.Short() {
		t.Skip("real-time run")
	}
	q, _ := telemetry.NewRing(1 << 16)
	x, err := New(Options{Export: policy.Export{RateLimit: policy.RateLimit{RecordsPerSecond: 10000}}}, // burst: 1 s worth (default)
		[]*telemetry.Ring{q})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	runStart := time.Now()
	go func() { done <- x.Run(ctx) }()
	for x.rate.Load() == 0 || !x.running.Load() {
		time.Sleep(time.Millisecond)
	}
	r := telemetry.Record{Namespace: 1}
	t0 := time.Now()
	pushed := 0
	for time.Since(t0) < 500*time.Millisecond {
		for range 1000 {
			if q.TryPush(&r) {
				pushed++
			}
		}
		if ahead := time.Duration(pushed)*time.Microsecond - time.Since(t0); ahead > 0 {
			time.Sleep(ahead)
		}
	}
	pushEnd := time.Since(t0)
	for q.Len() > 0 {
		time.Sleep(time.Millisecond)
	}
	total := time.Since(runStart)
	cancel()
	<-done
	c := x.Counters()
	lo := 0.98 * 10000 * pushEnd.Seconds()
	hi := 1.02 * 10000 * total.Seconds()
	t.Logf("offered %d in %v (%.0f/s), exported %d (window %.0f..%.0f), rate-limited %d",
		c.Offered, pushEnd, float64(c.Offered)/pushEnd.Seconds(), c.Exported, lo, hi, c.RateLimited)
	if float64(c.Exported) < lo || float64(c.Exported) > hi {
		t.Fatalf("exported %d outside %.0f..%.0f", c.Exported, lo, hi)
	}
	if c.Exported+c.RateLimited != c.Offered || c.Offered != uint64(pushed) {
		t.Fatalf("counters %+v, pushed %d", c, pushed)
	}
}

func TestRateFromCapacity(t *testing.T) {
	x, err := New(Options{}, nil) // nothing configured: 1/100 of 1 Gb/s
	if err != nil {
		t.Fatal(err)
	}
	if got := x.Counters().RateLimit; got != 1e9*0.01/(8*DefaultRecordOctets) {
		t.Fatalf("default rate %d", got)
	}
	x, _ = New(Options{Export: policy.Export{RateLimit: policy.RateLimit{RecordsPerSecond: 5000, CapacityFraction: 0.001}},
		PortCapacity: 10e9}, nil)
	if got := x.Counters().RateLimit; got != 5000 { // 10e9*0.001/800 = 12500 > 5000
		t.Fatalf("min(limit, capacity) = %d", got)
	}
	if _, err := New(Options{Export: policy.Export{RateLimit: policy.RateLimit{CapacityFraction: 2}}}, nil); err == nil {
		t.Fatal("fraction 2 accepted")
	}
}
