package packet

import (
	"bytes"
	"testing"
)

// Link headers with VLAN stacks: destination, source, then TPID + TCI per
// tag, then the EtherType.
const (
	macs       = "020000000002" + "020000000001"
	eth8021ad  = macs + "88a8" + "00c8" + "86dd"                   // S-tag VID 200
	ethQinQ    = macs + "88a8" + "00c8" + "8100" + "0064" + "86dd" // S-tag 200, C-tag 100
	eth9100    = macs + "9100" + "0012" + "86dd"                   // pre-standard Q-in-Q, VID 18
	eth3Tags   = macs + "88a8" + "00c8" + "8100" + "0064" + "8100" + "0065" + "86dd"
	eth2Tags9x = macs + "9100" + "0012" + "88a8" + "00c8" + "86dd"
)

// TestVLANStack: the tag stack of package doc (0x8100, 0x88A8, 0x9100, up
// to two tags, any order) is looked through, IOAM behind it parses exactly
// as untagged, and a third tag makes the frame not IPv6.
func TestVLANStack(t *testing.T) {
	for _, tc := range []struct {
		name string
		link string
		l3   int
		tci  uint16
		tags uint8
		err  error
	}{
		{"none", ethHdr, 14, 0, 0, nil},
		{"802.1Q", ethVLANHdr, 18, 100, 1, nil},
		{"802.1ad", eth8021ad, 18, 200, 1, nil},
		{"0x9100", eth9100, 18, 18, 1, nil},
		{"802.1ad+802.1Q", ethQinQ, 22, 200, 2, nil},
		{"0x9100+802.1ad", eth2Tags9x, 22, 18, 2, nil},
		{"three tags", eth3Tags, 22, 0, 0, ErrNotIPv6},
	} {
		t.Run(tc.name, func(t *testing.T) {
			for _, v := range []struct {
				name string
				ip   string
				dex  bool
			}{{"plain", vecPlain, false}, {"inline", vecB, true}, {"ip6ip6", vecC, true}} {
				var p Packet
				err := Parse(mustHex(t, tc.link+v.ip), &p)
				if err != tc.err {
					t.Fatalf("%s: err %v, want %v", v.name, err, tc.err)
				}
				if err != nil {
					continue
				}
				var u Packet
				if err := Parse(mustHex(t, ethHdr+v.ip), &u); err != nil {
					t.Fatal(err)
				}
				if p.L3 != tc.l3 || p.VLANTCI != tc.tci || p.VLANTags != tc.tags || p.VLAN != (tc.tags > 0) {
					t.Errorf("%s: L3 %d TCI %d tags %d VLAN %v, want %d %d %d", v.name, p.L3, p.VLANTCI, p.VLANTags, p.VLAN, tc.l3, tc.tci, tc.tags)
				}
				if p.HasDEX != v.dex || p.DEX != u.DEX || p.NumIOAM != u.NumIOAM || p.Encap != u.Encap ||
					p.HbHLen != u.HbHLen || p.L4-p.L3 != u.L4-u.L3 || p.SrcPort != u.SrcPort || p.DstPort != u.DstPort {
					t.Errorf("%s: tagged parse differs from untagged:\n%+v\n%+v", v.name, p, u)
				}
			}
		})
	}
}

// TestVLANEditsKeepTags: removing DEX, stripping the outer header and
// inserting DEX behind a two-tag stack keep the stack byte for byte.
func TestVLANEditsKeepTags(t *testing.T) {
	for _, link := range []string{eth8021ad, ethQinQ, eth9100} {
		for _, tc := range []struct{ from, to string }{{vecB, vecPlain}, {vecC, vecPlain}, {vecA, vecPlain}} {
			frame := mustHex(t, link+tc.from)
			got := removeIOAM(t, frame)
			if want := mustHex(t, link+tc.to); !bytes.Equal(got, want) {
				t.Errorf("%s: got %x\nwant %x", link, got, want)
			}
		}
		frame := mustHex(t, link+vecPlain)
		buf, off := frameIn(64, frame)
		var p Packet
		if err := Parse(frame, &p); err != nil {
			t.Fatal(err)
		}
		no, nn, err := InsertDEXInline(buf, off, len(frame), &p, &dexA)
		if err != nil {
			t.Fatal(err)
		}
		if want := mustHex(t, link+vecA); !bytes.Equal(buf[no:no+nn], want) {
			t.Errorf("%s insert: got %x\nwant %x", link, buf[no:no+nn], want)
		}
	}
}
