package exporter

// TokenBucket is an exact integer token bucket: it admits at most Rate
// records per second on average and at most Burst back to back. Time is
// given by the caller in nanoseconds (any monotonic origin), so tests can
// drive it with a synthetic clock. It starts empty: the first record is
// admitted 1/Rate seconds after the first call. Not safe for concurrent use.
type TokenBucket struct {
	rate   uint64 // records per second, ≥ 1
	max    uint64 // bucket depth in nano-records (burst × 1e9)
	tokens uint64 // nano-records available
	last   int64  // ns of the last refill; 0 = not started
}

const nanoRecord = 1_000_000_000 // one record, in nano-records

// NewTokenBucket returns a bucket admitting rate records/s with the given
// burst (records); rate and burst below 1 are raised to 1.
func NewTokenBucket(rate, burst uint64) *TokenBucket {
	b := &TokenBucket{}
	b.SetRate(rate, burst)
	return b
}

// SetRate changes the rate (records/s) and burst (records), keeping the
// tokens already accumulated up to the new depth.
func (b *TokenBucket) SetRate(rate, burst uint64) {
	b.rate = max(rate, 1)
	burst = min(max(burst, 1), 1<<32) // keeps max within uint64
	b.max = burst * nanoRecord
	b.tokens = min(b.tokens, b.max)
}

// Reset empties the bucket and starts its clock at now (ns).
func (b *TokenBucket) Reset(now int64) {
	b.tokens = 0
	b.last = now
}

// Rate returns the current rate in records per second.
func (b *TokenBucket) Rate() uint64 { return b.rate }

// Allow reports whether one record may be exported at time now (ns) and, if
// so, takes its token. The clock starts at the first call unless Reset
// started it.
func (b *TokenBucket) Allow(now int64) bool {
	b.refill(now)
	if b.tokens >= nanoRecord {
		b.tokens -= nanoRecord
		return true
	}
	return false
}

// AllowN is n calls of Allow(now) at once, for a batch of records read
// at one clock reading: it takes and returns how many records the bucket
// admits, at most n (the first ones of the batch; the others are
// refused, exactly as by the n calls).
func (b *TokenBucket) AllowN(now int64, n int) int {
	if n <= 0 {
		return 0
	}
	b.refill(now)
	k := min(uint64(n), b.tokens/nanoRecord)
	b.tokens -= k * nanoRecord
	return int(k)
}

// refill adds the tokens earned since the last refill, up to the depth.
func (b *TokenBucket) refill(now int64) {
	if b.last == 0 {
		b.last = now
	} else if now > b.last {
		el := uint64(now - b.last)
		if room := b.max - b.tokens; el >= room/b.rate+1 {
			b.tokens = b.max
		} else {
			b.tokens = min(b.tokens+el*b.rate, b.max)
		}
		b.last = now
	}
}
