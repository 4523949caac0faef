// Package packet reads and edits, in place and without allocating, the wire
// formats an IOAM Direct Exporting (RFC 9326) data plane touches: Ethernet
// with up to two VLAN tags (802.1Q, 802.1ad, 0x9100), IPv6, the Hop-by-Hop
// options header and its TLVs (RFC 8200), the IOAM option (RFC 9486, option types 0x31 and 0x11),
// the DEX header with its optional fields (RFC 9326), the Pre-allocated
// Trace (RFC 9197: [InsertIOAMInline] and [PushIP6IP6IOAM] insert it in the
// Linux ioam6 lwtunnel's layout, [FillPTO] writes one node's data as Linux
// ioam6_fill_trace_data, [PTONodes] and [DecodeNodeData] read it back) and
// IPv6-in-IPv6 (RFC 2473).
//
// Conventions used throughout the package:
//
//   - Every multi-octet field on the wire is big-endian (network byte order);
//     the Go values exposed here are host integers already converted.
//   - Lengths and offsets are in octets. Offsets stored in a [Packet] count
//     from the first octet of the frame passed to [Parse] (the Ethernet
//     destination address, or the IPv6 version octet for [ParseIPv6] on a raw
//     IPv6 buffer).
//   - IETF bit numbering: "bit 0" is the most significant bit, so DEX
//     Extension-Flags bit 0 (Flow ID) is 0x80 and bit 1 (Sequence Number) is
//     0x40.
//
// Validation follows what the Linux receive path does before it forwards or
// delivers a packet (ip6_parse_tlv and ipv6_hop_ioam in net/ipv6/exthdrs.c):
// a packet Linux drops makes [Parse] return a distinct sentinel error, and a
// packet Linux accepts parses without error. The few places where this
// package is stricter or more lenient are documented on the error values.
// In short: IOAM option lengths are checked whether or not IOAM is enabled
// (Linux checks only alignment when net.ipv6.conf.*.ioam6_enabled is 0), the
// DEX length checks are those of the ULiège DEX kernel patch (mainline Linux
// ignores IOAM Option-Type 4), and option type 0x11 is treated as IOAM.
//
// Editors ([InsertDEXInline], [MergeDEXIntoHbH], [PushIP6IP6], [RemoveDEX],
// [StripOuter]) work on a frame that lives at buf[off:off+n] of a larger
// buffer with headroom in front of it, such as an AF_XDP UMEM chunk. They
// grow or shrink the packet at the front: only the link-layer header, the
// IPv6 header and, for Hop-by-Hop edits, the options before the edited
// point are moved; the payload never moves. Each editor returns the new
// offset and length of the frame. None of them touches L4 checksums, which
// do not cover IPv6 extension headers. [RemoveDEXUpdate] and
// [StripOuterUpdate] also bring the [Packet] up to date where they can, so
// that a caller going on with the edited frame does not parse it again.
//
// [BuildPacketTooBig] turns a frame, in place, into the ICMPv6 Packet Too
// Big message (RFC 4443 §3.2) answering it, with its checksum
// ([ICMPv6Checksum]); a tunnel entry point sends it under RFC 2473 §7.1.
//
// Nothing in this package keeps state; all functions are safe for concurrent
// use on distinct buffers.
package packet
