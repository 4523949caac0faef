package packet

import (
	"encoding/binary"
	"math/bits"
)

// Pre-allocated Trace (RFC 9197 §4.4) limits and layout, as the Linux
// kernel implements them (include/uapi/linux/ioam6.h, net/ipv6/ioam6.c).
const (
	// PTODataMax is the largest pre-allocated node data area in octets
	// (Linux IOAM6_TRACE_DATA_SIZE_MAX): RemainingLen is 7 bits of 4-octet
	// units, and the option must fit in its 8-bit Opt Data Len.
	PTODataMax = 244
	// PTOHeaderLen is the IOAM option header (4 octets) plus the trace
	// header (8 octets) in front of the node data.
	PTOHeaderLen = 12

	// PTOFlagOverflow is the Overflow flag in PTO.Flags (IETF flag bit 0,
	// 0x0400 of the 16-bit NodeLen/Flags/RemainingLen word).
	PTOFlagOverflow = 0x8
	// PTOFlagLoopback and PTOFlagActive are RFC 9322's flags bits 1 and 2.
	PTOFlagLoopback = 0x4
	PTOFlagActive   = 0x2

	// traceShortMask covers the Trace-Type bits whose field is 4 octets
	// (bits 0-7, 11 and the undefined 12-21, which a node fills with one
	// all-ones word each), traceWideMask those whose field is 8 octets
	// (bits 8-10). Bit 22 (OSS) is variable and not in NodeLen.
	traceShortMask = 0xFF1FFC
	traceWideMask  = 0x00E000
	traceOSS       = 0x000002
)

// PTONodeLen returns the NodeLen, in 4-octet units, of a Pre-allocated
// Trace with the 24-bit IOAM-Trace-Type t: one unit per short field, two per
// wide field, excluding the Opaque State Snapshot (bit 22). It is Linux
// ioam6_trace_compute_nodelen; a transit Linux drops a trace whose NodeLen
// differs.
func PTONodeLen(t uint32) int {
	return bits.OnesCount32(t&traceShortMask) + 2*bits.OnesCount32(t&traceWideMask)
}

// PTOOptionLen returns the size in octets of a Pre-allocated Trace IOAM
// option with size octets of node data, counting its Option Type and Opt
// Data Len octets.
func PTOOptionLen(size int) int { return PTOHeaderLen + size }

// Insert says which IOAM options an encapsulating node inserts into one
// packet: a Pre-allocated Trace, a DEX option, or both. When both are
// present the trace comes first, at Hop-by-Hop offset 4 exactly where the
// Linux ioam6 lwtunnel puts it, and the DEX option follows it (the trace
// length is a multiple of 4, so DEX stays 4n-aligned).
type Insert struct {
	// HasPTO selects the trace; PTO gives its Namespace, TraceType and,
	// in RemLen, its size in 4-octet units (1 to PTODataMax/4). NodeLen is
	// computed from TraceType and Flags are written as 0.
	HasPTO bool
	PTO    PTO
	// HasDEX selects the DEX option.
	HasDEX bool
	DEX    DEX
}

// ptoLen returns the octets of the trace option of ins, 0 without one.
func (ins *Insert) ptoLen() int {
	if !ins.HasPTO {
		return 0
	}
	return PTOOptionLen(4 * int(ins.PTO.RemLen&0x7F))
}

// hbhLen returns the Hop-by-Hop header length holding ins: 2 octets of
// header, PadN(2), the options, then padding to 8.
func (ins *Insert) hbhLen() int {
	n := 4 + ins.ptoLen()
	if ins.HasDEX {
		n += DEXOptionLen(ins.DEX.ExtFlags)
	}
	return align8(n)
}

// IOAMInlineOverhead returns the octets [InsertIOAMInline] adds: the whole
// Hop-by-Hop header. For a trace alone it is 16 + size rounded up to 8,
// as the kernel's ioam6 lwtunnel; for DEX alone it equals InlineOverhead.
func IOAMInlineOverhead(ins *Insert) int { return ins.hbhLen() }

// IOAMEncapOverhead returns the octets [PushIP6IP6IOAM] adds: the outer
// IPv6 header plus IOAMInlineOverhead.
func IOAMEncapOverhead(ins *Insert) int { return IPv6Len + ins.hbhLen() }

// putHbHBody writes the Hop-by-Hop header body for ins into h (whole
// header, len(h) == ins.hbhLen()), leaving h[0] (Next Header) to the
// caller. It returns the Hop-by-Hop offset of the trace option (4) or 0.
func (ins *Insert) putHbHBody(h []byte) int {
	h[1] = uint8(len(h)/8 - 1)
	h[2], h[3] = OptPadN, 0
	o, pto := 4, 0
	if ins.HasPTO {
		pto = o
		o += putPTOOption(h[o:], &ins.PTO)
	}
	if ins.HasDEX {
		o += PutDEXOption(h[o:], &ins.DEX)
	}
	PutPad(h[o:], len(h)-o)
	return pto
}

// putPTOOption writes a fresh Pre-allocated Trace option (Option Type
// first) for t with 4*t.RemLen octets of zeroed node data, NodeLen from
// t.TraceType and no flags, and returns its length. b must hold it.
func putPTOOption(b []byte, t *PTO) int {
	size := 4 * int(t.RemLen&0x7F)
	n := PTOOptionLen(size)
	b = b[:n]
	b[0] = OptIOAM
	b[1] = uint8(n - 2)
	b[2] = 0
	b[3] = IOAMTypePreallocTrace
	h := PTO{Namespace: t.Namespace, NodeLen: uint8(PTONodeLen(t.TraceType)), RemLen: t.RemLen, TraceType: t.TraceType}
	PutPTO(b[4:], &h)
	b[11] = 0
	clear(b[PTOHeaderLen:])
	return n
}

// InsertIOAMInline is InsertDEXInline for any combination of a
// Pre-allocated Trace and a DEX option (see Insert): it inserts a new
// Hop-by-Hop header right after the IPv6 header of a packet that has none.
// For a trace alone the bytes are exactly the Linux ioam6 lwtunnel's
// inline mode (PadN(2), the option at offset 4, zeroed node data, PadN(4)
// when the size is 4 modulo 8). The trace is empty: the caller fills the
// encapsulating node's own data with [FillPTO] at the returned pto offset.
//
// It returns the new frame offset and length and the frame offset of the
// trace option's Option Type octet (0 without a trace). Errors as
// InsertDEXInline.
func InsertIOAMInline(buf []byte, off, n int, p *Packet, ins *Insert) (newOff, newLen, pto int, err error) {
	f, plen, err := frameIPv6(buf, off, n, p)
	if err != nil {
		return off, n, 0, err
	}
	l3 := p.L3
	if f[l3+6] == ProtoHopByHop {
		return off, n, 0, ErrHasHbH
	}
	size := ins.hbhLen()
	if plen+size > 0xFFFF || off < size {
		return off, n, 0, growthErr(plen, size)
	}
	newOff, g, h := openHbH(buf, f, off, n, l3, size)
	if o := ins.putHbHBody(h); o != 0 {
		pto = l3 + IPv6Len + o
	}
	g[l3+6] = ProtoHopByHop
	binary.BigEndian.PutUint16(g[l3+4:], uint16(plen+size))
	return newOff, n + size, pto, nil
}

// PushIP6IP6IOAM is PushIP6IP6 for any combination of a Pre-allocated Trace
// and a DEX option (see Insert), as the Linux ioam6 lwtunnel's encap mode
// builds it. It returns the new frame offset and length and the frame
// offset of the trace option (0 without one). Errors as PushIP6IP6.
func PushIP6IP6IOAM(buf []byte, off, n int, p *Packet, ins *Insert, src, dst [16]byte) (newOff, newLen, pto int, err error) {
	f, plen, err := frameIPv6(buf, off, n, p)
	if err != nil {
		return off, n, 0, err
	}
	l3 := p.L3
	hbh := ins.hbhLen()
	size := IPv6Len + hbh
	if plen+size > 0xFFFF || off < size {
		return off, n, 0, growthErr(plen, size)
	}
	newOff, g, h := openOuter(buf, f, off, n, l3, size)
	putOuterIPv6(g[l3:l3+IPv6Len], f[l3:l3+IPv6Len], hbh+IPv6Len+plen, &src, &dst)
	if x := ins.putHbHBody(h); x != 0 {
		pto = l3 + IPv6Len + x
	}
	return newOff, n + size, pto, nil
}

// NodeData is what one node writes into a Pre-allocated Trace: every value
// a Trace-Type bit may ask for, as host integers (FillPTO writes them
// big-endian). Fields whose bit is not set are ignored. A node that cannot
// provide a value sets it to all-ones of its width (RFC 9197 §4.4.2).
type NodeData struct {
	// HopLimit is the Hop_Lim octet of bits 0 and 8. The kernel writes the
	// received hop limit minus one at a transit node and the hop limit of
	// the packet as sent at the encapsulating node.
	HopLimit uint8
	// NodeID (24 bits, bit 0) and NodeIDWide (56 bits, bit 8).
	NodeID     uint32
	NodeIDWide uint64
	// IfIn/IfOut (bit 1) and IfInWide/IfOutWide (bit 9).
	IfIn, IfOut         uint16
	IfInWide, IfOutWide uint32
	// TsSec and TsFrac (bits 2, 3): receive time, POSIX seconds and
	// microseconds, as Linux.
	TsSec, TsFrac uint32
	// TransitDelay (bit 4), nanoseconds, MSB = overflow.
	TransitDelay uint32
	// NSData (bit 5) and NSDataWide (bit 10): the namespace data.
	NSData     uint32
	NSDataWide uint64
	// QueueDepth (bit 6) and BufferOccupancy (bit 11).
	QueueDepth, BufferOccupancy uint32
	// HasSchema selects the Opaque State Snapshot of bit 22: SchemaID
	// (24 bits) and SchemaData (a multiple of 4 octets, at most 1020).
	// Without a schema the node writes the single word 0x00FFFFFF, as
	// Linux.
	HasSchema  bool
	SchemaID   uint32
	SchemaData []byte
}

// FillResult says what FillPTO did.
type FillResult uint8

// FillPTO results.
const (
	// FillWritten: the node's data is in the trace and RemainingLen shrank
	// by NodeLen (plus the OSS words).
	FillWritten FillResult = iota
	// FillOverflowed: the data did not fit; the Overflow flag is now set
	// and nothing else changed.
	FillOverflowed
	// FillSkipped: the Overflow flag was already set; nothing changed
	// (Linux skips such traces).
	FillSkipped
	// FillMalformed: the option is not a Pre-allocated Trace this node may
	// write into (RemainingLen past the option, NodeLen not matching the
	// Trace-Type, data area not a multiple of 4); nothing changed.
	FillMalformed
)

// String returns "written", "overflowed", "skipped" or "malformed".
func (r FillResult) String() string {
	switch r {
	case FillWritten:
		return "written"
	case FillOverflowed:
		return "overflowed"
	case FillSkipped:
		return "skipped"
	}
	return "malformed"
}

// FillPTO writes this node's data into the Pre-allocated Trace option opt
// (Option Type octet first; opt may extend past the option) as Linux
// ioam6_fill_trace_data does: the fields of every set Trace-Type bit in bit
// order, at the slot that ends where the free space ends (the data area
// offset 4*RemainingLen), then RemainingLen decreases by NodeLen plus the
// OSS words. With too little room it sets Overflow instead; with Overflow
// already set it does nothing. Nothing outside the node's slot, the
// RemainingLen bits and the Overflow bit changes. It does not allocate.
func FillPTO(opt []byte, d *NodeData) FillResult {
	if len(opt) < PTOHeaderLen || int(opt[1])+2 > len(opt) || int(opt[1]) < PTOHeaderLen-2 || opt[3] != IOAMTypePreallocTrace {
		return FillMalformed
	}
	area := int(opt[1]) + 2 - PTOHeaderLen
	w := binary.BigEndian.Uint16(opt[6:8])
	nodeLen := int(w >> 11)
	rem := int(w & 0x7F)
	tt := binary.BigEndian.Uint32(opt[8:12]) >> 8
	if area&3 != 0 || 4*rem > area || nodeLen != PTONodeLen(tt) {
		return FillMalformed
	}
	if w&(PTOFlagOverflow<<7) != 0 {
		return FillSkipped
	}
	sc := 0
	if tt&traceOSS != 0 {
		sc = 1
		if d.HasSchema {
			sc += len(d.SchemaData) / 4
		}
	}
	if rem == 0 || rem < nodeLen+sc {
		binary.BigEndian.PutUint16(opt[6:8], w|PTOFlagOverflow<<7)
		return FillOverflowed
	}
	b := opt[PTOHeaderLen+4*(rem-nodeLen-sc) : PTOHeaderLen+4*rem]
	putNodeData(b, tt, d)
	binary.BigEndian.PutUint16(opt[6:8], w&^0x7F|uint16(rem-nodeLen-sc))
	return FillWritten
}

// putNodeData writes the node data fields of trace type tt into b, which
// is exactly as long as they are.
func putNodeData(b []byte, tt uint32, d *NodeData) {
	be := binary.BigEndian
	o := 0
	put32 := func(v uint32) { be.PutUint32(b[o:], v); o += 4 }
	if tt&0x800000 != 0 {
		put32(uint32(d.HopLimit)<<24 | d.NodeID&0xFFFFFF)
	}
	if tt&0x400000 != 0 {
		put32(uint32(d.IfIn)<<16 | uint32(d.IfOut))
	}
	if tt&0x200000 != 0 {
		put32(d.TsSec)
	}
	if tt&0x100000 != 0 {
		put32(d.TsFrac)
	}
	if tt&0x080000 != 0 {
		put32(d.TransitDelay)
	}
	if tt&0x040000 != 0 {
		put32(d.NSData)
	}
	if tt&0x020000 != 0 {
		put32(d.QueueDepth)
	}
	if tt&0x010000 != 0 {
		put32(0xFFFFFFFF) // checksum complement: not computed, as Linux
	}
	if tt&0x008000 != 0 {
		be.PutUint64(b[o:], uint64(d.HopLimit)<<56|d.NodeIDWide&(1<<56-1))
		o += 8
	}
	if tt&0x004000 != 0 {
		put32(d.IfInWide)
		put32(d.IfOutWide)
	}
	if tt&0x002000 != 0 {
		be.PutUint64(b[o:], d.NSDataWide)
		o += 8
	}
	if tt&0x001000 != 0 {
		put32(d.BufferOccupancy)
	}
	for m := uint32(0x000800); m >= 0x000004; m >>= 1 {
		if tt&m != 0 {
			put32(0xFFFFFFFF) // undefined bits 12-21: one all-ones word each
		}
	}
	if tt&traceOSS != 0 {
		if !d.HasSchema {
			put32(0x00FFFFFF)
		} else {
			put32(uint32(len(d.SchemaData)/4)<<24 | d.SchemaID&0xFFFFFF)
			copy(b[o:], d.SchemaData[:len(d.SchemaData)&^3])
		}
	}
}

// PTONode is one node's entry in a trace, as [PTONodes] yields it.
type PTONode struct {
	// Data is the node's data (NodeLen*4 octets, plus an OSS when the
	// Trace-Type has bit 22), a sub-slice of the option.
	Data []byte
	// Offset is Data's offset within the node data area.
	Offset int
}

// PTONodes calls fn for each node entry written in the trace option opt
// (Option Type first), most recent (the last node to write, lowest offset)
// first, and returns how many it found. Entries are NodeLen*4 octets; with
// bit 22 set each entry is followed by its OSS, whose Length octet gives its
// size. It stops at the first entry that does not fit (a hostile
// RemainingLen or OSS Length) and reports ok false then.
func PTONodes(opt []byte, fn func(PTONode)) (count int, ok bool) {
	t, err := DecodePTOOption(opt)
	if err != nil {
		return 0, false
	}
	area := opt[PTOHeaderLen : PTOHeaderLen+t.DataLen]
	o := 4 * int(t.RemLen)
	nl := 4 * int(t.NodeLen)
	if o > len(area) {
		return 0, false
	}
	for o < len(area) {
		l := nl
		if t.TraceType&traceOSS != 0 {
			if o+nl+4 > len(area) {
				return count, false
			}
			l += 4 + 4*int(area[o+nl]) // OSS Length counts the words after its header
		}
		if l == 0 || o+l > len(area) {
			return count, false
		}
		if fn != nil {
			fn(PTONode{Data: area[o : o+l], Offset: o})
		}
		count++
		o += l
	}
	return count, true
}

// DecodeNodeData reads one node's entry b (as PTONodes yields it) of a
// trace with trace type tt into d, the inverse of what FillPTO writes.
// Fields of bits not in tt are zero; SchemaData aliases b. It reports false
// when b is too short for tt.
func DecodeNodeData(b []byte, tt uint32, d *NodeData) bool {
	*d = NodeData{}
	need := 4 * PTONodeLen(tt)
	if tt&traceOSS != 0 {
		need += 4
	}
	if len(b) < need {
		return false
	}
	be := binary.BigEndian
	o := 0
	get32 := func() uint32 { v := be.Uint32(b[o:]); o += 4; return v }
	if tt&0x800000 != 0 {
		v := get32()
		d.HopLimit, d.NodeID = uint8(v>>24), v&0xFFFFFF
	}
	if tt&0x400000 != 0 {
		v := get32()
		d.IfIn, d.IfOut = uint16(v>>16), uint16(v)
	}
	if tt&0x200000 != 0 {
		d.TsSec = get32()
	}
	if tt&0x100000 != 0 {
		d.TsFrac = get32()
	}
	if tt&0x080000 != 0 {
		d.TransitDelay = get32()
	}
	if tt&0x040000 != 0 {
		d.NSData = get32()
	}
	if tt&0x020000 != 0 {
		d.QueueDepth = get32()
	}
	if tt&0x010000 != 0 {
		get32() // checksum complement
	}
	if tt&0x008000 != 0 {
		v := be.Uint64(b[o:])
		o += 8
		d.HopLimit, d.NodeIDWide = uint8(v>>56), v&(1<<56-1)
	}
	if tt&0x004000 != 0 {
		d.IfInWide = get32()
		d.IfOutWide = get32()
	}
	if tt&0x002000 != 0 {
		d.NSDataWide = be.Uint64(b[o:])
		o += 8
	}
	if tt&0x001000 != 0 {
		d.BufferOccupancy = get32()
	}
	for m := uint32(0x000800); m >= 0x000004; m >>= 1 {
		if tt&m != 0 {
			get32()
		}
	}
	if tt&traceOSS != 0 {
		v := get32()
		d.SchemaID = v & 0xFFFFFF
		if l := 4 * int(v>>24); l > 0 || d.SchemaID != 0xFFFFFF {
			d.HasSchema = true
			d.SchemaData = b[o:min(o+l, len(b))]
		}
	}
	return true
}
