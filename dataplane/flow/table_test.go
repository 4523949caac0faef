package flow

import (
	"encoding/binary"
	"errors"
	"math/rand/v2"
	"runtime"
	"testing"
	"time"
)

func newTable(t testing.TB, cfg Config) *Table {
	t.Helper()
	tab, err := NewTable(cfg)
	if err != nil {
		t.Fatalf("NewTable(%+v): %v", cfg, err)
	}
	return tab
}

// checkInvariants verifies the open-addressing structure: every stored flow
// is reachable from its home slot without crossing an empty slot, no flow is
// stored twice, and the count matches.
func checkInvariants(t testing.TB, tab *Table) {
	t.Helper()
	seen := map[uint32]bool{}
	n := 0
	for i, s := range tab.slots {
		if !s.used {
			continue
		}
		n++
		if seen[s.id] {
			t.Fatalf("flow %#x stored twice", s.id)
		}
		seen[s.id] = true
		for j := tab.home(s.id); j != uint32(i); j = (j + 1) & tab.mask {
			if !tab.slots[j].used {
				t.Fatalf("flow %#x at slot %d unreachable: slot %d empty", s.id, i, j)
			}
		}
	}
	if n != tab.Len() {
		t.Fatalf("Len = %d, %d slots used", tab.Len(), n)
	}
	if n > tab.cfg.MaxFlows {
		t.Fatalf("%d flows held, MaxFlows %d", n, tab.cfg.MaxFlows)
	}
}

func TestNewTableErrors(t *testing.T) {
	for _, cfg := range []Config{
		{MaxFlows: 0},
		{MaxFlows: -1},
		{MaxFlows: MaxFlowsLimit + 1},
		{MaxFlows: 10, IdleTimeout: -time.Second},
	} {
		if _, err := NewTable(cfg); !errors.Is(err, ErrConfig) {
			t.Errorf("NewTable(%+v) error = %v, want ErrConfig", cfg, err)
		}
	}
	for _, max := range []int{1, 2, 3, 1000} {
		tab := newTable(t, Config{MaxFlows: max})
		if got := len(tab.slots); got < 2*max || got&(got-1) != 0 {
			t.Errorf("MaxFlows %d: %d slots, want a power of two ≥ %d", max, got, 2*max)
		}
	}
}

func TestSequence(t *testing.T) {
	tests := []struct {
		name     string
		seqStart uint32
		want     []uint32 // sequence numbers of one flow's DEX packets
	}{
		{"rfc starts at 0", 0, []uint32{0, 1, 2, 3}},
		{"linux starts at 1", 1, []uint32{1, 2, 3, 4}},
		{"wraps at 2^32", 0xFFFFFFFE, []uint32{0xFFFFFFFE, 0xFFFFFFFF, 0, 1}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			tab := newTable(t, Config{MaxFlows: 16, SeqStart: tc.seqStart})
			other := tab.Next(99, 0) // an interleaved flow has its own sequence
			for i, want := range tc.want {
				if got := tab.Next(7, int64(i)); got != want {
					t.Errorf("packet %d: seq %d, want %d", i, got, want)
				}
			}
			if other != tc.seqStart {
				t.Errorf("other flow first seq %d, want %d", other, tc.seqStart)
			}
			if got := tab.Next(99, 10); got != tc.seqStart+1 {
				t.Errorf("other flow second seq %d, want %d", got, tc.seqStart+1)
			}
			if s, ok := tab.Peek(7, 10); !ok || s != tc.want[len(tc.want)-1]+1 {
				t.Errorf("Peek = %d, %v; want %d, true", s, ok, tc.want[len(tc.want)-1]+1)
			}
			if st := tab.Stats(); st.Flows != 2 || st.New != 2 || st.Evicted != 0 || st.Expired != 0 {
				t.Errorf("Stats = %+v", st)
			}
		})
	}
}

func TestAging(t *testing.T) {
	const sec = int64(time.Second)
	tab := newTable(t, Config{MaxFlows: 16, IdleTimeout: time.Second})
	steps := []struct {
		now  int64
		want uint32
	}{
		{0, 0},
		{sec / 2, 1},
		{sec/2 + sec, 2},      // exactly the timeout later: still live
		{3*sec + sec/2, 0},    // idle 2 s: restarts
		{3*sec + sec/2, 1},    // same instant
		{3*sec + sec/4, 2},    // clock stepped back: not idle
		{10 * sec, 0},         // idle again
		{10*sec + 1, 1},       //
		{10*sec + 1 + sec, 2}, // exactly IdleTimeout after the last packet: live
	}
	for i, st := range steps {
		if got := tab.Next(1, st.now); got != st.want {
			t.Fatalf("step %d (t=%v): seq %d, want %d", i, time.Duration(st.now), got, st.want)
		}
	}
	if st := tab.Stats(); st.Expired != 2 || st.New != 3 || st.Flows != 1 {
		t.Errorf("Stats = %+v, want 2 expired, 3 new, 1 flow", st)
	}
	if _, ok := tab.Peek(1, 100*sec); ok {
		t.Error("Peek found an idle flow")
	}

	// Expire reclaims idle flows without touching live ones.
	tab = newTable(t, Config{MaxFlows: 64, IdleTimeout: 3 * time.Second})
	for id := uint32(0); id < 40; id++ {
		tab.Next(id, 0)
	}
	for id := uint32(0); id < 10; id++ {
		tab.Next(id, 2*sec) // keep 10 flows live
	}
	removed := 0
	for range 100 {
		removed += tab.Expire(5*sec, 8)
	}
	checkInvariants(t, tab)
	if removed != 30 || tab.Len() != 10 {
		t.Errorf("Expire removed %d (want 30), %d flows left (want 10)", removed, tab.Len())
	}
	for id := uint32(0); id < 10; id++ {
		if s, ok := tab.Peek(id, 5*sec); !ok || s != 2 {
			t.Errorf("live flow %d: Peek = %d, %v; want 2, true", id, s, ok)
		}
	}
	if n := newTable(t, Config{MaxFlows: 4}).Expire(1<<62, 10); n != 0 {
		t.Errorf("Expire without timeout removed %d", n)
	}
}

func TestEvictionLRU(t *testing.T) {
	// With a small table the sample covers every flow: eviction is exact LRU.
	tab := newTable(t, Config{MaxFlows: 4})
	for id := uint32(1); id <= 4; id++ {
		tab.Next(id, int64(id))
	}
	tab.Next(1, 5) // flow 1 is now the most recent; flow 2 the least
	if got := tab.Next(5, 6); got != 0 {
		t.Errorf("new flow seq %d, want 0", got)
	}
	checkInvariants(t, tab)
	if _, ok := tab.Peek(2, 6); ok {
		t.Error("least recently used flow 2 still held")
	}
	for _, id := range []uint32{1, 3, 4, 5} {
		if _, ok := tab.Peek(id, 6); !ok {
			t.Errorf("flow %d evicted", id)
		}
	}
	if st := tab.Stats(); st.Evicted != 1 || st.Flows != 4 {
		t.Errorf("Stats = %+v, want 1 evicted, 4 flows", st)
	}
	// An evicted flow comes back at SeqStart.
	if got := tab.Next(2, 7); got != 0 {
		t.Errorf("returning flow seq %d, want 0", got)
	}
}

func TestEvictionPrefersIdle(t *testing.T) {
	tab := newTable(t, Config{MaxFlows: 8, IdleTimeout: time.Second})
	for id := uint32(0); id < 8; id++ {
		tab.Next(id, 0)
	}
	now := int64(2 * time.Second)
	for id := uint32(0); id < 7; id++ {
		tab.Next(id, now) // all but flow 7 live
	}
	tab.Next(100, now)
	if _, ok := tab.Peek(7, now); ok {
		t.Error("idle flow 7 not the one removed")
	}
	if st := tab.Stats(); st.Evicted != 0 || st.Expired != 8 {
		// 7 flows expired on lookup + flow 7 reclaimed by the hand.
		t.Errorf("Stats = %+v, want 0 evicted, 8 expired", st)
	}
}

// TestModel drives the table with random operations and checks it against a
// map: a held flow continues its sequence, a missing one restarts at
// SeqStart, and the structure stays consistent.
func TestModel(t *testing.T) {
	rng := rand.New(rand.NewPCG(1, 2))
	for _, max := range []int{1, 3, 8, 50} {
		tab := newTable(t, Config{MaxFlows: max, IdleTimeout: 100, SeqStart: 1})
		runModel(t, tab, func() (uint32, int64, bool) {
			return uint32(rng.IntN(3 * max)), int64(rng.IntN(50)), rng.IntN(20) == 0
		}, 5000)
	}
}

func runModel(t testing.TB, tab *Table, op func() (id uint32, dt int64, expire bool), steps int) {
	t.Helper()
	var now int64
	hints := map[uint32]uint32{} // where Find last found each flow: often stale
	for i := 0; i < steps; i++ {
		id, dt, expire := op()
		now += dt
		if expire {
			tab.Expire(now, 3)
			checkInvariants(t, tab)
			continue
		}
		want, held := tab.Peek(id, now)
		before := tab.Stats()
		var got uint32
		if i%2 == 0 {
			got = tab.Next(id, now)
		} else { // through a remembered slot, as the node's flow cache does
			at := tab.Find(id, hints[id])
			if at != tab.Find(id, 0) {
				t.Fatalf("step %d: Find(%d) with hint %d = %d, without %d", i, id, hints[id], at, tab.Find(id, 0))
			}
			if s, ok := tab.PeekAt(at, now); s != want || ok != held {
				t.Fatalf("step %d: PeekAt(%d) = %d %v, Peek %d %v", i, at, s, ok, want, held)
			}
			got = tab.NextAt(at, id, now)
			hints[id] = uint32(tab.Find(id, 0))
		}
		if got != want {
			t.Fatalf("step %d: Next(%d) = %d, Peek said %d (held %v)", i, id, got, want, held)
		}
		after := tab.Stats()
		if !held && after.New != before.New+1 {
			t.Fatalf("step %d: new flow not counted", i)
		}
		if s, ok := tab.Peek(id, now); !ok || s != got+1 {
			t.Fatalf("step %d: after Next(%d)=%d Peek = %d, %v", i, id, got, s, ok)
		}
		checkInvariants(t, tab)
	}
}

func TestMillionFlowsBoundedMemory(t *testing.T) {
	const max = 10000
	n := 1_000_000
	if testing.Short() {
		n = 200_000
	}
	tab := newTable(t, Config{MaxFlows: max, IdleTimeout: time.Minute})
	var before, after runtime.MemStats
	runtime.GC()
	runtime.ReadMemStats(&before)
	src, dst := addr("2001:db8::1"), addr("2001:db8::2")
	for i := 0; i < n; i++ {
		binary.BigEndian.PutUint32(src[12:], uint32(i))
		k := NewKey(src, dst, 17, uint16(i), 443, 0)
		tab.Next(k.ID(0), int64(i))
	}
	runtime.GC()
	runtime.ReadMemStats(&after)
	if tab.Len() != max {
		t.Errorf("Len = %d, want %d", tab.Len(), max)
	}
	st := tab.Stats()
	if st.Evicted < uint64(n-max)-uint64(n/1000) { // a few Flow ID collisions are expected
		t.Errorf("evicted %d of %d flows beyond the bound", st.Evicted, n-max)
	}
	if grow := int64(after.HeapAlloc) - int64(before.HeapAlloc); grow > 64<<10 {
		t.Errorf("heap grew by %d octets over %d flows", grow, n)
	}
	if mallocs := after.Mallocs - before.Mallocs; mallocs > 100 {
		t.Errorf("%d allocations over %d flows", mallocs, n)
	}
	checkInvariants(t, tab)
}

func TestNextAllocs(t *testing.T) {
	tab := newTable(t, Config{MaxFlows: 64, IdleTimeout: time.Second})
	var i uint32
	n := testing.AllocsPerRun(10000, func() {
		i++
		tab.Next(i%200, int64(i)) // hits, misses, evictions
		tab.Expire(int64(i), 2)
	})
	if n != 0 {
		t.Errorf("Next allocates %v times per call", n)
	}
}

func BenchmarkNextHit(b *testing.B) {
	tab := newTable(b, Config{MaxFlows: 1 << 16, IdleTimeout: time.Minute})
	ids := make([]uint32, 1024)
	for i := range ids {
		ids[i] = rand.Uint32()
	}
	b.ReportAllocs()
	for i := 0; b.Loop(); i++ {
		tab.Next(ids[i&1023], int64(i))
	}
}

// BenchmarkFindHintPeekNext is the node's per-packet use for a known flow:
// Find through the slot remembered in the flow cache, PeekAt, NextAt.
func BenchmarkFindHintPeekNext(b *testing.B) {
	tab := newTable(b, Config{MaxFlows: 1 << 16, IdleTimeout: time.Minute})
	ids, hints := make([]uint32, 1024), make([]uint32, 1024)
	for i := range ids {
		ids[i] = rand.Uint32()
		tab.Next(ids[i], 0)
	}
	for i := range ids {
		hints[i] = uint32(tab.Find(ids[i], 0))
	}
	b.ReportAllocs()
	for i := 0; b.Loop(); i++ {
		j := i & 1023
		at := tab.Find(ids[j], hints[j])
		if _, ok := tab.PeekAt(at, int64(i)); !ok {
			b.Fatal("flow not held")
		}
		tab.NextAt(at, ids[j], int64(i))
	}
}

func BenchmarkNextEvict(b *testing.B) {
	tab := newTable(b, Config{MaxFlows: 1 << 12, IdleTimeout: time.Minute})
	b.ReportAllocs()
	for i := 0; b.Loop(); i++ {
		tab.Next(uint32(i)*2654435761, int64(i)) // every packet a new flow
	}
}

// FuzzTable interprets the input as operations (flow id, time step, expire)
// and checks the table against the model of TestModel.
func FuzzTable(f *testing.F) {
	f.Add(uint8(4), []byte{0, 1, 2, 3, 4, 5, 0, 1, 0xff, 2})
	f.Add(uint8(1), []byte{1, 1, 1, 2, 2, 0x80})
	f.Add(uint8(7), []byte{})
	f.Fuzz(func(t *testing.T, max uint8, ops []byte) {
		tab, err := NewTable(Config{MaxFlows: int(max%32) + 1, IdleTimeout: 40, SeqStart: uint32(max) << 24})
		if err != nil {
			t.Fatal(err)
		}
		i := 0
		runModel(t, tab, func() (uint32, int64, bool) {
			b := ops[i]
			i++
			return uint32(b & 0x3f), int64(b>>6) * 15, b == 0xff
		}, len(ops))
	})
}
