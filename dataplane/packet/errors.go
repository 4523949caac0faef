package packet

import (
	"errors"
	"fmt"
)

// Sentinel errors returned by [Parse] and [ParseIPv6]. Each one names one
// reason for which the Linux IPv6 receive path drops a packet (or, for the
// first three, why the frame is not an IPv6 packet at all). Parse returns the
// value itself, never a wrapped copy, so that the hot path does not allocate;
// use [Packet.Detail] to get a wrapped error with the offending offset and
// value for logs.
var (
	// ErrShortFrame: the frame is shorter than an Ethernet header (14 octets).
	ErrShortFrame = errors.New("packet: frame shorter than an Ethernet header")
	// ErrShortVLAN: a VLAN tag (802.1Q, 802.1ad or 0x9100) is announced but
	// the frame ends inside it.
	ErrShortVLAN = errors.New("packet: frame ends inside a VLAN tag")
	// ErrNotIPv6: the EtherType (after at most MaxVLANTags VLAN tags) is not
	// 0x86DD.
	// Callers that forward such frames untouched should treat it as "not ours"
	// rather than as a malformed packet.
	ErrNotIPv6 = errors.New("packet: not an IPv6 frame")

	// ErrShortIPv6: fewer than 40 octets remain for the IPv6 header.
	ErrShortIPv6 = errors.New("packet: truncated IPv6 header")
	// ErrIPVersion: the IP version nibble is not 6.
	ErrIPVersion = errors.New("packet: IP version is not 6")
	// ErrPayloadLength: 40 + Payload Length exceeds the frame (Linux
	// ipv6_rcv "truncated packet"). A frame longer than the packet, such as
	// one with Ethernet padding, is accepted. Jumbograms (Payload Length 0
	// with a Jumbo option) are not supported and fail with ErrHbHTruncated.
	ErrPayloadLength = errors.New("packet: IPv6 payload length exceeds the frame")

	// ErrHbHTruncated: the Hop-by-Hop header, 8*(Hdr Ext Len+1) octets, does
	// not fit in the IPv6 payload.
	ErrHbHTruncated = errors.New("packet: Hop-by-Hop header exceeds the IPv6 payload")
	// ErrOptTruncated: one octet is left at the end of the options area and
	// it is not Pad1, so the option has no room for its length octet (options
	// do not fill the header exactly).
	ErrOptTruncated = errors.New("packet: Hop-by-Hop option cut by the end of the header")
	// ErrOptOverrun: an option's 2 + Opt Data Len octets run past the end of
	// the Hop-by-Hop header (options do not fill the header exactly).
	ErrOptOverrun = errors.New("packet: Hop-by-Hop option runs past the end of the header")
	// ErrPadTooLong: more than 7 consecutive padding octets (Pad1 and PadN
	// combined), which Linux rejects following RFC 4942 §2.1.9.5.
	ErrPadTooLong = errors.New("packet: more than 7 consecutive padding octets")
	// ErrPadNNonZero: a PadN option carries a non-zero octet.
	ErrPadNNonZero = errors.New("packet: PadN payload is not zero")
	// ErrTooManyOptions: more than MaxHbHOptions non-padding options (Linux
	// sysctl net.ipv6.max_hbh_opts_number, default 8).
	ErrTooManyOptions = errors.New("packet: too many non-padding Hop-by-Hop options")
	// ErrOptionDiscard: an option this package (and Linux) does not know has
	// action bits other than 00 ("skip"), so RFC 8200 §4.2 requires the packet
	// to be discarded. Router Alert (0x05), CALIPSO (0x07) and Jumbo Payload
	// (0xC2), which Linux knows, are checked instead (ErrRouterAlert,
	// ErrCALIPSO, ErrJumbo).
	ErrOptionDiscard = errors.New("packet: unknown Hop-by-Hop option requires discarding the packet")
	// ErrRouterAlert: a Router Alert option (0x05, RFC 2711) whose Opt Data
	// Len is not 2 (Linux ipv6_hop_ra drops it). ErrVal is the length.
	ErrRouterAlert = errors.New("packet: Router Alert option length is not 2")
	// ErrJumbo: a Jumbo Payload option (0xC2, RFC 2675) in a packet whose
	// options are walked, i.e. whose IPv6 Payload Length is not 0. Linux
	// ipv6_hop_jumbo drops it; ErrOff/ErrVal name the first failing check
	// in Linux order: Opt Data Len not 4, option not at 4n+2 in the header,
	// Jumbo Payload Length not above 65535, then the non-zero Payload
	// Length. Jumbograms themselves are not supported (ErrHbHTruncated).
	ErrJumbo = errors.New("packet: Jumbo Payload option in a packet that is not a jumbogram")
	// ErrCALIPSO: a CALIPSO option (0x07, RFC 5570) that Linux
	// ipv6_hop_calipso/calipso_validate drops: Opt Data Len below 8, a
	// Compartment Length (in 4-octet units) whose bitmap does not fit in
	// the option, or a wrong CRC-16 checksum. Unlike a kernel built with
	// NetLabel, which also drops options whose DOI is not configured
	// locally, the DOI is not checked: a bump in the wire has no DOI table.
	ErrCALIPSO = errors.New("packet: malformed CALIPSO option")

	// ErrIOAMMisaligned: an IOAM option's type octet is not at a multiple of
	// 4 octets from the start of the Hop-by-Hop header (RFC 9486; Linux drops
	// the packet even when IOAM is disabled).
	ErrIOAMMisaligned = errors.New("packet: IOAM option is not 4n-aligned")
	// ErrIOAMShort: an IOAM option's Opt Data Len is below 2, leaving no room
	// for its Reserved and IOAM Option-Type octets.
	ErrIOAMShort = errors.New("packet: IOAM option shorter than its header")
	// ErrDEXShort: a DEX option's Opt Data Len is below 10 (2 + the 8-octet
	// DEX header).
	ErrDEXShort = errors.New("packet: IOAM DEX option shorter than the DEX header")
	// ErrDEXExtTruncated: a DEX option's Opt Data Len is below
	// 10 + 4*popcount(Extension-Flags), i.e. it does not hold the optional
	// fields its Extension-Flags announce (all 8 bits count).
	ErrDEXExtTruncated = errors.New("packet: IOAM DEX option shorter than its extension fields")
	// ErrPTOShort: a Pre-allocated Trace option's Opt Data Len is below 10
	// (2 + the 8-octet trace header).
	ErrPTOShort = errors.New("packet: IOAM pre-allocated trace option shorter than its header")
	// ErrPTORemLen: a Pre-allocated Trace's RemainingLen (4-octet units)
	// points past the end of its option (Linux ipv6_hop_ioam drops it).
	ErrPTORemLen = errors.New("packet: IOAM pre-allocated trace RemainingLen runs past the option")
	// ErrPTONodeLen: a Pre-allocated Trace's NodeLen differs from what its
	// IOAM-Trace-Type implies (PTONodeLen); mainline Linux drops it since
	// ioam6_trace_compute_nodelen (2026), and a node writing with the wrong
	// NodeLen would corrupt the other nodes' data.
	ErrPTONodeLen = errors.New("packet: IOAM pre-allocated trace NodeLen does not match its trace type")

	// ErrHbHNotFirst: a Hop-by-Hop header that does not immediately follow
	// an IPv6 header (RFC 8200 §4.1; Linux drops it at delivery).
	ErrHbHNotFirst = errors.New("packet: Hop-by-Hop header not directly after the IPv6 header")
	// ErrExtTruncated: an IPv6 extension header after the Hop-by-Hop header
	// (Routing, Fragment, Destination Options, AH, ...) runs past the payload.
	ErrExtTruncated = errors.New("packet: IPv6 extension header exceeds the payload")
	// ErrInnerShort: Next Header 41 (IPv6-in-IPv6) but fewer than 40 octets
	// of the outer payload are left for the inner header.
	ErrInnerShort = errors.New("packet: truncated inner IPv6 header")
	// ErrInnerVersion: the inner header of an IPv6-in-IPv6 packet is not IPv6.
	ErrInnerVersion = errors.New("packet: inner header of IPv6-in-IPv6 is not IPv6")
	// ErrInnerLength: the inner Payload Length exceeds what the outer packet
	// carries.
	ErrInnerLength = errors.New("packet: inner IPv6 payload length exceeds the outer payload")
)

// Sentinel errors returned by the editors. On any error the buffer is left
// unmodified.
var (
	// ErrNoRoom: the headroom in front of the frame (off) is smaller than the
	// octets the edit inserts.
	ErrNoRoom = errors.New("packet: not enough headroom in front of the frame")
	// ErrFrameBounds: off and n do not describe a frame inside buf.
	ErrFrameBounds = errors.New("packet: frame offset/length outside the buffer")
	// ErrLayout: the Packet passed to an editor does not describe the frame
	// (it was not produced by Parse on these bytes, or is stale after an edit).
	ErrLayout = errors.New("packet: parsed layout does not match the frame")
	// ErrHasHbH: InsertDEXInline on a packet that already has a Hop-by-Hop
	// header (use MergeDEXIntoHbH, or skip as Linux does).
	ErrHasHbH = errors.New("packet: packet already has a Hop-by-Hop header")
	// ErrNoHbH: MergeDEXIntoHbH on a packet without a Hop-by-Hop header.
	ErrNoHbH = errors.New("packet: packet has no Hop-by-Hop header")
	// ErrIOAMPresent: MergeDEXIntoHbH on a header that already carries an
	// IOAM option; strip foreign IOAM first.
	ErrIOAMPresent = errors.New("packet: Hop-by-Hop header already carries IOAM")
	// ErrTooLong: the edit would make the IPv6 Payload Length exceed 65535
	// or the Hop-by-Hop header exceed 2048 octets.
	ErrTooLong = errors.New("packet: edited packet would exceed the IPv6 length limits")
	// ErrNotTunnel: StripOuter on a packet that is not IPv6-in-IPv6.
	ErrNotTunnel = errors.New("packet: packet is not IPv6-in-IPv6")
	// ErrECNNotECT: StripOuter found ECN CE on the outer header and a
	// Not-ECT inner packet; RFC 6040 (and Linux ip6_tunnel) drop it.
	ErrECNNotECT = errors.New("packet: outer ECN CE on a Not-ECT inner packet")
)

// Error is a parse error with its context: the sentinel (Err), the frame
// offset in octets of the field that failed (Offset) and that field's value
// (Value). It is built by [Packet.Detail] outside the hot path.
type Error struct {
	Err    error
	Offset int
	Value  int
}

// Error implements error.
func (e *Error) Error() string {
	return fmt.Sprintf("%v (frame offset %d, value %d)", e.Err, e.Offset, e.Value)
}

// Unwrap returns the sentinel, so errors.Is(e, ErrXxx) works.
func (e *Error) Unwrap() error { return e.Err }
