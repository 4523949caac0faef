package packet

import (
	"bytes"
	"encoding/hex"
	"testing"
)

var (
	dexA  = DEX{Namespace: 123, TraceType: 0x800000}
	dexB  = DEX{Namespace: 123, ExtFlags: 0xC0, TraceType: 0xB00000, FlowID: 0x12345678, Seq: 0}
	dexB2 = DEX{Namespace: 123, ExtFlags: 0x80, TraceType: 0xB00000, FlowID: 0x12345678}
	dexC  = DEX{Namespace: 123, ExtFlags: 0xC0, TraceType: 0x800000, FlowID: 0x12345678, Seq: 1}
)

// TestGoldenParse parses every vector, raw, behind Ethernet and behind
// Ethernet + 802.1Q, and checks the reported layout and fields.
func TestGoldenParse(t *testing.T) {
	type want struct {
		payload, hbh, hbhLen int // relative to the IPv6 header
		nh                   uint8
		encap                Encap
		ioamOff              []int // HbH-relative Option Type offsets
		ioamType             []uint8
		dex                  *DEX
		pto                  *PTO
		inner                int // relative to the IPv6 header, 0 = none
		l4                   int // relative to the IPv6 header
	}
	tests := []struct {
		name string
		vec  string
		want want
	}{
		{"plain", vecPlain, want{payload: 12, nh: ProtoUDP, l4: 40}},
		{"a", vecA, want{payload: 28, hbh: 40, hbhLen: 16, nh: ProtoUDP, encap: EncapInline,
			ioamOff: []int{4}, ioamType: []uint8{4}, dex: &dexA, l4: 56}},
		{"b", vecB, want{payload: 36, hbh: 40, hbhLen: 24, nh: ProtoUDP, encap: EncapInline,
			ioamOff: []int{4}, ioamType: []uint8{4}, dex: &dexB, l4: 64}},
		{"b2", vecB2, want{payload: 36, hbh: 40, hbhLen: 24, nh: ProtoUDP, encap: EncapInline,
			ioamOff: []int{4}, ioamType: []uint8{4}, dex: &dexB2, l4: 64}},
		{"b2-noncanonical", vecB2NonCanonical, want{payload: 36, hbh: 40, hbhLen: 24, nh: ProtoUDP, encap: EncapInline,
			ioamOff: []int{4}, ioamType: []uint8{4}, dex: &dexB2, l4: 64}},
		{"c", vecC, want{payload: 76, hbh: 40, hbhLen: 24, nh: ProtoIPv6, encap: EncapIP6IP6,
			ioamOff: []int{4}, ioamType: []uint8{4}, dex: &dexC, inner: 64, l4: 104}},
		{"d", vecD, want{payload: 36, hbh: 40, hbhLen: 24, nh: ProtoUDP, encap: EncapInline,
			ioamOff: []int{8}, ioamType: []uint8{4}, dex: &dexA, l4: 64}},
		{"d0", vecD0, want{payload: 20, hbh: 40, hbhLen: 8, nh: ProtoUDP, l4: 48}},
		{"e", vecE, want{payload: 36, hbh: 40, hbhLen: 24, nh: ProtoUDP, encap: EncapInline,
			ioamOff: []int{4}, ioamType: []uint8{0},
			pto: &PTO{Namespace: 123, NodeLen: 1, RemLen: 1, TraceType: 0x800000, Data: 56, DataLen: 8}, l4: 64}},
	}
	links := []struct {
		name string
		hdr  string
		vlan bool
	}{{"raw", "", false}, {"eth", ethHdr, false}, {"vlan", ethVLANHdr, true}}
	for _, tt := range tests {
		for _, link := range links {
			t.Run(tt.name+"/"+link.name, func(t *testing.T) {
				frame := mustHex(t, link.hdr+tt.vec)
				var p Packet
				var err error
				if link.hdr == "" {
					err = ParseIPv6(frame, 0, &p)
				} else {
					err = Parse(frame, &p)
				}
				if err != nil {
					t.Fatalf("parse: %v", p.Detail(err))
				}
				l3 := len(link.hdr) / 2
				w := tt.want
				rel := func(off int) int {
					if off == 0 {
						return 0
					}
					return off - l3
				}
				if p.L3 != l3 || p.VLAN != link.vlan {
					t.Errorf("L3 %d VLAN %v, want %d %v", p.L3, p.VLAN, l3, link.vlan)
				}
				if link.vlan && p.VLANTCI != 100 {
					t.Errorf("VLANTCI %d, want 100", p.VLANTCI)
				}
				if p.PayloadLen != w.payload || p.End != l3+40+w.payload {
					t.Errorf("PayloadLen %d End %d, want %d %d", p.PayloadLen, p.End, w.payload, l3+40+w.payload)
				}
				if rel(p.HbH) != w.hbh || p.HbHLen != w.hbhLen {
					t.Errorf("HbH %d len %d, want %d %d", rel(p.HbH), p.HbHLen, w.hbh, w.hbhLen)
				}
				if p.NextHeader != w.nh || p.Encap != w.encap {
					t.Errorf("NextHeader %d Encap %v, want %d %v", p.NextHeader, p.Encap, w.nh, w.encap)
				}
				if p.NumIOAM != len(w.ioamOff) {
					t.Fatalf("NumIOAM %d, want %d", p.NumIOAM, len(w.ioamOff))
				}
				for i := range p.NumIOAM {
					o := p.IOAM[i]
					if o.Off-p.HbH != w.ioamOff[i] || o.IOAMType != w.ioamType[i] || o.OptType != OptIOAM {
						t.Errorf("IOAM[%d] = %+v (HbH offset %d), want HbH offset %d type %d",
							i, o, o.Off-p.HbH, w.ioamOff[i], w.ioamType[i])
					}
				}
				if p.HasDEX != (w.dex != nil) {
					t.Fatalf("HasDEX %v", p.HasDEX)
				}
				if w.dex != nil && p.DEX != *w.dex {
					t.Errorf("DEX %+v, want %+v", p.DEX, *w.dex)
				}
				if w.dex != nil && (p.DEX.HasFlowID() != (w.dex.ExtFlags&0x80 != 0) || p.DEX.HasSeq() != (w.dex.ExtFlags&0x40 != 0)) {
					t.Errorf("HasFlowID/HasSeq wrong for ext %#x", p.DEX.ExtFlags)
				}
				if p.HasPTO != (w.pto != nil) {
					t.Fatalf("HasPTO %v", p.HasPTO)
				}
				if w.pto != nil {
					got := p.PTO
					got.Data -= l3
					if got != *w.pto {
						t.Errorf("PTO %+v, want %+v", got, *w.pto)
					}
					if q, err := DecodePTOOption(frame[p.IOAM[0].Off:]); err != nil || q.Data != 12 || q.Namespace != 123 || q.RemLen != 1 {
						t.Errorf("DecodePTOOption %+v %v", q, err)
					}
					// node 0 is the last NodeLen*4 octets of the data area.
					node := frame[p.PTO.Data+p.PTO.DataLen-4 : p.PTO.Data+p.PTO.DataLen]
					if hex.EncodeToString(node) != "3f000001" {
						t.Errorf("PTO node data %x", node)
					}
				}
				if rel(p.Inner) != w.inner {
					t.Errorf("Inner %d, want %d", rel(p.Inner), w.inner)
				}
				if p.L4Proto != ProtoUDP || rel(p.L4) != w.l4 || !p.HasPorts || p.SrcPort != 40000 || p.DstPort != 5001 {
					t.Errorf("L4 proto %d off %d ports %v %d->%d, want UDP %d 40000->5001",
						p.L4Proto, rel(p.L4), p.HasPorts, p.SrcPort, p.DstPort, w.l4)
				}
				// Flow key addresses come from the innermost header.
				if s, d := Src(frame, p.FlowL3()), Dst(frame, p.FlowL3()); hex.EncodeToString(s[:]) != ip6Src || hex.EncodeToString(d[:]) != ip6Dst {
					t.Errorf("flow addresses %x -> %x", s, d)
				}
			})
		}
	}
}

// editCase builds one vector from its original packet with one editor.
type editCase struct {
	name     string
	from, to string
	edit     func(buf []byte, off, n int, p *Packet) (int, int, error)
}

func goldenEdits() []editCase {
	var src, dst [16]byte
	hex.Decode(src[:], []byte(tunSrc))
	hex.Decode(dst[:], []byte(tunDst))
	inline := func(d DEX) func([]byte, int, int, *Packet) (int, int, error) {
		return func(buf []byte, off, n int, p *Packet) (int, int, error) { return InsertDEXInline(buf, off, n, p, &d) }
	}
	return []editCase{
		{"a", vecPlain, vecA, inline(dexA)},
		{"b", vecPlain, vecB, inline(dexB)},
		{"b2", vecPlain, vecB2, inline(dexB2)},
		{"c", vecPlain, vecC, func(buf []byte, off, n int, p *Packet) (int, int, error) {
			return PushIP6IP6(buf, off, n, p, &dexC, src, dst)
		}},
		{"d", vecD0, vecD, func(buf []byte, off, n int, p *Packet) (int, int, error) {
			return MergeDEXIntoHbH(buf, off, n, p, &dexA)
		}},
	}
}

// TestGoldenBuild builds vectors (a)-(d) from their original packets, behind
// each link header, and compares every octet; it also checks the buffer
// outside the moved headers is untouched.
func TestGoldenBuild(t *testing.T) {
	for _, tc := range goldenEdits() {
		for _, link := range []string{"", ethHdr, ethVLANHdr} {
			t.Run(tc.name+"/"+map[string]string{"": "raw", ethHdr: "eth", ethVLANHdr: "vlan"}[link], func(t *testing.T) {
				orig := mustHex(t, link+tc.from)
				want := mustHex(t, link+tc.to)
				buf, off := frameIn(128, orig)
				var p Packet
				if err := parseAny(orig, len(link)/2, &p); err != nil {
					t.Fatal(p.Detail(err))
				}
				no, nn, err := tc.edit(buf, off, len(orig), &p)
				if err != nil {
					t.Fatalf("edit: %v", err)
				}
				if no+nn != off+len(orig) {
					t.Errorf("frame end moved: %d+%d != %d+%d", no, nn, off, len(orig))
				}
				if got := buf[no : no+nn]; !bytes.Equal(got, want) {
					t.Errorf("built\n got %x\nwant %x", got, want)
				}
				// The result parses back to the same layout as the vector.
				var q Packet
				if err := parseAny(buf[no:no+nn], len(link)/2, &q); err != nil {
					t.Fatalf("reparse: %v", q.Detail(err))
				}
			})
		}
	}
}

// TestGoldenPTOBuild builds the PTO header of vector (e) with PutPTO.
func TestGoldenPTOBuild(t *testing.T) {
	want := mustHex(t, vecE)
	got := append([]byte(nil), want...)
	clear(got[48:56])
	if n := PutPTO(got[48:], &PTO{Namespace: 123, NodeLen: 1, RemLen: 1, TraceType: 0x800000}); n != 8 {
		t.Fatalf("PutPTO returned %d", n)
	}
	if !bytes.Equal(got, want) {
		t.Errorf("got %x\nwant %x", got, want)
	}
}

// removeIOAM parses frame, placed in a buffer with 64 octets of headroom,
// and takes its IOAM off as the decapsulating node does: StripOuter for
// IPv6-in-IPv6, RemoveDEX otherwise. It returns the resulting frame.
func removeIOAM(t *testing.T, frame []byte) []byte {
	t.Helper()
	buf, off := frameIn(64, frame)
	var p Packet
	if err := Parse(frame, &p); err != nil {
		t.Fatal(p.Detail(err))
	}
	var no, nn int
	var err error
	if p.Encap == EncapIP6IP6 {
		no, nn, err = StripOuter(buf, off, len(frame), &p)
	} else {
		no, nn, err = RemoveDEX(buf, off, len(frame), &p)
	}
	if err != nil {
		t.Fatal(err)
	}
	return buf[no : no+nn]
}

// TestGoldenRemove undoes each golden edit: RemoveDEX for inline and merged
// DEX, StripOuter for ip6ip6, and expects the original bytes back; the
// non-canonical (b2) also strips to the plain packet.
func TestGoldenRemove(t *testing.T) {
	cases := []struct{ name, from, to string }{
		{"a", vecA, vecPlain}, {"b", vecB, vecPlain}, {"b2", vecB2, vecPlain},
		{"b2-noncanonical", vecB2NonCanonical, vecPlain},
		{"c", vecC, vecPlain}, {"d", vecD, vecD0}, {"e", vecE, vecPlain},
		{"plain", vecPlain, vecPlain}, {"d0", vecD0, vecD0},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			frame := mustHex(t, ethHdr+tc.from)
			got := removeIOAM(t, frame)
			if want := mustHex(t, ethHdr+tc.to); !bytes.Equal(got, want) {
				t.Errorf("got %x\nwant %x", got, want)
			}
		})
	}
}

// parseAny parses a frame whose IPv6 header is at l3: raw when l3 == 0,
// Ethernet otherwise.
func parseAny(frame []byte, l3 int, p *Packet) error {
	if l3 == 0 {
		return ParseIPv6(frame, 0, p)
	}
	return Parse(frame, p)
}
