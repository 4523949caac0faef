package gen

import (
	"bytes"
	"encoding/binary"
	"errors"
	"net"
	"net/netip"
	"testing"

	"github.com/dexplane/dexplane/dataplane/packet"
	"github.com/dexplane/dexplane/internal/specvec"
	"github.com/dexplane/dexplane/internal/testutil"
)

var mustHex = testutil.MustHex

func TestDEXInsertionMatchesSpecVectors(t *testing.T) {
	plain := mustHex(t, specvec.Plain)
	tests := []struct {
		name string
		dex  DEX
		want string
		ip6  bool
	}{
		{"a inline no ext", DEX{DEX: packet.DEX{Namespace: 123, TraceType: 0x800000}}, specvec.A, false},
		{"b inline flow+seq", DEX{DEX: packet.DEX{Namespace: 123, ExtFlags: 0xC0, TraceType: 0xB00000, FlowID: 0x12345678}}, specvec.B, false},
		{"b2 inline flow only", DEX{DEX: packet.DEX{Namespace: 123, ExtFlags: 0x80, TraceType: 0xB00000, FlowID: 0x12345678}}, specvec.B2, false},
		{"c ip6ip6 flow+seq", DEX{DEX: packet.DEX{Namespace: 123, ExtFlags: 0xC0, TraceType: 0x800000, FlowID: 0x12345678, Seq: 1}}, specvec.C, true},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			var got []byte
			var err error
			if tc.ip6 {
				got, err = EncapIP6IP6(plain, tc.dex, netip.MustParseAddr("2001:db8:ffff::1"), netip.MustParseAddr("2001:db8:ffff::2"))
			} else {
				got, err = InsertInline(plain, tc.dex)
			}
			if err != nil {
				t.Fatal(err)
			}
			if want := mustHex(t, tc.want); !bytes.Equal(got, want) {
				t.Errorf("got  %x\nwant %x", got, want)
			}
		})
	}
}

func TestInsertInlineRejectsExistingHbH(t *testing.T) {
	_, err := InsertInline(mustHex(t, specvec.A), DEX{DEX: packet.DEX{Namespace: 1, TraceType: 0x800000}})
	if !errors.Is(err, ErrSpec) {
		t.Fatalf("err = %v, want ErrSpec", err)
	}
}

func testSpec() StreamSpec {
	return StreamSpec{
		Size:    512,
		SrcMAC:  net.HardwareAddr{2, 0, 0, 0, 0, 1},
		DstMAC:  net.HardwareAddr{2, 0, 0, 0, 0, 2},
		Src:     netip.MustParseAddr("2001:db8:a::1"),
		Dst:     netip.MustParseAddr("2001:db8:b::1"),
		SrcPort: 40000, DstPort: 5001,
		Spread: Spread{SrcPorts: 4, DstAddrs: 2},
		Run:    0xABCD0123,
	}
}

// dexSpec is testSpec with size, DEX mode and option d, and the tunnel
// addresses ip6ip6 needs.
func dexSpec(mode packet.Encap, size int, d DEX) StreamSpec {
	s := testSpec()
	s.Size, s.Mode, s.DEX = size, mode, d
	s.TunSrc = netip.MustParseAddr("2001:db8:ffff::1")
	s.TunDst = netip.MustParseAddr("2001:db8:ffff::2")
	return s
}

// verifyUDP recomputes the UDP checksum of a parsed frame over the
// innermost IPv6 header's addresses.
func verifyUDP(t *testing.T, f []byte, r *Parsed) {
	t.Helper()
	u := f[r.HeaderOff-udpLen : r.HeaderOff+r.PayloadLen]
	inner := ethLen // plain and inline: the only IPv6 header
	if r.Encapsulated {
		// the inner header sits right before UDP
		inner = r.HeaderOff - udpLen - ip6Len
	}
	var src, dst [16]byte
	copy(src[:], f[inner+8:])
	copy(dst[:], f[inner+24:])
	seg := append([]byte(nil), u...)
	binary.BigEndian.PutUint16(seg[6:], 0)
	if got, want := binary.BigEndian.Uint16(u[6:]), udpChecksum(src, dst, seg); got != want {
		t.Errorf("UDP checksum %#04x, recomputed %#04x", got, want)
	}
}

func TestBuildAndParse(t *testing.T) {
	for _, mode := range []packet.Encap{packet.EncapNone, packet.EncapInline, packet.EncapIP6IP6} {
		for _, ext := range []uint8{0x00, 0x80, 0xC0} {
			for _, size := range []int{MinSize, 512, 1500} {
				s := dexSpec(mode, size, DEX{DEX: packet.DEX{Namespace: 123, ExtFlags: ext, TraceType: 0x800000, FlowID: 100}})
				ts, err := Build(s)
				if err != nil {
					t.Fatalf("%v ext %#x size %d: %v", mode, ext, size, err)
				}
				if ts.Flows != 8 {
					t.Fatalf("flows = %d, want 8", ts.Flows)
				}
				all := ts.Plain
				if mode != packet.EncapNone {
					all = append(append([]Template(nil), ts.Plain...), ts.WithDEX...)
				}
				seen := map[[4]uint64]bool{}
				for i, tp := range all {
					f := append([]byte(nil), tp.Frame...)
					tp.Stamp(f, uint32(1000+i))
					var r Parsed
					if err := Parse(f, &r); err != nil {
						t.Fatalf("%v ext %#x size %d tmpl %d: %v", mode, ext, size, i, err)
					}
					if r.Seq != uint32(1000+i) || r.Run != s.Run || int(r.Flow) != i%8 {
						t.Errorf("parsed %+v", r)
					}
					if r.HasDEX != tp.HasDEX || r.HasDEX != (i >= 8) {
						t.Errorf("tmpl %d HasDEX = %v", i, r.HasDEX)
					}
					if r.Encapsulated != (mode == packet.EncapIP6IP6 && i >= 8) {
						t.Errorf("tmpl %d Encapsulated = %v", i, r.Encapsulated)
					}
					if wantLen := ethLen + max(size, MinSize); len(f) != wantLen && !(size == MinSize && i >= 8) {
						t.Errorf("tmpl %d frame len %d, want %d", i, len(f), wantLen)
					}
					if !CheckPattern(f, &r) {
						t.Errorf("tmpl %d: pattern mismatch", i)
					}
					verifyUDP(t, f, &r)
					if tp.DEXSeqOff >= 0 && binary.BigEndian.Uint32(f[tp.DEXSeqOff:]) != r.Seq {
						t.Errorf("tmpl %d: DEX seq not stamped", i)
					}
					// flows differ in their 5-tuple
					if i < 8 {
						k := [4]uint64{binary.BigEndian.Uint64(f[ethLen+8:]) ^ binary.BigEndian.Uint64(f[ethLen+16:]),
							binary.BigEndian.Uint64(f[ethLen+24:]) ^ binary.BigEndian.Uint64(f[ethLen+32:]),
							uint64(binary.BigEndian.Uint32(f[ethLen+ip6Len:])), 0}
						if seen[k] {
							t.Errorf("flow %d repeats a 5-tuple", i)
						}
						seen[k] = true
					}
				}
			}
		}
	}
}

func TestParseDetectsCorruption(t *testing.T) {
	ts, err := Build(testSpec())
	if err != nil {
		t.Fatal(err)
	}
	f := append([]byte(nil), ts.Plain[0].Frame...)
	ts.Plain[0].Stamp(f, 7)
	var r Parsed

	g := append([]byte(nil), f...)
	g[len(g)-1] ^= 1
	if err := Parse(g, &r); err != nil || CheckPattern(g, &r) {
		t.Errorf("flipped payload octet: err %v, pattern ok %v", err, CheckPattern(g, &r))
	}
	g = append([]byte(nil), f...)
	g[r.HeaderOff+13] ^= 0x10 // sequence number
	if err := Parse(g, &r); !errors.Is(err, ErrCorrupt) {
		t.Errorf("flipped seq: err %v, want ErrCorrupt", err)
	}
	if err := Parse(f[:40], &r); !errors.Is(err, ErrTruncated) {
		t.Errorf("truncated: err %v", err)
	}
	arp := append([]byte(nil), f[:60]...)
	arp[12], arp[13] = 0x08, 0x06
	if err := Parse(arp, &r); !errors.Is(err, ErrNotOurs) {
		t.Errorf("ARP: err %v", err)
	}
}

func TestStampKeepsUDPChecksum(t *testing.T) {
	ts, err := Build(testSpec())
	if err != nil {
		t.Fatal(err)
	}
	f := append([]byte(nil), ts.Plain[3].Frame...)
	for _, seq := range []uint32{0, 1, 0xFFFF, 0x10000, 0xFFFFFFFF} {
		ts.Plain[3].Stamp(f, seq)
		var r Parsed
		if err := Parse(f, &r); err != nil {
			t.Fatal(err)
		}
		verifyUDP(t, f, &r)
	}
}

func TestValidate(t *testing.T) {
	bad := []func(*StreamSpec){
		func(s *StreamSpec) { s.Size = MinSize - 1 },
		func(s *StreamSpec) { s.SrcMAC = nil },
		func(s *StreamSpec) { s.Dst = netip.MustParseAddr("10.0.0.1") },
		func(s *StreamSpec) { s.Mode, s.K, s.N = packet.EncapInline, 3, 2 },
		func(s *StreamSpec) { s.Mode = packet.EncapIP6IP6 },
	}
	for i, mut := range bad {
		s := testSpec()
		mut(&s)
		if _, err := Build(s); !errors.Is(err, ErrSpec) {
			t.Errorf("case %d: err = %v, want ErrSpec", i, err)
		}
	}
}

func TestInjectionKN(t *testing.T) {
	tests := []struct {
		pct  float64
		k, n uint32
	}{{0.001, 1, 100000}, {1, 1, 100}, {5, 1, 20}, {10, 1, 10}, {25, 1, 4}, {50, 1, 2}, {100, 1, 1},
		{0, 0, 1}, {30, 3, 10}, {150, 1, 1}}
	for _, tc := range tests {
		if k, n := InjectionKN(tc.pct); k != tc.k || n != tc.n {
			t.Errorf("InjectionKN(%v) = %d/%d, want %d/%d", tc.pct, k, n, tc.k, tc.n)
		}
	}
	if k, n, err := ParseFreq("1/100"); err != nil || k != 1 || n != 100 {
		t.Errorf("ParseFreq(1/100) = %d/%d %v", k, n, err)
	}
	for _, bad := range []string{"", "1", "2/1", "1/0", "a/b", "1/2000000"} {
		if _, _, err := ParseFreq(bad); !errors.Is(err, ErrSpec) {
			t.Errorf("ParseFreq(%q) err = %v", bad, err)
		}
	}
}
