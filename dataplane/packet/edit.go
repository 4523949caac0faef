package packet

import "encoding/binary"

// The editors below change a frame in place. The frame is buf[off:off+n];
// buf[:off] is headroom. p must be the result of Parse (or ParseIPv6) on
// exactly those frame bytes and is stale after a successful edit: parse the
// new frame buf[newOff:newOff+newLen] again if its layout is needed.
//
// Editors check what they rely on (frame bounds, the IPv6 header at p.L3,
// the Hop-by-Hop structure) so that a wrong p yields ErrLayout rather than a
// panic or a write outside the frame and its headroom. On error buf is not
// modified. None of them allocates.

// frameIPv6 checks the frame bounds and the IPv6 header at p.L3 and returns
// the frame slice and its IPv6 Payload Length.
func frameIPv6(buf []byte, off, n int, p *Packet) ([]byte, int, error) {
	if off < 0 || n < 0 || off > len(buf) || n > len(buf)-off {
		return nil, 0, ErrFrameBounds
	}
	f := buf[off : off+n]
	l3 := p.L3
	if l3 < 0 || l3 > n-IPv6Len || f[l3]>>4 != 6 {
		return nil, 0, ErrLayout
	}
	plen := int(binary.BigEndian.Uint16(f[l3+4:]))
	if plen > n-l3-IPv6Len {
		return nil, 0, ErrLayout
	}
	return f, plen, nil
}

// openHbH moves the link-layer and IPv6 headers of the frame f =
// buf[off:off+n] size octets towards the front, opening a gap for a new
// Hop-by-Hop header right after the IPv6 header at l3, and copies the IPv6
// Next Header into the gap's first octet. It returns the new frame offset,
// the new frame and the gap. Small enough to inline.
func openHbH(buf, f []byte, off, n, l3, size int) (newOff int, g, h []byte) {
	newOff = off - size
	hdr := l3 + IPv6Len
	copy(buf[newOff:newOff+hdr], f[:hdr])
	g = buf[newOff : newOff+n+size]
	h = g[hdr : hdr+size]
	h[0] = g[l3+6]
	return newOff, g, h
}

// openOuter moves the link-layer header of the frame f = buf[off:off+n]
// size octets towards the front, opening a gap for an outer IPv6 header and
// a Hop-by-Hop header in front of the packet at l3, and sets the Hop-by-Hop
// Next Header (IPv6). It returns the new frame offset, the new frame (the
// outer header is g[l3:l3+IPv6Len], for the caller) and the Hop-by-Hop
// header. The ip6ip6 pushes (PushIP6IP6, PushIP6IP6IOAM) share it, as the
// inline inserts share openHbH. Small enough to inline.
func openOuter(buf, f []byte, off, n, l3, size int) (newOff int, g, h []byte) {
	newOff = off - size
	g = buf[newOff : newOff+n+size]
	copy(g[:l3], f[:l3])
	h = g[l3+IPv6Len : l3+size]
	h[0] = ProtoIPv6
	return newOff, g, h
}

// growthErr is the error of an edit that cannot add size octets to a
// packet of Payload Length plen: ErrTooLong when the Payload Length would
// exceed 65535, else ErrNoRoom (the headroom is too small). Callers test
// both conditions inline, so the path without error pays nothing.
func growthErr(plen, size int) error {
	if plen+size > 0xFFFF {
		return ErrTooLong
	}
	return ErrNoRoom
}

// hbhLen returns the length of the Hop-by-Hop header right after the IPv6
// header at l3 of the frame f, whose Payload Length plen frameIPv6 checked:
// 0 when the IPv6 Next Header is not Hop-by-Hop, -1 when the header
// overruns plen (ErrLayout for the caller). Small enough to inline.
func hbhLen(f []byte, l3, plen int) int {
	if f[l3+6] != ProtoHopByHop {
		return 0
	}
	if plen < 8 {
		return -1
	}
	hl := (int(f[l3+IPv6Len+1]) + 1) << 3
	if hl > plen {
		return -1
	}
	return hl
}

// InsertDEXInline inserts a Hop-by-Hop header carrying the DEX option d
// right after the IPv6 header of a packet that has none, producing exactly
// the bytes the Linux ioam6 lwtunnel "inline" mode produces (PadN(2), the
// option at Hop-by-Hop offset 4, PadN(4) when an odd number of extension
// fields is present). The link-layer and IPv6 headers move InlineOverhead
// octets towards the front; the IPv6 Next Header becomes 0 (its old value is
// kept in the Hop-by-Hop Next Header) and Payload Length grows accordingly.
//
// It returns the new frame offset and length. Errors: ErrFrameBounds,
// ErrLayout, ErrHasHbH (Linux skips such packets; see MergeDEXIntoHbH),
// ErrTooLong (Payload Length would exceed 65535), ErrNoRoom (off smaller
// than InlineOverhead(d.ExtFlags)).
func InsertDEXInline(buf []byte, off, n int, p *Packet, d *DEX) (newOff, newLen int, err error) {
	f, plen, err := frameIPv6(buf, off, n, p)
	if err != nil {
		return off, n, err
	}
	l3 := p.L3
	if f[l3+6] == ProtoHopByHop {
		return off, n, ErrHasHbH
	}
	size := InlineOverhead(d.ExtFlags)
	if plen+size > 0xFFFF || off < size {
		return off, n, growthErr(plen, size)
	}
	newOff, g, h := openHbH(buf, f, off, n, l3, size)
	putDEXHbH(h, d)
	g[l3+6] = ProtoHopByHop
	binary.BigEndian.PutUint16(g[l3+4:], uint16(plen+size))
	return newOff, n + size, nil
}

// MergeDEXIntoHbH adds the DEX option d to the existing Hop-by-Hop header of
// the packet: the options already there are kept byte for byte, trailing
// padding after the last of them is replaced by the smallest padding that
// puts the IOAM option on a 4n offset (Pad1 or PadN), then the DEX option,
// then padding to the next multiple of 8 (RFC 9486 §3.2, spec vector (d);
// Linux never builds this, it skips such packets). Everything in front of
// the insertion point moves towards the front by the growth, which is
// MergeOverhead(...) octets, a multiple of 8.
//
// It returns the new frame offset and length. Errors: ErrFrameBounds,
// ErrLayout, ErrNoHbH, ErrIOAMPresent (an IOAM option is already there),
// ErrTooManyOptions (the header already has MaxHbHOptions options),
// ErrTooLong, ErrNoRoom.
func MergeDEXIntoHbH(buf []byte, off, n int, p *Packet, d *DEX) (newOff, newLen int, err error) {
	f, plen, err := frameIPv6(buf, off, n, p)
	if err != nil {
		return off, n, err
	}
	hb, hl := p.L3+IPv6Len, hbhLen(f, p.L3, plen)
	switch {
	case hl == 0:
		return off, n, ErrNoHbH
	case hl < 0 || p.HbH != hb:
		return off, n, ErrLayout
	}
	l3 := p.L3
	lastEnd, nopt, nioam, _, err := walkHbH(f[hb : hb+hl])
	if err != nil {
		return off, n, err
	}
	if nioam > 0 {
		return off, n, ErrIOAMPresent
	}
	if nopt >= MaxHbHOptions {
		return off, n, ErrTooManyOptions
	}
	total := mergedLen(lastEnd, d.ExtFlags)
	grow := total - hl // > 0: total >= lastEnd+12 > hl, both multiples of 8
	if total > MaxHbHLen {
		return off, n, ErrTooLong
	}
	if plen+grow > 0xFFFF || off < grow {
		return off, n, growthErr(plen, grow)
	}
	newOff = off - grow
	copy(buf[newOff:newOff+hb+lastEnd], f[:hb+lastEnd])
	g := buf[newOff : newOff+n+grow]
	h := g[hb : hb+total]
	at := align4(lastEnd)
	PutPad(h[lastEnd:], at-lastEnd)
	k := PutDEXOption(h[at:], d)
	PutPad(h[at+k:], total-at-k)
	h[1] = uint8(total/8 - 1)
	binary.BigEndian.PutUint16(g[l3+4:], uint16(plen+grow))
	return newOff, n + grow, nil
}

// PushIP6IP6 encapsulates the packet in an outer IPv6 header from src to dst
// followed by a Hop-by-Hop header carrying the DEX option d (Next Header 41),
// as the Linux ioam6 lwtunnel "encap" mode does: the outer header copies the
// inner version, traffic class (ECN included), flow label and hop limit; its
// Payload Length is the Hop-by-Hop length plus the whole inner packet. Only
// the link-layer header moves, EncapOverhead(d.ExtFlags) octets towards the
// front; the inner packet stays where it is.
//
// It returns the new frame offset and length. Errors: ErrFrameBounds,
// ErrLayout, ErrTooLong, ErrNoRoom.
func PushIP6IP6(buf []byte, off, n int, p *Packet, d *DEX, src, dst [16]byte) (newOff, newLen int, err error) {
	f, plen, err := frameIPv6(buf, off, n, p)
	if err != nil {
		return off, n, err
	}
	l3 := p.L3
	hbh := InlineOverhead(d.ExtFlags)
	size := IPv6Len + hbh
	if plen+size > 0xFFFF || off < size {
		return off, n, growthErr(plen, size)
	}
	newOff, g, h := openOuter(buf, f, off, n, l3, size)
	putOuterIPv6(g[l3:l3+IPv6Len], f[l3:l3+IPv6Len], hbh+IPv6Len+plen, &src, &dst)
	putDEXHbH(h, d)
	return newOff, n + size, nil
}

// putDEXHbH writes the Hop-by-Hop header InsertDEXInline and PushIP6IP6
// insert, after its Next Header octet h[0] (the caller's): Hdr Ext Len,
// PadN(2), the DEX option d at offset 4 as PutDEXOption encodes it, and
// the end padding. h is InlineOverhead(d.ExtFlags) octets long. The first
// 16 octets, fixed but for the option's fields, are two 8-octet stores.
func putDEXHbH(h []byte, d *DEX) {
	size, k := len(h), DEXOptionLen(d.ExtFlags)
	_ = h[15]
	binary.LittleEndian.PutUint64(h, uint64(h[0])|uint64(size/8-1)<<8|OptPadN<<16|
		OptIOAM<<32|uint64(k-2)<<40|IOAMTypeDirectExporting<<56)
	binary.BigEndian.PutUint64(h[8:], uint64(d.Namespace)<<48|uint64(d.Flags)<<40|uint64(d.ExtFlags)<<32|
		uint64(d.TraceType&0xFFFFFF)<<8)
	if d.ExtFlags == ExtFlagFlowID|ExtFlagSeq { // the usual case: no padding
		binary.BigEndian.PutUint64(h[16:], uint64(d.FlowID)<<32|uint64(d.Seq))
		return
	}
	putDEXFields(h[16:4+k], d)
	PutPad(h[4+k:], size-4-k)
}

// putOuterIPv6 writes the outer IPv6 header o of an ip6ip6 push (IPv6Len
// octets, not overlapping the inner header): the inner header's version,
// traffic class, flow label and Hop Limit, Payload Length payload, Next
// Header Hop-by-Hop, src and dst.
func putOuterIPv6(o, inner []byte, payload int, src, dst *[16]byte) {
	copy(o[0:4], inner[0:4])
	binary.BigEndian.PutUint16(o[4:], uint16(payload))
	o[6] = ProtoHopByHop
	o[7] = inner[7]
	copy(o[8:24], src[:])
	copy(o[24:40], dst[:])
}

// RemoveDEX removes every IOAM option (DEX and any other IOAM Option-Type)
// from the Hop-by-Hop header, as a decapsulating node must. When nothing but
// IOAM and padding is left the whole Hop-by-Hop header goes: the IPv6 Next
// Header takes the Hop-by-Hop Next Header and Payload Length shrinks.
// Otherwise the remaining options are compacted towards the front, each
// keeping its offset modulo 8 (so any alignment requirement x*8n+y still
// holds), gaps and the end are filled with canonical Pad1/PadN (never more
// than 7 octets in a row), and the header shrinks by whole 8-octet units.
// The headers in front move towards the back by the shrinkage.
//
// RemoveDEX undoes InsertDEXInline exactly, and MergeDEXIntoHbH exactly for a
// header whose padding was canonical. A packet without IOAM (or without a
// Hop-by-Hop header) is left unchanged and is not an error. It returns the
// new frame offset and length. Errors: ErrFrameBounds, ErrLayout.
func RemoveDEX(buf []byte, off, n int, p *Packet) (newOff, newLen int, err error) {
	newOff, newLen, _, err = removeDEX(buf, off, n, p)
	return newOff, newLen, err
}

// RemoveDEXUpdate is RemoveDEX for a caller that goes on with the edited
// frame: where it can, it brings p up to date instead of leaving it stale.
// updated reports that p now describes buf[newOff:newOff+newLen] exactly as
// Parse would: when the whole Hop-by-Hop header went (it held nothing but
// IOAM and padding, as every header the encapsulating editors build) or
// when nothing was removed. Otherwise (options compacted, or an error) p is
// as RemoveDEX leaves it and the caller parses the new frame again. p must
// be the result of a successful Parse of the frame.
func RemoveDEXUpdate(buf []byte, off, n int, p *Packet) (newOff, newLen int, updated bool, err error) {
	if p.NumIOAM > 0 && int(p.hbhOpts) == p.NumIOAM && p.HbH == p.L3+IPv6Len {
		// Parse counted nothing but IOAM and padding in the header: drop it
		// whole without walking it again.
		f, plen, err := frameIPv6(buf, off, n, p)
		if err != nil {
			return off, n, false, err
		}
		if hl := hbhLen(f, p.L3, plen); hl > 0 && hl == p.HbHLen {
			newOff, newLen = dropOptionsHeader(buf, off, n, f, p.L3, plen, p.HbH, p.L3+6, hl)
			p.dropHbH()
			return newOff, newLen, true, nil
		}
	}
	newOff, newLen, how, err := removeDEX(buf, off, n, p)
	switch {
	case err != nil:
		return newOff, newLen, false, err
	case how == removedNone:
		return newOff, newLen, true, nil
	case how != removedWhole || p.HbH != p.L3+IPv6Len || p.HbHLen != n-newLen:
		return newOff, newLen, false, nil // compacted (or p was not Parse's)
	}
	p.dropHbH()
	return newOff, newLen, true, nil
}

// removeDEX does the work of RemoveDEX and also says what it removed.
func removeDEX(buf []byte, off, n int, p *Packet) (newOff, newLen int, how removal, err error) {
	f, plen, err := frameIPv6(buf, off, n, p)
	if err != nil {
		return off, n, removedNone, err
	}
	switch hl := hbhLen(f, p.L3, plen); {
	case hl > 0:
		return removeIOAMOpts(buf, off, n, f, p.L3, plen, p.L3+IPv6Len, p.L3+6, hl)
	case hl < 0:
		return off, n, removedNone, ErrLayout
	}
	return off, n, removedNone, nil // no Hop-by-Hop header, no IOAM
}

// removal is what removeIOAMOpts did to an options header.
type removal uint8

const (
	removedNone    removal = iota // no IOAM option: the frame is unchanged
	removedWhole                  // the whole header
	removedOptions                // the IOAM options; the header is compacted
)

// dropHbH updates p, a Parse result, for the frame RemoveDEX makes when it
// removes the whole Hop-by-Hop header: the headers in front of it kept
// their frame offsets, everything behind it moved HbHLen octets towards
// the front, and the IOAM it held is gone. Parse walks the rest of the
// chain from the same Next Header at the same offset from the IPv6 header
// (a second Hop-by-Hop header there failed the first Parse), so it would
// find the rest the same.
func (p *Packet) dropHbH() {
	hl := p.HbHLen
	p.PayloadLen -= hl
	p.End -= hl
	p.HbH, p.HbHLen = 0, 0
	p.clearHbH()
	if p.DstOpts != 0 {
		p.DstOpts -= hl
	}
	p.Encap = EncapNone
	if p.Inner != 0 {
		p.Encap, p.Inner = EncapIP6IP6, p.Inner-hl
	}
	p.L4 -= hl
}

// clearHbH sets the fields that describe the options of the outer
// Hop-by-Hop header to what Parse reports for a packet without that header.
func (p *Packet) clearHbH() {
	p.hbhOpts = 0
	for i := range min(max(p.NumIOAM, 0), MaxIOAMOptions) {
		p.IOAM[i] = IOAMOption{}
	}
	p.NumIOAM = 0
	p.HasDEX, p.DEXOpt, p.DEX = false, 0, DEX{}
	p.HasPTO, p.PTO = false, PTO{}
}

// removeIOAMOpts removes the IOAM options of the options header (Hop-by-Hop
// or Destination Options) of length hl at frame offset hb, announced by the
// Next Header octet at frame offset prev, in the frame f = buf[off:off+n]
// whose IPv6 header at l3 has Payload Length plen (all checked by the
// caller): the whole header when nothing but IOAM and padding is left,
// else compacted (see RemoveDEX); how says which. Everything in front of
// the header moves towards the back by what is removed.
func removeIOAMOpts(buf []byte, off, n int, f []byte, l3, plen, hb, prev, hl int) (newOff, newLen int, how removal, err error) {
	h := f[hb : hb+hl]
	_, nopt, nioam, _, err := walkHbH(h)
	switch {
	case err != nil:
		return off, n, removedNone, err
	case nioam == 0:
		return off, n, removedNone, nil
	case nopt == nioam:
		// Only IOAM and padding: drop the whole header.
		newOff, newLen = dropOptionsHeader(buf, off, n, f, l3, plen, hb, prev, hl)
		return newOff, newLen, removedWhole, nil
	}

	// Compact the options that stay. walkHbH validated the structure, so the
	// loop needs no bounds checks beyond Go's own.
	w := 2
	for r := 2; r < hl; {
		t := h[r]
		if t == OptPad1 {
			r++
			continue
		}
		ol := int(h[r+1]) + 2
		if t != OptPadN && t != OptIOAM && t != OptIOAMAlt {
			at := w + (r-w)&7
			PutPad(h[w:], at-w)
			copy(h[at:at+ol], h[r:r+ol])
			w = at + ol
		}
		r += ol
	}
	total := align8(w)
	PutPad(h[w:], total-w)
	shrink := hl - total
	h[1] = uint8(total/8 - 1)
	binary.BigEndian.PutUint16(f[l3+4:], uint16(plen-shrink))
	newOff = off + shrink
	copy(buf[newOff:newOff+hb+total], f[:hb+total])
	return newOff, n - shrink, removedOptions, nil
}

// RemoveDstOptsDEX removes the IOAM options of the Destination Options
// header p.DstOpts (see Packet.DstOpts) the way RemoveDEX does for the
// Hop-by-Hop header: the whole header when only IOAM and padding are left
// (the Next Header octet that announced it then takes its Next Header),
// else the remaining options compacted with canonical padding. The headers
// in front move towards the back. A packet without such a header is left
// unchanged and is not an error. It returns the new frame offset and
// length. Errors: ErrFrameBounds, ErrLayout (also when p.DstOpts is not a
// Destination Options header of the chain that starts at p.L3).
func RemoveDstOptsDEX(buf []byte, off, n int, p *Packet) (newOff, newLen int, err error) {
	f, plen, err := frameIPv6(buf, off, n, p)
	if err != nil {
		return off, n, err
	}
	if p.DstOpts == 0 {
		return off, n, nil
	}
	l3, hb := p.L3, p.DstOpts
	end := l3 + IPv6Len + plen
	if hb < l3+IPv6Len || hb > end-8 {
		return off, n, ErrLayout
	}
	// Find the Next Header octet that announces the header: walk the
	// chain from the IPv6 header (a cold path; Parse keeps no copy).
	prev, at := l3+6, l3+IPv6Len
	for range maxExtHeaders + 1 {
		if at >= hb {
			break
		}
		var hl int
		switch f[prev] {
		case ProtoHopByHop, ProtoRouting, ProtoDstOpts, 135, 139, 140:
			hl = (int(f[at+1]) + 1) << 3
		case ProtoAH:
			hl = (int(f[at+1]) + 2) << 2
		case ProtoFragment:
			hl = 8
		default:
			return off, n, ErrLayout
		}
		prev, at = at, at+hl
		if at > end-2 {
			return off, n, ErrLayout
		}
	}
	if at != hb || f[prev] != ProtoDstOpts {
		return off, n, ErrLayout
	}
	hl := (int(f[hb+1]) + 1) << 3
	if hl > end-hb {
		return off, n, ErrLayout
	}
	newOff, newLen, _, err = removeIOAMOpts(buf, off, n, f, l3, plen, hb, prev, hl)
	return newOff, newLen, err
}

// StripOuter removes the outer IPv6 header and every extension header before
// the inner IPv6 header of an IPv6-in-IPv6 packet (p.Inner != 0), moving the
// link-layer header towards the back onto the inner packet. Following RFC
// 6040 as Linux ip6_tunnel does, ECN CE on the outer header is copied to an
// ECT inner header; a Not-ECT inner packet under an outer CE gives
// ErrECNNotECT (drop it). The inner packet is otherwise untouched.
//
// It returns the new frame offset and length. Errors: ErrFrameBounds,
// ErrLayout, ErrNotTunnel, ErrECNNotECT.
func StripOuter(buf []byte, off, n int, p *Packet) (newOff, newLen int, err error) {
	return stripOuter(buf, off, n, p)
}

// StripOuterUpdate is StripOuter for a caller that goes on with the edited
// frame: where it can, it brings p up to date instead of leaving it stale.
// updated reports that p now describes buf[newOff:newOff+newLen] exactly as
// Parse would: when the inner packet has no extension header and is not a
// tunnel itself (Parse walks an inner chain with other rules than an outer
// one: a Hop-by-Hop header is not validated, Destination Options are not
// looked into). Otherwise (or on error) p is as StripOuter leaves it and
// the caller parses the new frame again. p must be the result of a
// successful Parse of the frame.
func StripOuterUpdate(buf []byte, off, n int, p *Packet) (newOff, newLen int, updated bool, err error) {
	newOff, newLen, err = stripOuter(buf, off, n, p)
	if err != nil || p.L4 != p.Inner+IPv6Len || p.L4Proto == ProtoIPv6 {
		return newOff, newLen, false, err
	}
	// The inner header now sits where the outer one was, at p.L3: what
	// Parse finds behind it is what it found behind the inner header.
	shrink := p.Inner - p.L3
	plen := int(binary.BigEndian.Uint16(buf[newOff+p.L3+4:]))
	p.DstOptsDEX = 0
	p.PayloadLen, p.End = plen, p.L3+IPv6Len+plen
	p.HbH, p.HbHLen = 0, 0
	p.NextHeader = p.L4Proto
	p.clearHbH()
	p.DstOpts, p.Encap, p.Inner = 0, EncapNone, 0
	p.L4 -= shrink
	return newOff, newLen, true, nil
}

// stripOuter does the work of StripOuter.
func stripOuter(buf []byte, off, n int, p *Packet) (newOff, newLen int, err error) {
	f, _, err := frameIPv6(buf, off, n, p)
	if err != nil {
		return off, n, err
	}
	l3, in := p.L3, p.Inner
	if in == 0 {
		return off, n, ErrNotTunnel
	}
	if in < l3+IPv6Len || in > n-IPv6Len || f[in]>>4 != 6 {
		return off, n, ErrLayout
	}
	const ecnCE = 3
	if (f[l3+1]>>4)&3 == ecnCE {
		switch (f[in+1] >> 4) & 3 {
		case 0:
			return off, n, ErrECNNotECT
		default:
			f[in+1] |= ecnCE << 4
		}
	}
	shrink := in - l3
	newOff = off + shrink
	copy(buf[newOff:newOff+l3], f[:l3])
	return newOff, n - shrink, nil
}

// dropOptionsHeader removes the options header of length hl at frame
// offset hb, announced by the Next Header octet at frame offset prev, from
// the frame f = buf[off:off+n] whose IPv6 header at l3 has Payload Length
// plen (all checked by the caller), and returns the new frame offset and
// length. The headers in front move first and are then patched where they
// landed: one header move, and patching first would make the move's loads
// wait for the patch's narrow stores.
func dropOptionsHeader(buf []byte, off, n int, f []byte, l3, plen, hb, prev, hl int) (newOff, newLen int) {
	nh := f[hb]
	newOff, newLen = off+hl, n-hl
	copy(buf[newOff:newOff+hb], f[:hb])
	g := buf[newOff : newOff+newLen]
	g[prev] = nh
	binary.BigEndian.PutUint16(g[l3+4:], uint16(plen-hl))
	return newOff, newLen
}

// walkHbH walks the options of a Hop-by-Hop header h (whole header) and
// returns the Hop-by-Hop offset just past the last non-padding option (2 if
// none), the number of non-padding options, how many of them are IOAM and
// how many of those are DEX (IOAM Option-Type 4). It checks only the
// structure (ErrLayout when an option overruns h), not the rules Parse
// enforces. It serves any options header (Destination Options too).
func walkHbH(h []byte) (lastEnd, nopt, nioam, ndex int, err error) {
	lastEnd = 2
	for o := 2; o < len(h); {
		t := h[o]
		if t == OptPad1 {
			o++
			continue
		}
		if len(h)-o < 2 {
			return 0, 0, 0, 0, ErrLayout
		}
		ol := int(h[o+1]) + 2
		if ol > len(h)-o {
			return 0, 0, 0, 0, ErrLayout
		}
		if t == OptPadN {
			o += ol
			continue
		}
		nopt++
		if t == OptIOAM || t == OptIOAMAlt {
			nioam++
			if ol >= 4 && h[o+3] == IOAMTypeDirectExporting {
				ndex++
			}
		}
		o += ol
		lastEnd = o
	}
	return lastEnd, nopt, nioam, ndex, nil
}

// scanHbH is walkHbH for MergeOverhead: it fails with ErrIOAMPresent when
// the header already carries IOAM.
func scanHbH(h []byte) (lastEnd, nopt int, err error) {
	lastEnd, nopt, nioam, _, err := walkHbH(h)
	if err == nil && nioam > 0 {
		err = ErrIOAMPresent
	}
	return lastEnd, nopt, err
}
