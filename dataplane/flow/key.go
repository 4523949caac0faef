package flow

import "encoding/binary"

// Upper-layer protocol numbers (IANA "Assigned Internet Protocol Numbers")
// whose ports key a flow: the protocols for which the packet codec extracts
// ports (dataplane/packet Packet.HasPorts).
const (
	protoTCP     = 6
	protoUDP     = 17
	protoSCTP    = 132
	protoUDPLite = 136
)

// flowLabelMask keeps the 20 bits of an IPv6 Flow Label.
const flowLabelMask = 0xFFFFF

// HasPorts reports whether ports key flows of the upper-layer protocol
// nextHeader: TCP, UDP, SCTP and UDP-Lite, the protocols whose ports the
// packet codec extracts. Other protocols (ICMPv6, ESP, DCCP, …) are keyed by
// the Flow Label instead.
func HasPorts(nextHeader uint8) bool {
	switch nextHeader {
	case protoTCP, protoUDP, protoSCTP, protoUDPLite:
		return true
	}
	return false
}

// Key is the flow key of an IPv6 packet. The zero value is a valid key.
//
// Use [NewKey] to build one: it applies the rule that a key has either ports
// (protocols for which [HasPorts] is true) or a Flow Label, never both, so
// that every node and the collector derive the same key from the same packet.
type Key struct {
	// Src and Dst are the IPv6 source and destination addresses in network
	// byte order (as on the wire).
	Src, Dst [16]byte
	// NextHeader is the upper-layer protocol number (after extension headers).
	NextHeader uint8
	// SrcPort and DstPort are the transport ports in host order; zero for
	// protocols without ports.
	SrcPort, DstPort uint16
	// FlowLabel is the 20-bit IPv6 Flow Label for protocols without ports,
	// zero otherwise.
	FlowLabel uint32
}

// NewKey returns the flow key of a packet. Ports are used when
// [HasPorts](nextHeader) is true and flowLabel is ignored; otherwise the ports
// are ignored and the low 20 bits of flowLabel are used.
func NewKey(src, dst [16]byte, nextHeader uint8, srcPort, dstPort uint16, flowLabel uint32) Key {
	k := Key{Src: src, Dst: dst, NextHeader: nextHeader}
	if HasPorts(nextHeader) {
		k.SrcPort, k.DstPort = srcPort, dstPort
	} else {
		k.FlowLabel = flowLabel & flowLabelMask
	}
	return k
}

// Hash constants (see the package documentation for the algorithm).
const (
	seedIncrement = 0x9E3779B97F4A7C15 // 2^64 / golden ratio, the SplitMix64 increment
	mixMul1       = 0xBF58476D1CE4E5B9
	mixMul2       = 0x94D049BB133111EB
)

// mix is the SplitMix64 finalizer: a bijection on uint64 with good avalanche.
func mix(z uint64) uint64 {
	z ^= z >> 30
	z *= mixMul1
	z ^= z >> 27
	z *= mixMul2
	z ^= z >> 31
	return z
}

// ID returns the 32-bit Flow ID of k under seed, computed as described in the
// package documentation. It is deterministic across hosts, processes and
// architectures, allocation-free and safe for concurrent use.
func (k *Key) ID(seed uint32) uint32 {
	w4 := uint64(k.NextHeader)<<56 | uint64(k.SrcPort)<<40 | uint64(k.DstPort)<<24 | uint64(k.FlowLabel&flowLabelMask)
	h := mix(uint64(seed) + seedIncrement)
	h = mix(h ^ binary.BigEndian.Uint64(k.Src[0:8]))
	h = mix(h ^ binary.BigEndian.Uint64(k.Src[8:16]))
	h = mix(h ^ binary.BigEndian.Uint64(k.Dst[0:8]))
	h = mix(h ^ binary.BigEndian.Uint64(k.Dst[8:16]))
	h = mix(h ^ w4)
	return uint32(h>>32) ^ uint32(h)
}
