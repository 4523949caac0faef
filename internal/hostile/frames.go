// Package hostile is dexplane's hostile-traffic suite: a table of crafted
// Ethernet frames and, for each, what every IOAM role must do with it, plus
// the checks that compare a handled frame with its row.
//
// The expectations come from the documented policy (package node's
// malformed-packet table and role description, the codec's sentinel
// errors, the IOAM DEX reference §2.6, §3.2, §8.2 and the Linux receive
// path), never from running the code. This package's tests run the table
// through node.Handle and keep e2e/testdata/hostile.pcap and hostile.md in
// step with it; e2e's TestHostileDataPlane runs it through the real data
// plane on network namespaces.
package hostile

import (
	"encoding/binary"
	"fmt"
	"io"
	"net/netip"
	"strings"

	"github.com/dexplane/dexplane/dataplane/node"
	"github.com/dexplane/dexplane/dataplane/policy"
	"github.com/dexplane/dexplane/dataplane/telemetry"
	"github.com/dexplane/dexplane/internal/enum"
)

// The table has one column per IOAM role a frame can meet, in the order
// of telemetry.Role (encap, transit, decap): frames always enter on port 0
// (west) and leave on port 1 (east), and the ports' domains (Spec) make the
// role: outside→inside encapsulates, inside→inside is transit,
// inside→outside decapsulates.

// NumRoles is the number of roles, the table's columns.
const NumRoles = telemetry.RoleDecap + 1

// Outcome is what leaves port 1 for a frame that entered on port 0.
type Outcome uint8

// Outcomes.
const (
	// Unchanged: the frame leaves bit for bit as it arrived.
	Unchanged Outcome = iota
	// WithDEX: the frame leaves with a DEX option added.
	WithDEX
	// Stripped: the frame leaves with its IOAM (option or outer header)
	// removed.
	Stripped
	// Dropped: nothing leaves.
	Dropped
	// TraceFilled: the frame leaves with this node's data written into its
	// Pre-allocated Trace (RemainingLen lowered), nothing else changed;
	// Want gives the exact octets.
	TraceFilled
)

// String returns the outcome as the table writes it.
func (o Outcome) String() string { return enum.Name(o, outcomeNames[:], "Outcome") }

var outcomeNames = [...]string{Unchanged: "forwarded unchanged", WithDEX: "forwarded with DEX", Stripped: "stripped", Dropped: "dropped", TraceFilled: "forwarded with this node's trace data"}

// Expect is the expected handling of a frame in one role.
type Expect struct {
	Outcome Outcome
	// Counters lists the node counters that must move, each by its
	// amount. The verdict counter (forwarded or dropped) is implied.
	Counters Counts
}

// Frame is one row of the hostile table.
type Frame struct {
	// Name is a short unique identifier (also the pcap comment order).
	Name string
	// What says what is hostile or special about the frame.
	What string
	// Bytes is the Ethernet frame host-a sends.
	Bytes []byte
	// Expect is the documented outcome per role.
	Expect [NumRoles]Expect
	// Want holds, per role, the exact frame that must leave for the
	// WithDEX and Stripped outcomes when it is fully determined by the
	// documented encoders (the kernel's DEX layout, whole-header removal);
	// nil means the test checks the structure instead.
	Want [NumRoles][]byte
	// Bug, when set, names a disagreement between the code and this row's
	// documented outcome found at the unit level (node.Handle); RealBug one
	// found only in the real data plane (XDP steering). The tests log such
	// rows as known bugs instead of failing, and fail once the code follows
	// the table (so the mark gets removed).
	Bug, RealBug string
	// NoInject, when set, says why the frame cannot be sent through an
	// AF_PACKET socket; the real data-plane test skips it.
	NoInject string
}

// Addresses, MACs and identities of the suite. Addresses and MACs are those
// of the bitw testbed (internal/testbed), where host-a sends every frame.
var (
	// HostAMAC and HostBMAC are the source and destination of every frame.
	HostAMAC = []byte{0x02, 0, 0, 0, 0, 0x0a}
	HostBMAC = []byte{0x02, 0, 0, 0, 0, 0x0b}

	addrA     = netip.MustParseAddr("2001:db8:1::a")
	addrB     = netip.MustParseAddr("2001:db8:1::b")
	addrOther = netip.MustParseAddr("2001:db8:9::1")    // neither routed nor a decap endpoint
	nodeAddr  = netip.MustParseAddr("2001:db8:ffff::1") // the node's own address
	endpoint  = netip.MustParseAddr("2001:db8:ffff::2") // a decap endpoint of the node
	peerNode  = netip.MustParseAddr("2001:db8:ffff::9") // another encapsulating node of the domain

	routePrefix = netip.MustParsePrefix("2001:db8:1::/64")
)

// Suite constants.
const (
	// Namespace is the IOAM namespace the node knows and the route inserts.
	Namespace = 123
	// TraceType is the route's IOAM-Trace-Type (bit 0: hop limit + node id).
	TraceType = 0x800000
	// MTU is both ports' MTU in octets of IPv6 packet.
	MTU = 1500
	// inlineOverhead is what an inline DEX without extension fields adds.
	inlineOverhead = 16
)

// Spec is the policy of the suite for role r: namespace 123, one inline
// route for 2001:db8:1::/64 selecting every packet (DEX without extension
// fields, trace type 0x800000), decap endpoint 2001:db8:ffff::2, inside
// ports IOAM-enabled, outside ports dropping foreign IOAM, MTU 1500,
// MergeHbH and StripAtDecap on (the configuration defaults). Port names are
// the bitw testbed's.
func Spec(r telemetry.Role) policy.Spec {
	ports := [2]policy.Port{
		{Name: "west", IfID: 1, IfIDWide: 1, MTU: MTU, ForeignIOAM: policy.ForeignDrop},
		{Name: "east", IfID: 2, IfIDWide: 2, MTU: MTU, ForeignIOAM: policy.ForeignDrop},
	}
	doms := map[telemetry.Role][2]policy.Domain{
		telemetry.RoleEncap:   {policy.Outside, policy.Inside},
		telemetry.RoleTransit: {policy.Inside, policy.Inside},
		telemetry.RoleDecap:   {policy.Inside, policy.Outside},
	}[r]
	for i := range ports {
		ports[i].Domain = doms[i]
		ports[i].IOAMEnabled = doms[i] == policy.Inside
	}
	return policy.Spec{
		Node:       policy.Node{ID: 1, IDWide: 1, Address: nodeAddr},
		Ports:      ports,
		Namespaces: []policy.Namespace{{ID: Namespace}},
		Routes: []policy.Route{{
			Prefix: routePrefix, Mode: policy.ModeInline, K: 1, N: 1,
			DEX: policy.DEX{Namespace: Namespace, TraceType: TraceType},
		}},
		DecapEndpoints: []netip.Addr{endpoint},
		Flows:          policy.Flows{MaxFlows: 1024},
		Options:        policy.Options{MergeHbH: true, StripAtDecap: true},
	}
}

// ---- byte builders (all big endian, as on the wire) ----

func cat(parts ...[]byte) []byte {
	var b []byte
	for _, p := range parts {
		b = append(b, p...)
	}
	return b
}

// vlanTag is one 802.1Q/802.1ad tag.
type vlanTag struct{ tpid, tci uint16 }

// ether returns an Ethernet frame host-a → host-b with the given tags.
func ether(etherType uint16, payload []byte, tags ...vlanTag) []byte {
	b := cat(HostBMAC, HostAMAC)
	for _, t := range tags {
		b = binary.BigEndian.AppendUint16(b, t.tpid)
		b = binary.BigEndian.AppendUint16(b, t.tci)
	}
	b = binary.BigEndian.AppendUint16(b, etherType)
	return append(b, payload...)
}

// eth6 is ether for IPv6 without tags.
func eth6(pkt []byte) []byte { return ether(0x86dd, pkt) }

// ip6 returns an IPv6 packet; Payload Length is len(payload).
func ip6(nh, hop uint8, src, dst netip.Addr, payload []byte) []byte {
	b := make([]byte, 40, 40+len(payload))
	b[0] = 0x60
	binary.BigEndian.PutUint16(b[4:], uint16(len(payload)))
	b[6], b[7] = nh, hop
	s, d := src.As16(), dst.As16()
	copy(b[8:], s[:])
	copy(b[24:], d[:])
	return append(b, payload...)
}

// withPlen returns a copy of the IPv6 packet pkt with Payload Length plen.
func withPlen(pkt []byte, plen int) []byte {
	b := cat(pkt)
	binary.BigEndian.PutUint16(b[4:], uint16(plen))
	return b
}

// ext returns an IPv6 extension header with an explicit Hdr Ext Len.
func ext(nh, hdrExtLen uint8, body ...[]byte) []byte {
	return cat(append([][]byte{{nh, hdrExtLen}}, body...)...)
}

// hbh returns a Hop-by-Hop (or Destination Options) header whose Hdr Ext
// Len matches its body, which must make the header a multiple of 8 octets.
// A body of another size is a mistake in the table: hbh panics.
func hbh(nh uint8, body ...[]byte) []byte {
	h := ext(nh, 0, body...)
	if len(h)%8 != 0 || len(h) > 2048 {
		panic(fmt.Sprintf("e2e: Hop-by-Hop header of %d octets is not a multiple of 8", len(h)))
	}
	h[1] = uint8(len(h)/8 - 1)
	return h
}

// pad returns n octets of padding: Pad1 for 1, PadN otherwise.
func pad(n int) []byte {
	if n == 1 {
		return []byte{0}
	}
	return append([]byte{1, byte(n - 2)}, make([]byte, n-2)...)
}

// opt returns a TLV option.
func opt(typ byte, data ...byte) []byte { return cat([]byte{typ, byte(len(data))}, data) }

// ioamOpt returns an IOAM option of option type typ whose content (from the
// IOAM Reserved octet on) is body, cut or zero-extended to odl octets, with
// Opt Data Len odl.
func ioamOpt(typ byte, odl int, body []byte) []byte {
	c := make([]byte, odl)
	copy(c, body)
	return cat([]byte{typ, byte(odl)}, c)
}

// dexBody is the content of a DEX IOAM option: Reserved, Option-Type 4,
// the DEX header and the optional fields.
func dexBody(ns uint16, flags, extFlags uint8, tt uint32, fields ...uint32) []byte {
	b := []byte{0, 4, byte(ns >> 8), byte(ns), flags, extFlags}
	b = binary.BigEndian.AppendUint32(b, tt<<8)
	for _, f := range fields {
		b = binary.BigEndian.AppendUint32(b, f)
	}
	return b
}

// dexOpt is a DEX option (0x31) of canonical length 10 + 4·len(fields).
func dexOpt(ns uint16, extFlags uint8, fields ...uint32) []byte {
	return ioamOpt(0x31, 10+4*len(fields), dexBody(ns, 0, extFlags, TraceType, fields...))
}

// dexHbH is the Hop-by-Hop header the Linux kernel (and dexplane's encoder)
// builds for one DEX option (reference §3.6): PadN(2), the option, PadN(4)
// when the number of optional fields is odd.
func dexHbH(nh uint8, ns uint16, extFlags uint8, fields ...uint32) []byte {
	h := cat(pad(2), dexOpt(ns, extFlags, fields...))
	if (2+len(h))%8 != 0 {
		h = cat(h, pad(8-(2+len(h))%8))
	}
	return hbh(nh, h)
}

// fieldsFor returns one optional-field value per bit set in extFlags.
func fieldsFor(extFlags uint8) []uint32 {
	var f []uint32
	for bit := 7; bit >= 0; bit-- {
		if extFlags&(1<<bit) != 0 {
			f = append(f, 0x10000000*uint32(8-bit)+0x12345) // distinct per field
		}
	}
	return f
}

// sum16 folds a one's complement sum.
func sum16(b []byte, s uint32) uint32 {
	for i := 0; i+1 < len(b); i += 2 {
		s += uint32(b[i])<<8 | uint32(b[i+1])
	}
	if len(b)%2 == 1 {
		s += uint32(b[len(b)-1]) << 8
	}
	return s
}

// l4 returns an upper-layer segment (UDP or ICMPv6) whose checksum field at
// csumOff is computed over the IPv6 pseudo-header of src → dst.
func l4(proto uint8, src, dst netip.Addr, seg []byte, csumOff int) []byte {
	s, d := src.As16(), dst.As16()
	var ph [40]byte
	copy(ph[:], s[:])
	copy(ph[16:], d[:])
	binary.BigEndian.PutUint32(ph[32:], uint32(len(seg)))
	ph[39] = proto
	c := sum16(seg, sum16(ph[:], 0))
	for c>>16 != 0 {
		c = c&0xffff + c>>16
	}
	cs := ^uint16(c)
	if cs == 0 && proto == 17 {
		cs = 0xffff
	}
	binary.BigEndian.PutUint16(seg[csumOff:], cs)
	return seg
}

// udp returns a UDP datagram with a valid checksum.
func udp(src, dst netip.Addr, sport, dport uint16, payload []byte) []byte {
	b := make([]byte, 8, 8+len(payload))
	binary.BigEndian.PutUint16(b, sport)
	binary.BigEndian.PutUint16(b[2:], dport)
	binary.BigEndian.PutUint16(b[4:], uint16(8+len(payload)))
	return l4(17, src, dst, append(b, payload...), 6)
}

// payloadOf is the UDP payload of a frame: its name, so a capture shows it.
func payloadOf(name string) []byte { return []byte("dexplane hostile: " + name) }

// plain returns an IPv6/UDP packet a → b, hop limit 64, port 40000 → 5001.
func plain(name string) []byte { return plainTo(name, addrA, addrB) }

// plainTo is plain between other addresses.
func plainTo(name string, src, dst netip.Addr) []byte {
	return ip6(17, 64, src, dst, udp(src, dst, 40000, 5001, payloadOf(name)))
}

// withHbH returns the IPv6 packet pkt (no extension headers) with header h
// inserted after its IPv6 header; h's Next Header is set to pkt's.
func withHbH(pkt, h []byte) []byte {
	h = cat(h)
	h[0] = pkt[6]
	out := ip6(0, pkt[7], netip.AddrFrom16([16]byte(pkt[8:24])), netip.AddrFrom16([16]byte(pkt[24:40])), cat(h, pkt[40:]))
	copy(out[:4], pkt[:4]) // traffic class, flow label
	return out
}

// inlineDEX returns the IPv6 packet pkt (first header not Hop-by-Hop, no
// link header) as the encapsulating role must send it: the route's DEX in a
// new Hop-by-Hop header (§3.6 layout); octets after the packet stay.
func inlineDEX(pkt []byte) []byte {
	plen := int(binary.BigEndian.Uint16(pkt[4:]))
	out := withHbH(pkt[:40+plen], dexHbH(0, Namespace, 0))
	return append(out, pkt[40+plen:]...)
}

// encapIn wraps inner in an outer IPv6 header src → dst carrying header h
// (a Hop-by-Hop header, or nil): an ip6ip6 packet.
func encapIn(inner []byte, src, dst netip.Addr, h []byte) []byte {
	if h == nil {
		return ip6(41, 64, src, dst, inner)
	}
	h = cat(h)
	h[0] = 41
	return ip6(0, 64, src, dst, cat(h, inner))
}

// ---- expectations ----

func same(cs ...Counter) Expect   { return Expect{Unchanged, counts(cs...)} }
func dex(cs ...Counter) Expect    { return Expect{WithDEX, counts(cs...)} }
func strip(cs ...Counter) Expect  { return Expect{Stripped, counts(cs...)} }
func drop(cs ...Counter) Expect   { return Expect{Dropped, counts(cs...)} }
func filled(cs ...Counter) Expect { return Expect{TraceFilled, counts(cs...)} }

func all(e Expect) [NumRoles]Expect { return [NumRoles]Expect{e, e, e} }

// malformed is the row of a frame every role drops for parse reason r.
func malformed(r node.Malformed) [NumRoles]Expect { return all(drop(Malformed(r))) }

// Frames is the hostile table. Every call builds it afresh, identically.
func Frames() []Frame {
	var fs []Frame
	add := func(f Frame) { fs = append(fs, f) }

	// plainRow: a well-formed packet without IOAM that the route selects:
	// DEX at the encapsulating node, untouched elsewhere. frame(pkt) makes
	// the link header.
	plainRow := func(name, what string, pkt []byte, frame func([]byte) []byte) {
		add(Frame{Name: name, What: what, Bytes: frame(pkt),
			Expect: [NumRoles]Expect{dex(CtrDEXInserted), same(CtrForwarded), same(CtrForwarded)},
			Want:   [NumRoles][]byte{telemetry.RoleEncap: frame(inlineDEX(pkt))}})
	}
	// dexRow: a well-formed packet with IOAM in its (outer) Hop-by-Hop
	// header: foreign IOAM dropped at the outside port, exported (or not)
	// at transit, removed at the decapsulating node, leaving want.
	dexRow := func(name, what string, frame []byte, transit, decap Expect, want []byte) {
		add(Frame{Name: name, What: what, Bytes: frame,
			Expect: [NumRoles]Expect{drop(CtrForeignDropped), transit, decap},
			Want:   [NumRoles][]byte{telemetry.RoleDecap: want}})
	}
	// inlineDEXRow: a plain packet with an IOAM Hop-by-Hop header h.
	inlineDEXRow := func(name, what string, h []byte) {
		p := plain(name)
		dexRow(name, what, eth6(withHbH(p, h)), same(CtrRecordsExported), strip(CtrDEXRemoved, CtrRecordsExported), eth6(p))
	}

	// --- link layer ---
	add(Frame{Name: "eth-13", What: "13 octets: shorter than an Ethernet header",
		Bytes: eth6(nil)[:13], Expect: malformed(node.MalformedShortFrame),
		NoInject: "AF_PACKET refuses frames shorter than the Ethernet header"})
	add(Frame{Name: "eth-only", What: "Ethernet header with EtherType IPv6 and nothing after it",
		Bytes: eth6(nil), Expect: malformed(node.MalformedShortIPv6)})
	add(Frame{Name: "vlan-cut", What: "802.1Q TPID announced, frame ends 2 octets into the tag",
		Bytes: ether(0x8100, nil)[:16], Expect: malformed(node.MalformedShortVLAN)})
	add(Frame{Name: "vlan-then-nothing", What: "complete 802.1Q tag, EtherType IPv6, no IPv6 header",
		Bytes: ether(0x86dd, nil, vlanTag{0x8100, 100}), Expect: malformed(node.MalformedShortIPv6)})
	add(Frame{Name: "not-ipv6", What: "IPv4/UDP frame (EtherType 0x0800): not ours",
		Bytes:  ether(0x0800, []byte{0x45, 0, 0, 28, 0, 0, 0x40, 0, 64, 17, 0, 0, 192, 0, 2, 1, 192, 0, 2, 2, 0x9c, 0x40, 0x13, 0x89, 0, 8, 0, 0}),
		Expect: all(same(CtrNotIPv6))})
	// VLAN stacks: up to two tags of 0x8100, 0x88a8, 0x9100 (package
	// packet and steer.c alike); IOAM behind them is handled as untagged
	// and the tags stay.
	qinq := func(p []byte) []byte { return ether(0x86dd, p, vlanTag{0x88a8, 10}, vlanTag{0x8100, 20}) }
	plainRow("qinq-88a8", "802.1ad S-tag then 802.1Q C-tag then IPv6: both tags kept", plain("qinq-88a8"), qinq)
	plainRow("vlan-double-8100", "two 802.1Q tags then IPv6", plain("vlan-double-8100"),
		func(p []byte) []byte { return ether(0x86dd, p, vlanTag{0x8100, 10}, vlanTag{0x8100, 20}) })
	ad := func(p []byte) []byte { return ether(0x86dd, p, vlanTag{0x88a8, 200}) }
	plainRow("vlan-88a8", "one 802.1ad tag then IPv6", plain("vlan-88a8"), ad)
	plainRow("vlan-9100", "one 0x9100 (pre-standard Q-in-Q) tag then IPv6", plain("vlan-9100"),
		func(p []byte) []byte { return ether(0x86dd, p, vlanTag{0x9100, 18}) })
	{
		p := plain("vlan-88a8-dex")
		dexRow("vlan-88a8-dex", "one 802.1ad tag, inline DEX: must not leak past decap (issue 11)", ad(withHbH(p, dexHbH(0, Namespace, 0))),
			same(CtrRecordsExported), strip(CtrDEXRemoved, CtrRecordsExported), ad(p))
	}
	{
		p := plain("qinq-dex")
		dexRow("qinq-dex", "802.1ad + 802.1Q tags, inline DEX", qinq(withHbH(p, dexHbH(0, Namespace, 0))),
			same(CtrRecordsExported), strip(CtrDEXRemoved, CtrRecordsExported), qinq(p))
	}
	add(Frame{Name: "vlan-three-tags", What: "three tags then IPv6 with DEX: more than the stack, not IPv6 to either classifier",
		Bytes:  ether(0x86dd, withHbH(plain("vlan-three-tags"), dexHbH(0, Namespace, 0)), vlanTag{0x88a8, 10}, vlanTag{0x8100, 20}, vlanTag{0x8100, 30}),
		Expect: all(same(CtrNotIPv6))})
	vlan := func(p []byte) []byte { return ether(0x86dd, p, vlanTag{0x8100, 0x2064}) }
	plainRow("vlan-plain", "802.1Q-tagged (PCP 1, VID 100) IPv6/UDP: the tag stays in front of the IPv6 header", plain("vlan-plain"), vlan)
	{
		p := plain("vlan-dex")
		dexRow("vlan-dex", "802.1Q-tagged packet with inline DEX", vlan(withHbH(p, dexHbH(0, Namespace, 0))),
			same(CtrRecordsExported), strip(CtrDEXRemoved, CtrRecordsExported), vlan(p))
	}

	// --- IPv6 header ---
	add(Frame{Name: "ipv6-cut-39", What: "39 octets of IPv6 header",
		Bytes: eth6(plain("ipv6-cut-39")[:39]), Expect: malformed(node.MalformedShortIPv6)})
	{
		p := plain("ip-version-4")
		p[0] = 0x40
		add(Frame{Name: "ip-version-4", What: "EtherType IPv6, version nibble 4", Bytes: eth6(p), Expect: malformed(node.MalformedIPVersion)})
	}
	{
		p := plain("plen-long")
		add(Frame{Name: "plen-long", What: "Payload Length one octet past the frame",
			Bytes: eth6(withPlen(p, len(p)-40+1)), Expect: malformed(node.MalformedPayloadLength)})
	}
	{
		p := plain("plen-short")
		tr := cat(p, []byte("trailing octets after the packet"))
		add(Frame{Name: "plen-short", What: "32 octets after the IPv6 packet (Payload Length below the frame, like Ethernet padding)",
			Bytes:  eth6(tr),
			Expect: [NumRoles]Expect{dex(CtrDEXInserted), same(CtrForwarded), same(CtrForwarded)},
			Want:   [NumRoles][]byte{telemetry.RoleEncap: eth6(inlineDEX(tr))}})
	}
	{
		p := withPlen(plain("plen-zero"), 0)
		add(Frame{Name: "plen-zero", What: "Payload Length 0 without Hop-by-Hop (no jumbo): a bare header, the UDP octets are trailer",
			Bytes:  eth6(p),
			Expect: [NumRoles]Expect{dex(CtrDEXInserted), same(CtrForwarded), same(CtrForwarded)},
			Want:   [NumRoles][]byte{telemetry.RoleEncap: eth6(inlineDEX(p))}})
	}
	for _, hl := range []uint8{0, 1} {
		p := plain(fmt.Sprintf("hop-limit-%d", hl))
		p[7] = hl
		plainRow(fmt.Sprintf("hop-limit-%d", hl), fmt.Sprintf("hop limit %d: a bump in the wire does not decrement it", hl), p, eth6)
	}
	{
		p := plain("hop-limit-1-dex")
		p[7] = 1
		dexRow("hop-limit-1-dex", "inline DEX with hop limit 1 (exported as received)", eth6(withHbH(p, dexHbH(0, Namespace, 0))),
			same(CtrRecordsExported), strip(CtrDEXRemoved, CtrRecordsExported), eth6(p))
	}
	{
		echo := l4(58, addrA, addrB, cat([]byte{128, 0, 0, 0, 0x12, 0x34, 0, 1}, payloadOf("icmpv6-echo")), 2)
		p := ip6(58, 64, addrA, addrB, echo)
		plainRow("icmpv6-echo", "ICMPv6 echo request (not neighbour discovery)", p, eth6)
	}
	plainRow("tcp-syn", "TCP SYN (ports for the flow key from TCP)",
		ip6(6, 64, addrA, addrB, l4(6, addrA, addrB, []byte{0x9c, 0x40, 0, 80, 0, 0, 0, 1, 0, 0, 0, 0, 0x50, 0x02, 0xff, 0xff, 0, 0, 0, 0}, 16)), eth6)

	// --- Hop-by-Hop header structure ---
	add(Frame{Name: "hbh-1-octet", What: "Next Header 0, Payload Length 1: one octet of Hop-by-Hop header",
		Bytes: eth6(ip6(0, 64, addrA, addrB, []byte{17})), Expect: malformed(node.MalformedHbHTruncated)})
	add(Frame{Name: "hbh-len-past-payload", What: "Hdr Ext Len 2 (24 octets) in a 16-octet payload",
		Bytes: eth6(ip6(0, 64, addrA, addrB, ext(59, 2, opt(0x1e, 1, 2, 3, 4, 5, 6), pad(6)))), Expect: malformed(node.MalformedHbHTruncated)})
	add(Frame{Name: "hbh-len-255", What: "Hdr Ext Len 255 (2048 octets) in a short packet",
		Bytes: eth6(withHbH(plain("hbh-len-255"), ext(0, 255, pad(6)))), Expect: malformed(node.MalformedHbHTruncated)})
	add(Frame{Name: "opt-cut-last-octet", What: "last octet of the header is an option type (Router Alert) without a length",
		Bytes: eth6(withHbH(plain("opt-cut-last-octet"), hbh(0, pad(5), []byte{0x05}))), Expect: malformed(node.MalformedOptTruncated)})
	add(Frame{Name: "opt-overrun", What: "option 0x1e with Opt Data Len 10 in an 8-octet header",
		Bytes: eth6(withHbH(plain("opt-overrun"), ext(0, 0, []byte{0x1e, 10, 0, 0, 0, 0}))), Expect: malformed(node.MalformedOptOverrun)})
	add(Frame{Name: "ioam-overrun", What: "DEX option with Opt Data Len 20 in a 16-octet header",
		Bytes: eth6(withHbH(plain("ioam-overrun"), ext(0, 1, pad(2), ioamOpt(0x31, 20, dexBody(Namespace, 0, 0, TraceType))[:12]))), Expect: malformed(node.MalformedOptOverrun)})
	add(Frame{Name: "pad1-x8", What: "eight Pad1 octets in a row",
		Bytes: eth6(withHbH(plain("pad1-x8"), hbh(0, make([]byte, 8), opt(0x1e, 1, 2, 3, 4)))), Expect: malformed(node.MalformedPadTooLong)})
	add(Frame{Name: "padn-8", What: "one PadN of 8 octets",
		Bytes: eth6(withHbH(plain("padn-8"), hbh(0, pad(8), opt(0x1e, 1, 2, 3, 4)))), Expect: malformed(node.MalformedPadTooLong)})
	add(Frame{Name: "pad1-padn-8", What: "Pad1 then PadN(7): 8 consecutive padding octets",
		Bytes: eth6(withHbH(plain("pad1-padn-8"), hbh(0, pad(1), pad(7), opt(0x1e, 1, 2, 3, 4)))), Expect: malformed(node.MalformedPadTooLong)})
	{
		p := plain("pad-7")
		add(Frame{Name: "pad-7", What: "exactly 7 padding octets (Pad1 + PadN(6)) then option 0x1e: valid; DEX merged into the header",
			Bytes:  eth6(withHbH(p, hbh(0, pad(1), pad(6), opt(0x1e, 1, 2, 3, 4, 5)))),
			Expect: [NumRoles]Expect{dex(CtrDEXInserted, CtrDEXMerged), same(CtrForwarded), same(CtrForwarded)}})
	}
	add(Frame{Name: "padn-nonzero", What: "PadN(4) carrying a non-zero octet",
		Bytes: eth6(withHbH(plain("padn-nonzero"), hbh(0, opt(0x1e), []byte{1, 2, 0, 7}))), Expect: malformed(node.MalformedPadNNonZero)})
	{
		var nine, eight [][]byte
		for range 9 {
			nine = append(nine, opt(0x1e))
		}
		eight = nine[:8]
		add(Frame{Name: "options-9", What: "nine non-padding options (Linux max_hbh_opts_number is 8)",
			Bytes: eth6(withHbH(plain("options-9"), hbh(0, cat(nine...), pad(4)))), Expect: malformed(node.MalformedTooManyOptions)})
		add(Frame{Name: "options-8", What: "eight non-padding options: valid, but no room for a ninth (DEX)",
			Bytes:  eth6(withHbH(plain("options-8"), hbh(0, cat(eight...), pad(6)))),
			Expect: [NumRoles]Expect{same(CtrSkippedHbH), same(CtrForwarded), same(CtrForwarded)}})
	}
	for _, c := range []struct {
		typ  byte
		name string
	}{{0x5e, "opt-unknown-act01"}, {0x9e, "opt-unknown-act10"}, {0xde, "opt-unknown-act11"}} {
		add(Frame{Name: c.name, What: fmt.Sprintf("unknown option 0x%02x whose action bits say discard", c.typ),
			Bytes: eth6(withHbH(plain(c.name), hbh(0, opt(c.typ, 0, 0), pad(2)))), Expect: malformed(node.MalformedOptionDiscard)})
	}
	// vectorD is reference vector (d): option 0x1e and PadN(2) before the
	// DEX option, PadN(4) after it; vectorDIn is the header before the
	// merge. Merging adds 16 octets.
	vectorDIn := func() []byte { return hbh(0, opt(0x1e, 0xab, 0xcd), pad(2)) }
	vectorD := func() []byte { return hbh(0, opt(0x1e, 0xab, 0xcd), pad(2), dexOpt(Namespace, 0), pad(4)) }
	{
		p := plain("opt-unknown-skip")
		add(Frame{Name: "opt-unknown-skip", What: "unknown option 0x1e (action skip): valid; DEX merged after it (reference vector d)",
			Bytes:  eth6(withHbH(p, vectorDIn())),
			Expect: [NumRoles]Expect{dex(CtrDEXInserted, CtrDEXMerged), same(CtrForwarded), same(CtrForwarded)},
			Want:   [NumRoles][]byte{telemetry.RoleEncap: eth6(withHbH(p, vectorD()))}})
	}
	add(Frame{Name: "router-alert-ok", What: "Router Alert (length 2) then PadN(2): valid; DEX merged after it",
		Bytes:  eth6(withHbH(plain("router-alert-ok"), hbh(0, opt(0x05, 0, 0), pad(2)))),
		Expect: [NumRoles]Expect{dex(CtrDEXInserted, CtrDEXMerged), same(CtrForwarded), same(CtrForwarded)}})
	add(Frame{Name: "router-alert-bad-len", What: "Router Alert with Opt Data Len 4 (must be 2; Linux ipv6_hop_ra drops it)",
		Bytes: eth6(withHbH(plain("router-alert-bad-len"), hbh(0, opt(0x05, 0, 0, 0, 0)))), Expect: malformed(node.MalformedRouterAlert)})
	add(Frame{Name: "jumbo-plen-nonzero", What: "Jumbo Payload option in a packet whose Payload Length is not 0 (RFC 2675 §3; Linux ipv6_hop_jumbo drops it)",
		Bytes: eth6(withHbH(plain("jumbo-plen-nonzero"), hbh(0, opt(0xc2, 0, 1, 0, 0)))), Expect: malformed(node.MalformedJumbo)})
	add(Frame{Name: "calipso-bad-len", What: "CALIPSO option with Opt Data Len 4 (at least 8; Linux ipv6_hop_calipso drops it)",
		Bytes: eth6(withHbH(plain("calipso-bad-len"), hbh(0, opt(0x07, 0, 0, 0, 0)))), Expect: malformed(node.MalformedCALIPSO)})
	// calipso is a CALIPSO option (DOI 1, no compartments, level 5) with
	// the CRC-16 Linux calipso_validate expects (0xeabe, low octet first).
	calipso := opt(0x07, 0, 0, 0, 1, 0, 5, 0xbe, 0xea)
	add(Frame{Name: "calipso-bad-crc", What: "CALIPSO option with a wrong checksum (Linux calipso_validate drops it)",
		Bytes: eth6(withHbH(plain("calipso-bad-crc"), hbh(0, calipso[:8], []byte{0xbe, 0xeb}, pad(4)))), Expect: malformed(node.MalformedCALIPSO)})
	add(Frame{Name: "calipso-ok", What: "well-formed CALIPSO option (DOI not checked: a Linux with NetLabel also needs the DOI configured); DEX merged after it",
		Bytes:  eth6(withHbH(plain("calipso-ok"), hbh(0, calipso, pad(4)))),
		Expect: [NumRoles]Expect{dex(CtrDEXInserted, CtrDEXMerged), same(CtrForwarded), same(CtrForwarded)}})
	{
		p := withHbH(plain("jumbogram"), hbh(0, opt(0xc2, 0, 1, 0, 0x30)))
		add(Frame{Name: "jumbogram", What: "jumbogram: Payload Length 0 with a Jumbo Payload option (unsupported)",
			Bytes: eth6(withPlen(p, 0)), Expect: malformed(node.MalformedHbHTruncated)})
	}

	// --- IOAM options ---
	add(Frame{Name: "ioam-misaligned-2", What: "DEX option at Hop-by-Hop offset 2 (not 4n)",
		Bytes: eth6(withHbH(plain("ioam-misaligned-2"), hbh(0, dexOpt(Namespace, 0), pad(2)))), Expect: malformed(node.MalformedIOAMMisaligned)})
	add(Frame{Name: "ioam-misaligned-3", What: "DEX option at Hop-by-Hop offset 3 (Pad1 in front)",
		Bytes: eth6(withHbH(plain("ioam-misaligned-3"), hbh(0, pad(1), dexOpt(Namespace, 0), pad(1)))), Expect: malformed(node.MalformedIOAMMisaligned)})
	add(Frame{Name: "ioam-odl-0", What: "IOAM option with Opt Data Len 0",
		Bytes: eth6(withHbH(plain("ioam-odl-0"), hbh(0, pad(2), ioamOpt(0x31, 0, nil), pad(2)))), Expect: malformed(node.MalformedIOAMShort)})
	add(Frame{Name: "ioam-odl-1", What: "IOAM option with Opt Data Len 1 (no IOAM Option-Type octet)",
		Bytes: eth6(withHbH(plain("ioam-odl-1"), hbh(0, pad(2), ioamOpt(0x31, 1, nil), pad(1)))), Expect: malformed(node.MalformedIOAMShort)})
	for _, odl := range []int{2, 6, 9} {
		name := fmt.Sprintf("dex-odl-%d", odl)
		o := ioamOpt(0x31, odl, dexBody(Namespace, 0, 0, TraceType))
		body := cat(pad(2), o)
		if r := (2 + len(body)) % 8; r != 0 {
			body = cat(body, pad(8-r))
		}
		add(Frame{Name: name, What: fmt.Sprintf("DEX option cut after %d octets of content (needs 10)", odl),
			Bytes: eth6(withHbH(plain(name), hbh(0, body))), Expect: malformed(node.MalformedDEXShort)})
	}
	for _, c := range []struct {
		ext uint8
		odl int
	}{{0x80, 10}, {0xc0, 14}, {0xff, 38}} {
		name := fmt.Sprintf("dex-ext%02x-odl%d", c.ext, c.odl)
		o := ioamOpt(0x31, c.odl, dexBody(Namespace, 0, c.ext, TraceType, fieldsFor(c.ext)...))
		body := cat(pad(2), o)
		if r := (2 + len(body)) % 8; r != 0 {
			body = cat(body, pad(8-r))
		}
		add(Frame{Name: name, What: fmt.Sprintf("Extension-Flags 0x%02x announce %d fields, Opt Data Len %d holds one fewer", c.ext, c.odl/4-1, c.odl),
			Bytes: eth6(withHbH(plain(name), hbh(0, body))), Expect: malformed(node.MalformedDEXExtTruncated)})
	}
	for _, e := range []uint8{0x00, 0x80, 0x40, 0xc0, 0x20, 0x3f, 0xff} {
		name := fmt.Sprintf("dex-ext%02x", e)
		inlineDEXRow(name, fmt.Sprintf("valid DEX, Extension-Flags 0x%02x (%d optional fields)", e, len(fieldsFor(e))),
			dexHbH(0, Namespace, e, fieldsFor(e)...))
	}
	inlineDEXRow("dex-odl-long", "DEX option 4 octets longer than its fields need (tolerated, §2.6)",
		hbh(0, pad(2), ioamOpt(0x31, 14, dexBody(Namespace, 0, 0, TraceType)), pad(4)))
	inlineDEXRow("dex-trace-reserved", "IOAM-Trace-Type 0xffffff: bit 7, bits 12-21 and reserved bit 23 set",
		hbh(0, pad(2), ioamOpt(0x31, 10, dexBody(Namespace, 0, 0, 0xffffff))))
	{
		b := dexBody(Namespace, 0xff, 0, TraceType)
		b[0], b[9] = 0xff, 0xff // IOAM Reserved, DEX Reserved
		inlineDEXRow("dex-reserved-set", "DEX Flags 0xff, IOAM Reserved and DEX Reserved octets 0xff (ignored on receipt)",
			hbh(0, pad(2), ioamOpt(0x31, 10, b)))
	}
	inlineDEXRow("dex-option-0x11", "DEX in IOAM option type 0x11 (second IANA code point)",
		hbh(0, pad(2), ioamOpt(0x11, 10, dexBody(Namespace, 0, 0, TraceType))))
	{
		p := plain("dex-unknown-ns")
		dexRow("dex-unknown-ns", "DEX for namespace 999, which the node does not know: never exported, still removed at the edge",
			eth6(withHbH(p, dexHbH(0, 999, 0))), same(CtrUnknownNamespace), strip(CtrUnknownNamespace, CtrDEXRemoved), eth6(p))
	}
	inlineDEXRow("dex-twice", "two DEX options in one Hop-by-Hop header (one record, for the first; both removed)",
		hbh(0, pad(2), dexOpt(Namespace, 0), dexOpt(Namespace, 0), pad(4)))
	inlineDEXRow("dex-unknown-then-known", "DEX for namespace 999 (unknown) then DEX for 123: one record, for the second; both removed",
		hbh(0, pad(2), dexOpt(999, 0), dexOpt(Namespace, 0), pad(4)))
	// pto is reference vector (e)'s trace: ns 123, type 0x800000 (NodeLen
	// 1), RemainingLen 1, 4 free octets, then node 1 (Hop_Lim 63). A
	// transit or decapsulating node (node_id 1, the packet's hop limit 64)
	// writes 0x3f000001 (64-1, as mainline Linux on input) into the free
	// word and lowers RemainingLen to 0: ptoFilled.
	pto := ioamOpt(0x31, 18, []byte{0, 0, 0, Namespace, 0x08, 0x01, 0x80, 0, 0, 0, 0, 0, 0, 0, 0x3f, 0, 0, 1})
	ptoFilled := ioamOpt(0x31, 18, []byte{0, 0, 0, Namespace, 0x08, 0x00, 0x80, 0, 0, 0, 0x3f, 0, 0, 1, 0x3f, 0, 0, 1})
	// ptoRow: a packet with the trace body h (and hFilled after this
	// node's write): foreign IOAM at the outside port, filled at transit,
	// filled, exported and removed at the decapsulating node.
	ptoRow := func(name, what string, h, hFilled []byte, transit, decap Expect) {
		p := plain(name)
		add(Frame{Name: name, What: what, Bytes: eth6(withHbH(p, h)),
			Expect: [NumRoles]Expect{drop(CtrForeignDropped), transit, decap},
			Want:   [NumRoles][]byte{telemetry.RoleTransit: eth6(withHbH(p, hFilled)), telemetry.RoleDecap: eth6(p)}})
	}
	ptoRow("pto-and-dex", "Pre-allocated Trace option then DEX in one header: trace filled, DEX exported with the trace at decap",
		hbh(0, pad(2), pto, dexOpt(Namespace, 0), pad(4)), hbh(0, pad(2), ptoFilled, dexOpt(Namespace, 0), pad(4)),
		filled(CtrRecordsExported, CtrTraceFilled), strip(CtrDEXRemoved, CtrRecordsExported, CtrTraceFilled, CtrTraceExported))
	add(Frame{Name: "pto-odl-9", What: "Pre-allocated Trace option cut after 9 octets of content (needs 10)",
		Bytes:  eth6(withHbH(plain("pto-odl-9"), hbh(0, pad(2), ioamOpt(0x31, 9, pto[2:]), pad(1)))),
		Expect: malformed(node.MalformedPTOShort)})
	{
		p := plain("ioam-type-e2e")
		dexRow("ioam-type-e2e", "IOAM Edge-to-Edge option (type 3) in the Hop-by-Hop header: other IOAM, removed at the edge",
			eth6(withHbH(p, hbh(0, pad(2), ioamOpt(0x31, 10, []byte{0, 3, 0, Namespace, 0x80, 0, 0, 0, 0, 1})))),
			same(CtrOtherIOAM), strip(CtrOtherIOAM, CtrDEXRemoved), eth6(p))
	}
	ptoRow("pto-only", "Pre-allocated Trace option, no DEX: filled at transit, filled, exported and removed at the edge",
		hbh(0, pad(2), pto), hbh(0, pad(2), ptoFilled),
		filled(CtrOtherIOAM, CtrTraceFilled), strip(CtrOtherIOAM, CtrDEXRemoved, CtrTraceFilled, CtrTraceExported, CtrRecordsExported))
	{
		// Hostile traces (the node package documents the policy).
		body := func(w0, w1 byte) []byte {
			return []byte{0, 0, 0, Namespace, w0, w1, 0x80, 0, 0, 0, 0, 0, 0, 0, 0x3f, 0, 0, 1}
		}
		add(Frame{Name: "pto-remlen-past-end", What: "trace RemainingLen 3 (12 octets) in an 8-octet data area (Linux ipv6_hop_ioam drops it)",
			Bytes:  eth6(withHbH(plain("pto-remlen-past-end"), hbh(0, pad(2), ioamOpt(0x31, 18, body(0x08, 0x03))))),
			Expect: malformed(node.MalformedPTORemLen)})
		add(Frame{Name: "pto-nodelen-mismatch", What: "trace NodeLen 2 for trace type 0x800000, which implies 1 (mainline Linux drops it)",
			Bytes:  eth6(withHbH(plain("pto-nodelen-mismatch"), hbh(0, pad(2), ioamOpt(0x31, 18, body(0x10, 0x01))))),
			Expect: malformed(node.MalformedPTONodeLen)})
		p := plain("pto-overflow")
		add(Frame{Name: "pto-overflow", What: "trace with the Overflow flag set: nobody writes, still exported and removed at the edge",
			Bytes: eth6(withHbH(p, hbh(0, pad(2), ioamOpt(0x31, 18, body(0x0c, 0x01))))),
			Expect: [NumRoles]Expect{drop(CtrForeignDropped), same(CtrOtherIOAM, CtrTraceSkippedOverflow),
				strip(CtrOtherIOAM, CtrDEXRemoved, CtrTraceSkippedOverflow, CtrTraceExported, CtrRecordsExported)},
			Want: [NumRoles][]byte{telemetry.RoleDecap: eth6(p)}})
		// Data area of 10 octets (not a multiple of 4): Opt Data Len 20.
		p = plain("pto-size-10")
		odd := cat(body(0x08, 0x01), []byte{0, 0})
		add(Frame{Name: "pto-size-10", What: "trace data area of 10 octets, not a multiple of 4 (Linux would write into it): left untouched, exported and removed at the edge",
			Bytes: eth6(withHbH(p, hbh(0, pad(2), ioamOpt(0x31, 20, odd), pad(6)))),
			Expect: [NumRoles]Expect{drop(CtrForeignDropped), same(CtrOtherIOAM, CtrTraceMalformed),
				strip(CtrOtherIOAM, CtrDEXRemoved, CtrTraceMalformed, CtrTraceExported, CtrRecordsExported)},
			Want: [NumRoles][]byte{telemetry.RoleDecap: eth6(p)}})
		// The same trace in a Destination Options header: not IOAM to
		// dexplane, nor to Linux (IOAM is a Hop-by-Hop option).
		q := plain("pto-in-dstopts")
		d := withHbH(q, hbh(0, pad(2), pto))
		d[6] = 60 // Next Header: Destination Options
		add(Frame{Name: "pto-in-dstopts", What: "Pre-allocated Trace in a Destination Options header: not IOAM to any role (as Linux): untouched at transit and decap; DEX added in front at the encapsulating node",
			Bytes:  eth6(d),
			Expect: [NumRoles]Expect{dex(CtrDEXInserted), same(CtrForwarded), same(CtrForwarded)}})
	}
	{
		p := plain("dex-with-other-option")
		dexRow("dex-with-other-option", "option 0x1e, PadN, DEX, PadN (reference vector d): decap keeps 0x1e and re-pads",
			eth6(withHbH(p, hbh(0, opt(0x1e, 0xab, 0xcd), pad(2), dexOpt(Namespace, 0), pad(4)))),
			same(CtrRecordsExported), strip(CtrDEXRemoved, CtrRecordsExported), nil)
	}

	{
		p := plain("dex-between-options")
		dexRow("dex-between-options", "Router Alert, PadN(2), DEX, option 0x1e: removing DEX must not leave more than 7 padding octets",
			eth6(withHbH(p, hbh(0, opt(0x05, 0, 0), pad(2), dexOpt(Namespace, 0), opt(0x1e, 0xab, 0xcd)))),
			same(CtrRecordsExported), strip(CtrDEXRemoved, CtrRecordsExported), nil)
	}

	// --- extension header chain ---
	add(Frame{Name: "hbh-not-first", What: "Destination Options then Hop-by-Hop",
		Bytes:  eth6(ip6(60, 64, addrA, addrB, cat(hbh(0, pad(6)), hbh(17, pad(2), dexOpt(Namespace, 0)), udp(addrA, addrB, 40000, 5001, payloadOf("hbh-not-first"))))),
		Expect: malformed(node.MalformedHbHNotFirst)})
	add(Frame{Name: "hbh-twice", What: "two Hop-by-Hop headers in a row",
		Bytes:  eth6(ip6(0, 64, addrA, addrB, cat(hbh(0, pad(6)), hbh(17, pad(6)), udp(addrA, addrB, 40000, 5001, payloadOf("hbh-twice"))))),
		Expect: malformed(node.MalformedHbHNotFirst)})
	{
		p := ip6(60, 64, addrA, addrB, cat(hbh(17, pad(2), dexOpt(Namespace, 0)), udp(addrA, addrB, 40000, 5001, payloadOf("dstopts-dex"))))
		add(Frame{Name: "dstopts-dex", What: "DEX in a Destination Options header: foreign IOAM at the encapsulating node (never a second DEX), forwarded in transit (not exported), removed at decap",
			Bytes:  eth6(p),
			Expect: [NumRoles]Expect{drop(CtrForeignDropped), same(CtrForwarded), strip(CtrDEXRemoved)},
			Want:   [NumRoles][]byte{telemetry.RoleDecap: eth6(ip6(17, 64, addrA, addrB, udp(addrA, addrB, 40000, 5001, payloadOf("dstopts-dex"))))}})
	}
	add(Frame{Name: "routing-cut", What: "Routing header whose Hdr Ext Len runs past the payload",
		Bytes:  eth6(ip6(43, 64, addrA, addrB, cat([]byte{17, 4, 0, 0, 0, 0, 0, 0}, udp(addrA, addrB, 40000, 5001, payloadOf("routing-cut"))[:8]))),
		Expect: malformed(node.MalformedExtTruncated)})
	frag := func(off uint16, more bool) []byte {
		fo := off << 3
		if more {
			fo |= 1
		}
		return []byte{17, 0, byte(fo >> 8), byte(fo), 0xde, 0xad, 0xbe, 0xef}
	}
	plainRow("frag-first", "first fragment (offset 0, M=1) of a UDP datagram",
		ip6(44, 64, addrA, addrB, cat(frag(0, true), udp(addrA, addrB, 40000, 5001, make([]byte, 1000))[:64])), eth6)
	plainRow("frag-later", "non-first fragment (offset 1000): no ports",
		ip6(44, 64, addrA, addrB, cat(frag(125, false), []byte("tail of a fragmented datagram"))), eth6)
	add(Frame{Name: "frag-cut", What: "Fragment header cut after 4 octets",
		Bytes: eth6(ip6(44, 64, addrA, addrB, frag(0, true)[:4])), Expect: malformed(node.MalformedExtTruncated)})
	{
		p := ip6(44, 64, addrA, addrB, cat(frag(0, true), udp(addrA, addrB, 40000, 5001, payloadOf("frag-dex"))))
		dexRow("frag-dex", "inline DEX on a first fragment", eth6(withHbH(p, dexHbH(0, Namespace, 0))),
			same(CtrRecordsExported), strip(CtrDEXRemoved, CtrRecordsExported), eth6(p))
	}

	// --- IPv6-in-IPv6 ---
	tunDEX := func() []byte { return dexHbH(0, Namespace, 0xc0, 0x12345678, 1) }
	{
		in := plain("ip6ip6-dex")
		dexRow("ip6ip6-dex", "ip6ip6 to the decap endpoint, DEX (flow id + seq) in the outer header",
			eth6(encapIn(in, peerNode, endpoint, tunDEX())), same(CtrRecordsExported), strip(CtrTunnelsStripped, CtrDEXRemoved, CtrRecordsExported), eth6(in))
	}
	{
		in := plain("ip6ip6-x2")
		dexRow("ip6ip6-x2", "ip6ip6 nested twice: DEX outer header and a plain middle header, both to the decap endpoint",
			eth6(encapIn(encapIn(in, peerNode, endpoint, nil), peerNode, endpoint, tunDEX())), same(CtrRecordsExported), strip(CtrTunnelsStripped, CtrDEXRemoved, CtrRecordsExported).times(CtrTunnelsStripped, 2), eth6(in))
	}
	{
		mid := encapIn(plain("ip6ip6-x2-tenant"), addrA, addrOther, nil)
		dexRow("ip6ip6-x2-tenant", "ip6ip6 nested twice: DEX outer header to the endpoint around another tenant's plain tunnel (kept)",
			eth6(encapIn(mid, peerNode, endpoint, tunDEX())), same(CtrRecordsExported), strip(CtrTunnelsStripped, CtrDEXRemoved, CtrRecordsExported), eth6(mid))
	}
	{
		in := plain("ip6ip6-x3-dex")
		dexRow("ip6ip6-x3-dex", "DEX outer header, DEX middle header, inline DEX inside: three removals (the limit)",
			eth6(encapIn(encapIn(withHbH(in, dexHbH(0, Namespace, 0)), peerNode, endpoint, tunDEX()), peerNode, endpoint, tunDEX())),
			same(CtrRecordsExported), strip(CtrTunnelsStripped, CtrDEXRemoved, CtrRecordsExported).times(CtrTunnelsStripped, 2), eth6(in))
	}
	{
		in := withHbH(plain("ip6ip6-x4-dex"), dexHbH(0, Namespace, 0))
		for range 3 {
			in = encapIn(in, peerNode, endpoint, tunDEX())
		}
		add(Frame{Name: "ip6ip6-x4-dex", What: "four IOAM layers (three DEX tunnels around inline DEX): IOAM left after three removals",
			Bytes:  eth6(in),
			Expect: [NumRoles]Expect{drop(CtrForeignDropped), same(CtrRecordsExported), drop(CtrTunnelsStripped, CtrLeakDropped, CtrRecordsExported).times(CtrTunnelsStripped, 3)}})
	}
	// ECN at decapsulation (RFC 6040, as Linux ip6_tunnel): outer CE on a
	// Not-ECT inner packet is dropped; on an ECT inner packet it sets CE.
	ecn := func(pkt []byte, bits byte) []byte {
		b := cat(pkt)
		b[1] = b[1]&^0x30 | bits<<4
		return b
	}
	{
		in := plain("ip6ip6-ecn-ce-notect")
		add(Frame{Name: "ip6ip6-ecn-ce-notect", What: "DEX tunnel with outer ECN CE around a Not-ECT inner packet",
			Bytes:  eth6(ecn(encapIn(in, peerNode, endpoint, tunDEX()), 3)),
			Expect: [NumRoles]Expect{drop(CtrForeignDropped), same(CtrRecordsExported), drop(CtrLeakDropped, CtrRecordsExported)}})
	}
	{
		in := ecn(plain("ip6ip6-ecn-ce-ect0"), 2)
		dexRow("ip6ip6-ecn-ce-ect0", "DEX tunnel with outer ECN CE around an ECT(0) inner packet: the inner packet leaves CE",
			eth6(ecn(encapIn(in, peerNode, endpoint, tunDEX()), 3)), same(CtrRecordsExported), strip(CtrTunnelsStripped, CtrDEXRemoved, CtrRecordsExported), eth6(ecn(in, 3)))
	}
	{
		in := plain("ip6ip6-plain-endpoint")
		add(Frame{Name: "ip6ip6-plain-endpoint", What: "plain ip6ip6 (no IOAM) addressed to the decap endpoint",
			Bytes:  eth6(encapIn(in, peerNode, endpoint, nil)),
			Expect: [NumRoles]Expect{same(CtrNoRoute), same(CtrForwarded), strip(CtrTunnelsStripped)},
			Want:   [NumRoles][]byte{telemetry.RoleDecap: eth6(in)}})
	}
	{
		p := encapIn(plain("ip6ip6-plain-tenant"), addrA, addrB, nil)
		plainRow("ip6ip6-plain-tenant", "another tenant's plain ip6ip6 to a routed address: DEX goes in its outer header, decap leaves it alone", p, eth6)
	}
	{
		p := encapIn(plain("ip6ip6-tenant-dex"), addrA, addrB, nil)
		dexRow("ip6ip6-tenant-dex", "another tenant's ip6ip6 (outer destination not a decap endpoint) with inline DEX in its outer header: only DEX is removed, the tenant's outer header stays (issue 11)",
			eth6(withHbH(p, dexHbH(0, Namespace, 0))), same(CtrRecordsExported), strip(CtrDEXRemoved, CtrRecordsExported), eth6(p))
	}
	{
		in := withHbH(plain("ip6ip6-tenant-inner-dex"), dexHbH(0, Namespace, 0))
		add(Frame{Name: "ip6ip6-tenant-inner-dex", What: "another tenant's plain tunnel (not to an endpoint) whose inner packet carries DEX: left alone",
			Bytes:  eth6(encapIn(in, addrA, addrOther, nil)),
			Expect: [NumRoles]Expect{same(CtrNoRoute), same(CtrForwarded), same(CtrForwarded)}})
	}
	add(Frame{Name: "ip6ip6-inner-cut", What: "Next Header 41 with 20 octets of inner header",
		Bytes: eth6(encapIn(plain("ip6ip6-inner-cut")[:20], peerNode, endpoint, tunDEX())), Expect: malformed(node.MalformedInnerShort)})
	{
		in := plain("ip6ip6-inner-v4")
		in[0] = 0x40
		add(Frame{Name: "ip6ip6-inner-v4", What: "inner header of an ip6ip6 packet has version 4",
			Bytes: eth6(encapIn(in, peerNode, endpoint, tunDEX())), Expect: malformed(node.MalformedInnerVersion)})
	}
	{
		in := plain("ip6ip6-inner-plen")
		in = withPlen(in, len(in)-40+8)
		add(Frame{Name: "ip6ip6-inner-plen", What: "inner Payload Length 8 octets past the outer payload",
			Bytes: eth6(encapIn(in, peerNode, endpoint, tunDEX())), Expect: malformed(node.MalformedInnerLength)})
	}

	// --- MTU and selection ---
	big := func(name string, ipLen int) []byte {
		pl := cat(payloadOf(name), make([]byte, ipLen-48-len(payloadOf(name))))
		return ip6(17, 64, addrA, addrB, udp(addrA, addrB, 40000, 5001, pl))
	}
	plainRow("mtu-exact", fmt.Sprintf("IPv6 length %d: exactly the MTU (%d) once DEX is inserted", MTU-inlineOverhead, MTU), big("mtu-exact", MTU-inlineOverhead), eth6)
	{
		p := big("mtu-plus-1", MTU-inlineOverhead+1)
		add(Frame{Name: "mtu-plus-1", What: fmt.Sprintf("IPv6 length %d: one octet over the MTU once DEX is inserted: sent without DEX", MTU-inlineOverhead+1),
			Bytes: eth6(p), Expect: [NumRoles]Expect{same(CtrSkippedMTU), same(CtrForwarded), same(CtrForwarded)}})
	}
	plainRow("mtu-exact-vlan", "802.1Q-tagged, IPv6 length at the MTU once DEX is inserted (the MTU counts IPv6 octets, not the tag)",
		big("mtu-exact-vlan", MTU-inlineOverhead), vlan)
	add(Frame{Name: "mtu-plus-1-vlan", What: "802.1Q-tagged, IPv6 length one octet over the MTU once DEX is inserted: sent without DEX",
		Bytes: vlan(big("mtu-plus-1-vlan", MTU-inlineOverhead+1)), Expect: [NumRoles]Expect{same(CtrSkippedMTU), same(CtrForwarded), same(CtrForwarded)}})
	{
		p := big("mtu-exact-merge", MTU-inlineOverhead-8)
		add(Frame{Name: "mtu-exact-merge", What: "vector (d) header, IPv6 length exactly the MTU once DEX is merged (+16)",
			Bytes:  eth6(withHbH(p, vectorDIn())),
			Expect: [NumRoles]Expect{dex(CtrDEXInserted, CtrDEXMerged), same(CtrForwarded), same(CtrForwarded)},
			Want:   [NumRoles][]byte{telemetry.RoleEncap: eth6(withHbH(p, vectorD()))}})
		q := big("mtu-plus-1-merge", MTU-inlineOverhead-8+1)
		add(Frame{Name: "mtu-plus-1-merge", What: "vector (d) header, IPv6 length one octet over the MTU once DEX is merged: sent without DEX",
			Bytes: eth6(withHbH(q, vectorDIn())), Expect: [NumRoles]Expect{same(CtrSkippedMTU), same(CtrForwarded), same(CtrForwarded)}})
	}
	add(Frame{Name: "no-route", What: "destination outside every route",
		Bytes: eth6(plainTo("no-route", addrA, addrOther)), Expect: [NumRoles]Expect{same(CtrNoRoute), same(CtrForwarded), same(CtrForwarded)}})
	add(Frame{Name: "export-ipfix-port", What: "UDP to port 4739 (IPFIX): export traffic never gets DEX",
		Bytes:  eth6(ip6(17, 64, addrA, addrB, udp(addrA, addrB, 40000, 4739, payloadOf("export-ipfix-port")))),
		Expect: [NumRoles]Expect{same(CtrSkippedExport), same(CtrForwarded), same(CtrForwarded)}})
	add(Frame{Name: "export-node-source", What: "sent from the node's own address: export traffic never gets DEX",
		Bytes: eth6(plainTo("export-node-source", nodeAddr, addrB)), Expect: [NumRoles]Expect{same(CtrSkippedExport), same(CtrForwarded), same(CtrForwarded)}})
	return fs
}

// WriteTable writes the table as Markdown (testdata/hostile.md).
func WriteTable(w io.Writer, fs []Frame) error {
	var b strings.Builder
	b.WriteString("# Hostile and broken traffic: expected outcomes\n\n")
	b.WriteString("Generated by `go test ./internal/hostile -run TestFiles -update` from internal/hostile/frames.go; do not edit.\n")
	b.WriteString("Frame N of this table is packet N of hostile.pcap (1-based).\n\n")
	b.WriteString("Policy (e2e.Spec): namespace 123; route 2001:db8:1::/64 inline, k/n 1/1, DEX without extension fields,\n")
	b.WriteString("trace type 0x800000; decap endpoint 2001:db8:ffff::2; node address 2001:db8:ffff::1; inside ports\n")
	b.WriteString("ioam_enabled; outside ports foreign_ioam: drop; MTU 1500; merge_hbh and strip_at_decap on.\n")
	b.WriteString("Frames enter on port 0 (west, from host-a) and leave on port 1 (east, to host-b):\n")
	b.WriteString("encap = outside → inside, transit = inside → inside, decap = inside → outside.\n\n")
	b.WriteString("Each cell: outcome (node counters that must move besides forwarded/dropped).\n")
	b.WriteString("Sources: package node's malformed-packet table and role description, package packet's\n")
	b.WriteString("sentinel errors, IOAM-DEX-REFERENCE §2.6, §3.2, §8.2 and the Linux receive path.\n\n")
	b.WriteString("| # | frame | what | octets | encap | transit | decap | known disagreement |\n")
	b.WriteString("|---|---|---|---|---|---|---|---|\n")
	for i, f := range fs {
		fmt.Fprintf(&b, "| %d | %s | %s | %d |", i+1, f.Name, f.What, len(f.Bytes))
		for _, e := range f.Expect {
			cell := e.Outcome.String()
			if len(e.Counters) > 0 {
				cell += " (" + e.Counters.String() + ")"
			}
			b.WriteString(" " + cell + " |")
		}
		var notes []string
		if f.Bug != "" {
			notes = append(notes, "code: "+f.Bug)
		}
		if f.RealBug != "" {
			notes = append(notes, "data plane: "+f.RealBug)
		}
		if f.NoInject != "" {
			notes = append(notes, "unit only: "+f.NoInject)
		}
		b.WriteString(" " + strings.Join(notes, "; ") + " |\n")
	}
	_, err := io.WriteString(w, b.String())
	return err
}

// WritePcap writes the frames as a classic little-endian pcap file
// (LINKTYPE_ETHERNET, microsecond timestamps one second apart from a fixed
// epoch, so the file is reproducible).
func WritePcap(w io.Writer, fs []Frame) error {
	hdr := make([]byte, 24)
	binary.LittleEndian.PutUint32(hdr[0:], 0xa1b2c3d4)
	binary.LittleEndian.PutUint16(hdr[4:], 2)
	binary.LittleEndian.PutUint16(hdr[6:], 4)
	binary.LittleEndian.PutUint32(hdr[16:], 65535)
	binary.LittleEndian.PutUint32(hdr[20:], 1)
	if _, err := w.Write(hdr); err != nil {
		return fmt.Errorf("pcap header: %w", err)
	}
	for i, f := range fs {
		rec := make([]byte, 16, 16+len(f.Bytes))
		binary.LittleEndian.PutUint32(rec[0:], uint32(1_700_000_000+i))
		binary.LittleEndian.PutUint32(rec[8:], uint32(len(f.Bytes)))
		binary.LittleEndian.PutUint32(rec[12:], uint32(len(f.Bytes)))
		if _, err := w.Write(append(rec, f.Bytes...)); err != nil {
			return fmt.Errorf("pcap record %d (%s): %w", i+1, f.Name, err)
		}
	}
	return nil
}
