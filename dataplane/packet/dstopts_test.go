package packet

import (
	"bytes"
	"testing"
)

// IOAM DEX in a Destination Options header (issue 11 finding 6). The
// common parameters are those of the spec §7 vectors.
const (
	// dstOptsDEX: Destination Options header carrying vector (a)'s DEX.
	dstOptsDEX = "11" + "01" + // DestOpts: NH UDP, Hdr Ext Len 1 (16 octets)
		"0100" + // PadN(2)
		"310a0004" + "007b0000" + "80000000" // IOAM DEX, ns 123, trace 0x800000
	vecDstOpts = "" +
		"60000000" + "001c" + "3c" + "40" + ip6Src + ip6Dst + // payload 28, NH DestOpts
		dstOptsDEX + udpPing
	// vecHbHDstOpts: a Hop-by-Hop header (PadN only) in front of it.
	vecHbHDstOpts = "" +
		"60000000" + "0024" + "00" + "40" + ip6Src + ip6Dst + // payload 36, NH HbH
		"3c00" + "0104" + "00000000" + // HbH: NH DestOpts, PadN(6)
		dstOptsDEX + udpPing
	vecHbHPlain = "" +
		"60000000" + "0014" + "00" + "40" + ip6Src + ip6Dst + // payload 20
		"1100" + "0104" + "00000000" + // HbH: NH UDP, PadN(6)
		udpPing
	// vecDstOptsKeep: DestOpts with an unknown skippable option 0x1E
	// (2 data octets) before the DEX option, 24 octets; only 0x1E stays.
	vecDstOptsKeep = "" +
		"60000000" + "0024" + "3c" + "40" + ip6Src + ip6Dst +
		"11" + "02" + // NH UDP, Hdr Ext Len 2 (24 octets)
		"1e02abcd" + "0100" + // option 0x1E at 2, PadN(2) at 6
		"310a0004" + "007b0000" + "80000000" + // IOAM DEX at 8
		"01020000" + udpPing // PadN(4) at 20
	vecDstOptsKept = "" +
		"60000000" + "0014" + "3c" + "40" + ip6Src + ip6Dst +
		"11" + "00" + "1e02abcd" + "0100" + udpPing
)

func TestDstOptsDEX(t *testing.T) {
	for _, tc := range []struct {
		name    string
		in, out string
		dst     int // relative to the IPv6 header
	}{
		{"only dex", vecDstOpts, vecPlain, 40},
		{"behind hbh", vecHbHDstOpts, vecHbHPlain, 48},
	} {
		t.Run(tc.name, func(t *testing.T) {
			frame := mustHex(t, ethHdr+tc.in)
			var p Packet
			if err := Parse(frame, &p); err != nil {
				t.Fatal(p.Detail(err))
			}
			if p.DstOpts != 14+tc.dst || p.DstOptsDEX != 1 || p.NumIOAM != 0 || p.HasDEX {
				t.Fatalf("DstOpts %d n %d NumIOAM %d", p.DstOpts, p.DstOptsDEX, p.NumIOAM)
			}
			buf, off := frameIn(64, frame)
			no, nn, err := RemoveDstOptsDEX(buf, off, len(frame), &p)
			if err != nil {
				t.Fatal(err)
			}
			if want := mustHex(t, ethHdr+tc.out); !bytes.Equal(buf[no:no+nn], want) {
				t.Errorf("got  %x\nwant %x", buf[no:no+nn], want)
			}
			if err := Parse(buf[no:no+nn], &p); err != nil || p.DstOptsDEX != 0 {
				t.Errorf("after removal: %v, %d IOAM options left", err, p.DstOptsDEX)
			}
		})
	}
	// An inner packet's Destination Options are not the outer chain's.
	var p Packet
	if err := Parse(mustHex(t, ethHdr+vecPlain), &p); err != nil || p.DstOpts != 0 {
		t.Errorf("plain: %v DstOpts %d", err, p.DstOpts)
	}
}

func TestDstOptsDEXKeepsOthers(t *testing.T) {
	frame := mustHex(t, ethHdr+vecDstOptsKeep)
	var p Packet
	if err := Parse(frame, &p); err != nil {
		t.Fatal(p.Detail(err))
	}
	if p.DstOptsDEX != 1 {
		t.Fatalf("DstOptsDEX %d", p.DstOptsDEX)
	}
	buf, off := frameIn(64, frame)
	no, nn, err := RemoveDstOptsDEX(buf, off, len(frame), &p)
	if err != nil {
		t.Fatal(err)
	}
	if want := mustHex(t, ethHdr+vecDstOptsKept); !bytes.Equal(buf[no:no+nn], want) {
		t.Errorf("got  %x\nwant %x", buf[no:no+nn], want)
	}
}

func TestRemoveDstOptsDEXLayout(t *testing.T) {
	frame := mustHex(t, ethHdr+vecDstOpts)
	var p Packet
	if err := Parse(frame, &p); err != nil {
		t.Fatal(err)
	}
	for _, bad := range []Packet{
		func() Packet { q := p; q.DstOpts += 8; return q }(),
		func() Packet { q := p; q.DstOpts = len(frame) - 4; return q }(),
		func() Packet { q := p; q.DstOpts = 14 + 20; return q }(),
	} {
		buf, off := frameIn(64, frame)
		if _, _, err := RemoveDstOptsDEX(buf, off, len(frame), &bad); err != ErrLayout {
			t.Errorf("%+v: err %v, want ErrLayout", bad, err)
		}
	}
}
