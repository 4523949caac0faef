package flow

import (
	"encoding/binary"
	"net/netip"
	"testing"
)

func addr(s string) [16]byte { return netip.MustParseAddr(s).As16() }

// referenceID is a deliberately plain transcription of the recipe in the
// package documentation: serialize the five words, then chain the mix.
func referenceID(k Key, seed uint32) uint32 {
	var buf [40]byte
	copy(buf[0:16], k.Src[:])
	copy(buf[16:32], k.Dst[:])
	buf[32] = k.NextHeader
	binary.BigEndian.PutUint16(buf[33:35], k.SrcPort)
	binary.BigEndian.PutUint16(buf[35:37], k.DstPort)
	fl := k.FlowLabel & 0xFFFFF
	buf[37], buf[38], buf[39] = byte(fl>>16), byte(fl>>8), byte(fl)
	h := mix(uint64(seed) + 0x9E3779B97F4A7C15)
	for i := 0; i < 40; i += 8 {
		h = mix(h ^ binary.BigEndian.Uint64(buf[i:i+8]))
	}
	return uint32(h>>32) ^ uint32(h)
}

func TestIDVectors(t *testing.T) {
	// Expected values computed independently (Python, from the recipe in
	// doc.go); a collector recomputing Flow IDs must get the same numbers.
	tests := []struct {
		name string
		key  Key
		seed uint32
		want uint32
	}{
		{"udp vector seed 0", NewKey(addr("2001:db8::1"), addr("2001:db8::2"), 17, 40000, 5001, 0), 0, 0x2f14518c},
		{"udp vector seed deadbeef", NewKey(addr("2001:db8::1"), addr("2001:db8::2"), 17, 40000, 5001, 0), 0xdeadbeef, 0x90d85eee},
		{"icmpv6 uses flow label", NewKey(addr("2001:db8::1"), addr("2001:db8::2"), 58, 1, 2, 0x12345), 0, 0x029b00b4},
		{"zero key", Key{}, 0, 0xf72adfa1},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			if got := tc.key.ID(tc.seed); got != tc.want {
				t.Errorf("ID = %#08x, want %#08x", got, tc.want)
			}
			if got := referenceID(tc.key, tc.seed); got != tc.want {
				t.Errorf("referenceID = %#08x, want %#08x", got, tc.want)
			}
		})
	}
}

func TestNewKey(t *testing.T) {
	src, dst := addr("2001:db8::1"), addr("2001:db8::2")
	tests := []struct {
		name                 string
		nh                   uint8
		sport, dport         uint16
		label                uint32
		wantSport, wantDport uint16
		wantLabel            uint32
	}{
		{"udp keeps ports drops label", 17, 1, 2, 0xabcde, 1, 2, 0},
		{"tcp", 6, 80, 443, 7, 80, 443, 0},
		{"sctp", 132, 9, 10, 7, 9, 10, 0},
		{"dccp keyed by label", 33, 9, 10, 7, 0, 0, 7},
		{"udplite", 136, 9, 10, 7, 9, 10, 0},
		{"icmpv6 drops ports keeps label", 58, 1, 2, 0xabcde, 0, 0, 0xabcde},
		{"label masked to 20 bits", 58, 0, 0, 0xfffabcde, 0, 0, 0xabcde},
		{"esp", 50, 1, 2, 3, 0, 0, 3},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			k := NewKey(src, dst, tc.nh, tc.sport, tc.dport, tc.label)
			want := Key{Src: src, Dst: dst, NextHeader: tc.nh, SrcPort: tc.wantSport, DstPort: tc.wantDport, FlowLabel: tc.wantLabel}
			if k != want {
				t.Errorf("NewKey = %+v, want %+v", k, want)
			}
		})
	}
}

func TestIDSensitivity(t *testing.T) {
	base := NewKey(addr("2001:db8::1"), addr("2001:db8::2"), 17, 40000, 5001, 0)
	id := base.ID(1)
	variants := map[string]Key{}
	k := base
	k.Src[15] ^= 1
	variants["src"] = k
	k = base
	k.Dst[0] ^= 0x80
	variants["dst"] = k
	k = base
	k.NextHeader = 6
	variants["proto"] = k
	k = base
	k.SrcPort++
	variants["sport"] = k
	k = base
	k.DstPort++
	variants["dport"] = k
	k = base
	k.Src, k.Dst = k.Dst, k.Src
	variants["reversed direction"] = k
	for name, v := range variants {
		if v.ID(1) == id {
			t.Errorf("changing %s kept Flow ID %#08x", name, id)
		}
	}
	if base.ID(2) == id {
		t.Errorf("changing the seed kept Flow ID %#08x", id)
	}
}

func TestIDMatchesReference(t *testing.T) {
	var k Key
	for i := 0; i < 2000; i++ {
		binary.BigEndian.PutUint64(k.Src[:8], uint64(i)*0x0123456789abcdef)
		binary.BigEndian.PutUint64(k.Dst[8:], uint64(i)*0xfedcba9876543210)
		k.NextHeader = uint8(i)
		k.SrcPort, k.DstPort = uint16(i*7), uint16(i*13)
		k.FlowLabel = uint32(i) * 977
		if got, want := k.ID(uint32(i)), referenceID(k, uint32(i)); got != want {
			t.Fatalf("key %+v: ID = %#08x, reference %#08x", k, got, want)
		}
	}
}

func TestIDAllocs(t *testing.T) {
	k := NewKey(addr("2001:db8::1"), addr("2001:db8::2"), 17, 40000, 5001, 0)
	var sink uint32
	if n := testing.AllocsPerRun(1000, func() { sink += k.ID(7) }); n != 0 {
		t.Errorf("ID allocates %v times per call", n)
	}
	_ = sink
}

func BenchmarkID(b *testing.B) {
	k := NewKey(addr("2001:db8::1"), addr("2001:db8::2"), 17, 40000, 5001, 0)
	var sink uint32
	b.ReportAllocs()
	for i := 0; b.Loop(); i++ {
		k.SrcPort = uint16(i)
		sink += k.ID(7)
	}
	_ = sink
}
