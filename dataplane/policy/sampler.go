package policy

import (
	"fmt"
	"sync/atomic"
)

// cacheLine is the padding unit that keeps a hot counter alone on its cache
// line (and, with the padding on both sides, away from the adjacent-line
// prefetcher's partner line on x86).
const cacheLine = 64

// counter is a packet counter shared by all workers. The padding makes sure
// no other data shares its cache line, so that the workers' atomic adds
// contend only with each other.
type counter struct {
	_ [cacheLine]byte
	n atomic.Uint64
	_ [cacheLine - 8]byte
}

// Sampler implements the kernel's "freq K/N" selection for one route:
//
//	cnt := fetch-and-increment(route counter)
//	selected := cnt % N < K
//
// that is, the first K packets of every block of N consecutive packets that
// match the route are selected. It is deterministic, not random. The
// counter is shared by all workers (one atomic add per packet) and starts at
// 0. Unlike the kernel's 32-bit atomic_t the counter is 64 bits wide, so the
// cycle never breaks at a counter wrap.
//
// A Sampler is safe for concurrent use. K and N are immutable; a reload that
// keeps the route's prefix creates a new Sampler with the new K and N that
// continues the old counter.
type Sampler struct {
	k, n uint32
	c    *counter
}

// NewSampler returns a Sampler selecting the first k of every n packets,
// with a fresh counter. The error wraps ErrFreq unless
// 1 <= k <= n <= MaxFreq.
func NewSampler(k, n uint32) (*Sampler, error) {
	if err := validateFreq(k, n); err != nil {
		return nil, err
	}
	return &Sampler{k: k, n: n, c: new(counter)}, nil
}

func validateFreq(k, n uint32) error {
	if k < MinFreq || n > MaxFreq || k > n {
		return fmt.Errorf("%w: %d/%d: need %d <= k <= n <= %d", ErrFreq, k, n, MinFreq, MaxFreq)
	}
	return nil
}

// withFreq returns a Sampler with frequency k/n sharing s's counter.
func (s *Sampler) withFreq(k, n uint32) *Sampler {
	return &Sampler{k: k, n: n, c: s.c}
}

// Sample counts one packet and reports whether it is selected. It does not
// allocate.
func (s *Sampler) Sample() bool {
	if s.k == s.n {
		// Every packet is selected: still count, so that Count stays
		// meaningful and a later reload to k < n continues the cycle.
		s.c.n.Add(1)
		return true
	}
	cnt := s.c.n.Add(1) - 1
	return cnt%uint64(s.n) < uint64(s.k)
}

// Every reports whether the sampler selects every packet (k = n). Such a
// sampler's decision does not depend on its counter, so a worker may count
// its packets locally and publish them with AddCount, once per batch,
// instead of one atomic add per packet; the counter then stays exact at
// batch boundaries.
func (s *Sampler) Every() bool { return s.k == s.n }

// AddCount adds n packets that were selected without Sample to the
// counter (only meaningful when Every is true). Safe for concurrent use.
func (s *Sampler) AddCount(n uint64) { s.c.n.Add(n) }

// K returns the number of packets selected per block.
func (s *Sampler) K() uint32 { return s.k }

// N returns the block length.
func (s *Sampler) N() uint32 { return s.n }

// Count returns how many packets the route's counter has seen, including
// those counted under earlier snapshots that shared it.
func (s *Sampler) Count() uint64 { return s.c.n.Load() }
