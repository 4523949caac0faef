package gen

import (
	"encoding/binary"
	"errors"

	"github.com/dexplane/dexplane/internal/payload"
)

// Parsed is what the sink learns from one frame. It holds no pointers.
type Parsed struct {
	// HeaderOff is the offset of the payload header in the frame.
	HeaderOff int
	// PayloadLen is the UDP payload length.
	PayloadLen int
	// HasDEX reports an IOAM DEX option (or, for the trace rows, a
	// Pre-allocated Trace) in a Hop-by-Hop header (outer or
	// inner); Encapsulated reports an IPv6-in-IPv6 packet.
	HasDEX, Encapsulated bool
	// Flow, Seq and Run are the payload header's fields.
	Flow, Seq, Run uint32
}

// Parse walks frame (Ethernet, at most one VLAN tag, IPv6, extension
// headers, one level of IPv6-in-IPv6, UDP) and checks the payload header.
// It does not check the pattern; see CheckPattern.
func Parse(frame []byte, r *Parsed) error {
	*r = Parsed{}
	if len(frame) < ethLen {
		return ErrTruncated
	}
	off := 12
	et := binary.BigEndian.Uint16(frame[off:])
	if et == etherTypeVLAN {
		if len(frame) < ethLen+4 {
			return ErrTruncated
		}
		off += 4
		et = binary.BigEndian.Uint16(frame[off:])
	}
	if et != etherTypeIPv6 {
		return ErrNotOurs
	}
	off += 2
	if len(frame) < off+ip6Len {
		return ErrTruncated
	}
	if frame[off]>>4 != 6 {
		return ErrNotOurs
	}
	nh := frame[off+6]
	off += ip6Len
	for hops := 0; ; hops++ {
		if hops > 8 {
			return ErrNotOurs
		}
		switch nh {
		case nhHopByHop, nhDestOpts, nhRouting:
			if len(frame) < off+8 {
				return ErrTruncated
			}
			n := (int(frame[off+1]) + 1) * 8
			if len(frame) < off+n {
				return ErrTruncated
			}
			if nh == nhHopByHop && hasDEXOption(frame[off:off+n]) {
				r.HasDEX = true
			}
			nh = frame[off]
			off += n
		case nhIPv6:
			if r.Encapsulated {
				return ErrNotOurs
			}
			if len(frame) < off+ip6Len {
				return ErrTruncated
			}
			r.Encapsulated = true
			nh = frame[off+6]
			off += ip6Len
		case nhUDP:
			if len(frame) < off+udpLen+HeaderLen {
				return ErrTruncated
			}
			ulen := int(binary.BigEndian.Uint16(frame[off+4:]))
			if binary.BigEndian.Uint16(frame[off+udpLen:]) != payload.Magic {
				return ErrNotOurs
			}
			if ulen < udpLen+HeaderLen || off+ulen > len(frame) {
				return ErrCorrupt
			}
			h, err := payload.Parse(frame[off+udpLen : off+ulen])
			switch {
			case err == payload.ErrMagic:
				return ErrNotOurs
			case err != nil:
				return ErrCorrupt
			}
			r.HeaderOff = off + udpLen
			r.PayloadLen = ulen - udpLen
			r.Flow, r.Seq, r.Run = h.Stream, h.Seq, h.Run
			return nil
		default:
			return ErrNotOurs
		}
	}
}

// Parse errors; the sink counts frames by reason.
var (
	// ErrNotOurs means the frame is not a generator packet (not IPv6/UDP,
	// no payload magic): ND, other traffic.
	ErrNotOurs = errors.New("not a generator frame")
	// ErrTruncated means a header runs past the end of the frame.
	ErrTruncated = errors.New("truncated frame")
	// ErrCorrupt means a generator frame whose payload header check, UDP
	// length or payload pattern does not match.
	ErrCorrupt = errors.New("corrupt payload")
)

// CheckPattern reports whether the payload after the header of a frame
// Parse accepted is the payload filler pattern (one memory compare).
func CheckPattern(frame []byte, r *Parsed) bool {
	return payload.FillerOK(frame[r.HeaderOff : r.HeaderOff+r.PayloadLen])
}

// hasDEXOption reports whether a Hop-by-Hop header carries an IOAM option
// of Option-Type DEX or Pre-allocated Trace. It walks the TLVs without validating padding rules.
func hasDEXOption(h []byte) bool {
	for i := 2; i < len(h); {
		t := h[i]
		if t == optPad1 {
			i++
			continue
		}
		if i+2 > len(h) {
			return false
		}
		l := int(h[i+1])
		// A Pre-allocated Trace (IOAM Option-Type 0) counts too: the
		// trace rows of the harness check its share like DEX's.
		if (t == optIOAM || t == optIOAMAlt) && l >= 2 && i+4 <= len(h) && (h[i+3] == ioamTypeDEX || h[i+3] == 0) {
			return true
		}
		i += 2 + l
	}
	return false
}
