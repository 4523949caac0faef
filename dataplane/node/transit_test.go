package node

import (
	"bytes"
	"encoding/hex"
	"net/netip"
	"testing"

	"github.com/dexplane/dexplane/dataplane/handle"
	"github.com/dexplane/dexplane/dataplane/policy"
	"github.com/dexplane/dexplane/dataplane/telemetry"
)

// TestTransitNeverModifies feeds DEX and non-DEX packets through an
// inside → inside node: the bytes never change; records only for known
// namespaces on IOAM-enabled ports.
func TestTransitNeverModifies(t *testing.T) {
	tests := []struct {
		name    string
		pkt     string
		modify  func(*policy.Spec)
		records int
		counter string
	}{
		{"inline dex", vecB, nil, 1, "dex_seen"},
		{"inline dex b2", vecB2, nil, 1, "dex_seen"},
		{"ip6ip6 dex", vecC, nil, 1, "dex_seen"},
		{"merged dex", vecD, nil, 1, "dex_seen"},
		{"plain", vecPlain, nil, 0, "forwarded"},
		{"pto, unknown namespace", vecPTO, func(s *policy.Spec) {
			s.Namespaces[0].ID = 7
			s.Routes[0].DEX.Namespace = 7
		}, 0, "trace_unknown_namespace"},
		{"pto, ioam disabled", vecPTO, func(s *policy.Spec) { s.Ports[0].IOAMEnabled = false }, 0, "trace_ioam_disabled"},
		{"unknown namespace", vecB, func(s *policy.Spec) {
			s.Namespaces[0].ID = 7
			s.Routes[0].DEX.Namespace = 7
		}, 0, "unknown_namespace"},
		{"ioam disabled", vecB, func(s *policy.Spec) { s.Ports[0].IOAMEnabled = false }, 0, "ioam_disabled"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			spec := baseSpec(transitDir)
			if tc.modify != nil {
				tc.modify(&spec)
			}
			n, _ := newNode(t, spec)
			in := unhex(t, tc.pkt)
			f := newFrame(in, 0)
			before := append([]byte(nil), f.Buf...)
			if v := n.Handle(f); v != handle.Forward {
				t.Fatalf("verdict %v", v)
			}
			if f.Off != headroom || f.Len != 14+len(in) || !bytes.Equal(f.Buf, before) {
				t.Fatal("transit modified the frame")
			}
			if got := len(records(n)); got != tc.records {
				t.Errorf("%d records, want %d", got, tc.records)
			}
			wantCounters(t, n, map[string]uint64{tc.counter: 1, "forwarded": 1})
		})
	}
}

// TestRecordNodeData checks the node data per trace bit, the unavailable
// values and the improvements for bits 4, 6, 11 and 22.
func TestRecordNodeData(t *testing.T) {
	const all = 0xFFF002 &^ 0x010000 // bits 0-11 except 7, and 22
	tests := []struct {
		name  string
		tt    uint32
		ns    policy.Namespace
		check func(t *testing.T, r *telemetry.Record)
	}{
		{"all bits, namespace data, schema", all, policy.Namespace{
			ID: 123, Data: 0xdeadbeef, HasData: true, DataWide: 0x0102030405060708, HasDataWide: true,
			Schema: &policy.Schema{ID: 0xabcdef, Data: []byte{1, 2, 3, 4, 5, 6, 7, 8}},
		}, func(t *testing.T, r *telemetry.Record) {
			want := telemetry.Record{
				NodeID: 1, HopLimit: 64, IngressIfID: 10, EgressIfID: 11,
				TimestampSec: uint32(testNow / 1e9), TimestampFrac: uint32(testNow%1e9) / 1000,
				TransitDelay: 1234, NamespaceData: 0xdeadbeef, QueueDepth: 7,
				NodeIDWide: 0x00AABBCCDDEEFF11, IngressIfIDWide: 100, EgressIfIDWide: 111,
				NamespaceDataWide: 0x0102030405060708, BufferOccupancy: 99,
				SchemaID: 0xabcdef, OSSLen: 8,
			}
			got := nodeData(r)
			copy(want.OSSData[:], []byte{1, 2, 3, 4, 5, 6, 7, 8})
			if got != want {
				t.Errorf("node data\n got %+v\nwant %+v", got, want)
			}
		}},
		{"unavailable values", all, policy.Namespace{ID: 123}, func(t *testing.T, r *telemetry.Record) {
			if r.NamespaceData != 0xFFFFFFFF || r.NamespaceDataWide != 0xFFFFFFFFFFFFFFFF || r.SchemaID != 0xFFFFFF || r.OSSLen != 0 {
				t.Errorf("unavailable fields: ns data %#x wide %#x schema %#x len %d", r.NamespaceData, r.NamespaceDataWide, r.SchemaID, r.OSSLen)
			}
		}},
		{"only bit 0", 0x800000, policy.Namespace{ID: 123, Data: 5, HasData: true}, func(t *testing.T, r *telemetry.Record) {
			want := telemetry.Record{NodeID: 1, HopLimit: 64}
			if got := nodeData(r); got != want {
				t.Errorf("node data %+v", got)
			}
		}},
		{"timestamps only frac", 0x100000, policy.Namespace{ID: 123}, func(t *testing.T, r *telemetry.Record) {
			if r.TimestampSec != 0 || r.TimestampFrac != 123456 {
				t.Errorf("ts %d.%d", r.TimestampSec, r.TimestampFrac)
			}
		}},
		{"oss truncated", 0x000002, policy.Namespace{ID: 123, Schema: &policy.Schema{ID: 9, Data: make([]byte, 100)}}, func(t *testing.T, r *telemetry.Record) {
			if r.SchemaID != 9 || r.OSSLen != telemetry.OSSDataMax || !r.OSSTruncated {
				t.Errorf("schema %d len %d truncated %v", r.SchemaID, r.OSSLen, r.OSSTruncated)
			}
		}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			spec := baseSpec(transitDir)
			spec.Namespaces[0] = tc.ns
			spec.Routes = nil
			n, _ := newNode(t, spec)
			pkt := unhex(t, vecB)
			pkt[52], pkt[53], pkt[54] = byte(tc.tt>>16), byte(tc.tt>>8), byte(tc.tt)
			f := newFrame(pkt, 0)
			n.Handle(f)
			recs := records(n)
			if len(recs) != 1 {
				t.Fatalf("%d records", len(recs))
			}
			r := &recs[0]
			if r.TraceType != tc.tt || r.Role != telemetry.RoleTransit || r.FlowID != 0x12345678 || r.Seq != 0 || !r.HasFlowID || !r.HasSeq {
				t.Errorf("record header %+v", r)
			}
			if r.RxTime != testNow || r.RawLen != uint16(len(pkt)) || !bytes.Equal(r.RawSection[:r.RawLen], pkt) {
				t.Errorf("rx time %d raw %x", r.RxTime, r.RawSection[:r.RawLen])
			}
			tc.check(t, r)
		})
	}
}

// nodeData returns only the node-data fields of r.
func nodeData(r *telemetry.Record) telemetry.Record {
	return telemetry.Record{
		NodeID: r.NodeID, HopLimit: r.HopLimit, IngressIfID: r.IngressIfID, EgressIfID: r.EgressIfID,
		TimestampSec: r.TimestampSec, TimestampFrac: r.TimestampFrac, TransitDelay: r.TransitDelay,
		NamespaceData: r.NamespaceData, QueueDepth: r.QueueDepth, NodeIDWide: r.NodeIDWide,
		IngressIfIDWide: r.IngressIfIDWide, EgressIfIDWide: r.EgressIfIDWide,
		NamespaceDataWide: r.NamespaceDataWide, BufferOccupancy: r.BufferOccupancy,
		SchemaID: r.SchemaID, OSSLen: r.OSSLen, OSSData: r.OSSData, OSSTruncated: r.OSSTruncated,
	}
}

func TestTransitDelayEdgeCases(t *testing.T) {
	tests := []struct {
		name  string
		rx    int64
		clock int64
		want  uint32
	}{
		{"normal", 1000, 1500, 500},
		{"overflow", 1000, 1000 + 1<<31, 0xFFFFFFFF},
		{"clock behind", 1000, 999, 0xFFFFFFFF},
		{"no rx time", 0, 5, 0xFFFFFFFF},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			s, err := policy.New(baseSpec(transitDir), nil)
			if err != nil {
				t.Fatal(err)
			}
			n, err := New(Config{Policy: newPtr(s), Clock: func() int64 { return tc.clock }})
			if err != nil {
				t.Fatal(err)
			}
			pkt := unhex(t, vecB)
			pkt[52] = 0x08 // bit 4 only
			f := newFrame(pkt, 0)
			f.RxTime = tc.rx
			n.Handle(f)
			recs := records(n)
			if len(recs) != 1 || recs[0].TransitDelay != tc.want {
				t.Fatalf("records %d, delay %#x want %#x", len(recs), recs[0].TransitDelay, tc.want)
			}
		})
	}
}

func TestRingFullCounts(t *testing.T) {
	s, err := policy.New(baseSpec(transitDir), nil)
	if err != nil {
		t.Fatal(err)
	}
	n, err := New(Config{Policy: newPtr(s), RingSize: 2})
	if err != nil {
		t.Fatal(err)
	}
	f := newFrame(unhex(t, vecB), 0)
	for range 5 {
		if n.Handle(f) != handle.Forward {
			t.Fatal("a full ring blocked forwarding")
		}
	}
	wantCounters(t, n, map[string]uint64{"records_exported": 2, "records_dropped": 3, "forwarded": 5})
}

// TestDecap checks that nothing with IOAM leaves through an outside port.
func TestDecap(t *testing.T) {
	tunnelNotOurs := unhex(t, vecC)
	// Same tunnel without IOAM, to another endpoint: an outer IPv6 header
	// with Next Header 41 directly.
	plainTunnel := func(dst string) []byte {
		inner := unhex(t, vecPlain)
		outer := unhex(t, vecPlain)[:40]
		outer[5] = byte(len(inner))
		outer[6] = 41
		d := netip.MustParseAddr(dst).As16()
		copy(outer[24:], d[:])
		return append(outer, inner...)
	}
	_ = tunnelNotOurs
	tests := []struct {
		name    string
		pkt     []byte
		strip   bool
		want    []byte
		records int
		ctrs    map[string]uint64
	}{
		{"inline a", unhex(t, vecA), true, unhex(t, vecPlain), 1, map[string]uint64{"dex_removed": 1}},
		{"inline b", unhex(t, vecB), true, unhex(t, vecPlain), 1, map[string]uint64{"dex_removed": 1}},
		{"inline b2", unhex(t, vecB2), true, unhex(t, vecPlain), 1, map[string]uint64{"dex_removed": 1}},
		{"merged d keeps other option", unhex(t, vecD), true, unhex(t, vecDIn), 1, map[string]uint64{"dex_removed": 1}},
		{"ip6ip6 c to endpoint", unhex(t, vecC), true, unhex(t, vecPlain), 1, map[string]uint64{"dex_removed": 1, "tunnels_stripped": 1}},
		{"pto only", unhex(t, vecPTO), true, unhex(t, vecPlain), 1, map[string]uint64{"dex_removed": 1, "other_ioam": 1, "trace_exported": 1}},
		{"plain tunnel to endpoint", plainTunnel("2001:db8:ffff::2"), true, unhex(t, vecPlain), 0, map[string]uint64{"tunnels_stripped": 1}},
		{"another tenant's tunnel", plainTunnel("2001:db8:eeee::2"), true, plainTunnel("2001:db8:eeee::2"), 0, map[string]uint64{"tunnels_stripped": 0}},
		{"plain", unhex(t, vecPlain), true, unhex(t, vecPlain), 0, map[string]uint64{"dex_removed": 0}},
		{"test mode keeps dex", unhex(t, vecB), false, unhex(t, vecB), 1, map[string]uint64{"dex_removed": 0}},
		{"tunnel inside tunnel with inline dex", nestedTunnel(t), true, unhex(t, vecPlain), 1, map[string]uint64{"dex_removed": 1, "tunnels_stripped": 1}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			spec := baseSpec(decapDir)
			spec.Options.StripAtDecap = tc.strip
			n, _ := newNode(t, spec)
			f := newFrame(tc.pkt, 0)
			if v := n.Handle(f); v != handle.Forward {
				t.Fatalf("verdict %v", v)
			}
			if got := ip6Of(f); !bytes.Equal(got, tc.want) {
				t.Errorf("output\n got %x\nwant %x", got, tc.want)
			}
			if p := parseOut(t, f); tc.strip && p.NumIOAM != 0 {
				t.Error("IOAM leaves through an outside port")
			}
			recs := records(n)
			if len(recs) != tc.records {
				t.Fatalf("%d records, want %d", len(recs), tc.records)
			}
			for _, r := range recs {
				if r.Role != telemetry.RoleDecap || r.Src != netip.MustParseAddr("2001:db8::1").As16() {
					t.Errorf("record role %v src %x", r.Role, r.Src)
				}
			}
			wantCounters(t, n, tc.ctrs)
		})
	}
}

// nestedTunnel is a plain ip6ip6 tunnel to the decap endpoint whose inner
// packet carries inline DEX (vector a).
func nestedTunnel(t *testing.T) []byte {
	inner := unhex(t, vecA)
	outer := unhex(t, vecPlain)[:40]
	outer[5] = byte(len(inner))
	outer[6] = 41
	d := netip.MustParseAddr("2001:db8:ffff::2").As16()
	copy(outer[24:], d[:])
	return append(outer, inner...)
}

func TestDecapECNDrop(t *testing.T) {
	n, _ := newNode(t, baseSpec(decapDir))
	pkt := unhex(t, vecC)
	pkt[1] |= 0x30 // outer ECN CE (traffic class low bits), inner Not-ECT
	f := newFrame(pkt, 0)
	if v := n.Handle(f); v != handle.Drop {
		t.Fatalf("verdict %v, want drop", v)
	}
	wantCounters(t, n, map[string]uint64{"leak_dropped": 1, "dropped": 1})
}

func TestEncapTransitDecapChain(t *testing.T) {
	// Three nodes in a row share (flow id, seq) in their records and the
	// packet leaves the last one as it entered the first.
	specE := baseSpec(encapDir)
	specE.Routes[0].DEX.ExtFlags = 0xC0
	specE.Routes[0].DEX.TraceType = 0xF00000
	specE.Routes[0].Mode = policy.ModeEncap
	specE.Routes[0].TunDst = netip.MustParseAddr("2001:db8:ffff::2")
	e, _ := newNode(t, specE)
	tr, _ := newNode(t, baseSpec(transitDir))
	d, _ := newNode(t, baseSpec(decapDir))
	f := newFrame(nil, 0)
	for i := range 5 {
		in := udpPacket("2001:db8::1", "2001:db8::2", 5000, uint16(6000+i%2), 1000)
		resetFrame(f, in)
		for _, n := range []*Handler{e, tr, d} {
			f.Ingress = 0
			if v := n.Handle(f); v != handle.Forward {
				t.Fatalf("verdict %v", v)
			}
		}
		if !bytes.Equal(ip6Of(f), in) {
			t.Fatalf("packet %d altered end to end", i)
		}
	}
	re, rt, rd := records(e), records(tr), records(d)
	if len(re) != 5 || len(rt) != 5 || len(rd) != 5 {
		t.Fatalf("records %d %d %d", len(re), len(rt), len(rd))
	}
	for i := range re {
		if re[i].FlowID != rt[i].FlowID || rt[i].FlowID != rd[i].FlowID || re[i].Seq != rt[i].Seq || rt[i].Seq != rd[i].Seq {
			t.Errorf("packet %d: (flow, seq) differ: %#x/%d %#x/%d %#x/%d", i, re[i].FlowID, re[i].Seq, rt[i].FlowID, rt[i].Seq, rd[i].FlowID, rd[i].Seq)
		}
		if want := uint32(i / 2); re[i].Seq != want {
			t.Errorf("packet %d: seq %d want %d", i, re[i].Seq, want)
		}
	}
	_ = hex.EncodeToString
}
