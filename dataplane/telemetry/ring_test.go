package telemetry

import (
	"runtime"
	"sync"
	"testing"
	"unsafe"
)

func TestNewRingSizes(t *testing.T) {
	for _, tc := range []struct {
		size int
		ok   bool
	}{{0, false}, {1, false}, {2, true}, {3, false}, {1024, true}, {MaxRingSize, true}, {MaxRingSize * 2, false}, {-4, false}} {
		q, err := NewRing(tc.size)
		if (err == nil) != tc.ok {
			t.Errorf("NewRing(%d) err = %v, want ok=%v", tc.size, err, tc.ok)
			continue
		}
		if err == nil && q.Cap() != tc.size {
			t.Errorf("NewRing(%d).Cap() = %d", tc.size, q.Cap())
		}
	}
}

func TestRingFIFOAndFull(t *testing.T) {
	q, err := NewRing(4)
	if err != nil {
		t.Fatal(err)
	}
	var r, out Record
	if q.Pop(&out) || q.Peek() != nil {
		t.Fatal("empty ring returned a record")
	}
	for i := range 4 {
		r.Seq = uint32(i)
		if !q.TryPush(&r) {
			t.Fatalf("push %d failed", i)
		}
	}
	if q.TryPush(&r) || q.Reserve() != nil {
		t.Fatal("push into a full ring succeeded")
	}
	if q.Full() != 2 || q.Len() != 4 {
		t.Fatalf("Full=%d Len=%d, want 2, 4", q.Full(), q.Len())
	}
	for round := range 3 { // wrap around several times
		for i := range 4 {
			if !q.Pop(&out) {
				t.Fatalf("round %d pop %d: empty", round, i)
			}
			if want := uint32(round*4 + i); out.Seq != want {
				t.Fatalf("round %d: got seq %d, want %d", round, out.Seq, want)
			}
			r.Seq = uint32((round+1)*4 + i)
			if !q.TryPush(&r) {
				t.Fatalf("refill %d failed", i)
			}
		}
	}
	if q.Len() != 4 {
		t.Fatalf("Len = %d", q.Len())
	}
}

func TestRingReservePeek(t *testing.T) {
	q, _ := NewRing(2)
	s := q.Reserve()
	s.FlowID = 7
	s.RawLen = 3
	q.Commit()
	p := q.Peek()
	if p == nil || p.FlowID != 7 || p.RawLen != 3 {
		t.Fatalf("Peek = %+v", p)
	}
	q.Release()
	if q.Peek() != nil || q.Len() != 0 {
		t.Fatal("ring not empty after Release")
	}
}

// TestRingConcurrent runs one producer and one consumer goroutine and checks
// that every record arrives exactly once, in order, intact. Run with -race.
func TestRingConcurrent(t *testing.T) {
	q, _ := NewRing(64)
	n := 200000
	if testing.Short() || raceEnabled {
		n = 20000
	}
	var wg sync.WaitGroup
	wg.Add(1)
	go func() {
		defer wg.Done()
		var r Record
		for i := 0; i < n; {
			r.Seq = uint32(i)
			r.FlowID = ^uint32(i)
			r.RawSection[RawSectionMax-1] = byte(i)
			if q.TryPush(&r) {
				i++
			} else {
				runtime.Gosched()
			}
		}
	}()
	var out Record
	for i := 0; i < n; {
		if !q.Pop(&out) {
			runtime.Gosched()
			continue
		}
		if out.Seq != uint32(i) || out.FlowID != ^uint32(i) || out.RawSection[RawSectionMax-1] != byte(i) {
			t.Fatalf("record %d corrupted: seq %d flow %x raw %d", i, out.Seq, out.FlowID, out.RawSection[RawSectionMax-1])
		}
		i++
	}
	wg.Wait()
	if q.Len() != 0 {
		t.Fatalf("Len = %d after draining", q.Len())
	}
}

func TestRingAllocs(t *testing.T) {
	q, _ := NewRing(8)
	var r, out Record
	if a := testing.AllocsPerRun(1000, func() {
		q.TryPush(&r)
		q.Pop(&out)
		s := q.Reserve()
		s.Seq++
		q.Commit()
		q.Peek()
		q.Release()
	}); a != 0 {
		t.Fatalf("allocs per hand-off = %v, want 0", a)
	}
}

func TestRecordHasNoPointers(t *testing.T) {
	// A pointer-free fixed-size type: the size is a compile-time constant and
	// copying it is a memmove. Guard the size so that growth is deliberate.
	// The Pre-allocated Trace (Record.Trace, up to 244 octets of node data,
	// exported whole by a decapsulating node) took it from 336 to 592
	// octets; BenchmarkHandle's DEX roles did not move beyond the noise.
	if s := unsafe.Sizeof(Record{}); s > 640 {
		t.Fatalf("Record is %d octets; keep it ≤ 640", s)
	}
}

func TestRoleString(t *testing.T) {
	for r, want := range map[Role]string{RoleEncap: "encap", RoleTransit: "transit", RoleDecap: "decap", 9: "role(9)"} {
		if got := r.String(); got != want {
			t.Errorf("%d.String() = %q, want %q", r, got, want)
		}
	}
}

// BenchmarkRingHandoff measures one push + one pop of a full Record on one
// goroutine (the cost a worker and the drainer each pay per record).
func BenchmarkRingHandoff(b *testing.B) {
	q, _ := NewRing(1024)
	var r, out Record
	b.ReportAllocs()
	for i := 0; b.Loop(); i++ {
		r.Seq = uint32(i)
		q.TryPush(&r)
		q.Pop(&out)
	}
}

// BenchmarkRingReserve measures the zero-copy path: fill in place, then
// take the records in place, one by one (Peek, Release) or, as the
// exporter's drainer does, by runs of up to 64 (PeekRun).
func BenchmarkRingReserve(b *testing.B) {
	b.Run("peek", func(b *testing.B) {
		benchReserve(b, 1, func(q *Ring) {
			_ = q.Peek().Seq
			q.Release()
		})
	})
	b.Run("run64", func(b *testing.B) {
		benchReserve(b, 64, func(q *Ring) {
			for rs := q.PeekRun(64); len(rs) > 0; rs = q.PeekRun(64) {
				_ = rs[len(rs)-1].Seq
				q.ReleaseBatchedN(len(rs))
			}
			q.PublishReleases()
		})
	})
}

// benchReserve fills records in place and publishes them every batch
// records, then lets take consume them.
func benchReserve(b *testing.B, batch int, take func(q *Ring)) {
	q, _ := NewRing(1024)
	b.ReportAllocs()
	for i := 0; b.Loop(); i++ {
		s := q.Reserve()
		s.Seq = uint32(i)
		q.CommitBatched()
		if (i+1)%batch == 0 {
			q.PublishCommits()
			take(q)
		}
	}
}

// BenchmarkRingSPSC measures throughput with the producer and the consumer
// on two goroutines (ns/op = per record end to end).
func BenchmarkRingSPSC(b *testing.B) {
	q, _ := NewRing(4096)
	done := make(chan struct{})
	n := b.N
	go func() {
		var out Record
		for i := 0; i < n; {
			if q.Pop(&out) {
				i++
			} else {
				runtime.Gosched()
			}
		}
		close(done)
	}()
	var r Record
	b.ReportAllocs()
	b.ResetTimer()
	for i := 0; i < n; {
		r.Seq = uint32(i)
		if q.TryPush(&r) {
			i++
		} else {
			runtime.Gosched()
		}
	}
	<-done
}

// BenchmarkRingPush measures the producer's side alone (what a worker pays
// per exported record): TryPush of a full Record into a ring with room. The
// ring is drained outside the timer every Cap records.
func BenchmarkRingPush(b *testing.B) {
	q, _ := NewRing(4096)
	var r, out Record
	b.ReportAllocs()
	for i := 0; b.Loop(); i++ {
		if i&4095 == 0 && i > 0 {
			b.StopTimer()
			for q.Pop(&out) {
			}
			b.StartTimer()
		}
		r.Seq = uint32(i)
		q.TryPush(&r)
	}
}

// TestResetLeavesOnlyTheArrays checks the layout Record.Reset relies on
// (the OSS and raw arrays adjacent, the trace's data last in the trace) and
// that it zeroes every field but those arrays' octets.
func TestResetLeavesOnlyTheArrays(t *testing.T) {
	data := unsafe.Offsetof(Record{}.Trace) + unsafe.Offsetof(Trace{}.Data)
	if unsafe.Offsetof(Record{}.OSSData) != data+TraceDataMax ||
		unsafe.Offsetof(Record{}.RawSection) != unsafe.Offsetof(Record{}.OSSData)+OSSDataMax {
		t.Fatal("a field sits between Trace.Data, OSSData and RawSection: Record.Reset would not clear it")
	}
	if unsafe.Offsetof(Trace{}.Data)+TraceDataMax != unsafe.Sizeof(Trace{}) {
		t.Fatal("a field follows Trace.Data: Record.Reset would not clear it")
	}
	r := new(Record) // on the heap, as ring slots are (checkptr)
	b := unsafe.Slice((*byte)(unsafe.Pointer(r)), unsafe.Sizeof(*r))
	for i := range b {
		b[i] = 0xA5
	}
	r.Reset()
	if r.OSSLen != 0 || r.RawLen != 0 || r.Trace.DataLen != 0 || r.Trace.Has {
		t.Fatalf("lengths not cleared: oss %d raw %d trace %d", r.OSSLen, r.RawLen, r.Trace.DataLen)
	}
	r.OSSData, r.RawSection, r.Trace.Data = [OSSDataMax]byte{}, [RawSectionMax]byte{}, [TraceDataMax]byte{}
	if *r != (Record{}) { // the padding is blank: == ignores it
		t.Fatalf("Reset left %+v", *r)
	}
}

// TestRecordLayout checks what makes a ring slot cheap to fill: a Record is
// a whole number of cache lines (slots start on line boundaries), the part
// Reset clears fits in three lines, and the padding is no larger than it
// must be (a field added to Record takes octets from it).
func TestRecordLayout(t *testing.T) {
	size := unsafe.Sizeof(Record{})
	if size%cacheLine != 0 {
		t.Errorf("Record is %d octets, not a multiple of %d: resize its padding", size, cacheLine)
	}
	end := unsafe.Offsetof(Record{}.RawSection) + RawSectionMax
	if size-end >= cacheLine {
		t.Errorf("Record pads %d octets after its last field: shrink the padding", size-end)
	}
	if head := unsafe.Offsetof(Record{}.Trace) + unsafe.Offsetof(Trace{}.Data); head > 3*cacheLine {
		t.Errorf("the part Reset clears is %d octets, more than 3 cache lines", head)
	}
	q, err := NewRing(4096)
	if err != nil {
		t.Fatal(err)
	}
	if a := uintptr(unsafe.Pointer(&q.slots[0])); a%cacheLine != 0 {
		t.Errorf("ring slots start at %#x, not on a cache line", a)
	}
}

// TestRingBatched: records committed with CommitBatched stay invisible to
// the consumer until PublishCommits, and slots released with ReleaseBatched
// stay unavailable to the producer until PublishReleases.
func TestRingBatched(t *testing.T) {
	q, err := NewRing(2)
	if err != nil {
		t.Fatal(err)
	}
	for i := range 2 {
		r := q.Reserve()
		if r == nil {
			t.Fatalf("Reserve %d: ring full", i)
		}
		r.Seq = uint32(i)
		q.CommitBatched()
	}
	if q.Peek() != nil || q.Len() != 0 {
		t.Fatal("a batched commit is visible before PublishCommits")
	}
	if q.Reserve() != nil {
		t.Fatal("Reserve found room in a ring holding two unpublished records")
	}
	q.PublishCommits()
	for i := range 2 {
		r := q.Peek()
		if r == nil || r.Seq != uint32(i) {
			t.Fatalf("record %d after PublishCommits: %+v", i, r)
		}
		q.ReleaseBatched()
	}
	if q.Peek() != nil {
		t.Fatal("Peek returned a released record")
	}
	full := q.Full()
	if q.Reserve() != nil || q.Full() != full+1 {
		t.Fatal("a batched release freed a slot before PublishReleases")
	}
	q.PublishReleases()
	if q.Reserve() == nil {
		t.Fatal("no room after PublishReleases")
	}
}
