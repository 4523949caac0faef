// Package checksum finishes the transport checksums of frames a virtual
// device handed over unfinished.
//
// A veth, tap, virtio or container interface with TX checksum offload (the
// kernel default) passes a locally sent TCP, UDP or ICMPv6 packet on as
// CHECKSUM_PARTIAL: its checksum field holds only the folded sum of the
// IPv6 pseudo-header (not complemented) and the device that finally
// transmits it is expected to add the rest. A frame copied into userspace
// through AF_XDP loses that promise: transmitted again from an AF_XDP socket
// it leaves with the partial sum and the receiver drops it. Complete spots
// such frames cheaply (the field equals the folded pseudo-header sum, a
// comparison of two 16-bit values after summing 36 octets) and writes the
// full checksum in place.
//
// The L4 header is found behind up to two VLAN tags (0x8100, 0x88a8,
// 0x9100), behind Hop-by-Hop (with or without IOAM DEX), Destination
// Options and Routing headers, and behind up to three IPv6-in-IPv6 headers
// (the pseudo-header is the innermost one's). Fragments and packets with a
// Routing header with segments left are not touched (the pseudo-header
// destination would be the final one, which a partial sum never has: the
// kernel computes it in full for those).
//
// A frame whose field equals the pseudo-header sum by chance but whose
// checksum is already right (one in 65536 correct frames) is verified and
// left alone. Complete allocates nothing and is safe for concurrent use on
// distinct buffers.
package checksum

import "encoding/binary"

// Result says what Complete did to a frame.
type Result uint8

const (
	// NotApplicable: not IPv6, no TCP/UDP/ICMPv6 header found, a fragment,
	// or malformed; left alone.
	NotApplicable Result = iota
	// AlreadyComplete: the checksum field was not the pseudo-header sum; left alone.
	AlreadyComplete
	// Completed: the field held only the pseudo-header sum and now holds
	// the full checksum.
	Completed
	// Coincidence: the field equals the pseudo-header sum but the checksum
	// verifies; left alone.
	Coincidence
)

func (r Result) String() string {
	switch r {
	case NotApplicable:
		return "not_applicable"
	case AlreadyComplete:
		return "already_complete"
	case Completed:
		return "completed"
	case Coincidence:
		return "coincidence"
	}
	return "Result(?)"
}

// EtherType values of the tags Complete skips and of IPv6.
const (
	etherIPv6   = 0x86dd
	etherDot1Q  = 0x8100
	etherDot1AD = 0x88a8
	etherQinQ   = 0x9100
	maxTags     = 2
	maxTunnels  = 3 // IPv6 headers in a row (outer + 2 tunnel levels)
	maxExtHdrs  = 8
	ipv6HdrLen  = 40
	protoHbH    = 0
	protoTCP    = 6
	protoUDP    = 17
	protoIPv6   = 41
	protoRoute  = 43
	protoFrag   = 44
	protoICMPv6 = 58
	protoDstOpt = 60
)

// Complete finds the transport header of the Ethernet frame b and, when its
// checksum field holds only the folded pseudo-header sum, writes the full
// checksum there. See the package documentation.
func Complete(b []byte) Result { return walk(b, true) }

// Check is Complete without the write: it reports Completed for a frame
// Complete would complete, and leaves b unchanged.
func Check(b []byte) Result { return walk(b, false) }

func walk(b []byte, fix bool) Result {
	off := 12
	if len(b) < off+2 {
		return NotApplicable
	}
	et := binary.BigEndian.Uint16(b[off:])
	off += 2
	for i := 0; i < maxTags && (et == etherDot1Q || et == etherDot1AD || et == etherQinQ); i++ {
		if len(b) < off+4 {
			return NotApplicable
		}
		et = binary.BigEndian.Uint16(b[off+2:])
		off += 4
	}
	if et != etherIPv6 {
		return NotApplicable
	}
	return completeIPv6(b, off, fix)
}

// completeIPv6 handles the IPv6 packet starting at b[ip:].
func completeIPv6(b []byte, ip int, fix bool) Result {
	for t := 0; t < maxTunnels; t++ {
		if len(b) < ip+ipv6HdrLen || b[ip]>>4 != 6 {
			return NotApplicable
		}
		end := ip + ipv6HdrLen + int(binary.BigEndian.Uint16(b[ip+4:]))
		if end > len(b) {
			return NotApplicable
		}
		nh := b[ip+6]
		off := ip + ipv6HdrLen
		for e := 0; ; e++ {
			if e == maxExtHdrs {
				return NotApplicable
			}
			switch nh {
			case protoHbH, protoDstOpt, protoRoute:
				if end < off+8 {
					return NotApplicable
				}
				if nh == protoRoute && b[off+3] != 0 {
					return NotApplicable // segments left: pseudo-header uses the final destination
				}
				nh = b[off]
				off += (int(b[off+1]) + 1) * 8
				continue
			case protoFrag:
				return NotApplicable
			}
			break
		}
		if off > end {
			return NotApplicable
		}
		switch nh {
		case protoIPv6:
			ip = off
			continue
		case protoTCP:
			return finish(b, ip, off, end, nh, 16, 20, fix)
		case protoUDP:
			return finish(b, ip, off, end, nh, 6, 8, fix)
		case protoICMPv6:
			return finish(b, ip, off, end, nh, 2, 4, fix)
		}
		return NotApplicable
	}
	return NotApplicable
}

// finish checks and completes the checksum of the L4 segment b[l4:end]
// (protocol nh, checksum at l4+at, header at least min octets) of the
// IPv6 header at b[ip:].
func finish(b []byte, ip, l4, end int, nh uint8, at, min int, fix bool) Result {
	if end-l4 < min {
		return NotApplicable
	}
	field := binary.BigEndian.Uint16(b[l4+at:])
	// Pseudo-header: source, destination, upper-layer length, next header.
	s := sum(b[ip+8:ip+40], 0)
	n := uint32(end - l4)
	s += uint64(n>>16) + uint64(n&0xffff) + uint64(nh)
	pseudo := fold(s)
	if field != pseudo {
		return AlreadyComplete
	}
	// The field holds the pseudo-header sum: sum the segment with it.
	d := fold(sum(b[l4:end], 0))
	if fold(uint64(d)+uint64(pseudo)) == 0xffff {
		return Coincidence
	}
	if !fix {
		return Completed
	}
	c := ^d
	if c == 0 && nh == protoUDP {
		c = 0xffff // RFC 8200 §8.1: a zero UDP checksum is sent as all ones
	}
	binary.BigEndian.PutUint16(b[l4+at:], c)
	return Completed
}

// sum adds b as big-endian 16-bit words (an odd last octet padded with
// zero) to s, without folding; it does not overflow for any b a frame can
// hold.
func sum(b []byte, s uint64) uint64 {
	for len(b) >= 32 {
		s += uint64(binary.BigEndian.Uint32(b)) + uint64(binary.BigEndian.Uint32(b[4:])) +
			uint64(binary.BigEndian.Uint32(b[8:])) + uint64(binary.BigEndian.Uint32(b[12:])) +
			uint64(binary.BigEndian.Uint32(b[16:])) + uint64(binary.BigEndian.Uint32(b[20:])) +
			uint64(binary.BigEndian.Uint32(b[24:])) + uint64(binary.BigEndian.Uint32(b[28:]))
		b = b[32:]
	}
	for len(b) >= 4 {
		s += uint64(binary.BigEndian.Uint32(b))
		b = b[4:]
	}
	if len(b) >= 2 {
		s += uint64(binary.BigEndian.Uint16(b))
		b = b[2:]
	}
	if len(b) == 1 {
		s += uint64(b[0]) << 8
	}
	return s
}

// fold folds a ones' complement sum to 16 bits (not complemented).
func fold(s uint64) uint16 {
	s = (s >> 32) + (s & 0xffffffff)
	s = (s >> 32) + (s & 0xffffffff)
	s = (s >> 16) + (s & 0xffff)
	s = (s >> 16) + (s & 0xffff)
	s = (s >> 16) + (s & 0xffff)
	return uint16(s)
}
