package telemetry

import (
	"fmt"
	"sync/atomic"
)

// cacheLine is the assumed CPU cache-line size in octets, used to keep the
// producer's and the consumer's indexes on separate lines.
const cacheLine = 64

// MaxRingSize bounds the capacity accepted by NewRing (slots).
const MaxRingSize = 1 << 24

// Ring is a bounded, lock-free, single-producer single-consumer queue of
// Records with preallocated slots.
//
// Exactly one goroutine may call the producer methods (TryPush, Reserve,
// Commit) and exactly one goroutine the consumer methods (Pop, Peek,
// Release); Len, Cap and Full may be called from anywhere. No method blocks
// or allocates. A hand-off copies the Record once into its slot and once out
// (TryPush/Pop); Reserve/Commit and Peek/Release avoid those copies.
type Ring struct {
	_ [cacheLine]byte
	// tail is the count of records ever published; written by the producer.
	tail atomic.Uint64
	_    [cacheLine - 8]byte
	// head is the count of records ever consumed; written by the consumer.
	head atomic.Uint64
	_    [cacheLine - 8]byte
	// ptail (≥ tail: records committed, published or not) and headCache,
	// the producer's last view of head, are producer-private.
	ptail, headCache uint64
	// full counts failed pushes (producer writes, anyone reads).
	full atomic.Uint64
	_    [cacheLine - 24]byte
	// chead (≥ head: records released, published or not) and tailCache,
	// the consumer's last view of tail, are consumer-private.
	chead, tailCache uint64
	_                [cacheLine - 16]byte
	mask             uint64
	slots            []Record
}

// NewRing returns a ring with room for size records; size must be a power
// of two between 2 and MaxRingSize.
func NewRing(size int) (*Ring, error) {
	if size < 2 || size > MaxRingSize || size&(size-1) != 0 {
		return nil, fmt.Errorf("telemetry: ring size %d: must be a power of two in [2, %d]", size, MaxRingSize)
	}
	return &Ring{mask: uint64(size - 1), slots: make([]Record, size)}, nil
}

// Cap returns the number of slots.
func (q *Ring) Cap() int { return len(q.slots) }

// Len returns the number of records waiting to be consumed. It is exact when
// called by the producer or the consumer, a snapshot otherwise.
func (q *Ring) Len() int {
	h := q.head.Load()
	t := q.tail.Load()
	if t < h { // raced with both indexes moving
		return 0
	}
	return int(t - h)
}

// Full returns how many TryPush or Reserve calls found the ring full since
// it was created (records the producer had to drop).
func (q *Ring) Full() uint64 { return q.full.Load() }

// Reserve returns the next free slot for the producer to fill in place, or
// nil (counting a drop in Full) when the ring is full. The slot's previous
// contents are unspecified; the record becomes visible to the consumer only
// at Commit. Producer only.
func (q *Ring) Reserve() *Record {
	t := q.ptail
	if t-q.headCache >= uint64(len(q.slots)) {
		q.headCache = q.head.Load()
		if t-q.headCache >= uint64(len(q.slots)) {
			q.full.Add(1)
			return nil
		}
	}
	return &q.slots[t&q.mask]
}

// Commit publishes the slot returned by the last successful Reserve (and
// any committed with CommitBatched before it). Producer only; calling it
// without a successful Reserve corrupts the ring.
func (q *Ring) Commit() {
	q.ptail++
	q.tail.Store(q.ptail)
}

// CommitBatched is Commit without the publication: the record becomes
// visible to the consumer, in order, at the next PublishCommits or Commit.
// A producer that fills a batch of records publishes once per batch and so
// saves a locked store (an XCHG on amd64) per record. Producer only.
func (q *Ring) CommitBatched() { q.ptail++ }

// PublishCommits makes the records committed with CommitBatched visible to
// the consumer. Producer only.
func (q *Ring) PublishCommits() {
	if q.tail.Load() != q.ptail { // the producer's own word: no contention
		q.tail.Store(q.ptail)
	}
}

// TryPush copies *r into the ring and returns true, or returns false (and
// counts a drop in Full) when the ring is full. It never blocks. Producer only.
func (q *Ring) TryPush(r *Record) bool {
	s := q.Reserve()
	if s == nil {
		return false
	}
	*s = *r
	q.Commit()
	return true
}

// Peek returns the oldest unconsumed record in place, or nil when the ring
// is empty. The pointer is valid until Release. Consumer only.
func (q *Ring) Peek() *Record {
	h := q.chead
	if h == q.tailCache {
		q.tailCache = q.tail.Load()
		if h == q.tailCache {
			return nil
		}
	}
	return &q.slots[h&q.mask]
}

// Release frees the slot returned by the last non-nil Peek (and any
// released with ReleaseBatched before it). Consumer only.
func (q *Ring) Release() {
	q.chead++
	q.head.Store(q.chead)
}

// ReleaseBatched is Release without the publication: the producer can
// reuse the slot after the next PublishReleases or Release. A consumer
// that drains a batch publishes once per batch. Consumer only.
func (q *Ring) ReleaseBatched() { q.chead++ }

// PeekRun returns the oldest unconsumed records in place: as many as
// are waiting, at most limit, and no further than the end of the slot array
// (a run that wraps comes in two calls); empty when the ring is empty. A
// consumer that takes records by the batch reads them with one index
// check for the run instead of one per record. They stay valid until
// released with ReleaseBatchedN (or Release). Consumer only.
func (q *Ring) PeekRun(limit int) []Record {
	h := q.chead
	if h == q.tailCache {
		q.tailCache = q.tail.Load()
	}
	i := h & q.mask
	n := min(q.tailCache-h, uint64(len(q.slots))-i, uint64(max(limit, 0)))
	return q.slots[i : i+n]
}

// ReleaseBatchedN is ReleaseBatched for the first n records of a run
// returned by PeekRun. Consumer only.
func (q *Ring) ReleaseBatchedN(n int) { q.chead += uint64(n) }

// PublishReleases hands the slots released with ReleaseBatched back to the
// producer. Consumer only.
func (q *Ring) PublishReleases() {
	if q.head.Load() != q.chead {
		q.head.Store(q.chead)
	}
}

// Pop copies the oldest record into *r and returns true, or returns false
// when the ring is empty. Consumer only.
func (q *Ring) Pop(r *Record) bool {
	s := q.Peek()
	if s == nil {
		return false
	}
	*r = *s
	q.Release()
	return true
}
