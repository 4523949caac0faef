package packet

import (
	"bytes"
	"encoding/hex"
	"testing"
)

// PTO vectors. The layout of the kernel's ioam6 lwtunnel: HbH header,
// PadN(2), the trace option at HbH offset 4, its zeroed pre-allocated data,
// PadN(4) when the size is 4 modulo 8.
const (
	// (p1) inline PTO, ns 123, type 0x800000, size 12, after the
	// encapsulating node filled its own slot (Hop_Lim 64, node_id 1).
	vecP1 = "" +
		"60000000" + "002c" + "00" + "40" + ip6Src + ip6Dst + // payload 12+32, NH HbH
		"11" + "03" + // HbH: NH UDP, Hdr Ext Len 3 (32 octets)
		"0100" + // PadN(2)
		"31" + "16" + "00" + "00" + // IOAM, Opt Data Len 22 (2+8+12), PTO
		"007b" + "0802" + // ns 123 | NodeLen 1, Flags 0, RemLen 2 (was 3)
		"800000" + "00" + // Trace-Type 0x800000, Reserved
		"00000000" + "00000000" + // 8 free octets
		"40000001" + // node 0 (encap): Hop_Lim 64, node_id 1
		"01020000" + // PadN(4)
		udpPing

	// (p2) ip6ip6 PTO + DEX on one route: ns 123, type 0xC00000 (NodeLen 2),
	// size 16; DEX ns 123 type 0x800000 ext 0xC0 follows the trace.
	vecP2 = "" +
		"60000000" + "006c" + "00" + "40" + tunSrc + tunDst + // payload 108 = HbH 56 + inner 52
		"29" + "06" + // HbH: NH IPv6, Hdr Ext Len 6 (56 octets)
		"0100" + // PadN(2)
		"31" + "1a" + "00" + "00" + // IOAM, Opt Data Len 26 (2+8+16), PTO
		"007b" + "1002" + // ns 123 | NodeLen 2, RemLen 2 (was 4)
		"c00000" + "00" +
		"00000000" + "00000000" + // free
		"40000001" + "00050006" + // encap node: Hop_Lim 64 node 1 | in 5 out 6
		"31" + "12" + "00" + "04" + // DEX at HbH offset 32
		"007b" + "00" + "c0" + "800000" + "00" + "12345678" + "00000007" +
		"01020000" + // PadN(4) to 56
		vecPlain
)

var (
	ptoP1 = Insert{HasPTO: true, PTO: PTO{Namespace: 123, TraceType: 0x800000, RemLen: 3}}
	ptoP2 = Insert{HasPTO: true, PTO: PTO{Namespace: 123, TraceType: 0xC00000, RemLen: 4},
		HasDEX: true, DEX: DEX{Namespace: 123, TraceType: 0x800000, ExtFlags: 0xC0, FlowID: 0x12345678, Seq: 7}}
)

func TestPTOVectorsLength(t *testing.T) {
	for name, v := range map[string]string{"p1": vecP1, "p2": vecP2} {
		b := mustHex(t, v)
		var p Packet
		if err := ParseIPv6(b, 0, &p); err != nil {
			t.Fatalf("%s: %v", name, p.Detail(err))
		}
		if !p.HasPTO {
			t.Errorf("%s: no PTO parsed", name)
		}
	}
}

func TestPTONodeLen(t *testing.T) {
	for _, tc := range []struct {
		tt   uint32
		want int
	}{
		{0x800000, 1}, {0xC00000, 2}, {0xF00000, 4}, {0xFF0000, 8}, {0x008000, 2}, {0x00E000, 6},
		{0xFFF000, 15}, {0x000002, 0}, {0x000001, 0}, {0x000800, 1}, {0x000FFC, 10}, {0xFFFFFF, 25},
	} {
		if got := PTONodeLen(tc.tt); got != tc.want {
			t.Errorf("PTONodeLen(0x%06x) = %d, want %d", tc.tt, got, tc.want)
		}
	}
}

// TestGoldenPTOInsert builds p1 (inline) and p2 (ip6ip6, PTO + DEX) from the
// plain packet behind each link header, fills the encapsulating node's slot
// as the kernel's output path does, and compares every octet.
func TestGoldenPTOInsert(t *testing.T) {
	var src, dst [16]byte
	hex.Decode(src[:], []byte(tunSrc))
	hex.Decode(dst[:], []byte(tunDst))
	cases := []struct {
		name string
		ins  Insert
		want string
		nd   NodeData
	}{
		{"p1", ptoP1, vecP1, NodeData{HopLimit: 64, NodeID: 1}},
		{"p2", ptoP2, vecP2, NodeData{HopLimit: 64, NodeID: 1, IfIn: 5, IfOut: 6}},
	}
	for _, tc := range cases {
		for _, link := range []string{"", ethHdr, ethVLANHdr} {
			t.Run(tc.name+"/"+map[string]string{"": "raw", ethHdr: "eth", ethVLANHdr: "vlan"}[link], func(t *testing.T) {
				orig := mustHex(t, link+vecPlain)
				buf, off := frameIn(128, orig)
				var p Packet
				if err := parseAny(orig, len(link)/2, &p); err != nil {
					t.Fatal(p.Detail(err))
				}
				var no, nn, pto int
				var err error
				if tc.name == "p2" {
					no, nn, pto, err = PushIP6IP6IOAM(buf, off, len(orig), &p, &tc.ins, src, dst)
				} else {
					no, nn, pto, err = InsertIOAMInline(buf, off, len(orig), &p, &tc.ins)
				}
				if err != nil {
					t.Fatal(err)
				}
				if want := len(link)/2 + 40 + 4; pto != want {
					t.Errorf("pto offset %d, want %d", pto, want)
				}
				if r := FillPTO(buf[no+pto:no+nn], &tc.nd); r != FillWritten {
					t.Fatalf("fill: %v", r)
				}
				if want := mustHex(t, link+tc.want); !bytes.Equal(buf[no:no+nn], want) {
					t.Errorf("got  %x\nwant %x", buf[no:no+nn], want)
				}
				var q Packet
				if err := parseAny(buf[no:no+nn], len(link)/2, &q); err != nil {
					t.Fatal(q.Detail(err))
				}
				if !q.HasPTO || q.PTO.RemLen != tc.ins.PTO.RemLen-uint8(PTONodeLen(tc.ins.PTO.TraceType)) || q.HasDEX != tc.ins.HasDEX {
					t.Errorf("reparse: %+v", q.PTO)
				}
			})
		}
	}
}

// TestGoldenPTOTransit fills vector (e)'s last free slot as a transit node,
// then overflows, then skips; only the slot, RemainingLen and Overflow
// change.
func TestGoldenPTOTransit(t *testing.T) {
	b := mustHex(t, vecE)
	opt := b[44:]
	if r := FillPTO(opt, &NodeData{HopLimit: 62, NodeID: 2}); r != FillWritten {
		t.Fatalf("fill 1: %v", r)
	}
	want1 := mustHex(t, ""+
		"600000000024004020010db800000000000000000000000120010db80000000000000000000000021102010031120000"+
		"007b"+"0800"+ // RemLen 1 -> 0
		"80000000"+
		"3e000002"+ // node 1 (transit): Hop_Lim 62, node_id 2
		"3f000001"+ // node 0 unchanged
		udpPing)
	if !bytes.Equal(b, want1) {
		t.Fatalf("after fill\n got %x\nwant %x", b, want1)
	}
	if r := FillPTO(opt, &NodeData{HopLimit: 61, NodeID: 3}); r != FillOverflowed {
		t.Fatalf("fill 2: %v", r)
	}
	want2 := append([]byte(nil), want1...)
	want2[50] = 0x0c // NodeLen 1 | Overflow (0x0400)
	if !bytes.Equal(b, want2) {
		t.Fatalf("after overflow\n got %x\nwant %x", b, want2)
	}
	if r := FillPTO(opt, &NodeData{HopLimit: 60, NodeID: 4}); r != FillSkipped {
		t.Fatalf("fill 3: %v", r)
	}
	if !bytes.Equal(b, want2) {
		t.Fatalf("skipped fill changed the packet")
	}
	n, ok := PTONodes(opt, nil)
	if n != 2 || !ok {
		t.Errorf("PTONodes = %d, %v", n, ok)
	}
}

// TestPTOAllFields writes one node with every field the kernel fills, in
// bit order, with the kernel's constants for the fields it cannot provide.
func TestPTOAllFields(t *testing.T) {
	const tt = 0xFFF802 // bits 0-12, 22
	nd := NodeData{
		HopLimit: 0x3f, NodeID: 0x0a0b0c, NodeIDWide: 0x01020304050607,
		IfIn: 5, IfOut: 6, IfInWide: 0x50, IfOutWide: 0x60,
		TsSec: 0x11111111, TsFrac: 0x22222222, TransitDelay: 0x33, NSData: 0x44444444, NSDataWide: 0x5555555555555555,
		QueueDepth: 0x66, BufferOccupancy: 0x77,
		HasSchema: true, SchemaID: 0x000777, SchemaData: []byte{1, 2, 3, 4, 5, 6, 7, 8},
	}
	want := "" +
		"3f0a0b0c" + // bit 0
		"00050006" + // bit 1
		"11111111" + "22222222" + // bits 2, 3
		"00000033" + // bit 4
		"44444444" + // bit 5
		"00000066" + // bit 6
		"ffffffff" + // bit 7 checksum complement: unavailable
		"3f01020304050607" + // bit 8
		"00000050" + "00000060" + // bit 9
		"5555555555555555" + // bit 10
		"00000077" + // bit 11
		"ffffffff" + // bit 12 undefined
		"02000777" + "0102030405060708" // bit 22: Length 2, Schema ID 0x777, data
	nl := PTONodeLen(tt)
	size := 4*nl + 12
	opt := make([]byte, PTOOptionLen(size))
	putPTOOption(opt, &PTO{Namespace: 1, TraceType: tt, RemLen: uint8(size / 4)})
	if r := FillPTO(opt, &nd); r != FillWritten {
		t.Fatalf("fill: %v", r)
	}
	if got := hex.EncodeToString(opt[PTOHeaderLen:]); got != want {
		t.Errorf("got  %s\nwant %s", got, want)
	}
	if opt[7]&0x7F != 0 {
		t.Errorf("RemLen %d, want 0", opt[7]&0x7F)
	}
	var seen []PTONode
	if n, ok := PTONodes(opt, func(x PTONode) { seen = append(seen, x) }); n != 1 || !ok || len(seen[0].Data) != size {
		t.Errorf("PTONodes: %d %v %d", n, ok, len(seen))
	}
	// Without a schema, bit 22 is the single word 0x00FFFFFF.
	opt2 := make([]byte, PTOOptionLen(8))
	putPTOOption(opt2, &PTO{TraceType: 0x800002, RemLen: 2})
	FillPTO(opt2, &NodeData{HopLimit: 1, NodeID: 2})
	if got := hex.EncodeToString(opt2[PTOHeaderLen:]); got != "0100000200ffffff" {
		t.Errorf("no schema: %s", got)
	}
}

// TestPTOHostile: malformed traces are refused by Parse (as Linux) or left
// untouched by FillPTO.
func TestPTOHostile(t *testing.T) {
	base := mustHex(t, vecE)
	mut := func(f func(b []byte)) []byte {
		b := append([]byte(nil), base...)
		f(b)
		return b
	}
	for _, tc := range []struct {
		name string
		b    []byte
		err  error
	}{
		{"remlen past end", mut(func(b []byte) { b[51] = 3 }), ErrPTORemLen},
		{"nodelen mismatch", mut(func(b []byte) { b[50] = 0x10 | b[50]&7 }), ErrPTONodeLen},
		{"overflow set", mut(func(b []byte) { b[50] |= 0x04 }), nil},
	} {
		var p Packet
		if err := ParseIPv6(tc.b, 0, &p); err != tc.err {
			t.Errorf("%s: parse %v, want %v", tc.name, err, tc.err)
		}
		before := append([]byte(nil), tc.b...)
		r := FillPTO(tc.b[44:], &NodeData{HopLimit: 1, NodeID: 1})
		want := FillMalformed
		if tc.err == nil {
			want = FillSkipped
		}
		if r != want || !bytes.Equal(before, tc.b) {
			t.Errorf("%s: fill %v, changed %v", tc.name, r, !bytes.Equal(before, tc.b))
		}
	}
	// A data area that is not a multiple of 4: parse accepts it (Linux
	// does), FillPTO refuses.
	opt := make([]byte, PTOOptionLen(6))
	putPTOOption(opt, &PTO{TraceType: 0x800000, RemLen: 1})
	opt[1] = uint8(len(opt) - 2)
	if r := FillPTO(opt, &NodeData{}); r != FillMalformed {
		t.Errorf("size 6: %v", r)
	}
}

// ptoInsertFill returns one round of an encapsulating node's trace work on
// vecPlain behind 128 octets of headroom: restore the frame's first keep
// octets (all of them when keep is 0), insert ptoP1 inline and fill this
// node's data fills times.
func ptoInsertFill(tb testing.TB, keep, fills int) func() {
	tb.Helper()
	orig := mustHex(tb, ethHdr+vecPlain)
	buf, off := frameIn(128, orig)
	var p Packet
	if err := Parse(orig, &p); err != nil {
		tb.Fatal(err)
	}
	if keep == 0 {
		keep = len(orig)
	}
	ins := ptoP1
	nd := NodeData{HopLimit: 64, NodeID: 1}
	return func() {
		copy(buf[off:], orig[:keep])
		no, nn, pto, _ := InsertIOAMInline(buf, off, len(orig), &p, &ins)
		for range fills {
			FillPTO(buf[no+pto:no+nn], &nd)
		}
	}
}

func TestPTONoAlloc(t *testing.T) {
	allocs := testing.AllocsPerRun(100, ptoInsertFill(t, 0, 2))
	if allocs != 0 {
		t.Errorf("%v allocs per run", allocs)
	}
}

func benchPTOFill(b *testing.B, size int, tt uint32) {
	opt := make([]byte, PTOOptionLen(size))
	putPTOOption(opt, &PTO{Namespace: 123, TraceType: tt, RemLen: uint8(size / 4)})
	hdr := [2]byte{opt[6], opt[7]}
	nd := NodeData{HopLimit: 63, NodeID: 7, IfIn: 5, IfOut: 6}
	b.ReportAllocs()
	for b.Loop() {
		if FillPTO(opt, &nd) != FillWritten {
			opt[6], opt[7] = hdr[0], hdr[1]
		}
	}
}

// BenchmarkFillPTO12 and BenchmarkFillPTO48 are the transit write of one
// node (trace type 0xC00000: hop limit + node id, interface ids).
func BenchmarkFillPTO12(b *testing.B) { benchPTOFill(b, 12, 0x800000) }
func BenchmarkFillPTO48(b *testing.B) { benchPTOFill(b, 48, 0xC00000) }

// BenchmarkInsertPTOInline restores only the 54 header octets the insert
// moves.
func BenchmarkInsertPTOInline(b *testing.B) {
	insertFill := ptoInsertFill(b, 54, 1)
	b.ReportAllocs()
	for b.Loop() {
		insertFill()
	}
}

func TestDecodeNodeDataRoundTrip(t *testing.T) {
	const tt = 0xFFF002
	in := NodeData{HopLimit: 9, NodeID: 0x0a0b0c, NodeIDWide: 0x01020304050607, IfIn: 5, IfOut: 6, IfInWide: 7, IfOutWide: 8,
		TsSec: 1, TsFrac: 2, TransitDelay: 3, NSData: 4, NSDataWide: 5, QueueDepth: 6, BufferOccupancy: 7,
		HasSchema: true, SchemaID: 0x777, SchemaData: []byte{1, 2, 3, 4}}
	size := 4*PTONodeLen(tt) + 8
	opt := make([]byte, PTOOptionLen(size))
	putPTOOption(opt, &PTO{TraceType: tt, RemLen: uint8(size / 4)})
	if r := FillPTO(opt, &in); r != FillWritten {
		t.Fatal(r)
	}
	var out NodeData
	if !DecodeNodeData(opt[PTOHeaderLen:], tt, &out) {
		t.Fatal("decode failed")
	}
	if out.HopLimit != 9 || out.NodeID != in.NodeID || out.NodeIDWide != in.NodeIDWide || out.IfOutWide != 8 ||
		out.BufferOccupancy != 7 || !out.HasSchema || out.SchemaID != 0x777 || !bytes.Equal(out.SchemaData, in.SchemaData) {
		t.Errorf("round trip: %+v", out)
	}
}
