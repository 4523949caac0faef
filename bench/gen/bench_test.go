package gen

import (
	"testing"

	"github.com/dexplane/dexplane/dataplane/packet"
)

// The generator's and the sink's per-packet work: copy a template and
// stamp it; parse a frame and compare its payload with the pattern.

func benchTemplates(b testing.TB) (*Templates, []byte) {
	s := testSpec()
	s.Size = 1500
	s.Mode = packet.EncapInline
	s.DEX = DEX{DEX: packet.DEX{Namespace: 123, ExtFlags: 0xC0, TraceType: 0x800000}}
	ts, err := Build(s)
	if err != nil {
		b.Fatal(err)
	}
	return ts, nil
}

func BenchmarkStamp1500(b *testing.B) {
	ts, _ := benchTemplates(b)
	chunk := make([]byte, frameSize)
	t := &ts.WithDEX[0]
	b.SetBytes(int64(len(t.Frame)))
	b.ReportAllocs()
	for i := 0; b.Loop(); i++ {
		copy(chunk, t.Frame)
		t.Stamp(chunk[:len(t.Frame)], uint32(i))
	}
}

func BenchmarkParseAndCheck1500(b *testing.B) {
	ts, _ := benchTemplates(b)
	f := append([]byte(nil), ts.WithDEX[0].Frame...)
	ts.WithDEX[0].Stamp(f, 1)
	var r Parsed
	b.SetBytes(int64(len(f)))
	b.ReportAllocs()
	for b.Loop() {
		if err := Parse(f, &r); err != nil || !CheckPattern(f, &r) {
			b.Fatal("frame rejected")
		}
	}
}

func TestHotPathsDoNotAllocate(t *testing.T) {
	ts, _ := benchTemplates(t)
	tp := &ts.WithDEX[1]
	chunk := make([]byte, frameSize)
	var r Parsed
	seq := uint32(0)
	allocs := testing.AllocsPerRun(1000, func() {
		copy(chunk, tp.Frame)
		tp.Stamp(chunk[:len(tp.Frame)], seq)
		seq++
		if err := Parse(chunk[:len(tp.Frame)], &r); err != nil || !CheckPattern(chunk, &r) {
			t.Fatal("frame rejected")
		}
	})
	if allocs != 0 {
		t.Errorf("%v allocations per packet, want 0", allocs)
	}
}
