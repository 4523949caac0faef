package packet

import (
	"bytes"
	"encoding/hex"
	"testing"
)

func TestOverheads(t *testing.T) {
	tests := []struct {
		ext                uint8
		opt, inline, encap int
	}{
		{0x00, 12, 16, 56}, {0x80, 16, 24, 64}, {0x40, 16, 24, 64}, {0xC0, 20, 24, 64},
		{0xE0, 24, 32, 72}, {0xFF, 44, 48, 88},
	}
	for _, tt := range tests {
		if got := DEXOptionLen(tt.ext); got != tt.opt {
			t.Errorf("DEXOptionLen(%#x) = %d, want %d", tt.ext, got, tt.opt)
		}
		if got := InlineOverhead(tt.ext); got != tt.inline {
			t.Errorf("InlineOverhead(%#x) = %d, want %d", tt.ext, got, tt.inline)
		}
		if got := EncapOverhead(tt.ext); got != tt.encap {
			t.Errorf("EncapOverhead(%#x) = %d, want %d", tt.ext, got, tt.encap)
		}
	}
}

func TestMergeOverhead(t *testing.T) {
	frame := mustHex(t, ethHdr+vecD0)
	var p Packet
	if err := Parse(frame, &p); err != nil {
		t.Fatal(err)
	}
	if n, err := MergeOverhead(frame, &p, 0); n != 16 || err != nil {
		t.Errorf("MergeOverhead(d0) = %d, %v; want 16", n, err)
	}
	if n, err := MergeOverhead(frame, &p, 0xC0); n != 24 || err != nil {
		t.Errorf("MergeOverhead(d0, 0xC0) = %d, %v; want 24", n, err)
	}
	frame = mustHex(t, ethHdr+vecA)
	_ = Parse(frame, &p)
	if _, err := MergeOverhead(frame, &p, 0); err != ErrIOAMPresent {
		t.Errorf("MergeOverhead(a) err %v", err)
	}
	frame = mustHex(t, ethHdr+vecPlain)
	_ = Parse(frame, &p)
	if _, err := MergeOverhead(frame, &p, 0); err != ErrNoHbH {
		t.Errorf("MergeOverhead(plain) err %v", err)
	}
}

// TestDEXOptionCodec round-trips PutDEXOption / DecodeDEXOption, including
// unassigned extension flags (written as zero fields).
func TestDEXOptionCodec(t *testing.T) {
	for _, d := range []DEX{dexA, dexB, dexB2, dexC,
		{Namespace: 0xFFFF, Flags: 0xAA, ExtFlags: 0x40, TraceType: 0xFFFFFF, Seq: 0xFFFFFFFF},
		{Namespace: 1, ExtFlags: 0xFF, TraceType: 0x800000, FlowID: 1, Seq: 2},
	} {
		b := make([]byte, 64)
		n := PutDEXOption(b, &d)
		if n != DEXOptionLen(d.ExtFlags) {
			t.Fatalf("PutDEXOption = %d", n)
		}
		got, err := DecodeDEXOption(b[:n])
		if err != nil || got != d {
			t.Errorf("round trip %+v -> %x -> %+v, %v", d, b[:n], got, err)
		}
		if PutDEXOption(b[:n-1], &d) != 0 {
			t.Error("PutDEXOption wrote into a short buffer")
		}
	}
	// Trace-Type is masked to 24 bits, Reserved stays 0.
	b := make([]byte, 12)
	PutDEXOption(b, &DEX{TraceType: 0xFF800000})
	if b[8] != 0x80 || b[11] != 0 {
		t.Errorf("trace type not masked: %x", b)
	}
	for _, bad := range []string{"", "31", "3112000400", "1e0a0004007b000080000000", "310a0000007b000080000000"} {
		if _, err := DecodeDEXOption(mustHex(t, bad)); err == nil {
			t.Errorf("DecodeDEXOption(%s) accepted", bad)
		}
	}
}

// TestRemoveRepad removes IOAM from headers that keep other options and
// checks the exact re-padded bytes.
func TestRemoveRepad(t *testing.T) {
	tests := []struct{ name, in, out string }{
		{"option after ioam keeps offset mod 8",
			"1102 0100 " + optA + " 1e02abcd 01020000",
			"1101 010400000000 1e02abcd 01020000"},
		{"options around ioam",
			"1102 1e00 " + optA + " 1e02abcd 3e00 0100",
			"1101 1e00 01020000 1e02abcd 3e00 0100"},
		{"4n+2 option keeps its alignment",
			"1102 0100 " + optA + " 0100 3e0400000000",
			"1100 3e0400000000"},
		{"two ioam and an option between",
			"1103 0100 " + optA + " 1e02abcd " + optA,
			"1101 010400000000 1e02abcd 01020000"},
		{"pto and dex removed, option kept",
			"1104 0100 31120000007b080180000000000000003f000001 " + optA + " 1e02abcd",
			"1100 0100 1e02abcd"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			in := mustHex(t, ethHdr+hbh(tt.in))
			want := mustHex(t, ethHdr+hbh(tt.out))
			var p Packet
			if err := Parse(in, &p); err != nil {
				t.Fatalf("input: %v", p.Detail(err))
			}
			buf, off := frameIn(16, in)
			no, nn, err := RemoveDEX(buf, off, len(in), &p)
			if err != nil {
				t.Fatal(err)
			}
			got := buf[no : no+nn]
			if !bytes.Equal(got, want) {
				t.Errorf("got  %x\nwant %x", got, want)
			}
			if err := Parse(got, &p); err != nil || p.NumIOAM != 0 {
				t.Errorf("result: %v, %d IOAM", p.Detail(err), p.NumIOAM)
			}
		})
	}
}

// TestEditErrors checks each editor error and that the buffer is untouched.
func TestEditErrors(t *testing.T) {
	var src, dst [16]byte
	d := dexC
	ins := func(b []byte, o, n int, p *Packet) (int, int, error) { return InsertDEXInline(b, o, n, p, &d) }
	mrg := func(b []byte, o, n int, p *Packet) (int, int, error) { return MergeDEXIntoHbH(b, o, n, p, &d) }
	psh := func(b []byte, o, n int, p *Packet) (int, int, error) { return PushIP6IP6(b, o, n, p, &d, src, dst) }
	big := ip6(ProtoUDP, "9c401389ffe90000"+string(bytes.Repeat([]byte("00"), 0xFFE1)))
	bigHbH := ip6(0, "1100 1e02abcd 0100"+"9c401389ffe90000"+string(bytes.Repeat([]byte("00"), 0xFFD9)))
	eightOpts := hbh("1102" + "1e00 1e00 1e00 1e00 1e00 1e00 1e00 1e00" + "01020000 0000")
	ceNotECT := "6030000000" + vecC[10:] // outer TC 0x03 (CE), inner Not-ECT
	tests := []struct {
		name     string
		frame    string
		headroom int
		edit     func([]byte, int, int, *Packet) (int, int, error)
		tweak    func(p *Packet, off, n *int)
		want     error
	}{
		{"insert no room", vecPlain, 23, ins, nil, ErrNoRoom},
		{"insert has hbh", vecA, 64, ins, nil, ErrHasHbH},
		{"insert too long", big, 64, ins, nil, ErrTooLong},
		{"insert bad bounds", vecPlain, 64, ins, func(p *Packet, off, n *int) { *n += 1 }, ErrFrameBounds},
		{"insert negative off", vecPlain, 64, ins, func(p *Packet, off, n *int) { *off = -1 }, ErrFrameBounds},
		{"insert stale layout", vecPlain, 64, ins, func(p *Packet, off, n *int) { p.L3 = 30 }, ErrLayout},
		{"insert layout beyond frame", vecPlain, 64, ins, func(p *Packet, off, n *int) { p.L3 = 1 << 30 }, ErrLayout},
		{"merge no hbh", vecPlain, 64, mrg, nil, ErrNoHbH},
		{"merge ioam present", vecA, 64, mrg, nil, ErrIOAMPresent},
		{"merge no room", vecD0, 23, mrg, nil, ErrNoRoom},
		{"merge too many", eightOpts, 64, mrg, nil, ErrTooManyOptions},
		{"merge too long", bigHbH, 64, mrg, nil, ErrTooLong},
		{"merge stale layout", vecD0, 64, mrg, func(p *Packet, off, n *int) { p.HbH = 0 }, ErrLayout},
		{"push no room", vecPlain, 63, psh, nil, ErrNoRoom},
		{"push too long", big, 128, psh, nil, ErrTooLong},
		{"remove stale layout", vecA, 0, RemoveDEX, func(p *Packet, off, n *int) { *n = 20 }, ErrLayout},
		{"strip not tunnel", vecA, 0, StripOuter, nil, ErrNotTunnel},
		{"strip stale layout", vecC, 0, StripOuter, func(p *Packet, off, n *int) { p.Inner = 3 }, ErrLayout},
		{"strip ce on not-ect", ceNotECT, 0, StripOuter, nil, ErrECNNotECT},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			frame := mustHex(t, tt.frame)
			var p Packet
			if err := ParseIPv6(frame, 0, &p); err != nil {
				t.Fatalf("input: %v", p.Detail(err))
			}
			buf, off := frameIn(tt.headroom, frame)
			before := append([]byte(nil), buf...)
			n := len(frame)
			if tt.tweak != nil {
				tt.tweak(&p, &off, &n)
			}
			no, nn, err := tt.edit(buf, off, n, &p)
			if err != tt.want {
				t.Fatalf("err = %v, want %v", err, tt.want)
			}
			if no != off || nn != n {
				t.Errorf("returned %d,%d on error, want %d,%d", no, nn, off, n)
			}
			if !bytes.Equal(buf, before) {
				t.Error("buffer modified on error")
			}
		})
	}
}

// TestStripECN checks RFC 6040 CE propagation at decapsulation.
func TestStripECN(t *testing.T) {
	for _, tc := range []struct{ outerTC, innerTC, wantInner string }{
		{"03", "01", "03"}, // CE over ECT(1) -> CE
		{"03", "02", "03"}, // CE over ECT(0) -> CE
		{"01", "02", "02"}, // ECT(1) over ECT(0) -> unchanged (as Linux)
		{"00", "00", "00"},
		{"b8", "ba", "ba"}, // DSCP EF, ECT(0): inner DSCP kept
	} {
		v := "6" + tc.outerTC + "00000" + vecC[8:128] + "6" + tc.innerTC + "00000" + vecC[136:]
		frame := mustHex(t, ethHdr+v)
		var p Packet
		if err := Parse(frame, &p); err != nil {
			t.Fatal(p.Detail(err))
		}
		buf, off := frameIn(0, frame)
		no, nn, err := StripOuter(buf, off, len(frame), &p)
		if err != nil {
			t.Fatal(err)
		}
		if got := TrafficClass(buf[no:no+nn], 14); got != mustHex(t, tc.wantInner)[0] {
			t.Errorf("outer %s inner %s: inner TC %#x, want %s", tc.outerTC, tc.innerTC, got, tc.wantInner)
		}
	}
}

// TestPushCopiesHeaderFields checks TC, flow label and hop limit copying.
func TestPushCopiesHeaderFields(t *testing.T) {
	v := "6b8abcde" + vecPlain[8:14] + "07" + vecPlain[16:] // TC 0xb8, FL 0xabcde, HL 7
	frame := mustHex(t, ethVLANHdr+v)
	var p Packet
	if err := Parse(frame, &p); err != nil {
		t.Fatal(err)
	}
	buf, off := frameIn(100, frame)
	var src, dst [16]byte
	src[0], dst[0] = 0xfd, 0xfe
	no, nn, err := PushIP6IP6(buf, off, len(frame), &p, &dexA, src, dst)
	if err != nil {
		t.Fatal(err)
	}
	g := buf[no : no+nn]
	if err := Parse(g, &p); err != nil {
		t.Fatal(p.Detail(err))
	}
	if TrafficClass(g, 18) != 0xb8 || FlowLabel(g, 18) != 0xabcde || HopLimit(g, 18) != 7 ||
		Src(g, 18) != src || Dst(g, 18) != dst || !p.VLAN || p.Inner != 18+40+16 || p.PayloadLen != 16+40+12 {
		t.Errorf("outer header wrong: %x", g[:18+40])
	}
	if !Addr(Src(g, p.Inner)).Is6() {
		t.Error("Addr")
	}
}

// TestEditNoAlloc asserts 0 allocations for every editor.
func TestEditNoAlloc(t *testing.T) {
	plain := mustHex(t, ethHdr+vecPlain)
	d0 := mustHex(t, ethHdr+vecD0)
	buf := make([]byte, 256+len(plain))
	var p Packet
	var src, dst [16]byte
	d := dexC
	// Each case adds IOAM to the frame at buf[128:], parses the result and
	// takes the IOAM off again.
	type edit func(off, n int) (int, int, error)
	for _, tc := range []struct {
		name        string
		frame       []byte
		add, remove edit
	}{
		{"insert+remove", plain,
			func(o, n int) (int, int, error) { return InsertDEXInline(buf, o, n, &p, &d) },
			func(o, n int) (int, int, error) { return RemoveDEX(buf, o, n, &p) }},
		{"merge+remove", d0,
			func(o, n int) (int, int, error) { return MergeDEXIntoHbH(buf, o, n, &p, &d) },
			func(o, n int) (int, int, error) { return RemoveDEX(buf, o, n, &p) }},
		{"push+strip", plain,
			func(o, n int) (int, int, error) { return PushIP6IP6(buf, o, n, &p, &d, src, dst) },
			func(o, n int) (int, int, error) { return StripOuter(buf, o, n, &p) }},
	} {
		if n := testing.AllocsPerRun(100, func() {
			copy(buf[128:], tc.frame)
			if err := Parse(buf[128:128+len(tc.frame)], &p); err != nil {
				t.Fatal(err)
			}
			o, n, err := tc.add(128, len(tc.frame))
			if err != nil {
				t.Fatalf("%s: %v", tc.name, err)
			}
			if err := Parse(buf[o:o+n], &p); err != nil {
				t.Fatalf("%s: %v", tc.name, err)
			}
			if _, _, err := tc.remove(o, n); err != nil {
				t.Fatalf("%s: %v", tc.name, err)
			}
		}); n != 0 {
			t.Errorf("%s allocates %v times per run", tc.name, n)
		}
	}
}

// ip6ip6Around returns vector (c)'s outer header and Hop-by-Hop header
// around the IPv6 packet inner (hex), the Payload Length adjusted.
func ip6ip6Around(inner string) string {
	const hbh = 24
	plen := hbh + len(inner)/2
	return "60000000" + hex.EncodeToString([]byte{byte(plen >> 8), byte(plen)}) + "00" + "40" + tunSrc + tunDst +
		vecC[2*(IPv6Len+0):2*(IPv6Len+hbh)] + inner
}

// TestEditUpdate checks which edits bring the Packet up to date
// (RemoveDEXUpdate, StripOuterUpdate) and that what they leave in it is
// what Parse gives for the edited frame; the other edits must say so and
// edit the frame as RemoveDEX and StripOuter do.
func TestEditUpdate(t *testing.T) {
	tests := []struct {
		name    string
		pkt     string
		strip   bool // StripOuterUpdate, else RemoveDEXUpdate
		updated bool
	}{
		{"inline DEX", vecB, false, true},
		{"inline DEX, PadN(4) after", vecB2, false, true},
		{"inline trace", vecE, false, true},
		{"other option kept", vecD, false, false},
		{"no HbH", vecPlain, false, true},
		{"HbH without IOAM", vecD0, false, true},
		{"ip6ip6 outer HbH", vecC, false, true},
		{"ip6ip6 strip", vecC, true, true},
		{"ip6ip6 strip, inner HbH", ip6ip6Around(vecA), true, false},
		{"ip6ip6 strip, inner tunnel", ip6ip6Around(vecC), true, false},
		{"HbH and DstOpts", vecHbHDstOpts, false, true},
	}
	for _, tt := range tests {
		for _, link := range []string{ethHdr, ethQinQ} {
			frame := mustHex(t, link+tt.pkt)
			var p Packet
			if err := Parse(frame, &p); err != nil {
				t.Fatalf("%s: %v", tt.name, p.Detail(err))
			}
			edit, update := RemoveDEX, RemoveDEXUpdate
			if tt.strip {
				edit, update = StripOuter, StripOuterUpdate
			}
			want, off := frameIn(64, frame)
			wo, wn, werr := edit(want, off, len(frame), &p)
			buf, _ := frameIn(64, frame)
			q := p
			no, nn, updated, err := update(buf, off, len(frame), &q)
			if err != nil || werr != nil || no != wo || nn != wn || !bytes.Equal(buf, want) {
				t.Fatalf("%s: (%d, %d, %v), want (%d, %d, %v)", tt.name, no, nn, err, wo, wn, werr)
			}
			if updated != tt.updated {
				t.Errorf("%s: updated %v, want %v", tt.name, updated, tt.updated)
			}
			var r Packet
			if err := Parse(buf[no:no+nn], &r); err != nil {
				t.Fatalf("%s: edited frame: %v", tt.name, r.Detail(err))
			}
			if updated && q != r {
				t.Errorf("%s: updated to\n%+v\nParse gives\n%+v", tt.name, q, r)
			}
		}
	}
}

// TestDEXHbHEveryExtFlags: for every Extension-Flags value, the Hop-by-Hop
// header InsertDEXInline and PushIP6IP6 write is PadN(2), the option as
// PutDEXOption encodes it, and canonical end padding (putDEXHbH writes the
// common part with word stores and has a fast path for Flow ID + sequence).
func TestDEXHbHEveryExtFlags(t *testing.T) {
	frame := mustHex(t, ethHdr+vecPlain)
	var p Packet
	if err := Parse(frame, &p); err != nil {
		t.Fatal(err)
	}
	for ext := range 256 {
		d := DEX{Namespace: 0xA1B2, Flags: 0x5A, ExtFlags: uint8(ext), TraceType: 0xFFF00F, FlowID: 0x11223344, Seq: 0x55667788}
		size := InlineOverhead(d.ExtFlags)
		want := make([]byte, size)
		want[0], want[1], want[2] = ProtoUDP, uint8(size/8-1), OptPadN
		k := PutDEXOption(want[4:], &d)
		PutPad(want[4+k:], size-4-k)

		buf, off := frameIn(128, frame)
		no, _, err := InsertDEXInline(buf, off, len(frame), &p, &d)
		if err != nil {
			t.Fatal(err)
		}
		if got := buf[no+p.L3+IPv6Len : no+p.L3+IPv6Len+size]; !bytes.Equal(got, want) {
			t.Fatalf("ext %#02x: inline Hop-by-Hop %x, want %x", ext, got, want)
		}
		buf, off = frameIn(128, frame)
		no, _, err = PushIP6IP6(buf, off, len(frame), &p, &d, [16]byte{15: 1}, [16]byte{15: 2})
		if err != nil {
			t.Fatal(err)
		}
		want[0] = ProtoIPv6
		if got := buf[no+p.L3+IPv6Len : no+p.L3+IPv6Len+size]; !bytes.Equal(got, want) {
			t.Fatalf("ext %#02x: ip6ip6 Hop-by-Hop %x, want %x", ext, got, want)
		}
	}
}
