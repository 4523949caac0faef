package node

import (
	"bytes"
	"encoding/binary"
	"net/netip"
	"testing"

	"github.com/dexplane/dexplane/dataplane/handle"
	"github.com/dexplane/dexplane/dataplane/packet"
	"github.com/dexplane/dexplane/dataplane/policy"
)

// frameWithLink places link (Ethernet header with its tags) and the IPv6
// packet ip6 in a chunk with headroom.
func frameWithLink(link, ip6 []byte) *handle.Frame {
	buf := make([]byte, chunkSize)
	n := copy(buf[headroom:], link)
	n += copy(buf[headroom+n:], ip6)
	return &handle.Frame{Buf: buf, Off: headroom, Len: n, RxTime: testNow}
}

func outOf(f *handle.Frame) []byte { return append([]byte(nil), f.Buf[f.Off:f.Off+f.Len]...) }

// tenantTunnel is a tenant's own ip6ip6 packet: outer 2001:db8:eeee::1 →
// 2001:db8::5 (covered by baseSpec's route, not a decap endpoint) around
// vector "plain".
func tenantTunnel(t *testing.T) []byte {
	inner := unhex(t, vecPlain)
	outer := unhex(t, vecPlain)[:40]
	binary.BigEndian.PutUint16(outer[4:], uint16(len(inner)))
	outer[6] = packet.ProtoIPv6
	s, d := netip.MustParseAddr("2001:db8:eeee::1").As16(), netip.MustParseAddr("2001:db8::5").As16()
	copy(outer[8:], s[:])
	copy(outer[24:], d[:])
	return append(outer, inner...)
}

// TestTenantTunnelCrossesIntact: an inline route covering a tenant
// tunnel's outer destination puts DEX into the tenant's outer header; the
// decapsulating node removes only that DEX (the tunnel does not end at one
// of its decap endpoints), so the tenant's packet leaves byte-identical to
// how it entered (issue 11 finding 3).
func TestTenantTunnelCrossesIntact(t *testing.T) {
	in := append(append([]byte(nil), ethHeader...), tenantTunnel(t)...)
	enc, _ := newNode(t, baseSpec(encapDir))
	dec, _ := newNode(t, baseSpec(decapDir))
	f := frameWithLink(ethHeader, tenantTunnel(t))
	if v := enc.Handle(f); v != handle.Forward || !parseOut(t, f).HasDEX {
		t.Fatalf("encap: verdict %v, DEX %v", v, parseOut(t, f).HasDEX)
	}
	f.Ingress = 0
	if v := dec.Handle(f); v != handle.Forward {
		t.Fatalf("decap: verdict %v", v)
	}
	if got := outOf(f); !bytes.Equal(got, in) {
		t.Errorf("tenant tunnel changed across the domain:\n got %x\nwant %x", got, in)
	}
	wantCounters(t, dec, map[string]uint64{"dex_removed": 1, "tunnels_stripped": 0, "records_exported": 1})
}

// TestVLANStackRoles: IOAM behind an 802.1ad tag or a two-tag stack is
// handled as untagged and the tags stay: removed at decap (it leaked on
// main), foreign at encap, DEX inserted behind the tags (issue 11 finding 4).
func TestVLANStackRoles(t *testing.T) {
	macs := ethHeader[:12]
	for _, tags := range [][]byte{
		{0x88, 0xa8, 0x00, 0xc8},
		{0x91, 0x00, 0x00, 0x12},
		{0x88, 0xa8, 0x00, 0xc8, 0x81, 0x00, 0x00, 0x64},
	} {
		link := append(append(append([]byte(nil), macs...), tags...), 0x86, 0xdd)
		dec, _ := newNode(t, baseSpec(decapDir))
		f := frameWithLink(link, unhex(t, vecB))
		if v := dec.Handle(f); v != handle.Forward {
			t.Fatalf("%x decap: verdict %v", tags, v)
		}
		if want := append(append([]byte(nil), link...), unhex(t, vecPlain)...); !bytes.Equal(outOf(f), want) {
			t.Errorf("%x decap: got %x\nwant %x", tags, outOf(f), want)
		}
		enc, _ := newNode(t, baseSpec(encapDir))
		if v := enc.Handle(frameWithLink(link, unhex(t, vecB))); v != handle.Drop {
			t.Errorf("%x encap: foreign DEX verdict %v, want drop", tags, v)
		}
		wantCounters(t, enc, map[string]uint64{"foreign_dropped": 1})
		f = frameWithLink(link, unhex(t, vecPlain))
		if v := enc.Handle(f); v != handle.Forward {
			t.Fatalf("%x encap: verdict %v", tags, v)
		}
		if want := append(append([]byte(nil), link...), unhex(t, vecA)...); !bytes.Equal(outOf(f), want) {
			t.Errorf("%x encap: got %x\nwant %x", tags, outOf(f), want)
		}
	}
}

// vecDstOpts is vector "plain" with vector a's DEX option in a Destination
// Options header (NH 60, 16 octets: PadN(2), DEX).
const vecDstOpts = "60000000001c3c4020010db800000000000000000000000120010db8000000000000000000000002" +
	"11010100310a0004007b000080000000" + "9c401389000c15c770696e67"

// TestDstOptsDEX: DEX in a Destination Options header is removed at decap
// and never doubled at encap (foreign IOAM: dropped, stripped then given
// the route's DEX, or forwarded untouched) (issue 11 finding 6).
func TestDstOptsDEX(t *testing.T) {
	dec, _ := newNode(t, baseSpec(decapDir))
	f := newFrame(unhex(t, vecDstOpts), 0)
	if v := dec.Handle(f); v != handle.Forward {
		t.Fatalf("decap verdict %v", v)
	}
	if got := ip6Of(f); !bytes.Equal(got, unhex(t, vecPlain)) {
		t.Errorf("decap: got %x\nwant %s", got, vecPlain)
	}
	wantCounters(t, dec, map[string]uint64{"dex_removed": 1})
	for _, tc := range []struct {
		pol  policy.ForeignIOAM
		v    handle.Verdict
		want string
		ctr  string
	}{
		{policy.ForeignDrop, handle.Drop, "", "foreign_dropped"},
		{policy.ForeignStrip, handle.Forward, vecA, "foreign_stripped"},
		{policy.ForeignForward, handle.Forward, vecDstOpts, "foreign_forwarded"},
	} {
		spec := baseSpec(encapDir)
		spec.Ports[0].ForeignIOAM = tc.pol
		enc, _ := newNode(t, spec)
		f := newFrame(unhex(t, vecDstOpts), 0)
		if v := enc.Handle(f); v != tc.v {
			t.Fatalf("encap %v: verdict %v, want %v", tc.pol, v, tc.v)
		}
		if tc.want != "" && !bytes.Equal(ip6Of(f), unhex(t, tc.want)) {
			t.Errorf("encap %v: got %x\nwant %s", tc.pol, ip6Of(f), tc.want)
		}
		wantCounters(t, enc, map[string]uint64{tc.ctr: 1})
	}
}

// TestSamplerLikeSteerC: the steer: all node counts in a route's sampler
// exactly what steer.c counts: a codec-rejected frame with a sound IPv6
// header (then dropped), not neighbour discovery, not a jumbogram
// candidate (issue 11 finding 5).
func TestSamplerLikeSteerC(t *testing.T) {
	nd := unhex(t, vecPlain)
	nd[6] = packet.ProtoICMPv6
	nd[40] = 135 // Neighbor Solicitation
	jumbo := unhex(t, vecA)
	binary.BigEndian.PutUint16(jumbo[4:], 0)
	truncExt := unhex(t, vecPlain)
	truncExt[6] = packet.ProtoRouting
	truncExt[41] = 20 // Hdr Ext Len past the payload
	for _, tc := range []struct {
		name    string
		pkt     []byte
		counted uint64
		v       handle.Verdict
	}{
		{"truncated routing header", truncExt, 1, handle.Drop},
		{"neighbour solicitation", nd, 0, handle.Forward},
		{"jumbogram candidate", jumbo, 0, handle.Drop},
		{"plain", unhex(t, vecPlain), 1, handle.Forward},
	} {
		spec := baseSpec(encapDir)
		n, ptr := newNode(t, spec)
		f := newFrame(tc.pkt, 0)
		if v := n.Handle(f); v != tc.v {
			t.Errorf("%s: verdict %v, want %v", tc.name, v, tc.v)
		}
		r, _ := ptr.Load().Routes.Lookup(netip.MustParseAddr("2001:db8::2").As16())
		if c := r.Sampler.Count(); c != tc.counted {
			t.Errorf("%s: sampler counted %d, want %d (as steer.c)", tc.name, c, tc.counted)
		}
	}
}

// TestForeignForwardMalformedLikeSteerC: with foreign_ioam: forward,
// steer.c lets an unselected frame with extension headers cross without
// walking them, so the steer: all node forwards such a frame untouched
// even when the codec rejects its chain (counted); a selected one is
// dropped.
func TestForeignForwardMalformedLikeSteerC(t *testing.T) {
	trunc := func(dst string) []byte {
		b := unhex(t, vecPlain)
		d := netip.MustParseAddr(dst).As16()
		copy(b[24:], d[:])
		b[6] = packet.ProtoRouting
		b[41] = 20 // Hdr Ext Len past the payload
		return b
	}
	spec := baseSpec(encapDir)
	spec.Ports[0].ForeignIOAM = policy.ForeignForward
	n, _ := newNode(t, spec)
	f := newFrame(trunc("2001:db9::2"), 0) // no route
	if v := n.Handle(f); v != handle.Forward || !bytes.Equal(ip6Of(f), trunc("2001:db9::2")) {
		t.Errorf("unselected: verdict %v, frame changed: %v", v, !bytes.Equal(ip6Of(f), trunc("2001:db9::2")))
	}
	if v := n.Handle(newFrame(trunc("2001:db8::2"), 0)); v != handle.Drop { // route 1/1: selected
		t.Errorf("selected: verdict %v, want drop", v)
	}
	wantCounters(t, n, map[string]uint64{"malformed_ext_truncated": 2, "forwarded": 1, "dropped": 1})
}
