package exporter

import "testing"

// TestTokenBucketMillionOffered offers records at 1,000,000/s on a
// synthetic clock with a 10,000/s limit and checks every second exports
// 10,000 ± 2 %.
func TestTokenBucketMillionOffered(t *testing.T) {
	const (
		offered = 1_000_000
		limit   = 10_000
		seconds = 5
	)
	b := NewTokenBucket(limit, limit/100)
	var now int64 = 1e12
	for s := range seconds {
		passed, dropped := 0, 0
		for range offered {
			now += 1e9 / offered
			if b.Allow(now) {
				passed++
			} else {
				dropped++
			}
		}
		if passed < limit*98/100 || passed > limit*102/100 {
			t.Errorf("second %d: %d exported, want %d ± 2%%", s, passed, limit)
		}
		if passed+dropped != offered {
			t.Errorf("second %d: %d + %d != %d", s, passed, dropped, offered)
		}
	}
}

func TestTokenBucketBurstAndIdle(t *testing.T) {
	b := NewTokenBucket(100, 5)
	var now int64 = 1
	b.Allow(now)      // starts the clock, bucket empty
	now += 3600 * 1e9 // an hour idle: refills only up to the burst
	n := 0
	for b.Allow(now) {
		n++
	}
	if n != 5 {
		t.Fatalf("burst after idle = %d, want 5", n)
	}
	now += 1e9 / 100 // exactly one token
	if !b.Allow(now) || b.Allow(now) {
		t.Fatal("one token per 10 ms expected")
	}
	b.SetRate(0, 0) // clamps to 1/s, depth 1
	if b.Rate() != 1 {
		t.Fatalf("rate %d", b.Rate())
	}
	now += 10 * 1e9
	if !b.Allow(now) || b.Allow(now) {
		t.Fatal("depth 1 expected")
	}
}
