package packet

import (
	"encoding/binary"
	"net/netip"
)

// Header sizes in octets.
const (
	EthernetLen = 14 // destination, source, EtherType
	VLANTagLen  = 4  // TPID + TCI of one VLAN tag
	IPv6Len     = 40 // fixed IPv6 header
)

// EtherTypes understood by [Parse].
const (
	EtherTypeIPv6 = 0x86DD
	EtherTypeVLAN = 0x8100 // 802.1Q C-tag
	// EtherTypeQinQ is the 802.1ad S-tag TPID.
	EtherTypeQinQ = 0x88A8
	// EtherTypeQinQ9100 is the pre-standard Q-in-Q TPID some switches use.
	EtherTypeQinQ9100 = 0x9100
	// MaxVLANTags is how many VLAN tags (any of the three TPIDs, in any
	// order) [Parse] and steering/steer.c look through; a frame with more is
	// not IPv6 to either (it crosses untouched, as a kernel without VLAN
	// devices would not see IPv6 in it either).
	MaxVLANTags = 2
)

// IPv6 Next Header values used by this package (IANA "Assigned Internet
// Protocol Numbers").
const (
	ProtoHopByHop = 0
	ProtoTCP      = 6
	ProtoUDP      = 17
	ProtoIPv6     = 41 // IPv6-in-IPv6 (RFC 2473)
	ProtoRouting  = 43
	ProtoFragment = 44
	ProtoAH       = 51
	ProtoICMPv6   = 58
	ProtoNoNext   = 59
	ProtoDstOpts  = 60
	ProtoSCTP     = 132
	ProtoUDPLite  = 136
)

// IPv6 Hop-by-Hop option types.
const (
	OptPad1 = 0x00
	OptPadN = 0x01
	// OptIOAM is the IOAM option type Linux and Wireshark use (RFC 9486,
	// "may change en route"). Encoders always emit it.
	OptIOAM = 0x31
	// OptIOAMAlt is the second IANA code point for IOAM (0x11, "does not
	// change en route"). Parse accepts it and validates it like OptIOAM;
	// Linux treats it as an unknown skippable option.
	OptIOAMAlt = 0x11

	optRouterAlert = 0x05
	optCALIPSO     = 0x07
	optJumbo       = 0xC2
)

// IOAM Option-Type values (IANA "IOAM Option-Type" registry).
const (
	IOAMTypePreallocTrace   = 0
	IOAMTypeIncrementTrace  = 1
	IOAMTypeProofOfTransit  = 2
	IOAMTypeEdgeToEdge      = 3
	IOAMTypeDirectExporting = 4
)

// DEX Extension-Flags (RFC 9326 §3.2; IETF bit 0 is the MSB).
const (
	ExtFlagFlowID = 0x80 // bit 0: a 32-bit Flow ID follows the DEX header
	ExtFlagSeq    = 0x40 // bit 1: a 32-bit Sequence Number follows
)

// Limits.
const (
	// MaxHbHOptions is the number of non-padding Hop-by-Hop options Linux
	// accepts by default (net.ipv6.max_hbh_opts_number).
	MaxHbHOptions = 8
	// MaxIOAMOptions is how many IOAM options a Packet records; since every
	// IOAM option is a non-padding option it equals MaxHbHOptions.
	MaxIOAMOptions = MaxHbHOptions
	// MaxHbHLen is the largest Hop-by-Hop header, 8*(255+1) octets.
	MaxHbHLen = 2048
	// maxExtHeaders bounds the extension-header walk after the Hop-by-Hop
	// header so that hostile chains cost a fixed amount of work.
	maxExtHeaders = 8
)

// Encap says how IOAM is carried in a parsed packet.
type Encap uint8

const (
	// EncapNone: no IOAM option in the outer Hop-by-Hop header and no
	// IPv6-in-IPv6.
	EncapNone Encap = iota
	// EncapInline: IOAM in the Hop-by-Hop header of the only IPv6 header.
	EncapInline
	// EncapIP6IP6: the packet is IPv6-in-IPv6 (IOAM, if any, is in the outer
	// Hop-by-Hop header).
	EncapIP6IP6
)

// String returns "none", "inline" or "ip6ip6".
func (e Encap) String() string {
	switch e {
	case EncapInline:
		return "inline"
	case EncapIP6IP6:
		return "ip6ip6"
	default:
		return "none"
	}
}

// IOAMOption is one IOAM option found in the Hop-by-Hop header.
type IOAMOption struct {
	// Off is the frame offset of the option's Option Type octet.
	Off int
	// OptType is the IPv6 option type, OptIOAM or OptIOAMAlt.
	OptType uint8
	// DataLen is the Opt Data Len octet: octets after it, starting with the
	// IOAM Reserved octet.
	DataLen uint8
	// IOAMType is the IOAM Option-Type (IOAMTypeDirectExporting, ...).
	IOAMType uint8
}

// DEX is the DEX header (RFC 9326) with its two defined optional fields. It
// is both what [Parse] reports and what the editors insert.
//
// FlowID is present on the wire iff ExtFlags&ExtFlagFlowID != 0, Seq iff
// ExtFlags&ExtFlagSeq != 0; otherwise the field is zero after Parse and
// ignored by the encoder. Other Extension-Flags bits each stand for one
// 4-octet field: Parse skips them, encoders write them as zero.
type DEX struct {
	Namespace uint16 // IOAM Namespace-ID
	Flags     uint8  // DEX Flags; none assigned, send 0
	ExtFlags  uint8  // Extension-Flags
	TraceType uint32 // IOAM-Trace-Type, 24 bits (bit 0 = 0x800000)
	FlowID    uint32 // Flow ID, when ExtFlags has ExtFlagFlowID
	Seq       uint32 // Sequence Number, when ExtFlags has ExtFlagSeq
}

// HasFlowID reports whether the Flow ID field is present.
func (d *DEX) HasFlowID() bool { return d.ExtFlags&ExtFlagFlowID != 0 }

// HasSeq reports whether the Sequence Number field is present.
func (d *DEX) HasSeq() bool { return d.ExtFlags&ExtFlagSeq != 0 }

// PTO is the Pre-allocated Trace header (RFC 9197 §4.4), parsed only.
type PTO struct {
	Namespace uint16 // IOAM Namespace-ID
	NodeLen   uint8  // node data length per node, 4-octet units (5 bits)
	Flags     uint8  // Overflow 0x8, Loopback 0x4, Active 0x2 (4 bits)
	RemLen    uint8  // free space left, 4-octet units (7 bits)
	TraceType uint32 // IOAM-Trace-Type, 24 bits
	// Data and DataLen locate the node data area (pre-allocated space
	// followed by the written node data) in the frame, in octets.
	Data, DataLen int
}

// Packet is the layout of one parsed frame. It is a plain value with no
// pointers: a caller keeps one per worker and passes its address to [Parse]
// for each frame. All offsets are octets from the start of that frame.
type Packet struct {
	// L3 is the offset of the (outer) IPv6 header: 14, plus 4 per VLAN tag,
	// or the l3 argument of ParseIPv6.
	L3 int
	// VLAN reports at least one VLAN tag; VLANTCI is the outermost tag's Tag
	// Control Information and VLANTags the number of tags (0..MaxVLANTags).
	VLAN     bool
	VLANTCI  uint16
	VLANTags uint8
	// DstOptsDEX is the number of IOAM DEX options in the Destination
	// Options header at DstOpts (kept here, where the layout has room).
	DstOptsDEX uint8
	// hbhOpts is the number of non-padding options of the outer Hop-by-Hop
	// header, IOAM included: the editors that trust a Parse result tell
	// from it, without walking the header again, that nothing but IOAM
	// and padding is there (RemoveDEXUpdate).
	hbhOpts uint8

	// PayloadLen is the outer IPv6 Payload Length; End = L3+40+PayloadLen is
	// the offset just past the IPv6 packet (the frame may be longer).
	PayloadLen int
	End        int

	// HbH is the offset of the outer Hop-by-Hop header and HbHLen its length
	// (8*(Hdr Ext Len+1)); both are 0 when there is none.
	HbH, HbHLen int
	// NextHeader is the protocol following the outer IPv6 header and its
	// Hop-by-Hop header (the HbH Next Header, or the IPv6 Next Header when
	// there is no HbH).
	NextHeader uint8

	// IOAM lists the IOAM options of the outer Hop-by-Hop header in wire
	// order; only IOAM[:NumIOAM] is meaningful.
	NumIOAM int
	IOAM    [MaxIOAMOptions]IOAMOption

	// HasDEX reports a DEX option; DEX holds the first one and DEXOpt the
	// index in IOAM of that option.
	HasDEX bool
	DEXOpt int
	DEX    DEX

	// HasPTO reports a Pre-allocated Trace option; PTO holds the first one.
	HasPTO bool
	PTO    PTO

	// DstOpts is the offset of the first Destination Options header of the
	// outer header chain that holds an IOAM DEX option (0 when none does),
	// and DstOptsDEX (above) the number of DEX options in it. They are not
	// decoded or validated beyond their lengths: the data plane removes the
	// header's IOAM options at the domain edge (RemoveDstOptsDEX) and
	// treats them as foreign IOAM at the encapsulating node, but never
	// exports them. Not counted in NumIOAM or Encap. Other IOAM options in
	// Destination Options (a Pre-allocated Trace) are not recorded: no node
	// reads IOAM there.
	DstOpts int

	// Encap says how IOAM is carried.
	Encap Encap
	// Inner is the offset of the inner IPv6 header of an IPv6-in-IPv6
	// packet, 0 otherwise.
	Inner int

	// L4Proto is the upper-layer protocol of the innermost packet after its
	// extension headers (ProtoUDP, ProtoTCP, ProtoICMPv6, ...; ProtoFragment
	// for a non-first fragment). L4 is its offset. For UDP, UDP-Lite, TCP and
	// SCTP with at least 4 octets present, HasPorts is true and SrcPort and
	// DstPort hold the ports.
	L4Proto          uint8
	L4               int
	HasPorts         bool
	SrcPort, DstPort uint16

	// ErrOff and ErrVal locate the failure after Parse returned an error:
	// the frame offset of the offending field and its value.
	ErrOff, ErrVal int
}

// Detail wraps a sentinel returned by Parse with the offset and value of the
// offending field, for logging. It allocates; it returns nil for nil.
func (p *Packet) Detail(err error) error {
	if err == nil {
		return nil
	}
	return &Error{Err: err, Offset: p.ErrOff, Value: p.ErrVal}
}

// FlowL3 returns the offset of the innermost IPv6 header: Inner for
// IPv6-in-IPv6, L3 otherwise. Flow keys are built from this header and the
// L4 fields.
func (p *Packet) FlowL3() int {
	if p.Inner != 0 {
		return p.Inner
	}
	return p.L3
}

// Src returns the 16-octet source address of the IPv6 header at offset l3
// of frame (use p.L3 or p.FlowL3()). The frame must hold that header.
//
// Src and Dst convert the slice to an array, which loads the address in
// one 16-octet move; a copy into a zeroed array stores it in narrower
// parts, and the caller's 16-octet load of the result then waits for them
// (a store-forwarding stall on every packet's route lookup).
func Src(frame []byte, l3 int) [16]byte {
	return [16]byte(frame[l3+8 : l3+24])
}

// Dst returns the destination address of the IPv6 header at offset l3.
func Dst(frame []byte, l3 int) [16]byte {
	return [16]byte(frame[l3+24 : l3+40])
}

// Addr is a convenience returning an address read by Src or Dst as a
// netip.Addr.
func Addr(a [16]byte) netip.Addr { return netip.AddrFrom16(a) }

// FlowLabel returns the 20-bit flow label of the IPv6 header at offset l3.
func FlowLabel(frame []byte, l3 int) uint32 {
	return binary.BigEndian.Uint32(frame[l3:]) & 0xFFFFF
}

// TrafficClass returns the 8-bit traffic class (DSCP<<2 | ECN) of the IPv6
// header at offset l3.
func TrafficClass(frame []byte, l3 int) uint8 {
	return uint8(binary.BigEndian.Uint16(frame[l3:]) >> 4)
}

// HopLimit returns the hop limit of the IPv6 header at offset l3.
func HopLimit(frame []byte, l3 int) uint8 { return frame[l3+7] }
