package packet

import (
	"encoding/binary"
	"math/bits"
)

// Parse parses an Ethernet frame (with up to MaxVLANTags VLAN tags, see
// [IsVLANEtherType]) carrying IPv6 into p, validating the Hop-by-Hop header
// the way the Linux receive path does. p is overwritten entirely. It does
// not allocate and never panics; frame is only read.
//
// Errors are the sentinels declared in this package, returned as is; after
// an error p.ErrOff and p.ErrVal locate the offending field and the other
// fields of p are only partially filled. ErrNotIPv6 means the frame is well
// formed but not IPv6 (including a frame with more than MaxVLANTags tags).
func Parse(frame []byte, p *Packet) error {
	*p = Packet{}
	if len(frame) >= EthernetLen && binary.BigEndian.Uint16(frame[12:]) == EtherTypeIPv6 {
		return parseIPv6(frame, EthernetLen, p) // untagged: no call to ParseEthernet
	}
	l3, tci, vlan, err := ParseEthernet(frame)
	if err != nil {
		p.ErrOff, p.ErrVal = max(l3-2, 0), int(tci)
		return err
	}
	p.VLAN, p.VLANTCI, p.VLANTags = vlan, tci, uint8((l3-EthernetLen)/VLANTagLen)
	return parseIPv6(frame, l3, p)
}

// IsVLANEtherType reports whether et is a VLAN tag protocol identifier the
// data plane looks through: 0x8100 (802.1Q), 0x88A8 (802.1ad S-tag) or
// 0x9100 (pre-standard Q-in-Q). steering/steer.c uses the same set and the same
// limit of MaxVLANTags tags; keep them in step.
func IsVLANEtherType(et uint16) bool {
	return et == EtherTypeVLAN || et == EtherTypeQinQ || et == EtherTypeQinQ9100
}

// ParseEthernet reads the Ethernet header of frame with up to MaxVLANTags
// VLAN tags and returns the offset of the IPv6 header (14, 18 or 22) and
// the outermost tag's TCI when vlan is true. Tags are kept in the frame
// (editors move them with the Ethernet header). Errors: ErrShortFrame,
// ErrShortVLAN, ErrNotIPv6 (then tci holds the EtherType found, and l3 the
// offset after it; a third tag is ErrNotIPv6 with its TPID in tci).
func ParseEthernet(frame []byte) (l3 int, tci uint16, vlan bool, err error) {
	if len(frame) < EthernetLen {
		return 0, uint16(len(frame)), false, ErrShortFrame
	}
	l3 = EthernetLen
	et := binary.BigEndian.Uint16(frame[12:14])
	for i := 0; i < MaxVLANTags && IsVLANEtherType(et); i++ {
		if len(frame) < l3+VLANTagLen {
			return l3, uint16(len(frame)), false, ErrShortVLAN
		}
		if !vlan {
			tci = binary.BigEndian.Uint16(frame[l3:])
		}
		et = binary.BigEndian.Uint16(frame[l3+2:])
		l3 += VLANTagLen
		vlan = true
	}
	if et != EtherTypeIPv6 {
		return l3, et, vlan, ErrNotIPv6
	}
	return l3, tci, vlan, nil
}

// ParseIPv6 is Parse for a buffer whose IPv6 header starts at offset l3 with
// no Ethernet header in front (raw IPv6 captures, cooked captures after their
// link header). p.L3 is set to l3; p.VLAN is false.
func ParseIPv6(b []byte, l3 int, p *Packet) error {
	*p = Packet{}
	if l3 < 0 || l3 > len(b) {
		p.ErrVal = l3
		return ErrShortIPv6
	}
	return parseIPv6(b, l3, p)
}

// parseIPv6 does the work of ParseIPv6 on a zeroed (apart from link fields) p.
func parseIPv6(b []byte, l3 int, p *Packet) error {
	p.L3 = l3
	plen, err := checkIPv6Header(b, l3, len(b), p, ErrShortIPv6, ErrIPVersion, ErrPayloadLength)
	if err != nil {
		return err
	}
	end := l3 + IPv6Len + plen
	p.PayloadLen = plen
	p.End = end
	nh := b[l3+6]
	off := l3 + IPv6Len
	if nh == ProtoHopByHop {
		if end-off < 2 {
			p.ErrOff, p.ErrVal = off, end-off
			return ErrHbHTruncated
		}
		hl := (int(b[off+1]) + 1) << 3
		if hl > end-off {
			p.ErrOff, p.ErrVal = off+1, int(b[off+1])
			return ErrHbHTruncated
		}
		p.HbH, p.HbHLen = off, hl
		if err := parseHbH(b[off:off+hl], off, p); err != nil {
			return err
		}
		nh = b[off]
		off += hl
	}
	p.NextHeader = nh
	if p.NumIOAM > 0 {
		p.Encap = EncapInline
	}

	if isTransport(nh) { // the common case: no walk to make
		parseL4(b, nh, off, end, p)
		return nil
	}
	// Skip further outer extension headers up to an inner IPv6 header or
	// the upper layer.
	nh, off, err = skipExtHeaders(b, nh, off, end, false, p)
	if err != nil {
		return err
	}
	if nh != ProtoIPv6 {
		parseL4(b, nh, off, end, p)
		return nil
	}

	// IPv6-in-IPv6: locate and check the inner header, then its L4.
	p.Encap = EncapIP6IP6
	iplen, err := checkIPv6Header(b, off, end, p, ErrInnerShort, ErrInnerVersion, ErrInnerLength)
	if err != nil {
		return err
	}
	iend := off + IPv6Len + iplen
	p.Inner = off
	if nh := b[off+6]; isTransport(nh) {
		parseL4(b, nh, off+IPv6Len, iend, p)
		return nil
	}
	nh, ioff, err := skipExtHeaders(b, b[off+6], off+IPv6Len, iend, true, p)
	if err != nil {
		return err
	}
	parseL4(b, nh, ioff, iend, p)
	return nil
}

// checkIPv6Header checks the IPv6 header at offset off of b for a packet
// that must end by limit (len(b) for the outer header, the outer packet's
// end for the inner header of IPv6-in-IPv6), in this order: 40 octets
// present, else errShort; version 6, else errVersion; off + 40 + Payload
// Length within limit, else errLength. On error it sets p.ErrOff and
// p.ErrVal; otherwise it returns the Payload Length. The caller passes the
// sentinels of the header it checks (ErrShortIPv6, ErrIPVersion,
// ErrPayloadLength for the outer one). Small enough to inline (keep it so:
// Parse runs it on every packet).
func checkIPv6Header(b []byte, off, limit int, p *Packet, errShort, errVersion, errLength error) (int, error) {
	if limit-off < IPv6Len {
		p.ErrOff, p.ErrVal = off, limit-off
		return 0, errShort
	}
	if b[off]>>4 != 6 {
		p.ErrOff, p.ErrVal = off, int(b[off]>>4)
		return 0, errVersion
	}
	plen := int(binary.BigEndian.Uint16(b[off+4:]))
	if plen > limit-off-IPv6Len {
		p.ErrOff, p.ErrVal = off+4, plen
		return 0, errLength
	}
	return plen, nil
}

// isTransport reports the upper-layer protocols most packets carry right
// after their IPv6 or Hop-by-Hop header (UDP, TCP, ICMPv6): none is an
// extension header, so skipExtHeaders would return at once, and Parse
// saves the call.
func isTransport(nh uint8) bool {
	return nh == ProtoUDP || nh == ProtoTCP || nh == ProtoICMPv6
}

// parseHbH walks the TLVs of the Hop-by-Hop header h (whole header, h[0] is
// its Next Header) located at frame offset base, with the checks of Linux
// ip6_parse_tlv and ipv6_hop_ioam.
func parseHbH(h []byte, base int, p *Packet) error {
	pad := 0  // consecutive padding octets
	nopt := 0 // non-padding options
	for o := 2; o < len(h); {
		t := h[o]
		if t == OptPad1 {
			pad++
			if pad > 7 {
				p.ErrOff, p.ErrVal = base+o, pad
				return ErrPadTooLong
			}
			o++
			continue
		}
		if len(h)-o < 2 {
			p.ErrOff, p.ErrVal = base+o, int(t)
			return ErrOptTruncated
		}
		ol := int(h[o+1]) + 2
		if ol > len(h)-o {
			p.ErrOff, p.ErrVal = base+o+1, int(h[o+1])
			return ErrOptOverrun
		}
		if t == OptPadN {
			pad += ol
			if pad > 7 {
				p.ErrOff, p.ErrVal = base+o, pad
				return ErrPadTooLong
			}
			for i := o + 2; i < o+ol; i++ {
				if h[i] != 0 {
					p.ErrOff, p.ErrVal = base+i, int(h[i])
					return ErrPadNNonZero
				}
			}
			o += ol
			continue
		}
		pad = 0
		nopt++
		if nopt > MaxHbHOptions {
			p.ErrOff, p.ErrVal = base+o, nopt
			return ErrTooManyOptions
		}
		switch t {
		case OptIOAM, OptIOAMAlt:
			if err := parseIOAM(h[o:o+ol], base+o, o, p); err != nil {
				return err
			}
		case optRouterAlert:
			// RFC 2711: a 16-bit value; Linux ipv6_hop_ra drops any other
			// length.
			if ol != 2+2 {
				p.ErrOff, p.ErrVal = base+o+1, ol-2
				return ErrRouterAlert
			}
		case optJumbo:
			return jumboError(h[o:o+ol], base+o, o, p)
		case optCALIPSO:
			if err := checkCALIPSO(h[o:o+ol], base+o, p); err != nil {
				return err
			}
		default:
			if t>>6 != 0 {
				p.ErrOff, p.ErrVal = base+o, int(t)
				return ErrOptionDiscard
			}
		}
		o += ol
	}
	p.hbhOpts = uint8(nopt) // at most MaxHbHOptions
	return nil
}

// jumboError reports why the Jumbo Payload option opt (Option Type octet
// first) at frame offset at and Hop-by-Hop offset hoff is refused, with the
// checks of Linux ipv6_hop_jumbo in its order: Opt Data Len 4, alignment
// 4n+2, a length above 65535, then an IPv6 Payload Length of 0. Options are
// only walked when the Payload Length is not 0 (a jumbogram fails earlier
// with ErrHbHTruncated), so the last check always fails: every Jumbo
// Payload option that reaches here is an error.
func jumboError(opt []byte, at, hoff int, p *Packet) error {
	switch {
	case opt[1] != 4:
		p.ErrOff, p.ErrVal = at+1, int(opt[1])
	case hoff&3 != 2:
		p.ErrOff, p.ErrVal = at, hoff
	case binary.BigEndian.Uint32(opt[2:]) <= 0xFFFF:
		p.ErrOff, p.ErrVal = at+2, int(binary.BigEndian.Uint32(opt[2:]))
	default:
		p.ErrOff, p.ErrVal = p.L3+4, p.PayloadLen
	}
	return ErrJumbo
}

// calipsoMinLen is the smallest CALIPSO Opt Data Len (RFC 5570 §5.1): DOI
// (4 octets), Compartment Length, Sensitivity Level and the 2-octet
// checksum.
const calipsoMinLen = 8

// checkCALIPSO checks the CALIPSO option opt (Option Type octet first) at
// frame offset at as Linux ipv6_hop_calipso and calipso_validate do: Opt
// Data Len at least 8, a compartment bitmap (Compartment Length, in 4-octet
// units) that fits in it, and the checksum. The DOI is not looked up (see
// ErrCALIPSO).
func checkCALIPSO(opt []byte, at int, p *Packet) error {
	dl := int(opt[1])
	if dl < calipsoMinLen {
		p.ErrOff, p.ErrVal = at+1, dl
		return ErrCALIPSO
	}
	if c := int(opt[6]); calipsoMinLen+4*c > dl {
		p.ErrOff, p.ErrVal = at+6, c
		return ErrCALIPSO
	}
	// CRC-16/CCITT, reflected, initial value 0xFFFF, complemented, over
	// the whole option with the checksum field counted as zero; the field
	// holds it least significant octet first.
	crc := crc16(0xFFFF, opt[:8])
	crc = crc16(crc, calipsoZero[:])
	crc = ^crc16(crc, opt[10:])
	if got := uint16(opt[8]) | uint16(opt[9])<<8; got != crc {
		p.ErrOff, p.ErrVal = at+8, int(got)
		return ErrCALIPSO
	}
	return nil
}

var calipsoZero [2]byte

// crc16Table drives crc16: the reflected CRC-16/CCITT polynomial
// (x^16 + x^12 + x^5 + 1, 0x8408 bit-reversed), one entry per octet value.
var crc16Table = func() (t [256]uint16) {
	for i := range t {
		c := uint16(i)
		for range 8 {
			if c&1 != 0 {
				c = c>>1 ^ 0x8408
			} else {
				c >>= 1
			}
		}
		t[i] = c
	}
	return t
}()

// crc16 continues the reflected CRC-16/CCITT crc over b.
func crc16(crc uint16, b []byte) uint16 {
	for _, c := range b {
		crc = crc>>8 ^ crc16Table[uint8(crc)^c]
	}
	return crc
}

// parseIOAM checks one IOAM option opt (Option Type octet first) at frame
// offset at and Hop-by-Hop offset hoff, and records it in p.
func parseIOAM(opt []byte, at, hoff int, p *Packet) error {
	if hoff&3 != 0 {
		p.ErrOff, p.ErrVal = at, hoff
		return ErrIOAMMisaligned
	}
	dl := int(opt[1])
	if dl < 2 {
		p.ErrOff, p.ErrVal = at+1, dl
		return ErrIOAMShort
	}
	typ := opt[3]
	switch typ {
	case IOAMTypeDirectExporting:
		if dl < 2+8 {
			p.ErrOff, p.ErrVal = at+1, dl
			return ErrDEXShort
		}
		ext := opt[7]
		if dl < 2+8+4*bits.OnesCount8(ext) {
			p.ErrOff, p.ErrVal = at+1, dl
			return ErrDEXExtTruncated
		}
		if !p.HasDEX {
			p.HasDEX = true
			p.DEXOpt = p.NumIOAM
			putDEX(&p.DEX, opt) // p.DEX is zero: Parse cleared p
		}
	case IOAMTypePreallocTrace:
		if dl < 2+8 {
			p.ErrOff, p.ErrVal = at+1, dl
			return ErrPTOShort
		}
		// Linux ipv6_hop_ioam: RemainingLen must lie inside the option and
		// NodeLen must match the Trace-Type (ioam6_trace_compute_nodelen).
		w := binary.BigEndian.Uint16(opt[6:8])
		if rem := int(w & 0x7F); 2+8+4*rem > dl {
			p.ErrOff, p.ErrVal = at+7, rem
			return ErrPTORemLen
		}
		if nl := int(w >> 11); nl != PTONodeLen(binary.BigEndian.Uint32(opt[8:12])>>8) {
			p.ErrOff, p.ErrVal = at+6, nl
			return ErrPTONodeLen
		}
		if !p.HasPTO {
			p.HasPTO = true
			putPTO(&p.PTO, opt, at)
		}
	}
	// At most MaxHbHOptions non-padding options pass the count check above,
	// so NumIOAM never exceeds the array.
	p.IOAM[p.NumIOAM] = IOAMOption{Off: at, OptType: opt[0], DataLen: opt[1], IOAMType: typ}
	p.NumIOAM++
	return nil
}

// decodeDEX reads the DEX header and its Flow ID / Sequence Number from a
// DEX IOAM option whose length has been checked (Option Type octet first).
func decodeDEX(opt []byte) DEX {
	var d DEX
	putDEX(&d, opt)
	return d
}

// putDEX is decodeDEX writing into d, which must hold zeros in the fields
// the option lacks. Parse uses it to fill Packet.DEX field by field:
// building the value apart and copying it in would make the copy's wide
// loads wait for the narrow stores that built it (a store-forwarding
// stall, a large part of a DEX packet's parse).
func putDEX(d *DEX, opt []byte) {
	d.Namespace = binary.BigEndian.Uint16(opt[4:6])
	d.Flags = opt[6]
	d.ExtFlags = opt[7]
	d.TraceType = binary.BigEndian.Uint32(opt[8:12]) >> 8
	f := 12
	if d.ExtFlags&ExtFlagFlowID != 0 {
		d.FlowID = binary.BigEndian.Uint32(opt[f:])
		f += 4
	}
	if d.ExtFlags&ExtFlagSeq != 0 {
		d.Seq = binary.BigEndian.Uint32(opt[f:])
	}
}

// decodePTO reads the Pre-allocated Trace header of a checked option (Option
// Type octet first) located at frame offset at.
func decodePTO(opt []byte, at int) PTO {
	var t PTO
	putPTO(&t, opt, at)
	return t
}

// putPTO is decodePTO writing into t field by field (see putDEX).
func putPTO(t *PTO, opt []byte, at int) {
	w := binary.BigEndian.Uint16(opt[6:8])
	t.Namespace = binary.BigEndian.Uint16(opt[4:6])
	t.NodeLen = uint8(w >> 11)
	t.Flags = uint8(w>>7) & 0xF
	t.RemLen = uint8(w) & 0x7F
	t.TraceType = binary.BigEndian.Uint32(opt[8:12]) >> 8
	t.Data = at + 12
	t.DataLen = int(opt[1]) - 10
}

// skipExtHeaders walks IPv6 extension headers starting with protocol nh at
// offset off, bounded by end, and returns the first protocol that is not an
// extension header (or ProtoFragment for a non-first fragment) and its
// offset. Contents are not validated, only lengths. A Hop-by-Hop header is
// allowed only as the first header of the chain and only when hbhFirst.
// In the outer chain (hbhFirst false) the first Destination Options header
// holding IOAM options is recorded in p.DstOpts.
func skipExtHeaders(b []byte, nh uint8, off, end int, hbhFirst bool, p *Packet) (uint8, int, error) {
	for i := range maxExtHeaders {
		var hl int
		switch nh {
		case ProtoHopByHop:
			if i > 0 || !hbhFirst {
				p.ErrOff, p.ErrVal = off, int(nh)
				return nh, off, ErrHbHNotFirst
			}
			fallthrough
		case ProtoRouting, ProtoDstOpts, 135 /* Mobility */, 139 /* HIP */, 140 /* Shim6 */ :
			if end-off < 2 {
				p.ErrOff, p.ErrVal = off, end-off
				return nh, off, ErrExtTruncated
			}
			hl = (int(b[off+1]) + 1) << 3
			if nh == ProtoDstOpts && !hbhFirst && p.DstOpts == 0 && hl <= end-off {
				if k := countDEXOpts(b[off : off+hl]); k > 0 {
					p.DstOpts, p.DstOptsDEX = off, uint8(k)
				}
			}
		case ProtoAH:
			if end-off < 2 {
				p.ErrOff, p.ErrVal = off, end-off
				return nh, off, ErrExtTruncated
			}
			hl = (int(b[off+1]) + 2) << 2
		case ProtoFragment:
			hl = 8
			if end-off >= hl && binary.BigEndian.Uint16(b[off+2:])&0xFFF8 != 0 {
				// Non-first fragment: no upper-layer header here.
				return nh, off, nil
			}
		default:
			return nh, off, nil
		}
		if hl > end-off {
			p.ErrOff, p.ErrVal = off, hl
			return nh, off, ErrExtTruncated
		}
		nh = b[off]
		off += hl
	}
	return nh, off, nil
}

// countDEXOpts returns how many IOAM DEX options (Option Type 0x31 or
// 0x11, IOAM Option-Type 4) the options header h (whole header) holds,
// walking only its structure; a header whose options overrun it counts as
// none (it carries no well-formed option). Other IOAM options (a
// Pre-allocated Trace) do not count: no node reads IOAM there (Linux
// neither), only DEX must not leave the domain or be doubled. The count
// saturates at 255.
func countDEXOpts(h []byte) int {
	_, _, _, n, err := walkHbH(h)
	if err != nil {
		return 0
	}
	return min(n, 255)
}

// parseL4 records the upper-layer protocol and, where the protocol has
// them, the ports.
func parseL4(b []byte, nh uint8, off, end int, p *Packet) {
	p.L4Proto, p.L4 = nh, off
	switch nh {
	case ProtoUDP, ProtoTCP, ProtoSCTP, ProtoUDPLite:
		if end-off >= 4 {
			p.HasPorts = true
			p.SrcPort = binary.BigEndian.Uint16(b[off:])
			p.DstPort = binary.BigEndian.Uint16(b[off+2:])
		}
	}
}
