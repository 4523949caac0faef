package telemetry

import "testing"

// TestPeekRun: runs come in order, stop at the end of the slot array and
// at limit, see only published records, and free their slots only when
// the releases are published.
func TestPeekRun(t *testing.T) {
	q, err := NewRing(8)
	if err != nil {
		t.Fatal(err)
	}
	if rs := q.PeekRun(8); len(rs) != 0 {
		t.Fatalf("empty ring gave a run of %d", len(rs))
	}
	next, want := uint32(0), uint32(0) // next Seq to push, next Seq expected
	push := func(n int, publish bool) {
		for range n {
			r := q.Reserve()
			if r == nil {
				t.Fatalf("ring full at seq %d", next)
			}
			r.Seq = next
			next++
			q.CommitBatched()
		}
		if publish {
			q.PublishCommits()
		}
	}
	take := func(limit, wantLen int) {
		t.Helper()
		rs := q.PeekRun(limit)
		if len(rs) != wantLen {
			t.Fatalf("PeekRun(%d) = %d records, want %d", limit, len(rs), wantLen)
		}
		for i := range rs {
			if rs[i].Seq != want {
				t.Fatalf("record %d of the run has seq %d, want %d", i, rs[i].Seq, want)
			}
			want++
		}
		q.ReleaseBatchedN(len(rs))
	}
	push(5, true)
	push(1, false) // committed, not published: not in a run
	take(3, 3)     // limit
	take(8, 2)     // what was published
	take(8, 0)     // nothing more published
	q.PublishCommits()
	q.PublishReleases()
	push(6, true) // seq 5-11 in slots 5-7, then 0-3: wraps
	take(8, 3)    // seq 5-7: up to the end of the slot array
	take(8, 4)    // seq 8-11 from slot 0
	take(-1, 0)   // a negative limit takes nothing
	push(1, true) // slot 4, the one free while the releases are unpublished
	if q.Reserve() != nil {
		t.Fatal("reserved a slot whose release is not published")
	}
	q.PublishReleases()
	if q.Reserve() == nil {
		t.Fatal("no slot after the releases were published")
	}
	take(8, 1)
	q.PublishReleases()
	if q.Len() != 0 {
		t.Fatalf("Len %d after taking everything", q.Len())
	}
}
