package packet

import (
	"encoding/binary"
	"errors"
)

// ICMPv6 constants used by [BuildPacketTooBig] (RFC 4443).
const (
	// ICMPv6TypePacketTooBig is the ICMPv6 Packet Too Big message type
	// (RFC 4443 §3.2); its only code is 0.
	ICMPv6TypePacketTooBig = 2
	// ICMPv6HeaderLen is the length of an ICMPv6 error message header:
	// Type, Code, Checksum and the 32-bit type-specific field (the MTU for
	// Packet Too Big), in octets.
	ICMPv6HeaderLen = 8
	// MinMTU is the IPv6 minimum link MTU (RFC 8200 §5), in octets. An
	// ICMPv6 error message, its IPv6 header included, must not exceed it
	// (RFC 4443 §2.4 (c)).
	MinMTU = 1280
	// PTBHopLimit is the hop limit of the Packet Too Big messages
	// BuildPacketTooBig writes: 64, Linux's default for locally originated
	// packets (net.ipv6.conf.*.hop_limit), which icmp6_send uses.
	PTBHopLimit = 64
	// ptbOverhead is what BuildPacketTooBig puts in front of the invoking
	// packet: a new IPv6 header and the ICMPv6 header.
	ptbOverhead = IPv6Len + ICMPv6HeaderLen
	// maxPTBBody is the largest part of the invoking packet a Packet Too
	// Big message carries: what fits in MinMTU after both headers.
	maxPTBBody = MinMTU - ptbOverhead
)

// ErrICMPSuppressed is returned by [BuildPacketTooBig] when RFC 4443 §2.4
// (e) forbids an ICMPv6 error in answer to the packet: its source address
// is unspecified (::) or multicast, or it is itself an ICMPv6 error message
// (Type below 128). The buffer is not modified.
var ErrICMPSuppressed = errors.New("packet: RFC 4443 forbids an ICMPv6 error for this packet")

// BuildPacketTooBig turns the frame buf[off:off+n], described by p (the
// result of Parse on it), into an ICMPv6 Packet Too Big message (RFC 4443
// §3.2: Type 2, Code 0) answering it, in place, ready to leave through the
// port the frame arrived on:
//
//   - the Ethernet destination and source addresses are swapped; VLAN
//     tags, if any, and the EtherType are kept;
//   - a new IPv6 header: Traffic Class 0, Flow Label 0, Next Header 58,
//     Hop Limit PTBHopLimit, source src (the answering node's address),
//     destination the invoking packet's (outer) source address;
//   - the ICMPv6 header with the MTU field set to mtu (octets, big-endian;
//     the caller computes it, e.g. max(egress MTU − encapsulation
//     overhead, MinMTU) for a tunnel entry, RFC 2473 §7.1) and the checksum
//     over the RFC 8200 §8.1 pseudo-header;
//   - as much of the invoking IPv6 packet (from its first IPv6 header to
//     p.End, without Ethernet padding) as fits so that the message is at
//     most MinMTU octets long.
//
// The invoking packet's bytes do not move: the new headers (48 octets) go
// into the headroom in front of the frame when off ≥ 48, and the frame is
// truncated at the end; with less headroom the kept part of the packet
// moves 48 octets towards the end, provided the buffer has room. The frame
// never grows beyond buf.
//
// It returns the new frame offset and length. Errors (buf unmodified):
// ErrFrameBounds, ErrLayout, ErrICMPSuppressed, ErrNoRoom. It does not
// allocate.
func BuildPacketTooBig(buf []byte, off, n int, p *Packet, mtu uint32, src [16]byte) (newOff, newLen int, err error) {
	f, plen, err := frameIPv6(buf, off, n, p)
	if err != nil {
		return off, n, err
	}
	l3 := p.L3
	if l3 < EthernetLen || p.End != l3+IPv6Len+plen {
		return off, n, ErrLayout
	}
	// RFC 4443 §2.4 (e): no error in answer to an unspecified or multicast
	// source (e.3 allows Packet Too Big for multicast destinations), nor to
	// an ICMPv6 error message.
	if f[l3+8] == 0xFF || isUnspecified(f[l3+8:l3+24]) {
		return off, n, ErrICMPSuppressed
	}
	if p.L4Proto == ProtoICMPv6 && p.L4 > l3 && p.L4 < p.End && f[p.L4] < 128 {
		return off, n, ErrICMPSuppressed
	}
	body := min(IPv6Len+plen, maxPTBBody)
	newLen = l3 + ptbOverhead + body
	var g []byte
	if off >= ptbOverhead {
		// The invoking packet stays where it is; the link header and the
		// new headers go in front of it.
		newOff = off - ptbOverhead
		g = buf[newOff : newOff+newLen]
		copy(g[:l3], f[:l3])
	} else {
		if off+newLen > len(buf) {
			return off, n, ErrNoRoom
		}
		newOff = off
		g = buf[off : off+newLen]
		copy(g[l3+ptbOverhead:], f[l3:l3+body]) // memmove towards the end
	}
	// Swap the Ethernet addresses.
	var mac [6]byte
	copy(mac[:], g[0:6])
	copy(g[0:6], g[6:12])
	copy(g[6:12], mac[:])

	ip := g[l3 : l3+IPv6Len]
	icmp := g[l3+IPv6Len:]
	inv := icmp[ICMPv6HeaderLen:] // the invoking packet, in place
	// The destination is the invoking packet's source: copy it before the
	// new header's source overwrites anything (they do not overlap: ip
	// ends where inv starts).
	copy(ip[24:40], inv[8:24])
	copy(ip[8:24], src[:])
	binary.BigEndian.PutUint32(ip[0:4], 6<<28)
	binary.BigEndian.PutUint16(ip[4:6], uint16(ICMPv6HeaderLen+body))
	ip[6] = ProtoICMPv6
	ip[7] = PTBHopLimit
	icmp[0] = ICMPv6TypePacketTooBig
	icmp[1] = 0
	icmp[2], icmp[3] = 0, 0
	binary.BigEndian.PutUint32(icmp[4:8], mtu)
	binary.BigEndian.PutUint16(icmp[2:4], ICMPv6Checksum(ip[8:24], ip[24:40], icmp[:ICMPv6HeaderLen+body]))
	return newOff, newLen, nil
}

func isUnspecified(a []byte) bool {
	return binary.BigEndian.Uint64(a[0:8])|binary.BigEndian.Uint64(a[8:16]) == 0
}

// ICMPv6Checksum returns the ICMPv6 checksum (RFC 4443 §2.3) of msg, the
// whole ICMPv6 message with its Checksum field zero, sent from src to dst
// (16 octets each): the one's complement of the one's complement sum over
// the RFC 8200 §8.1 pseudo-header (src, dst, 32-bit upper-layer length,
// three zero octets, Next Header 58) and msg. Written big-endian into the
// Checksum field, a receiver's sum over the same data is 0xFFFF.
func ICMPv6Checksum(src, dst, msg []byte) uint16 {
	s := sum32(0, src[:16])
	s = sum32(s, dst[:16])
	s += uint64(len(msg)) + ProtoICMPv6
	s = sum32(s, msg)
	return ^fold(s)
}

// sum32 adds b to the running sum s as big-endian 32-bit words (an odd tail
// padded with zeros). Since 2^16 ≡ 1 modulo 0xFFFF, folding the result
// gives the RFC 1071 one's complement sum of 16-bit words; a uint64 does not
// overflow for any b shorter than 2^32 words.
func sum32(s uint64, b []byte) uint64 {
	for len(b) >= 16 {
		s += uint64(binary.BigEndian.Uint32(b[0:4])) + uint64(binary.BigEndian.Uint32(b[4:8])) +
			uint64(binary.BigEndian.Uint32(b[8:12])) + uint64(binary.BigEndian.Uint32(b[12:16]))
		b = b[16:]
	}
	for len(b) >= 4 {
		s += uint64(binary.BigEndian.Uint32(b))
		b = b[4:]
	}
	var w [4]byte
	copy(w[:], b) // the last 0 to 3 octets, zero padded
	return s + uint64(binary.BigEndian.Uint32(w[:]))
}

// fold reduces a sum32 result to 16 bits with end-around carries.
func fold(s uint64) uint16 {
	s = s>>32 + s&0xFFFFFFFF
	s = s>>16 + s&0xFFFF
	s = s>>16 + s&0xFFFF
	s = s>>16 + s&0xFFFF
	return uint16(s)
}
