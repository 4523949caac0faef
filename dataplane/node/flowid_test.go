package node

import (
	"testing"

	"github.com/dexplane/dexplane/dataplane/flow"
)

// TestFlowIDCache checks that the cache returns flow.Key.ID for every key
// and seed, through hits, misses, collisions and seed changes.
func TestFlowIDCache(t *testing.T) {
	var c flowIDCache
	var src, dst [16]byte
	src[0], dst[0] = 0x20, 0x20
	for round := range 3 {
		for _, seed := range []uint32{0, 7, 0} {
			for i := range 2000 { // more keys than entries: collisions
				src[15], dst[14] = byte(i), byte(i>>8)
				proto := uint8(17)
				if i%5 == 0 {
					proto = 58 // keyed by the flow label
				}
				k := flow.NewKey(src, dst, proto, uint16(i*7), 5001, uint32(i*13))
				if got, want := c.id(&k, seed), k.ID(seed); got != want {
					t.Fatalf("round %d seed %d key %d: cached id %#x, want %#x", round, seed, i, got, want)
				}
			}
		}
	}
}

func BenchmarkFlowIDCache(b *testing.B) {
	var c flowIDCache
	keys := make([]flow.Key, 64)
	for i := range keys {
		var s, d [16]byte
		s[15], d[15] = 1, 2
		keys[i] = flow.NewKey(s, d, 17, uint16(40000+i), 5001, 0)
	}
	for i := 0; b.Loop(); i++ {
		c.id(&keys[i&63], 0)
	}
}
