package node

import (
	"encoding/binary"

	"github.com/dexplane/dexplane/dataplane/flow"
)

// flowIDCacheSize is the number of entries of a node's Flow ID cache, a
// power of two: 256 entries of 48 octets.
const flowIDCacheSize = 256

// flowIDCache remembers the Flow IDs of recently seen flow keys, so that a
// packet of a known flow costs one cheap index hash and a key comparison
// instead of the six dependent SplitMix64 rounds of flow.Key.ID. It is
// direct-mapped; a miss computes the ID and replaces the entry. Entries are
// valid for one seed (a reload that changes flows.flow_id_seed empties it).
type flowIDCache struct {
	seed    uint32
	entries [flowIDCacheSize]struct {
		key   flow.Key
		id    uint32
		valid bool
	}
}

// id returns k's Flow ID under seed, from the cache when it holds k.
func (c *flowIDCache) id(k *flow.Key, seed uint32) uint32 {
	if seed != c.seed {
		c.entries = [flowIDCacheSize]struct {
			key   flow.Key
			id    uint32
			valid bool
		}{}
		c.seed = seed
	}
	// Index: the low address halves and the ports, folded and multiplied.
	h := binary.LittleEndian.Uint64(k.Src[8:]) ^ binary.LittleEndian.Uint64(k.Dst[8:])<<1 ^
		uint64(k.SrcPort)<<32 ^ uint64(k.DstPort)<<48 ^ uint64(k.FlowLabel) ^ uint64(k.NextHeader)<<24
	e := &c.entries[(h*0x9E3779B97F4A7C15)>>56&(flowIDCacheSize-1)]
	if e.valid && e.key == *k {
		return e.id
	}
	e.key, e.id, e.valid = *k, k.ID(seed), true
	return e.id
}
