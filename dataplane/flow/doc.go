// Package flow computes IOAM DEX Flow IDs and keeps the per-flow sequence
// numbers an encapsulating node writes into the DEX option (RFC 9326 §3).
//
// # Flow key and Flow ID
//
// A [Key] is the IPv6 5-tuple of a packet: source and destination address,
// the upper-layer protocol (the Next Header value after the extension
// headers) and, for protocols with ports (TCP, UDP, UDP-Lite, SCTP), the
// source and destination port. For protocols without ports the 20-bit
// IPv6 Flow Label stands in for them, the way the Linux flow dissector keys
// IPv6 flows.
//
// The Flow ID is a deterministic, documented 32-bit hash of the key with a
// configurable 32-bit seed, so that a collector can recompute it from the
// addresses and ports it receives in the telemetry records:
//
//	w0 = big-endian uint64 of Src[0:8]      w1 = big-endian uint64 of Src[8:16]
//	w2 = big-endian uint64 of Dst[0:8]      w3 = big-endian uint64 of Dst[8:16]
//	w4 = NextHeader<<56 | SrcPort<<40 | DstPort<<24 | FlowLabel&0xFFFFF
//	h  = mix(uint64(seed) + 0x9E3779B97F4A7C15)
//	for i in 0..4: h = mix(h ^ wi)
//	FlowID = uint32(h>>32) ^ uint32(h)
//
// where mix is the 64-bit finalizer of SplitMix64:
//
//	z ^= z >> 30; z *= 0xBF58476D1CE4E5B9
//	z ^= z >> 27; z *= 0x94D049BB133111EB
//	z ^= z >> 31
//
// All arithmetic is unsigned and wraps modulo 2^64. The Flow ID is written to
// the packet in network byte order. The tests pin the algorithm with a plain
// transcription of this recipe and fixed vectors.
//
// # Sequence numbers
//
// A [Table] maps a Flow ID to the next sequence number of that flow. The
// first DEX-carrying packet of a flow carries Config.SeqStart (0 as RFC 9326
// says, 1 to match the ULiège Linux patch); each further DEX-carrying packet
// carries the previous value plus one, modulo 2^32. Packets that do not carry
// DEX must not call [Table.Next].
//
// The table is keyed by Flow ID, as the Linux patch is: two 5-tuples whose
// Flow IDs collide share one sequence space, which keeps the pair (Flow ID,
// sequence number) unique on the node — the pair a collector correlates on.
//
// A flow idle for longer than Config.IdleTimeout starts again at SeqStart. The
// table never holds more than Config.MaxFlows flows: when it is full, a new
// flow evicts the least recently used of a small sample of entries (an
// approximated LRU, see [Table.Next]). Evictions and expirations are counted.
//
// A Table is preallocated (open addressing with linear probing and
// backward-shift deletion) and allocates nothing after [NewTable]. It is not
// safe for concurrent use: the data plane gives each worker its own table,
// and RSS keeps a flow on one worker.
package flow
