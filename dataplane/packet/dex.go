package packet

import (
	"encoding/binary"
	"math/bits"
)

// DEXOptionLen returns the size in octets of a DEX IOAM option with the given
// Extension-Flags, counting its Option Type and Opt Data Len octets:
// 4 (option + IOAM header) + 8 (DEX header) + 4 per set flag bit.
func DEXOptionLen(extFlags uint8) int { return 12 + 4*bits.OnesCount8(extFlags) }

// InlineOverhead returns the octets [InsertDEXInline] adds to a packet: a
// whole Hop-by-Hop header holding PadN(2), the DEX option and end padding,
// 16 for no extension field, 24 for one or two. Callers compare
// len + InlineOverhead(ext) with the egress MTU before inserting.
func InlineOverhead(extFlags uint8) int { return align8(4 + DEXOptionLen(extFlags)) }

// EncapOverhead returns the octets [PushIP6IP6] adds: an outer IPv6 header
// plus the Hop-by-Hop header of InlineOverhead, 56 or 64 octets.
func EncapOverhead(extFlags uint8) int { return IPv6Len + InlineOverhead(extFlags) }

// MergeOverhead returns the octets [MergeDEXIntoHbH] would add to the packet
// p describes, given the frame bytes, or 0 with an error when the merge is
// not possible (no Hop-by-Hop header, IOAM already present, ...).
func MergeOverhead(frame []byte, p *Packet, extFlags uint8) (int, error) {
	if p.HbH == 0 {
		return 0, ErrNoHbH
	}
	if p.HbH < 0 || p.HbHLen < 8 || p.HbH > len(frame)-p.HbHLen {
		return 0, ErrLayout
	}
	lastEnd, nopt, err := scanHbH(frame[p.HbH : p.HbH+p.HbHLen])
	if err != nil {
		return 0, err
	}
	if nopt >= MaxHbHOptions {
		return 0, ErrTooManyOptions
	}
	return mergedLen(lastEnd, extFlags) - p.HbHLen, nil
}

// PutDEXOption encodes the canonical DEX IOAM option for d at the start of b:
// Option Type 0x31, Opt Data Len 10+4k, Reserved 0, IOAM Option-Type 4, the
// DEX header (Reserved octet 0, Trace-Type masked to 24 bits) and one 4-octet
// field per set Extension-Flags bit in bit order: Flow ID, Sequence Number,
// then zeros for unassigned bits. It returns DEXOptionLen(d.ExtFlags), or 0
// without writing when b is shorter than that.
func PutDEXOption(b []byte, d *DEX) int {
	n := DEXOptionLen(d.ExtFlags)
	if len(b) < n {
		return 0
	}
	b = b[:n]
	b[0] = OptIOAM
	b[1] = uint8(n - 2)
	b[2] = 0
	b[3] = IOAMTypeDirectExporting
	binary.BigEndian.PutUint16(b[4:], d.Namespace)
	b[6] = d.Flags
	b[7] = d.ExtFlags
	binary.BigEndian.PutUint32(b[8:], (d.TraceType&0xFFFFFF)<<8)
	putDEXFields(b[12:], d)
	return n
}

// putDEXFields writes the extension fields of the DEX option d into b,
// the option's octets after its DEX header (4 per set Extension-Flags bit):
// Flow ID, Sequence Number, then zeros for the unassigned bits 2-7.
func putDEXFields(b []byte, d *DEX) {
	f := 0
	if d.ExtFlags&ExtFlagFlowID != 0 {
		binary.BigEndian.PutUint32(b[f:], d.FlowID)
		f += 4
	}
	if d.ExtFlags&ExtFlagSeq != 0 {
		binary.BigEndian.PutUint32(b[f:], d.Seq)
		f += 4
	}
	clear(b[f:])
}

// DecodeDEXOption decodes a DEX IOAM option starting at its Option Type octet,
// with the same checks as Parse (alignment aside). It is meant for callers
// holding an option outside a frame; Parse already fills Packet.DEX.
func DecodeDEXOption(opt []byte) (DEX, error) {
	dl, err := checkIOAMOption(opt, 2, ErrIOAMShort)
	if err != nil {
		return DEX{}, err
	}
	switch {
	case opt[3] != IOAMTypeDirectExporting:
		return DEX{}, ErrLayout
	case dl < 10:
		return DEX{}, ErrDEXShort
	case dl < 10+4*bits.OnesCount8(opt[7]):
		return DEX{}, ErrDEXExtTruncated
	}
	return decodeDEX(opt), nil
}

// DecodePTOOption decodes a Pre-allocated Trace IOAM option starting at its
// Option Type octet. PTO.Data is the offset of the node data area within opt
// (12), PTO.DataLen its length.
func DecodePTOOption(opt []byte) (PTO, error) {
	if len(opt) < 4 || opt[3] != IOAMTypePreallocTrace {
		return PTO{}, ErrLayout
	}
	if _, err := checkIOAMOption(opt, 10, ErrPTOShort); err != nil {
		return PTO{}, err
	}
	return decodePTO(opt, 0), nil
}

// checkIOAMOption makes the checks DecodeDEXOption and DecodePTOOption share
// on an IOAM option opt (Option Type octet first), in this order: an IOAM
// Option Type (0x31 or 0x11) with its Opt Data Len octet present, else
// ErrLayout; the option's 2 + Opt Data Len octets within opt, else
// ErrOptOverrun; an Opt Data Len of at least minLen, else short. It returns
// the Opt Data Len. The IOAM Option-Type octet (opt[3]) is the caller's to
// check: it lies inside the option only once the length checks have passed.
func checkIOAMOption(opt []byte, minLen int, short error) (int, error) {
	if len(opt) < 2 || opt[0] != OptIOAM && opt[0] != OptIOAMAlt {
		return 0, ErrLayout
	}
	dl := int(opt[1])
	switch {
	case dl+2 > len(opt):
		return 0, ErrOptOverrun
	case dl < minLen:
		return 0, short
	}
	return dl, nil
}

// PutPad writes canonical padding of n octets at the start of b, as Linux
// does: nothing for 0, Pad1 for 1, PadN otherwise. n must be at most 257 and
// b at least n long; PutPad writes nothing and returns false otherwise.
func PutPad(b []byte, n int) bool {
	if n < 0 || n > 257 || len(b) < n {
		return false
	}
	switch n {
	case 0:
	case 1:
		b[0] = OptPad1
	default:
		b[0] = OptPadN
		b[1] = uint8(n - 2)
		clear(b[2:n])
	}
	return true
}

// PutPTO encodes the 8-octet Pre-allocated Trace header of t at the start of
// b (t.Data and t.DataLen are ignored) and returns 8, or 0 if b is short.
// The data plane builds whole trace options with InsertIOAMInline and
// PushIP6IP6IOAM (pto.go).
func PutPTO(b []byte, t *PTO) int {
	if len(b) < 8 {
		return 0
	}
	binary.BigEndian.PutUint16(b, t.Namespace)
	binary.BigEndian.PutUint16(b[2:], uint16(t.NodeLen&0x1F)<<11|uint16(t.Flags&0xF)<<7|uint16(t.RemLen&0x7F))
	binary.BigEndian.PutUint32(b[4:], (t.TraceType&0xFFFFFF)<<8)
	return 8
}

func align8(n int) int { return (n + 7) &^ 7 }

// mergedLen is the Hop-by-Hop length after appending a DEX option to a
// header whose last non-padding option ends at Hop-by-Hop offset lastEnd.
func mergedLen(lastEnd int, extFlags uint8) int {
	return align8(align4(lastEnd) + DEXOptionLen(extFlags))
}

func align4(n int) int { return (n + 3) &^ 3 }
