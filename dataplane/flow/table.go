package flow

import (
	"errors"
	"fmt"
	"math/bits"
	"time"
)

// MaxFlowsLimit is the largest Config.MaxFlows a Table accepts (2^24 flows,
// at most 1.5 GiB of slots); a larger bound is almost certainly a typo.
const MaxFlowsLimit = 1 << 24

// ErrConfig is wrapped by the errors [NewTable] returns for an invalid
// [Config].
var ErrConfig = errors.New("flow: invalid table config")

// evictSample is how many occupied slots the eviction hand compares to pick
// the least recently used one; evictScan bounds how many slots it looks at.
const (
	evictSample = 8
	evictScan   = 64
)

// Config configures a [Table].
type Config struct {
	// MaxFlows is the hard bound on the number of flows held, > 0 and at most
	// [MaxFlowsLimit]. The slot array (24 octets a slot, a power of two
	// ≥ 2·MaxFlows slots) takes at most 96·MaxFlows octets and is allocated
	// once by NewTable.
	MaxFlows int
	// IdleTimeout is how long a flow may go without a DEX-carrying packet
	// before its sequence restarts at SeqStart; 0 disables aging.
	IdleTimeout time.Duration
	// SeqStart is the sequence number of a flow's first DEX-carrying packet:
	// 0 per RFC 9326, 1 to match the ULiège Linux patch.
	SeqStart uint32
}

// Stats are the cumulative counters of a [Table].
type Stats struct {
	// Flows is the number of flows currently held (including idle ones not
	// yet reclaimed).
	Flows int
	// New counts flows started (first packet, or first packet after an
	// expiry or an eviction).
	New uint64
	// Evicted counts live flows removed to make room because the table held
	// MaxFlows flows.
	Evicted uint64
	// Expired counts flows found idle for longer than IdleTimeout (on lookup,
	// by eviction or by [Table.Expire]).
	Expired uint64
}

// slot is one open-addressing entry.
type slot struct {
	last int64  // time of the last DEX-carrying packet, ns (caller's clock)
	id   uint32 // Flow ID
	seq  uint32 // sequence number the next DEX-carrying packet carries
	used bool
}

// Table maps Flow IDs to the next DEX sequence number, with idle aging and a
// hard bound on the number of flows. See the package documentation.
//
// Times are int64 nanoseconds on any clock the caller uses consistently (the
// data plane passes the frame receive time, CLOCK_REALTIME); the table never
// reads a clock itself.
//
// A Table is not safe for concurrent use; give each worker its own.
type Table struct {
	slots []slot
	shift uint8  // 64 - log2(len(slots)), for Fibonacci hashing
	mask  uint32 // len(slots) - 1
	hand  uint32 // eviction / expiry cursor
	cfg   Config
	idle  int64 // cfg.IdleTimeout in ns, 0 = no aging

	n       int
	new     uint64
	evicted uint64
	expired uint64
}

// NewTable allocates a table for cfg. The slot array holds the next power of
// two ≥ 2·MaxFlows slots, so probe sequences stay short even when full.
func NewTable(cfg Config) (*Table, error) {
	if cfg.MaxFlows <= 0 || cfg.MaxFlows > MaxFlowsLimit {
		return nil, fmt.Errorf("%w: max_flows %d not in 1..%d", ErrConfig, cfg.MaxFlows, MaxFlowsLimit)
	}
	if cfg.IdleTimeout < 0 {
		return nil, fmt.Errorf("%w: negative idle timeout %v", ErrConfig, cfg.IdleTimeout)
	}
	n := 1 << bits.Len(uint(2*cfg.MaxFlows-1)) // next power of two ≥ 2·MaxFlows
	if n < 2 {
		n = 2
	}
	return &Table{
		slots: make([]slot, n),
		shift: uint8(64 - bits.TrailingZeros(uint(n))),
		mask:  uint32(n - 1),
		cfg:   cfg,
		idle:  int64(cfg.IdleTimeout),
	}, nil
}

// Config returns the configuration the table was created with.
func (t *Table) Config() Config { return t.cfg }

// Len returns the number of flows held, including idle flows not yet
// reclaimed. It is never more than Config().MaxFlows.
func (t *Table) Len() int { return t.n }

// Stats returns the table's counters.
func (t *Table) Stats() Stats {
	return Stats{Flows: t.n, New: t.new, Evicted: t.evicted, Expired: t.expired}
}

// home returns the preferred slot of id. Flow IDs are hashes already, but the
// table may be fed other identifiers (an RX hash), so spread them again with
// a multiplicative (Fibonacci) hash.
func (t *Table) home(id uint32) uint32 {
	return uint32((uint64(id) * seedIncrement) >> t.shift)
}

// isIdle reports whether s, last used at s.last, is idle at now. A clock
// that steps backwards never expires a flow.
func (t *Table) isIdle(s *slot, now int64) bool {
	return t.idle > 0 && now-s.last > t.idle
}

// Next returns the sequence number the current DEX-carrying packet of flow id
// carries and advances the flow; now is the packet's time in ns.
//
// An unknown flow, or one idle for longer than IdleTimeout, starts at
// SeqStart. If the table already holds MaxFlows flows, Next first removes
// one: an idle flow if the hand finds one, otherwise the least recently used
// of the next evictSample occupied slots after a rotating hand (an
// approximated LRU). Next never allocates.
func (t *Table) Next(id uint32, now int64) uint32 {
	return t.NextAt(t.Find(id, 0), id, now)
}

// Peek returns the sequence number the next DEX-carrying packet of flow id
// would carry at time now, and whether the flow is held and not idle. It does
// not change the table.
func (t *Table) Peek(id uint32, now int64) (seq uint32, ok bool) {
	return t.PeekAt(t.Find(id, 0), now)
}

// Find returns the index of the slot holding flow id, or -1 when the table
// does not hold it. hint is where the caller last found id (a Find result
// it remembered; any value is safe): when that slot still holds id, Find
// costs one comparison instead of a hash and a probe. Slots move when flows
// are inserted, evicted, expired or the table is reset, so a Find result is
// valid for PeekAt and NextAt only until the table next changes.
func (t *Table) Find(id uint32, hint uint32) int {
	if h := hint & t.mask; t.slots[h].used && t.slots[h].id == id {
		return int(h)
	}
	i := t.home(id)
	for {
		s := &t.slots[i]
		if !s.used {
			return -1
		}
		if s.id == id {
			return int(i)
		}
		i = (i + 1) & t.mask
	}
}

// PeekAt is Peek for the flow Find returned slot i for (-1: not held).
func (t *Table) PeekAt(i int, now int64) (seq uint32, ok bool) {
	if i < 0 {
		return t.cfg.SeqStart, false
	}
	s := &t.slots[i]
	if t.isIdle(s, now) {
		return t.cfg.SeqStart, false
	}
	return s.seq, true
}

// NextAt is Next for flow id, which Find returned slot i for (-1: not
// held), with no change to the table since.
func (t *Table) NextAt(i int, id uint32, now int64) uint32 {
	if i >= 0 {
		s := &t.slots[i]
		if t.isIdle(s, now) {
			t.expired++
			t.new++
			s.seq = t.cfg.SeqStart
		}
		seq := s.seq
		s.seq++
		s.last = now
		return seq
	}
	// Miss: the first free slot of id's probe sequence.
	if t.n >= t.cfg.MaxFlows {
		t.evict(now)
	}
	j := t.home(id)
	for t.slots[j].used {
		j = (j + 1) & t.mask
	}
	t.slots[j] = slot{last: now, id: id, seq: t.cfg.SeqStart + 1, used: true}
	t.n++
	t.new++
	return t.cfg.SeqStart
}

// evict removes one flow. It walks at most evictScan slots from the hand:
// the first idle flow found is removed at once; otherwise the oldest of the
// first evictSample occupied slots is. The table is non-empty when called.
func (t *Table) evict(now int64) {
	victim := -1
	var oldest int64
	seen := 0
	for step := 0; step < evictScan || victim < 0; step++ {
		i := t.hand
		t.hand = (t.hand + 1) & t.mask
		s := &t.slots[i]
		if !s.used {
			continue
		}
		if t.isIdle(s, now) {
			t.expired++
			t.delete(i)
			return
		}
		if victim < 0 || s.last < oldest {
			victim, oldest = int(i), s.last
		}
		if seen++; seen == evictSample {
			break
		}
	}
	t.evicted++
	t.delete(uint32(victim))
}

// Expire removes up to budget idle flows found within the next 4·budget slots
// after the hand, and returns how many it removed. The engine may call it
// from the worker when the RX ring is empty; the table is also correct
// without it (idle flows restart at SeqStart on lookup and are preferred
// victims for eviction).
func (t *Table) Expire(now int64, budget int) int {
	if t.idle <= 0 || budget <= 0 {
		return 0
	}
	removed := 0
	for scan := 4 * budget; scan > 0 && removed < budget && t.n > 0; scan-- {
		i := t.hand
		s := &t.slots[i]
		if s.used && t.isIdle(s, now) {
			t.expired++
			t.delete(i) // may pull a later entry into i: look at i again
			removed++
			continue
		}
		t.hand = (t.hand + 1) & t.mask
	}
	return removed
}

// delete empties slot i with backward-shift deletion, so that no tombstones
// are needed and probe sequences stay contiguous.
func (t *Table) delete(i uint32) {
	t.n--
	j := i
	for {
		j = (j + 1) & t.mask
		s := &t.slots[j]
		if !s.used {
			break
		}
		// s may move into the hole at i if its home is not in (i, j].
		h := t.home(s.id)
		if (j-h)&t.mask >= (j-i)&t.mask {
			t.slots[i] = *s
			i = j
		}
	}
	t.slots[i] = slot{}
}

// Reset removes every flow; counters are kept.
func (t *Table) Reset() {
	clear(t.slots)
	t.n = 0
	t.hand = 0
}
