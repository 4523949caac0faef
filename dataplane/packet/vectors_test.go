package packet

import (
	"testing"

	"github.com/dexplane/dexplane/internal/specvec"
	"github.com/dexplane/dexplane/internal/testutil"
)

// Byte-exact vectors of the reference spec §7 (IPv6 packets, no link
// header). Common parameters: 2001:db8::1 -> 2001:db8::2, hop limit 64,
// TC 0, flow label 0, UDP 40000 -> 5001 "ping" (checksum 0x15c7),
// Namespace-ID 123, DEX Flags 0.

const (
	ip6Src   = "20010db8000000000000000000000001" // 2001:db8::1
	ip6Dst   = "20010db8000000000000000000000002" // 2001:db8::2
	tunSrc   = "20010db8ffff00000000000000000001" // 2001:db8:ffff::1
	tunDst   = "20010db8ffff00000000000000000002" // 2001:db8:ffff::2
	udpPing  = "9c401389000c15c7" + "70696e67"    // UDP 40000->5001 len 12 csum 0x15c7, "ping"
	vecPlain = "" +
		"60000000" + "000c" + "11" + "40" + // ver 6 TC 0 FL 0 | payload 12 | NH UDP | HL 64
		ip6Src + ip6Dst + udpPing

	// (a) inline, no extension flags, trace type 0x800000.
	vecA = "" +
		"60000000" + "001c" + "00" + "40" + ip6Src + ip6Dst + // payload 28, NH HbH
		"11" + "01" + // HbH: NH UDP, Hdr Ext Len 1 (16 octets)
		"0100" + // PadN(2) at HbH offset 2
		"31" + "0a" + "00" + "04" + // IOAM 0x31 at HbH offset 4, Opt Data Len 10, Reserved, DEX
		"007b" + "00" + "00" + // Namespace 123, Flags 0, Ext-Flags 0
		"800000" + "00" + // Trace-Type 0x800000, Reserved
		udpPing

	// (b) inline, Flow ID + Sequence Number (ext 0xC0), trace 0xB00000, seq 0.
	vecB = "" +
		"60000000" + "0024" + "00" + "40" + ip6Src + ip6Dst + // payload 36, NH HbH
		"11" + "02" + // HbH: NH UDP, Hdr Ext Len 2 (24 octets)
		"0100" + // PadN(2)
		"31" + "12" + "00" + "04" + // IOAM, Opt Data Len 18, DEX
		"007b" + "00" + "c0" + // Namespace 123, Flags 0, Ext-Flags 0xC0
		"b00000" + "00" + // Trace-Type 0xB00000
		"12345678" + // Flow ID
		"00000000" + // Sequence Number 0
		udpPing

	// (b2) inline, Flow ID only (ext 0x80): PadN(4) after the option.
	vecB2 = "" +
		"60000000" + "0024" + "00" + "40" + ip6Src + ip6Dst +
		"11" + "02" +
		"0100" + // PadN(2)
		"31" + "0e" + "00" + "04" + // IOAM, Opt Data Len 14, DEX
		"007b" + "00" + "80" + // Namespace 123, Flags 0, Ext-Flags 0x80
		"b00000" + "00" + // Trace-Type 0xB00000
		"12345678" + // Flow ID
		"01020000" + // PadN(4) at HbH offset 20
		udpPing

	// (b2') the non-canonical ULiège TRex form of (b2): Opt Data Len 18
	// swallows the trailing 4 octets. Linux accepts it, so must Parse.
	vecB2NonCanonical = "" +
		"60000000" + "0024" + "00" + "40" + ip6Src + ip6Dst +
		"11" + "02" + "0100" +
		"31" + "12" + "00" + "04" + // Opt Data Len 18 instead of 14
		"007b" + "00" + "80" + "b00000" + "00" +
		"12345678" + "01020000" +
		udpPing

	// (c) IPv6-in-IPv6 with DEX (ext 0xC0, flow 0x12345678, seq 1), trace 0x800000.
	vecC = "" +
		"60000000" + "004c" + "00" + "40" + tunSrc + tunDst + // outer: payload 76, NH HbH, HL 64
		"29" + "02" + // HbH: NH 41 (IPv6), 24 octets
		"0100" +
		"31" + "12" + "00" + "04" +
		"007b" + "00" + "c0" + "800000" + "00" +
		"12345678" + // Flow ID
		"00000001" + // Sequence Number 1
		vecPlain // inner packet, unchanged

	// (d) an existing HbH with RFC 3692 option 0x1E (2 data octets), then
	// PadN(2) to 4n, IOAM at HbH offset 8, PadN(4) to 8n.
	vecD = "" +
		"60000000" + "0024" + "00" + "40" + ip6Src + ip6Dst +
		"11" + "02" +
		"1e02abcd" + // option 0x1E at HbH offset 2, len 2
		"0100" + // PadN(2) at HbH offset 6
		"31" + "0a" + "00" + "04" + // IOAM at HbH offset 8
		"007b" + "00" + "00" + "800000" + "00" +
		"01020000" + // PadN(4) at HbH offset 20
		udpPing

	// (d0) the packet (d) is built from: the same HbH without IOAM.
	vecD0 = "" +
		"60000000" + "0014" + "00" + "40" + ip6Src + ip6Dst + // payload 20
		"11" + "00" + // HbH: NH UDP, 8 octets
		"1e02abcd" + "0100" +
		udpPing

	// (e) Pre-allocated Trace, reference only: ns 123, NodeLen 1, RemLen 1,
	// trace type 0x800000, one node written (Hop_Lim 63, node_id 1).
	vecE = "" +
		"60000000" + "0024" + "00" + "40" + ip6Src + ip6Dst +
		"11" + "02" +
		"0100" +
		"31" + "12" + "00" + "00" + // IOAM, Opt Data Len 18, PTO
		"007b" + "0801" + // Namespace 123 | NodeLen 1, Flags 0, RemLen 1
		"800000" + "00" + // Trace-Type 0x800000
		"00000000" + // 4 free octets
		"3f000001" + // node 0: Hop_Lim 63, node_id 1
		udpPing
)

// TestVectorsMatchSpec guards the annotated forms above against typos: they
// must equal the strings the reference prints (package specvec).
func TestVectorsMatchSpec(t *testing.T) {
	for _, v := range []struct{ name, ours, spec string }{
		{"plain", vecPlain, specvec.Plain}, {"a", vecA, specvec.A}, {"b", vecB, specvec.B},
		{"b2", vecB2, specvec.B2}, {"c", vecC, specvec.C}, {"d", vecD, specvec.D},
		{"d0", vecD0, specvec.D0}, {"e", vecE, specvec.E},
	} {
		if v.ours != v.spec {
			t.Errorf("vector (%s) annotated form differs from the spec:\n got %s\nwant %s", v.name, v.ours, v.spec)
		}
	}
}

// mustHex decodes a hex vector.
var mustHex = testutil.MustHex

// ethHdr is a fixed Ethernet header (dst 02:00:00:00:00:02, src
// 02:00:00:00:00:01, EtherType IPv6).
const ethHdr = "020000000002" + "020000000001" + "86dd"

// ethVLANHdr carries an 802.1Q tag (PCP 0, VID 100) before the IPv6 EtherType.
const ethVLANHdr = "020000000002" + "020000000001" + "8100" + "0064" + "86dd"

// frameIn returns a buffer with the given headroom followed by the frame
// bytes, and the frame offset.
func frameIn(headroom int, frame []byte) ([]byte, int) {
	buf := make([]byte, headroom+len(frame))
	copy(buf[headroom:], frame)
	return buf, headroom
}
