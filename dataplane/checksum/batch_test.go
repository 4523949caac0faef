package checksum

import (
	"testing"

	"github.com/dexplane/dexplane/dataplane/handle"
)

// batchCounter is an handle.BatchHandler that counts the calls it gets.
type batchCounter struct{ begin, end, frames int }

func (b *batchCounter) Handle(*handle.Frame) handle.Verdict { b.frames++; return handle.Forward }
func (b *batchCounter) BeginBatch()                         { b.begin++ }
func (b *batchCounter) EndBatch()                           { b.end++ }

// TestHandlerPassesBatches checks that the wrapper passes the worker's
// batch boundaries on to a BatchHandler behind it and ignores them for a
// plain Handler.
func TestHandlerPassesBatches(t *testing.T) {
	var next batchCounter
	var h handle.Handler = &Handler{Next: &next}
	bh, ok := h.(handle.BatchHandler)
	if !ok {
		t.Fatal("checksum.Handler is not an handle.BatchHandler")
	}
	bh.BeginBatch()
	bh.EndBatch()
	if next.begin != 1 || next.end != 1 {
		t.Errorf("Next got %d BeginBatch and %d EndBatch, want 1 and 1", next.begin, next.end)
	}
	plain := &Handler{Next: handle.Identity{}}
	plain.BeginBatch() // must not panic
	plain.EndBatch()
	(&Handler{}).EndBatch() // nil Next
}
