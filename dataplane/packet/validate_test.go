package packet

import (
	"errors"
	"fmt"
	"strings"
	"testing"
)

// optA is the DEX option of vector (a): IOAM 0x31, Opt Data Len 10, DEX,
// Namespace 123, no extension flags, trace type 0x800000.
const optA = "310a0004" + "007b0000" + "80000000"

// ip6 returns the hex of an IPv6 header (2001:db8::1 -> 2001:db8::2, hop
// limit 64) with Next Header nh and a Payload Length matching payload,
// followed by the payload.
func ip6(nh uint8, payload string) string {
	payload = strings.ReplaceAll(payload, " ", "")
	return fmt.Sprintf("60000000%04x%02x40", len(payload)/2, nh) + ip6Src + ip6Dst + payload
}

// hbh returns an IPv6 packet with the given Hop-by-Hop header (hex, whole
// header) followed by the UDP ping datagram.
func hbh(h string) string { return ip6(ProtoHopByHop, h+udpPing) }

// TestParseErrors feeds one malformed frame per validation rule and checks
// the exact sentinel, that errors.Is works through Detail, and that ErrOff
// points inside the frame.
func TestParseErrors(t *testing.T) {
	tests := []struct {
		name  string
		frame string // hex, Ethernet frame
		want  error
	}{
		{"short frame", "0200000000020200000000", ErrShortFrame},
		{"short vlan", "020000000002020000000001" + "8100" + "00", ErrShortVLAN},
		{"not ipv6", "020000000002020000000001" + "0800" + "4500001c", ErrNotIPv6},
		{"qinq without ipv6 header", "020000000002020000000001" + "88a8" + "0064" + "8100" + "0065" + "86dd", ErrShortIPv6},
		{"three tags are not ipv6", "020000000002020000000001" + "88a8" + "0064" + "8100" + "0065" + "8100" + "0066" + "86dd", ErrNotIPv6},
		{"second tag cut", "020000000002020000000001" + "88a8" + "0064" + "9100" + "00", ErrShortVLAN},
		{"short ipv6", ethHdr + "60000000000c1140", ErrShortIPv6},
		{"ip version", ethHdr + "4" + vecPlain[1:], ErrIPVersion},
		{"payload length", ethHdr + "6000000000ff1140" + ip6Src + ip6Dst + udpPing, ErrPayloadLength},
		{"hbh beyond payload", ethHdr + ip6(0, "1105 0100310a0004007b0000800000"), ErrHbHTruncated},
		{"hbh header cut", ethHdr + ip6(0, "11"), ErrHbHTruncated},
		{"jumbogram unsupported", ethHdr + "60000000" + "0000" + "00" + "40" + ip6Src + ip6Dst + "11000000c2040001", ErrHbHTruncated},
		{"option cut at header end", ethHdr + hbh("1100 0103000000 1e"), ErrOptTruncated},
		{"option overrun", ethHdr + hbh("1100 1e06 abcd0000"), ErrOptOverrun},
		{"ioam overrun", ethHdr + hbh("1100 0100 310a0004"), ErrOptOverrun},
		{"8 pad1", ethHdr + hbh("1101 0000000000000000 1e04 00000000"), ErrPadTooLong},
		{"padN 8", ethHdr + hbh("1101 010600000000 0000 1e0400000000"), ErrPadTooLong},
		{"pad1 then padN over 7", ethHdr + hbh("1101 00 00 0104 00000000 1e0400000000"), ErrPadTooLong},
		{"padN nonzero", ethHdr + hbh("1100 0104 00000001"), ErrPadNNonZero},
		{"too many options", ethHdr + hbh("1102"+strings.Repeat("1e00", 9)+"01020000"), ErrTooManyOptions},
		{"unknown option act 01", ethHdr + hbh("1100 5e04 00000000"), ErrOptionDiscard},
		{"unknown option act 10", ethHdr + hbh("1100 9e04 00000000"), ErrOptionDiscard},
		{"unknown option act 11", ethHdr + hbh("1100 de04 00000000"), ErrOptionDiscard},
		{"router alert length 4", ethHdr + hbh("1100 050400000000"), ErrRouterAlert},
		{"router alert length 0", ethHdr + hbh("1100 0500 01020000"), ErrRouterAlert},
		{"jumbo in a packet with a payload length", ethHdr + hbh("1100 c20400010000"), ErrJumbo},
		{"jumbo length 2", ethHdr + hbh("1100 c2020000 0100"), ErrJumbo},
		{"jumbo misaligned", ethHdr + hbh("1101 00 c20400010000 01050000000000"), ErrJumbo},
		{"jumbo length 65535", ethHdr + hbh("1100 c2040000ffff"), ErrJumbo},
		{"calipso length 4", ethHdr + hbh("1100 070400000000"), ErrCALIPSO},
		{"calipso compartments past the option", ethHdr + hbh("1101 0708000000010105beea 01020000"), ErrCALIPSO},
		{"calipso bad checksum", ethHdr + hbh("1101 0708000000010005beeb 01020000"), ErrCALIPSO},
		{"calipso checksum byte order", ethHdr + hbh("1101 0708000000010005eabe 01020000"), ErrCALIPSO},
		{"ioam misaligned (offset 5)", ethHdr + hbh("1102 010100 "+optA+" 01050000000000"), ErrIOAMMisaligned},
		{"ioam misaligned (offset 2)", ethHdr + hbh("1101 "+optA+" 0100"), ErrIOAMMisaligned},
		{"ioam 0x11 misaligned", ethHdr + hbh("1101 110a0004007b000080000000 0100"), ErrIOAMMisaligned},
		{"ioam data len 0", ethHdr + hbh("1100 0100 3100 0100"), ErrIOAMShort},
		{"ioam data len 1", ethHdr + hbh("1100 0100 310100 00"), ErrIOAMShort},
		{"dex short", ethHdr + hbh("1101 0100 31060004007b0000 01020000"), ErrDEXShort},
		{"dex flow id missing", ethHdr + hbh("1101 0100 310a0004007b008080000000"), ErrDEXExtTruncated},
		{"dex seq missing", ethHdr + hbh("1102 0100 310e0004007b00c0b0000000 12345678 01020000"), ErrDEXExtTruncated},
		{"dex unknown ext bit counted", ethHdr + hbh("1101 0100 310a0004007b000180000000"), ErrDEXExtTruncated},
		{"pto short", ethHdr + hbh("1101 0100 31060000007b0801 01020000"), ErrPTOShort},
		{"second hbh", ethHdr + ip6(0, "0000 01040000 0000"+"1100 01040000 0000"+udpPing), ErrHbHNotFirst},
		{"hbh after dstopts", ethHdr + ip6(ProtoDstOpts, "0000 01040000 0000"+"1100 01040000 0000"+udpPing), ErrHbHNotFirst},
		{"second inner hbh", ethHdr + ip6(ProtoIPv6, ip6(0, "0000 01040000 0000"+"1100 01040000 0000"+udpPing)), ErrHbHNotFirst},
		{"ext header overrun", ethHdr + ip6(ProtoDstOpts, "1105"+udpPing[4:]), ErrExtTruncated},
		{"inner short", ethHdr + ip6(0, "2901 0100 "+optA+udpPing), ErrInnerShort},
		{"inner version", ethHdr + vecC[:128] + "4" + vecC[129:], ErrInnerVersion},
		{"inner length", ethHdr + vecC[:128] + "6000000000ff" + vecC[140:], ErrInnerLength},
	}
	seen := map[error]bool{}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			frame := mustHex(t, tt.frame)
			var p Packet
			err := Parse(frame, &p)
			if err != tt.want {
				t.Fatalf("Parse = %v, want %v", p.Detail(err), tt.want)
			}
			seen[tt.want] = true
			if d := p.Detail(err); !errors.Is(d, tt.want) || !strings.Contains(d.Error(), tt.want.Error()) {
				t.Errorf("Detail(%v) = %v", err, d)
			}
			if p.ErrOff < 0 || p.ErrOff > len(frame) {
				t.Errorf("ErrOff %d outside the %d-octet frame", p.ErrOff, len(frame))
			}
		})
	}
	// Every parse sentinel has at least one case, and they are distinct.
	all := []error{ErrShortFrame, ErrShortVLAN, ErrNotIPv6, ErrShortIPv6, ErrIPVersion, ErrPayloadLength,
		ErrHbHTruncated, ErrOptTruncated, ErrOptOverrun, ErrPadTooLong, ErrPadNNonZero, ErrTooManyOptions,
		ErrOptionDiscard, ErrRouterAlert, ErrJumbo, ErrCALIPSO, ErrIOAMMisaligned, ErrIOAMShort, ErrDEXShort, ErrDEXExtTruncated, ErrPTOShort,
		ErrHbHNotFirst, ErrExtTruncated, ErrInnerShort, ErrInnerVersion, ErrInnerLength}
	for i, e := range all {
		if !seen[e] {
			t.Errorf("no test case for %v", e)
		}
		for _, f := range all[:i] {
			if errors.Is(e, f) {
				t.Errorf("%v is %v", e, f)
			}
		}
	}
}

// TestParseAccepts lists what Linux accepts and so must Parse.
func TestParseAccepts(t *testing.T) {
	tests := []struct {
		name  string
		frame string
		check func(p *Packet) string
	}{
		{"7 pad1", ethHdr + hbh("1101 00000000000000 1e01ab 01020000"), nil},
		{"padN 7", ethHdr + hbh("1101 0105 0000000000 1e01ab 01020000"), nil},
		{"pad1 + padN = 7 around an option", ethHdr + hbh("1101 0000 0103000000 1e00 0103 000000"), nil},
		{"skippable unknown option", ethHdr + hbh("1100 1e04 abcdef01"), nil},
		{"router alert", ethHdr + hbh("1100 05020000 0100"), nil},
		{"calipso without compartments", ethHdr + hbh("1101 0708000000010005beea 01020000"), nil},
		{"calipso with a compartment bitmap", ethHdr + hbh("1101 070c000000030105cd7980000001"), nil},
		{"ioam 0x11", ethHdr + hbh("1101 0100 110a0004007b000080000000"), func(p *Packet) string {
			if !p.HasDEX || p.IOAM[0].OptType != OptIOAMAlt || p.DEX.Namespace != 123 {
				return fmt.Sprintf("%+v", p.IOAM[0])
			}
			return ""
		}},
		{"unknown ioam type ignored", ethHdr + hbh("1100 0100 31020001"), func(p *Packet) string {
			if p.NumIOAM != 1 || p.IOAM[0].IOAMType != 1 || p.HasDEX || p.HasPTO {
				return fmt.Sprintf("%+v", p)
			}
			return ""
		}},
		{"dex unknown ext flags skipped", ethHdr + hbh("1103 0100 31160004007b00c180000000 12345678 00000007 ffffffff 01020000"), func(p *Packet) string {
			if p.DEX.FlowID != 0x12345678 || p.DEX.Seq != 7 || p.DEX.ExtFlags != 0xC1 {
				return fmt.Sprintf("%+v", p.DEX)
			}
			return ""
		}},
		{"dex seq only", ethHdr + hbh("1102 0100 310e0004007b004080000000 00000009 01020000"), func(p *Packet) string {
			if p.DEX.HasFlowID() || !p.DEX.HasSeq() || p.DEX.Seq != 9 || p.DEX.FlowID != 0 {
				return fmt.Sprintf("%+v", p.DEX)
			}
			return ""
		}},
		{"two ioam options, first dex reported", ethHdr + hbh("1103 0100 "+optA+" 310a0004007c000040000000 01020000"), func(p *Packet) string {
			if p.NumIOAM != 2 || p.DEX.Namespace != 123 || p.DEXOpt != 0 || p.IOAM[1].Off-p.HbH != 16 {
				return fmt.Sprintf("%+v", p)
			}
			return ""
		}},
		{"ethernet padding after packet", ethHdr + vecA + "000000000000", nil},
		{"non-first fragment has no ports", ethHdr + ip6(ProtoFragment, "11000009deadbeef"+udpPing), func(p *Packet) string {
			if p.L4Proto != ProtoFragment || p.HasPorts {
				return fmt.Sprintf("proto %d ports %v", p.L4Proto, p.HasPorts)
			}
			return ""
		}},
		{"first fragment has ports", ethHdr + ip6(ProtoFragment, "11000001deadbeef"+udpPing), func(p *Packet) string {
			if p.L4Proto != ProtoUDP || !p.HasPorts || p.DstPort != 5001 {
				return fmt.Sprintf("proto %d ports %v", p.L4Proto, p.HasPorts)
			}
			return ""
		}},
		{"routing header then udp", ethHdr + ip6(ProtoRouting, "1100000000000000"+udpPing), func(p *Packet) string {
			if p.L4Proto != ProtoUDP || p.SrcPort != 40000 || p.NextHeader != ProtoRouting {
				return fmt.Sprintf("%+v", p)
			}
			return ""
		}},
		{"ip6ip6 without hbh", ethHdr + ip6(ProtoIPv6, vecPlain), func(p *Packet) string {
			if p.Encap != EncapIP6IP6 || p.Inner != 54 || p.NumIOAM != 0 || p.DstPort != 5001 {
				return fmt.Sprintf("%+v", p)
			}
			return ""
		}},
		{"ip6ip6 with an inner hbh", ethHdr + ip6(ProtoIPv6, ip6(0, "1100 1e02abcd 0100"+udpPing)), func(p *Packet) string {
			if p.Inner != 54 || p.L4Proto != ProtoUDP || p.DstPort != 5001 || p.NumIOAM != 0 {
				return fmt.Sprintf("%+v", p)
			}
			return ""
		}},
		{"truncated udp has no ports", ethHdr + ip6(ProtoUDP, "9c40"), func(p *Packet) string {
			if p.HasPorts || p.L4Proto != ProtoUDP {
				return fmt.Sprintf("%+v", p)
			}
			return ""
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var p Packet
			if err := Parse(mustHex(t, tt.frame), &p); err != nil {
				t.Fatalf("Parse: %v", p.Detail(err))
			}
			if tt.check != nil {
				if msg := tt.check(&p); msg != "" {
					t.Error(msg)
				}
			}
		})
	}
}

// TestParseKnownOptionDetail checks where ErrOff and ErrVal point for the
// option checks Linux makes on Router Alert, Jumbo Payload and CALIPSO
// (the first failing check in Linux order). The Hop-by-Hop header starts
// at frame offset 54, its first option at 56.
func TestParseKnownOptionDetail(t *testing.T) {
	for _, tc := range []struct {
		name     string
		hbh      string
		want     error
		off, val int
	}{
		{"router alert length", "1100 050400000000", ErrRouterAlert, 57, 4},
		{"jumbo length first", "1101 00 c202000000 01050000000000", ErrJumbo, 58, 2},
		{"jumbo alignment", "1101 00 c20400010000 01050000000000", ErrJumbo, 57, 3},
		{"jumbo value", "1100 c2040000ffff", ErrJumbo, 58, 0xffff},
		{"jumbo payload length", "1100 c20400010000", ErrJumbo, 18, 8 + len(udpPing)/2},
		{"calipso length", "1100 070400000000", ErrCALIPSO, 57, 4},
		{"calipso compartment length", "1101 0708000000010205beea 01020000", ErrCALIPSO, 62, 2},
		{"calipso checksum", "1101 0708000000010005beeb 01020000", ErrCALIPSO, 64, 0xebbe},
	} {
		var p Packet
		err := Parse(mustHex(t, ethHdr+hbh(tc.hbh)), &p)
		if err != tc.want || p.ErrOff != tc.off || p.ErrVal != tc.val {
			t.Errorf("%s: %v at %d value %d, want %v at %d value %d", tc.name, err, p.ErrOff, p.ErrVal, tc.want, tc.off, tc.val)
		}
	}
}

// TestCRC16 checks the CALIPSO checksum against the published check value
// of CRC-16/CCITT reflected with initial value and final XOR 0xFFFF
// ("123456789" → 0x906E).
func TestCRC16(t *testing.T) {
	if got := ^crc16(0xFFFF, []byte("123456789")); got != 0x906E {
		t.Errorf("crc16 check value %#04x, want 0x906e", got)
	}
}

// TestParseIPv6Bounds checks ParseIPv6 with an offset outside the buffer.
func TestParseIPv6Bounds(t *testing.T) {
	var p Packet
	for _, l3 := range []int{-1, 100} {
		if err := ParseIPv6(make([]byte, 50), l3, &p); err != ErrShortIPv6 {
			t.Errorf("l3 %d: %v", l3, err)
		}
	}
}

// TestParseNoAlloc asserts that Parse allocates nothing, on a good frame and
// on a failing one.
func TestParseNoAlloc(t *testing.T) {
	good := mustHex(t, ethHdr+vecC)
	bad := mustHex(t, ethHdr+hbh("1102 010100 "+optA+" 01050000000000"))
	var p Packet
	if n := testing.AllocsPerRun(100, func() {
		_ = Parse(good, &p)
		_ = Parse(bad, &p)
	}); n != 0 {
		t.Errorf("Parse allocates %v times per run", n)
	}
}

// TestParseEthernet covers the link-layer helper on its own.
func TestParseEthernet(t *testing.T) {
	for _, tc := range []struct {
		hex  string
		l3   int
		tci  uint16
		vlan bool
		err  error
	}{
		{ethHdr, 14, 0, false, nil},
		{ethVLANHdr, 18, 100, true, nil},
		{"0200000000020200000000010800", 14, 0x0800, false, ErrNotIPv6},
		{"020000000002020000000001810000", 14, 15, false, ErrShortVLAN},
		{"02", 0, 1, false, ErrShortFrame},
	} {
		l3, tci, vlan, err := ParseEthernet(mustHex(t, tc.hex))
		if l3 != tc.l3 || tci != tc.tci || vlan != tc.vlan || err != tc.err {
			t.Errorf("ParseEthernet(%s) = %d %d %v %v, want %d %d %v %v", tc.hex, l3, tci, vlan, err, tc.l3, tc.tci, tc.vlan, tc.err)
		}
	}
}
