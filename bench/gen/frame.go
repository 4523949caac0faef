// Package gen is dexplane's benchmark traffic generator and sink.
//
// The generator sends fixed-size IPv6/UDP frames on an AF_XDP socket (copy
// mode on veth), optionally carrying an IOAM DEX option (inline Hop-by-Hop or
// IPv6-in-IPv6) on k of every n packets; the sink receives on an AF_XDP
// socket, checks every frame's payload, counts per flow and per sequence, and
// reports loss. Both run inside network namespaces of a testbed, in the same
// process, so that one measurement window (warm-up, then a fixed duration)
// covers the offered rate, the received rate and the CPU time of the device
// under test.
//
// # Frame layout
//
// Every generated packet is Ethernet + IPv6 [+ HbH with DEX] [+ inner IPv6] +
// UDP + payload. The UDP payload is an internal/payload payload: the flow
// index is its stream, the per-flow sequence number its seq, a random
// per-generator-run id its run (stale frames are foreign), time 0 (not
// stamped), then the fixed filler pattern. Because the payload header keeps
// its ones-complement sum constant, the UDP checksum computed once per
// template stays valid for every sequence number: the generator copies a
// template and rewrites the header's seq and check (payload.Stamp).
//
// Size is the length of the IPv6 packet on the wire (outer header included),
// like the paper's "1500-byte" packets in 1514-byte frames; packets that
// carry DEX get a shorter payload so that all packets of a stream have the
// same size, as the ULiège TRex profiles do (spec §4.9).
package gen

import (
	"encoding/binary"
	"errors"
	"fmt"
	"math/bits"
	"net"
	"net/netip"

	"github.com/dexplane/dexplane/dataplane/packet"
	"github.com/dexplane/dexplane/internal/payload"
)

// Protocol numbers and sizes used by the frame builder and the parser.
const (
	etherTypeIPv6 = 0x86DD
	etherTypeVLAN = 0x8100
	ethLen        = 14
	ip6Len        = 40
	udpLen        = 8

	nhHopByHop = 0
	nhUDP      = 17
	nhIPv6     = 41
	nhRouting  = 43
	nhDestOpts = 60

	optPad1 = 0x00
	optPadN = 0x01
	optIOAM = 0x31 // RFC 9486 IOAM option type used by Linux and Wireshark
	// optIOAMAlt is the second IANA code point for IOAM (chg bit clear).
	optIOAMAlt  = 0x11
	ioamTypeDEX = 4
)

// HeaderLen is the length of the payload header every generated packet
// carries at the start of its UDP payload.
const HeaderLen = payload.HeaderLen

// MinSize is the smallest IPv6 packet the generator builds without DEX:
// IPv6 + UDP + the payload header.
const MinSize = ip6Len + udpLen + HeaderLen

// ErrSpec is returned (wrapped) for an invalid StreamSpec.
var ErrSpec = errors.New("invalid stream spec")

// ParseDEXMode parses how generated packets carry a DEX option, as
// packet.Encap names it: "none" (also "" and "off": plain IPv6/UDP),
// "inline" (a Hop-by-Hop header with the DEX option directly after the IPv6
// header, the ULiège kernel's inline bytes, spec §3.6) or "ip6ip6" (also
// "encap": an outer IPv6 header, TunSrc → TunDst, whose Hop-by-Hop header
// carries the option).
func ParseDEXMode(s string) (packet.Encap, error) {
	switch s {
	case "none", "", "off":
		return packet.EncapNone, nil
	case "inline":
		return packet.EncapInline, nil
	case "ip6ip6", "encap":
		return packet.EncapIP6IP6, nil
	}
	return 0, fmt.Errorf("%w: DEX mode %q (want none, inline or ip6ip6)", ErrSpec, s)
}

// DEX is the IOAM option the generator puts into packets: the DEX option
// (a set ExtFlags bit 0x80 adds FlowID, 0x40 adds Seq; every other set bit
// adds 4 zero octets) or, with TraceSize, a Pre-allocated Trace.
type DEX struct {
	packet.DEX
	// TraceSize, when not 0, makes the option an empty Pre-allocated Trace
	// (RFC 9197) of TraceSize octets of node data (a multiple of 4) with
	// trace type TraceType, in the Linux ioam6 lwtunnel layout, instead of
	// DEX; Flags, ExtFlags, FlowID and Seq are then unused.
	TraceSize int
}

// HbHLen returns the length in octets of the Hop-by-Hop header that carries
// d alone: 16 without optional fields, 24 with one or two (spec §3.6); for
// a trace, 16 + TraceSize rounded up to 8.
func (d DEX) HbHLen() int {
	if d.TraceSize > 0 {
		return 16 + (d.TraceSize+7)&^7
	}
	k := bits.OnesCount8(d.ExtFlags)
	return 16 + (4*k+7)&^7
}

// appendTraceHbH appends a Hop-by-Hop header carrying an empty
// Pre-allocated Trace as the Linux ioam6 lwtunnel builds it: PadN(2), the
// option (NodeLen from the trace type, RemainingLen = TraceSize/4), zeroed
// data, PadN(4) when TraceSize is 4 modulo 8.
func (d DEX) appendTraceHbH(b []byte, nextHeader uint8) []byte {
	total := d.HbHLen()
	tt := d.TraceType & 0xFFFFFF
	nodeLen := bits.OnesCount32(tt&0xFF1FFC) + 2*bits.OnesCount32(tt&0x00E000)
	b = append(b, nextHeader, uint8(total/8-1), optPadN, 0)
	b = append(b, optIOAM, uint8(2+8+d.TraceSize), 0, 0 /* IOAM Option-Type 0: Pre-allocated Trace */)
	b = binary.BigEndian.AppendUint16(b, d.Namespace)
	b = binary.BigEndian.AppendUint16(b, uint16(nodeLen)<<11|uint16(d.TraceSize/4))
	b = binary.BigEndian.AppendUint32(b, tt<<8)
	b = append(b, make([]byte, d.TraceSize)...)
	if d.TraceSize%8 != 0 {
		b = append(b, optPadN, 2, 0, 0)
	}
	return b
}

// appendHbH appends a Hop-by-Hop header carrying only d, laid out exactly as
// the ULiège kernel does (struct ioam6_lwt_dex, spec §3.6): NH, HdrExtLen,
// PadN(2), IOAM option, optional fields, PadN(4) if they are not 8n.
func (d DEX) appendHbH(b []byte, nextHeader uint8) []byte {
	if d.TraceSize > 0 {
		return d.appendTraceHbH(b, nextHeader)
	}
	k := bits.OnesCount8(d.ExtFlags)
	total := d.HbHLen()
	b = append(b, nextHeader, uint8(total/8-1), optPadN, 0)
	b = append(b, optIOAM, uint8(2+8+4*k), 0, ioamTypeDEX)
	b = binary.BigEndian.AppendUint16(b, d.Namespace)
	b = append(b, d.Flags, d.ExtFlags)
	b = binary.BigEndian.AppendUint32(b, (d.TraceType&0xFFFFFF)<<8)
	for bit := 7; bit >= 0; bit-- {
		if d.ExtFlags&(1<<bit) == 0 {
			continue
		}
		switch bit {
		case 7:
			b = binary.BigEndian.AppendUint32(b, d.FlowID)
		case 6:
			b = binary.BigEndian.AppendUint32(b, d.Seq)
		default:
			b = append(b, 0, 0, 0, 0)
		}
	}
	if (4*k)%8 != 0 {
		b = append(b, optPadN, 2, 0, 0)
	}
	return b
}

// InsertInline returns a new IPv6 packet: pkt (which must have no
// extension header) with a Hop-by-Hop header carrying d inserted after the
// IPv6 header, Next Header and Payload Length fixed up.
func InsertInline(pkt []byte, d DEX) ([]byte, error) {
	if len(pkt) < ip6Len || pkt[0]>>4 != 6 {
		return nil, fmt.Errorf("%w: not an IPv6 packet (%d octets)", ErrSpec, len(pkt))
	}
	if pkt[6] == nhHopByHop {
		return nil, fmt.Errorf("%w: packet already has a Hop-by-Hop header", ErrSpec)
	}
	out := make([]byte, 0, len(pkt)+d.HbHLen())
	out = append(out, pkt[:ip6Len]...)
	out = d.appendHbH(out, pkt[6])
	out = append(out, pkt[ip6Len:]...)
	out[6] = nhHopByHop
	binary.BigEndian.PutUint16(out[4:], uint16(len(out)-ip6Len))
	return out, nil
}

// EncapIP6IP6 returns a new IPv6 packet: an outer IPv6 header from src to
// dst (traffic class, flow label and hop limit copied from pkt, as Linux
// does), a Hop-by-Hop header carrying d with Next Header 41, then pkt.
func EncapIP6IP6(pkt []byte, d DEX, src, dst netip.Addr) ([]byte, error) {
	if len(pkt) < ip6Len || pkt[0]>>4 != 6 {
		return nil, fmt.Errorf("%w: not an IPv6 packet (%d octets)", ErrSpec, len(pkt))
	}
	if !src.Is6() || !dst.Is6() || src.Is4In6() || dst.Is4In6() {
		return nil, fmt.Errorf("%w: tunnel addresses %v → %v are not IPv6", ErrSpec, src, dst)
	}
	out := make([]byte, 0, ip6Len+d.HbHLen()+len(pkt))
	out = append(out, pkt[:4]...) // version, traffic class, flow label
	out = append(out, 0, 0, nhHopByHop, pkt[7])
	s, t := src.As16(), dst.As16()
	out = append(out, s[:]...)
	out = append(out, t[:]...)
	out = d.appendHbH(out, nhIPv6)
	out = append(out, pkt...)
	binary.BigEndian.PutUint16(out[4:], uint16(len(out)-ip6Len))
	return out, nil
}

// Spread says how many distinct values each 5-tuple field takes; the number
// of flows is their product. Varying values are the base value plus the
// field's index (addresses: added to the low 32 bits). Zero counts as one.
type Spread struct {
	SrcAddrs, DstAddrs, SrcPorts, DstPorts int
}

// Flows returns the number of distinct flows in the spread.
func (s Spread) Flows() int {
	n := 1
	for _, v := range []int{s.SrcAddrs, s.DstAddrs, s.SrcPorts, s.DstPorts} {
		if v > 1 {
			n *= v
		}
	}
	return n
}

// StreamSpec describes the packets of one generator stream.
type StreamSpec struct {
	// Size is the IPv6 packet length in octets (outer header included).
	Size int
	// SrcMAC and DstMAC are the Ethernet addresses (DstMAC: the next hop).
	SrcMAC, DstMAC net.HardwareAddr
	// Src, Dst, SrcPort, DstPort are the first flow's addresses and ports.
	Src, Dst         netip.Addr
	SrcPort, DstPort uint16
	// Spread varies the 5-tuple over flows.
	Spread Spread
	// HopLimit of generated packets; 0 means 64.
	HopLimit uint8
	// Mode selects whether DEX packets are generated at all; K of every N
	// packets carry DEX (kernel "freq K/N" semantics, counted over all
	// flows). K = N = 0 means every packet when Mode != packet.EncapNone.
	Mode packet.Encap
	DEX  DEX
	K, N uint32
	// TunSrc and TunDst are the outer addresses for packet.EncapIP6IP6.
	TunSrc, TunDst netip.Addr
	// Run is stamped into every payload header; frames with another run id
	// are counted as foreign by the sink.
	Run uint32
}

// Template is one prebuilt frame; the generator copies it and patches the
// payload header's sequence number and check field.
type Template struct {
	Frame     []byte // Ethernet frame without FCS
	HeaderOff int    // offset of the payload header in Frame
	DEXSeqOff int    // offset of the DEX Sequence Number, or -1
	HasDEX    bool
}

// Stamp writes the sequence number into a copy of the template's frame
// held in f (len(f) == len(t.Frame)) and fixes the payload header check so
// that the UDP checksum stays valid. The DEX sequence number, if present,
// is set to seq too.
func (t *Template) Stamp(f []byte, seq uint32) {
	payload.Stamp(f[t.HeaderOff:], seq, 0)
	if t.DEXSeqOff >= 0 {
		binary.BigEndian.PutUint32(f[t.DEXSeqOff:], seq)
	}
}

// Templates holds a stream's prebuilt frames: Plain[f] and WithDEX[f] for
// every flow f (WithDEX is nil when the stream has no DEX).
type Templates struct {
	Plain, WithDEX []Template
	Flows          int
	K, N           uint32
}

// Validate checks s and fills defaults (HopLimit, K/N).
func (s *StreamSpec) Validate() error {
	if s.Size < MinSize || s.Size > 9000 {
		return fmt.Errorf("%w: size %d (want %d … 9000)", ErrSpec, s.Size, MinSize)
	}
	if len(s.SrcMAC) != 6 || len(s.DstMAC) != 6 {
		return fmt.Errorf("%w: MAC addresses %v → %v", ErrSpec, s.SrcMAC, s.DstMAC)
	}
	if !s.Src.Is6() || !s.Dst.Is6() || s.Src.Is4In6() || s.Dst.Is4In6() {
		return fmt.Errorf("%w: addresses %v → %v are not IPv6", ErrSpec, s.Src, s.Dst)
	}
	if s.Spread.Flows() > 1<<20 {
		return fmt.Errorf("%w: %d flows (max %d)", ErrSpec, s.Spread.Flows(), 1<<20)
	}
	if s.HopLimit == 0 {
		s.HopLimit = 64
	}
	if s.Mode == packet.EncapNone {
		s.K, s.N = 0, 0
	} else {
		if s.K == 0 && s.N == 0 {
			s.K, s.N = 1, 1
		}
		if s.N == 0 || s.K > s.N {
			return fmt.Errorf("%w: DEX frequency %d/%d", ErrSpec, s.K, s.N)
		}
		if s.Mode == packet.EncapIP6IP6 && (!s.TunSrc.Is6() || !s.TunDst.Is6()) {
			return fmt.Errorf("%w: ip6ip6 needs tunnel addresses (have %v → %v)", ErrSpec, s.TunSrc, s.TunDst)
		}
	}
	return nil
}

// Build validates s and builds one plain template per flow and, when s has
// DEX, one DEX template per flow of the same size (or the smallest size
// that fits, if s.Size is too small for the DEX headers).
func Build(s StreamSpec) (*Templates, error) {
	if err := s.Validate(); err != nil {
		return nil, err
	}
	nf := s.Spread.Flows()
	ts := &Templates{Flows: nf, K: s.K, N: s.N, Plain: make([]Template, nf)}
	if s.Mode != packet.EncapNone {
		ts.WithDEX = make([]Template, nf)
	}
	overhead := 0
	switch s.Mode {
	case packet.EncapInline:
		overhead = s.DEX.HbHLen()
	case packet.EncapIP6IP6:
		overhead = ip6Len + s.DEX.HbHLen()
	}
	for f := 0; f < nf; f++ {
		src, dst, sp, dp := s.flowTuple(f)
		plain := s.udpPacket(src, dst, sp, dp, s.Size, uint32(f))
		ts.Plain[f] = s.template(plain, -1)
		if s.Mode == packet.EncapNone {
			continue
		}
		inner := s.udpPacket(src, dst, sp, dp, max(s.Size-overhead, MinSize), uint32(f))
		d := s.DEX
		d.FlowID = s.DEX.FlowID + uint32(f)
		var pkt []byte
		var err error
		if s.Mode == packet.EncapInline {
			pkt, err = InsertInline(inner, d)
		} else {
			pkt, err = EncapIP6IP6(inner, d, s.TunSrc, s.TunDst)
		}
		if err != nil {
			return nil, fmt.Errorf("flow %d: %w", f, err)
		}
		seqOff := -1
		if d.ExtFlags&0x40 != 0 {
			seqOff = ethLen + ip6Len + 16
			if d.ExtFlags&0x80 != 0 {
				seqOff += 4
			}
		}
		ts.WithDEX[f] = s.template(pkt, seqOff)
	}
	return ts, nil
}

// flowTuple returns flow f's addresses and ports.
func (s *StreamSpec) flowTuple(f int) (src, dst netip.Addr, sp, dp uint16) {
	idx := func(n int) int {
		if n <= 1 {
			return 0
		}
		i := f % n
		f /= n
		return i
	}
	sp = s.SrcPort + uint16(idx(s.Spread.SrcPorts))
	dp = s.DstPort + uint16(idx(s.Spread.DstPorts))
	src = addLow32(s.Src, uint32(idx(s.Spread.SrcAddrs)))
	dst = addLow32(s.Dst, uint32(idx(s.Spread.DstAddrs)))
	return src, dst, sp, dp
}

// addLow32 adds n to the low 32 bits of a (wrapping within them).
func addLow32(a netip.Addr, n uint32) netip.Addr {
	b := a.As16()
	binary.BigEndian.PutUint32(b[12:], binary.BigEndian.Uint32(b[12:])+n)
	return netip.AddrFrom16(b)
}

// udpPacket builds an IPv6/UDP packet of size octets whose payload starts
// with a payload header (seq 0) followed by the pattern, UDP checksum set.
func (s *StreamSpec) udpPacket(src, dst netip.Addr, sp, dp uint16, size int, flow uint32) []byte {
	p := make([]byte, size)
	p[0] = 0x60
	binary.BigEndian.PutUint16(p[4:], uint16(size-ip6Len))
	p[6] = nhUDP
	p[7] = s.HopLimit
	sa, da := src.As16(), dst.As16()
	copy(p[8:], sa[:])
	copy(p[24:], da[:])
	u := p[ip6Len:]
	binary.BigEndian.PutUint16(u[0:], sp)
	binary.BigEndian.PutUint16(u[2:], dp)
	binary.BigEndian.PutUint16(u[4:], uint16(len(u)))
	payload.Put(u[udpLen:], payload.Header{Stream: flow, Run: s.Run})
	binary.BigEndian.PutUint16(u[6:], udpChecksum(sa, da, u))
	return p
}

// template prefixes an IPv6 packet with the stream's Ethernet header and
// locates the payload header.
func (s *StreamSpec) template(pkt []byte, dexSeqOff int) Template {
	f := make([]byte, 0, ethLen+len(pkt))
	f = append(f, s.DstMAC...)
	f = append(f, s.SrcMAC...)
	f = binary.BigEndian.AppendUint16(f, etherTypeIPv6)
	f = append(f, pkt...)
	var r Parsed
	if err := Parse(f, &r); err != nil {
		// Build only produces frames Parse accepts; a failure here is a
		// bug in this file, caught by the package tests.
		panic(fmt.Sprintf("gen: built frame does not parse: %v", err))
	}
	return Template{Frame: f, HeaderOff: r.HeaderOff, DEXSeqOff: dexSeqOff, HasDEX: r.HasDEX}
}

// onesSum adds b as big-endian 16-bit words to the ones-complement sum acc
// (an odd trailing octet is padded with zero) and returns the folded sum.
func onesSum(acc uint32, b []byte) uint16 {
	for len(b) >= 2 {
		acc += uint32(b[0])<<8 | uint32(b[1])
		b = b[2:]
	}
	if len(b) == 1 {
		acc += uint32(b[0]) << 8
	}
	for acc > 0xFFFF {
		acc = acc&0xFFFF + acc>>16
	}
	return uint16(acc)
}

// udpChecksum returns the UDP checksum of segment u (checksum field zero)
// with the IPv6 pseudo-header for src → dst.
func udpChecksum(src, dst [16]byte, u []byte) uint16 {
	var ph [8]byte
	binary.BigEndian.PutUint32(ph[0:], uint32(len(u)))
	ph[7] = nhUDP
	acc := uint32(onesSum(0, src[:]))
	acc += uint32(onesSum(0, dst[:]))
	acc += uint32(onesSum(0, ph[:]))
	sum := onesSum(acc, u)
	c := ^sum
	if c == 0 {
		c = 0xFFFF
	}
	return c
}
