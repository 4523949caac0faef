package checksum

import (
	"testing"

	"github.com/dexplane/dexplane/dataplane/xsk"
)

// batchCounter is an xsk.BatchHandler that counts the calls it gets.
type batchCounter struct{ begin, end, frames int }

func (b *batchCounter) Handle(*xsk.Frame) xsk.Verdict { b.frames++; return xsk.Forward }
func (b *batchCounter) BeginBatch()                   { b.begin++ }
func (b *batchCounter) EndBatch()                     { b.end++ }

// TestHandlerPassesBatches checks that the wrapper passes the worker's
// batch boundaries on to a BatchHandler behind it and ignores them for a
// plain Handler.
func TestHandlerPassesBatches(t *testing.T) {
	var next batchCounter
	var h xsk.Handler = &Handler{Next: &next}
	bh, ok := h.(xsk.BatchHandler)
	if !ok {
		t.Fatal("checksum.Handler is not an xsk.BatchHandler")
	}
	bh.BeginBatch()
	bh.EndBatch()
	if next.begin != 1 || next.end != 1 {
		t.Errorf("Next got %d BeginBatch and %d EndBatch, want 1 and 1", next.begin, next.end)
	}
	plain := &Handler{Next: xsk.Identity{}}
	plain.BeginBatch() // must not panic
	plain.EndBatch()
	(&Handler{}).EndBatch() // nil Next
}
