package node

import (
	"encoding/binary"
	"math/bits"

	"github.com/dexplane/dexplane/dataplane/packet"
	"github.com/dexplane/dexplane/dataplane/policy"
)

// flowCacheSets is the number of sets of a node's flow cache, 2^flowCacheBits;
// each set holds flowCacheWays entries of 64 octets (32 KiB in all).
const (
	flowCacheBits = 8
	flowCacheSets = 1 << flowCacheBits
	flowCacheWays = 2
)

// flowKey identifies a flow in the flow cache: the innermost IPv6 source
// and destination (loaded little-endian, as the words lie in the frame) and
// a word of the upper-layer protocol, ports (and whether the packet has
// them) and Flow Label. It is finer than flow.Key (which keeps either the
// ports or the label), so everything derived from a flow.Key is a function
// of it.
type flowKey [5]uint64

// fill sets k to the flow-cache key of the packet p describes in frame,
// whose flow is described by its outer IPv6 header (p.FlowL3() == p.L3).
// The words are read from the frame, not from a flowInfo: the node
// captures that only for the packets it exports.
func (k *flowKey) fill(frame []byte, p *packet.Packet) {
	a := frame[p.L3 : p.L3+packet.IPv6Len]
	w4 := uint64(p.L4Proto)<<56 | uint64(binary.BigEndian.Uint32(a[0:4])&0xFFFFF)
	if p.HasPorts {
		w4 |= uint64(p.SrcPort)<<40 | uint64(p.DstPort)<<24 | 1<<20
	}
	k[0], k[1] = binary.LittleEndian.Uint64(a[8:]), binary.LittleEndian.Uint64(a[16:])
	k[2], k[3] = binary.LittleEndian.Uint64(a[24:]), binary.LittleEndian.Uint64(a[32:])
	k[4] = w4
}

// set returns the index of k's set: one multiplicative hash of the words.
func (k *flowKey) set() uint64 {
	h := k[0] ^ k[1] ^ bits.RotateLeft64(k[2]^k[3], 32) ^ k[4]
	return (h * 0x9E3779B97F4A7C15) >> (64 - flowCacheBits)
}

// equal reports whether k and o are the same key, without branches.
func (k *flowKey) equal(o *flowKey) bool {
	return (k[0]^o[0])|(k[1]^o[1])|(k[2]^o[2])|(k[3]^o[3])|(k[4]^o[4]) == 0
}

// flowEntry is what the encapsulating role knows about one flow under one
// snapshot: its route, its Flow ID and where the flow table keeps its
// sequence number. A packet of a known flow finds all three with one hash
// and one key comparison, instead of a route lookup, the six SplitMix64
// rounds of flow.Key.ID and a probe of the flow table.
type flowEntry struct {
	key   flowKey
	route *policy.Route // nil: no route matches the destination
	id    uint32        // Flow ID, when hasID
	slot  uint32        // flow.Table.Find hint for id
	valid bool          // filled since the cache was last emptied
	hasID bool
	// exportKnown says whether export (isExportTraffic) was computed.
	exportKnown, export bool
}

// flowCache is a set-associative cache of flowEntry, two ways per set; a
// miss fills the first way and moves its entry to the second. Every refresh
// of the Handler's view empties it (32 KiB, once per reload), so a reload
// never sees a route, Flow ID seed or export rule of an earlier snapshot,
// and no entry keeps an old snapshot's routes alive.
//
// Only packets whose flow is described by their outer IPv6 header (no
// tunnel) and that carry no IOAM are cached: for them the route (of the
// outer destination) and the export-traffic rule depend on the key alone.
type flowCache struct {
	sets [flowCacheSets][flowCacheWays]flowEntry
}

// flowOf returns the entry of the flow of the packet p describes in frame,
// filled with its route when new. Packets the cache does not hold get
// n.scratch, filled afresh.
func (n *Handler) flowOf(frame []byte, p *packet.Packet) *flowEntry {
	if n.view.routes.Len() == 0 {
		// IOAM off: no packet has a route, so none needs a key, a Flow ID
		// or a slot. The caller writes to an entry only once it has a
		// route, so this one stays zero.
		return &n.noRoutes
	}
	if p.FlowL3() != p.L3 || p.NumIOAM > 0 || p.DstOptsDEX > 0 {
		e := &n.scratch
		*e = flowEntry{}
		e.route, _ = n.routes.lookup(n.view.routes, packet.Dst(frame, p.L3))
		return e
	}
	var k flowKey
	k.fill(frame, p)
	set := &n.flowCache.sets[k.set()]
	if e := &set[0]; e.valid && e.key.equal(&k) {
		return e
	}
	if e := &set[1]; e.valid && e.key.equal(&k) {
		return e
	}
	set[1] = set[0]
	e := &set[0]
	*e = flowEntry{key: k, valid: true}
	e.route, _ = n.routes.lookup(n.view.routes, packet.Dst(frame, p.L3))
	return e
}

// flowID returns e's Flow ID under the snapshot's seed, computing it once
// from fi, the packet's captured flow.
func (n *Handler) flowID(e *flowEntry, s *policy.Snapshot, fi *flowInfo) uint32 {
	if !e.hasID {
		k := fi.key()
		e.id, e.hasID = k.ID(s.Flows.FlowIDSeed), true
	}
	return e.id
}

// isExport reports isExportTraffic for e's packets, computing it once.
func (n *Handler) isExport(e *flowEntry, frame []byte, p *packet.Packet) bool {
	if !e.exportKnown {
		e.export, e.exportKnown = n.isExportTraffic(frame, p), true
	}
	return e.export
}
