package policy

import (
	"bytes"
	"encoding/binary"
	"math/bits"
	"net/netip"
	"slices"
)

// RouteTable is an immutable longest-prefix-match table over IPv6
// destination addresses.
//
// It is a 256-ary trie (one level per address octet) with leaf pushing and
// bitmap compression, in the spirit of Poptrie: every node carries two
// 256-bit maps, one marking the octet values that continue into a child
// node and one marking where the (pushed-down) best-match route changes
// among the others, and the position of a child or route is the population
// count of the map below the octet. A lookup therefore visits one node per
// significant octet of the longest prefix on its path, touches no pointers
// but indices into three flat slices, never backtracks and never allocates.
//
// The zero value is an empty table in which every lookup misses. A
// RouteTable is safe for concurrent use.
type RouteTable struct {
	routes []Route
	nodes  []lpmNode
	// leaves holds route indices (-1 for "no route") referenced by the
	// nodes' leaf maps.
	leaves []int32
}

// lpmNode is one trie level. Children of a node are stored contiguously in
// RouteTable.nodes from childBase, its leaves contiguously in
// RouteTable.leaves from leafBase.
type lpmNode struct {
	// keyHi/keyLo and maskHi/maskLo implement path compression: when skip
	// is not 0 the node stands for skip single-child levels without
	// prefixes of their own, and an address reaches its slots only if the
	// masked octets equal the key; otherwise the answer is fallback, the
	// best route pushed down from above. The halves are the address
	// octets 0-7 and 8-15 as big-endian integers.
	keyHi, keyLo   uint64
	maskHi, maskLo uint64
	fallback       int32
	skip           uint8
	// child has bit b set when octet value b continues into a child node.
	child [4]uint64
	// leaf has bit b set when b is not a child and the best route at b
	// differs from the best route at the previous non-child octet value
	// (or b is the first non-child value): each set bit starts a run.
	leaf      [4]uint64
	childBase uint32
	leafBase  uint32
}

// rank returns the number of bits set in m at positions 0..b inclusive.
func rank(m *[4]uint64, b uint8) uint32 {
	c := bits.OnesCount64(m[b>>6] << (63 - b&63))
	switch b >> 6 {
	case 3:
		c += bits.OnesCount64(m[2])
		fallthrough
	case 2:
		c += bits.OnesCount64(m[1])
		fallthrough
	case 1:
		c += bits.OnesCount64(m[0])
	}
	return uint32(c)
}

// Lookup returns the route with the longest prefix containing dst (an IPv6
// address in network byte order). It does not allocate.
func (t *RouteTable) Lookup(dst [16]byte) (*Route, bool) {
	if len(t.routes) == 0 { // the zero value, or a snapshot without routes
		return nil, false
	}
	hi := binary.BigEndian.Uint64(dst[:8])
	lo := binary.BigEndian.Uint64(dst[8:])
	n := &t.nodes[0]
	r := int32(-1)
	for d := 0; d < len(dst); d++ {
		if n.skip != 0 {
			if (hi^n.keyHi)&n.maskHi|(lo^n.keyLo)&n.maskLo != 0 {
				r = n.fallback
				break
			}
			d += int(n.skip)
		}
		b := dst[d&15] // d <= 15 by construction; the mask drops the bounds check
		if n.child[b>>6]&(1<<(b&63)) != 0 {
			n = &t.nodes[n.childBase+rank(&n.child, b)-1]
			continue
		}
		r = t.leaves[n.leafBase+rank(&n.leaf, b)-1]
		break
	}
	if r < 0 {
		return nil, false
	}
	return &t.routes[r], true
}

// LookupAddr is Lookup for a netip.Addr; IPv4 addresses never match.
func (t *RouteTable) LookupAddr(a netip.Addr) (*Route, bool) {
	if !a.Is6() {
		return nil, false
	}
	return t.Lookup(a.As16())
}

// Len returns the number of routes.
func (t *RouteTable) Len() int { return len(t.routes) }

// Routes returns the routes in configuration order, indexed by Route.ID.
// The slice is shared: callers must not modify it.
func (t *RouteTable) Routes() []Route { return t.routes }

// lpmEntry is a prefix being inserted: its masked address, its length and
// the index of its route.
type lpmEntry struct {
	addr  [16]byte
	bits  int
	route int32
}

// newRouteTable builds the trie over routes, whose prefixes must be valid,
// masked, IPv6 and distinct. It takes ownership of routes.
func newRouteTable(routes []Route) *RouteTable {
	t := &RouteTable{routes: routes}
	ents := make([]lpmEntry, len(routes))
	for i, r := range routes {
		ents[i] = lpmEntry{addr: r.Prefix.Addr().As16(), bits: r.Prefix.Bits(), route: int32(i)}
	}
	slices.SortFunc(ents, func(a, b lpmEntry) int {
		if c := bytes.Compare(a.addr[:], b.addr[:]); c != 0 {
			return c
		}
		return a.bits - b.bits
	})
	var def int32 = -1
	if len(ents) > 0 && ents[0].bits == 0 {
		def = ents[0].route
		ents = ents[1:]
	}
	t.nodes = make([]lpmNode, 1, 1+len(ents))
	t.build(0, 0, ents, def)
	return t
}

// build fills node ni at depth d (octet d of the address selects among its
// 256 slots) from ents, the prefixes under the node that are longer than
// 8*d bits, sorted by address then length. inherit is the best route
// covering the whole node, pushed down from above.
func (t *RouteTable) build(ni, d int, ents []lpmEntry, inherit int32) {
	var n lpmNode
	// Path compression: skip levels that hold no prefix of their own and
	// lead to a single child.
	start := d
	for len(ents) > 0 && d < 15 && compressible(ents, d) {
		d++
	}
	if d > start {
		var key, mask [16]byte
		for i := start; i < d; i++ {
			key[i], mask[i] = ents[0].addr[i], 0xff
		}
		n.skip = uint8(d - start)
		n.fallback = inherit
		n.keyHi, n.keyLo = binary.BigEndian.Uint64(key[:8]), binary.BigEndian.Uint64(key[8:])
		n.maskHi, n.maskLo = binary.BigEndian.Uint64(mask[:8]), binary.BigEndian.Uint64(mask[8:])
	}
	var best [256]int32
	for i := range best {
		best[i] = inherit
	}
	// Prefixes ending in this octet, shortest first so that longer ones
	// overwrite the slots they cover.
	lo, hi := 8*d, 8*d+8
	for l := lo + 1; l <= hi; l++ {
		for _, e := range ents {
			if e.bits != l {
				continue
			}
			first := int(e.addr[d])
			for s := first; s < first+1<<(hi-l); s++ {
				best[s] = e.route
			}
		}
	}
	// Longer prefixes continue in children, one per distinct octet value;
	// ents is sorted, so each child's entries are contiguous.
	var deep []lpmEntry
	for _, e := range ents {
		if e.bits > hi {
			deep = append(deep, e)
		}
	}
	nchild := 0
	for i, e := range deep {
		if i == 0 || deep[i-1].addr[d] != e.addr[d] {
			b := e.addr[d]
			n.child[b>>6] |= 1 << (b & 63)
			nchild++
		}
	}
	n.leafBase = uint32(len(t.leaves))
	prev, started := int32(0), false
	for s := range 256 {
		if n.child[s>>6]&(1<<(s&63)) != 0 {
			continue
		}
		if !started || best[s] != prev {
			n.leaf[s>>6] |= 1 << (s & 63)
			t.leaves = append(t.leaves, best[s])
			prev, started = best[s], true
		}
	}
	n.childBase = uint32(len(t.nodes))
	t.nodes = append(t.nodes, make([]lpmNode, nchild)...)
	t.nodes[ni] = n
	ci := int(n.childBase)
	for first := 0; first < len(deep); ci++ {
		end := first + 1
		for end < len(deep) && deep[end].addr[d] == deep[first].addr[d] {
			end++
		}
		t.build(ci, d+1, deep[first:end], best[deep[first].addr[d]])
		first = end
	}
}

// compressible reports whether level d of ents (all longer than 8*d bits)
// holds no prefix ending in it and a single octet value.
func compressible(ents []lpmEntry, d int) bool {
	for _, e := range ents {
		if e.bits <= 8*d+8 || e.addr[d] != ents[0].addr[d] {
			return false
		}
	}
	return true
}
