package node

import (
	"encoding/binary"

	"github.com/dexplane/dexplane/dataplane/policy"
)

// routeCacheSize is the number of entries of a node's route cache, a power
// of two: 64 entries of 32 octets.
const routeCacheSize = 64

// routeCache remembers the longest-prefix match of recently seen
// destination addresses, so that a packet to a known destination costs an
// index hash and a 16-octet comparison instead of the trie walk's chain of
// dependent loads (policy.RouteTable.Lookup). It is direct-mapped; a miss
// looks the address up and replaces the entry. Entries belong to one route
// table: the node empties the cache when the snapshot changes (refresh).
// Destinations that do not repeat within 64 cache slots miss and pay the
// hash and the comparison on top of the lookup.
type routeCache struct {
	entries [routeCacheSize]struct {
		dst   [16]byte
		route *policy.Route // nil: no route matches dst
		valid bool
	}
}

// lookup returns the route of dst in t, from the cache when it holds dst.
func (c *routeCache) lookup(t *policy.RouteTable, dst [16]byte) (*policy.Route, bool) {
	if t.Len() == 0 {
		return nil, false // no routes (IOAM off): nothing to remember
	}
	h := binary.LittleEndian.Uint64(dst[8:]) ^ binary.LittleEndian.Uint64(dst[:8])>>1
	e := &c.entries[(h*0x9E3779B97F4A7C15)>>58&(routeCacheSize-1)]
	if e.valid && e.dst == dst {
		return e.route, e.route != nil
	}
	r, ok := t.Lookup(dst)
	e.dst, e.route, e.valid = dst, r, true
	return r, ok
}

// reset empties the cache (a new route table).
func (c *routeCache) reset() { *c = routeCache{} }
