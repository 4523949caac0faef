package node

import (
	"bytes"
	"encoding/binary"
	"net/netip"
	"sync/atomic"
	"testing"

	"github.com/dexplane/dexplane/dataplane/handle"
	"github.com/dexplane/dexplane/dataplane/packet"
	"github.com/dexplane/dexplane/dataplane/policy"
	"github.com/dexplane/dexplane/dataplane/telemetry"
	"github.com/dexplane/dexplane/internal/specvec"
	"github.com/dexplane/dexplane/internal/testutil"
)

// Spec §7 vectors (IPv6 packets, no link header).
const (
	vecPlain = specvec.Plain
	vecA     = specvec.A
	vecB     = specvec.B
	vecB2    = specvec.B2
	vecC     = specvec.C
	vecD     = specvec.D
	// vecDIn is vecD before the merge: the same packet with an 8-octet
	// Hop-by-Hop header holding option 0x1E and PadN(2).
	vecDIn = specvec.D0
	// vecPTO is spec vector (e): a Pre-allocated Trace option, not DEX.
	vecPTO = specvec.E
)

// vecFlowID is the Flow ID of the vectors' 5-tuple (2001:db8::1 →
// 2001:db8::2, UDP 40000 → 5001) with seed 0, computed independently from
// the recipe in package flow.
const vecFlowID = 0x2f14518c

const (
	headroom  = 256
	chunkSize = 2048
	testNow   = int64(1_700_000_000_123_456_789) // RxTime of test frames
)

var ethHeader = []byte{0x02, 0, 0, 0, 0, 2, 0x02, 0, 0, 0, 0, 1, 0x86, 0xdd}

var unhex = testutil.MustHex

// withFlowID returns vector v (hex) with the vectors' Flow ID 0x12345678
// replaced by id.
func withFlowID(t testing.TB, v string, id uint32) []byte {
	t.Helper()
	b := unhex(t, v)
	i := bytes.Index(b, []byte{0x12, 0x34, 0x56, 0x78})
	if i < 0 {
		t.Fatal("vector has no flow id")
	}
	binary.BigEndian.PutUint32(b[i:], id)
	return b
}

// newFrame places an Ethernet frame around the IPv6 packet ip6 in a UMEM-like
// chunk with headroom.
func newFrame(ip6 []byte, ingress int) *handle.Frame {
	buf := make([]byte, chunkSize)
	n := copy(buf[headroom:], ethHeader)
	n += copy(buf[headroom+n:], ip6)
	return &handle.Frame{Buf: buf, Off: headroom, Len: n, Ingress: ingress, RxTime: testNow, TxQueueDepth: 7, UmemInUse: 99}
}

// resetFrame reuses f for a new packet (like the worker does).
func resetFrame(f *handle.Frame, ip6 []byte) {
	n := copy(f.Buf[headroom:], ethHeader)
	n += copy(f.Buf[headroom+n:], ip6)
	f.Off, f.Len = headroom, n
}

// ip6Of returns the IPv6 packet of f (after the Ethernet header).
func ip6Of(f *handle.Frame) []byte { return f.Buf[f.Off+len(ethHeader) : f.Off+f.Len] }

// parseOut parses the frame as it would leave.
func parseOut(t testing.TB, f *handle.Frame) packet.Packet {
	t.Helper()
	var p packet.Packet
	if err := packet.Parse(f.Buf[f.Off:f.Off+f.Len], &p); err != nil {
		t.Fatalf("output frame does not parse: %v", p.Detail(err))
	}
	return p
}

// Port roles.
const (
	encapDir   = iota // port 0 outside, port 1 inside; frames enter on 0
	transitDir        // both inside
	decapDir          // port 0 inside, port 1 outside; frames enter on 0
)

// baseSpec is a node with namespace 123, ports by direction and one route
// for 2001:db8::/32.
func baseSpec(dir int) policy.Spec {
	in, out := policy.Outside, policy.Inside
	switch dir {
	case transitDir:
		in = policy.Inside
	case decapDir:
		in, out = policy.Inside, policy.Outside
	}
	return policy.Spec{
		Node: policy.Node{ID: 0x000001, IDWide: 0x00AABBCCDDEEFF11, Address: netip.MustParseAddr("2001:db8:ffff::1")},
		Ports: [2]policy.Port{
			{Name: "p0", Domain: in, IOAMEnabled: true, IfID: 10, IfIDWide: 100},
			{Name: "p1", Domain: out, IOAMEnabled: true, IfID: 11, IfIDWide: 111},
		},
		Namespaces: []policy.Namespace{{ID: 123}},
		Routes: []policy.Route{{
			Prefix: netip.MustParsePrefix("2001:db8::/32"),
			Mode:   policy.ModeInline,
			K:      1, N: 1,
			DEX: policy.DEX{Namespace: 123, TraceType: 0x800000},
		}},
		DecapEndpoints: []netip.Addr{netip.MustParseAddr("2001:db8:ffff::2")},
		Flows:          policy.Flows{MaxFlows: 1024},
		Options:        policy.Options{MergeHbH: true, StripAtDecap: true},
	}
}

// fixedClock is the Clock of test nodes: RxTime + 1234 ns.
func fixedClock() int64 { return testNow + 1234 }

func newNode(t testing.TB, spec policy.Spec) (*Handler, *atomic.Pointer[policy.Snapshot]) {
	t.Helper()
	s, err := policy.New(spec, nil)
	if err != nil {
		t.Fatalf("policy.New: %v", err)
	}
	var ptr atomic.Pointer[policy.Snapshot]
	ptr.Store(s)
	n, err := New(Config{Policy: &ptr, RingSize: 1024, Clock: fixedClock})
	if err != nil {
		t.Fatalf("New: %v", err)
	}
	return n, &ptr
}

// records drains the node's ring.
func records(n *Handler) []telemetry.Record {
	var out []telemetry.Record
	var r telemetry.Record
	for n.Ring().Pop(&r) {
		out = append(out, r)
	}
	return out
}

// counters returns the non-zero counters of n by name.
func counters(n *Handler) map[string]uint64 {
	m := map[string]uint64{}
	n.Counters().Each(func(name string, v uint64) {
		if v != 0 {
			m[name] = v
		}
	})
	return m
}

// wantCounters checks that the named counters have the given values (others
// are not checked).
func wantCounters(t testing.TB, n *Handler, want map[string]uint64) {
	t.Helper()
	got := counters(n)
	for k, v := range want {
		if got[k] != v {
			t.Errorf("counter %s = %d, want %d (all: %v)", k, got[k], v, got)
		}
	}
}

// udpPacket builds an IPv6/UDP packet of total IPv6 length size (≥ 48).
func udpPacket(src, dst string, sport, dport uint16, size int) []byte {
	b := make([]byte, size)
	b[0] = 0x60
	binary.BigEndian.PutUint16(b[4:], uint16(size-40))
	b[6] = packet.ProtoUDP
	b[7] = 64
	s, d := netip.MustParseAddr(src).As16(), netip.MustParseAddr(dst).As16()
	copy(b[8:], s[:])
	copy(b[24:], d[:])
	binary.BigEndian.PutUint16(b[40:], sport)
	binary.BigEndian.PutUint16(b[42:], dport)
	binary.BigEndian.PutUint16(b[44:], uint16(size-40))
	for i := 48; i < size; i++ {
		b[i] = byte(i)
	}
	return b
}

type atomicSnapshot = atomic.Pointer[policy.Snapshot]
