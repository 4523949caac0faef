package node

import (
	"bytes"
	"encoding/hex"
	"fmt"
	"net/netip"
	"testing"

	"github.com/dexplane/dexplane/dataplane/flow"
	"github.com/dexplane/dexplane/dataplane/handle"
	"github.com/dexplane/dexplane/dataplane/packet"
	"github.com/dexplane/dexplane/dataplane/policy"
	"github.com/dexplane/dexplane/dataplane/telemetry"
)

func TestVectorFlowID(t *testing.T) {
	a := netip.MustParseAddr("2001:db8::1").As16()
	b := netip.MustParseAddr("2001:db8::2").As16()
	k := flow.NewKey(a, b, 17, 40000, 5001, 0)
	if got := k.ID(0); got != vecFlowID {
		t.Fatalf("flow ID of the vector 5-tuple = %#x, want %#x", got, vecFlowID)
	}
}

// TestEncapGolden inserts DEX into the plain spec packet and compares the
// result with the spec §7 vectors (Flow ID replaced by our documented hash).
func TestEncapGolden(t *testing.T) {
	tests := []struct {
		name     string
		in       string
		mode     policy.Mode
		ext      uint8
		tt       uint32
		seqStart uint32
		want     []byte
		counter  string
	}{
		{"a inline no ext", vecPlain, policy.ModeInline, 0x00, 0x800000, 0, unhex(t, vecA), "dex_inserted"},
		{"b inline flow+seq", vecPlain, policy.ModeInline, 0xC0, 0xB00000, 0, withFlowID(t, vecB, vecFlowID), "dex_inserted"},
		{"b2 inline flow only", vecPlain, policy.ModeInline, 0x80, 0xB00000, 0, withFlowID(t, vecB2, vecFlowID), "dex_inserted"},
		{"c ip6ip6 seq_start 1", vecPlain, policy.ModeEncap, 0xC0, 0x800000, 1, withFlowID(t, vecC, vecFlowID), "dex_encapsulated"},
		{"d merge into existing HbH", vecDIn, policy.ModeInline, 0x00, 0x800000, 0, unhex(t, vecD), "dex_merged"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			spec := baseSpec(encapDir)
			r := &spec.Routes[0]
			r.Mode, r.DEX.ExtFlags, r.DEX.TraceType = tc.mode, tc.ext, tc.tt
			if tc.mode == policy.ModeEncap {
				r.TunDst = netip.MustParseAddr("2001:db8:ffff::2") // tunsrc = node address ::1
			}
			spec.Flows.SeqStart = tc.seqStart
			n, _ := newNode(t, spec)
			f := newFrame(unhex(t, tc.in), 0)
			if v := n.Handle(f); v != handle.Forward {
				t.Fatalf("verdict %v", v)
			}
			if got := ip6Of(f); !bytes.Equal(got, tc.want) {
				t.Errorf("output\n got %x\nwant %x", got, tc.want)
			}
			if !bytes.Equal(f.Buf[f.Off:f.Off+14], ethHeader) {
				t.Errorf("link header not preserved: %x", f.Buf[f.Off:f.Off+14])
			}
			wantCounters(t, n, map[string]uint64{"forwarded": 1, "dex_inserted": 1, tc.counter: 1, "records_exported": 1})
			recs := records(n)
			if len(recs) != 1 {
				t.Fatalf("%d records, want 1", len(recs))
			}
			rec := recs[0]
			if rec.Role != telemetry.RoleEncap || rec.Namespace != 123 || rec.ExtFlags != tc.ext || rec.TraceType != tc.tt {
				t.Errorf("record header %+v", rec)
			}
			if rec.Route != 1 { // the first configured route, index + 1 (aggregation keys on it)
				t.Errorf("record route %d, want 1", rec.Route)
			}
			if rec.HasFlowID != (tc.ext&0x80 != 0) || rec.HasSeq != (tc.ext&0x40 != 0) {
				t.Errorf("record HasFlowID %v HasSeq %v for ext %#x", rec.HasFlowID, rec.HasSeq, tc.ext)
			}
			if rec.HasFlowID && rec.FlowID != vecFlowID {
				t.Errorf("record flow id %#x", rec.FlowID)
			}
			if rec.HasSeq && rec.Seq != tc.seqStart {
				t.Errorf("record seq %d, want %d", rec.Seq, tc.seqStart)
			}
			if got := rec.RawSection[:rec.RawLen]; !bytes.Equal(got, tc.want) {
				t.Errorf("raw section\n got %x\nwant %x", got, tc.want)
			}
			src := netip.MustParseAddr("2001:db8::1").As16()
			if rec.Src != src || rec.NextHeader != 17 || rec.SrcPort != 40000 || rec.DstPort != 5001 || rec.HopLimit != 64 {
				t.Errorf("record flow fields %+v", rec)
			}
			if rec.IngressPort != 0 || rec.EgressPort != 1 {
				t.Errorf("record ports %d→%d", rec.IngressPort, rec.EgressPort)
			}
		})
	}
}

// TestEncapExtFlags covers every ext-flags value with a parse of the result.
func TestEncapExtFlags(t *testing.T) {
	for _, mode := range []policy.Mode{policy.ModeInline, policy.ModeEncap} {
		for _, ext := range []uint8{0x00, 0x80, 0x40, 0xC0} {
			t.Run(fmt.Sprintf("%v/%#02x", mode, ext), func(t *testing.T) {
				spec := baseSpec(encapDir)
				r := &spec.Routes[0]
				r.Mode, r.DEX.ExtFlags = mode, ext
				if mode == policy.ModeEncap {
					r.TunSrc = netip.MustParseAddr("2001:db8:aaaa::1")
					r.TunDst = netip.MustParseAddr("2001:db8:ffff::2")
				}
				n, _ := newNode(t, spec)
				f := newFrame(unhex(t, vecPlain), 0)
				for i := range 3 {
					resetFrame(f, unhex(t, vecPlain))
					n.Handle(f)
					p := parseOut(t, f)
					if !p.HasDEX || p.DEX.ExtFlags != ext || p.DEX.Namespace != 123 || p.DEX.TraceType != 0x800000 {
						t.Fatalf("packet %d: DEX %+v", i, p.DEX)
					}
					if ext&0x80 != 0 && p.DEX.FlowID != vecFlowID {
						t.Errorf("flow id %#x", p.DEX.FlowID)
					}
					if ext&0x40 != 0 && p.DEX.Seq != uint32(i) {
						t.Errorf("packet %d: seq %d", i, p.DEX.Seq)
					}
					frame := f.Buf[f.Off : f.Off+f.Len]
					if mode == policy.ModeEncap {
						if p.Encap != packet.EncapIP6IP6 || packet.Src(frame, p.L3) != netip.MustParseAddr("2001:db8:aaaa::1").As16() {
							t.Errorf("not encapsulated from tunsrc: %+v", p)
						}
					} else if p.Encap != packet.EncapInline {
						t.Errorf("encap %v", p.Encap)
					}
				}
			})
		}
	}
}

// TestSamplerExact checks the kernel's "first k of every n" per route, with
// two routes interleaved.
func TestSamplerExact(t *testing.T) {
	spec := baseSpec(encapDir)
	spec.Routes[0].K, spec.Routes[0].N = 3, 10
	spec.Routes = append(spec.Routes, policy.Route{
		Prefix: netip.MustParsePrefix("2001:db8:5::/48"), Mode: policy.ModeInline, K: 1, N: 4,
		DEX: policy.DEX{Namespace: 123, TraceType: 0x800000, ExtFlags: 0x40},
	})
	n, _ := newNode(t, spec)
	pa := udpPacket("2001:db8::1", "2001:db8::2", 1, 2, 100)
	pb := udpPacket("2001:db8::1", "2001:db8:5::9", 1, 2, 100)
	f := newFrame(pa, 0)
	var gotA, gotB []bool
	for i := range 60 {
		pkt, dst := pa, &gotA
		if i%3 == 2 {
			pkt, dst = pb, &gotB
		}
		resetFrame(f, pkt)
		n.Handle(f)
		*dst = append(*dst, parseOut(t, f).HasDEX)
	}
	check := func(name string, got []bool, k, nn int) {
		sel := 0
		for i, g := range got {
			if want := i%nn < k; g != want {
				t.Errorf("route %s packet %d: DEX %v, want %v", name, i, g, want)
			}
			if g {
				sel++
			}
		}
		t.Logf("route %s: %d of %d selected", name, sel, len(got))
	}
	check("a 3/10", gotA, 3, 10)
	check("b 1/4", gotB, 1, 4)
	wantCounters(t, n, map[string]uint64{"dex_inserted": 12 + 5, "not_sampled": 60 - 17})
}

// TestSeqPerFlow checks consecutive sequence numbers per flow for
// interleaved flows, with both seq_start values.
func TestSeqPerFlow(t *testing.T) {
	for _, start := range []uint32{0, 1} {
		t.Run(fmt.Sprint("seq_start ", start), func(t *testing.T) {
			spec := baseSpec(encapDir)
			spec.Routes[0].DEX.ExtFlags = 0xC0
			spec.Flows.SeqStart = start
			spec.Flows.FlowIDSeed = 0xfeed
			n, _ := newNode(t, spec)
			pkts := [][]byte{
				udpPacket("2001:db8::1", "2001:db8::2", 1000, 53, 80),
				udpPacket("2001:db8::1", "2001:db8::2", 1001, 53, 80),
				udpPacket("2001:db8::3", "2001:db8::2", 1000, 53, 80),
			}
			next := map[uint32]uint32{}
			f := newFrame(pkts[0], 0)
			for i := range 30 {
				resetFrame(f, pkts[i%3])
				n.Handle(f)
				p := parseOut(t, f)
				want, ok := next[p.DEX.FlowID]
				if !ok {
					want = start
				}
				if p.DEX.Seq != want {
					t.Fatalf("packet %d flow %#x: seq %d, want %d", i, p.DEX.FlowID, p.DEX.Seq, want)
				}
				next[p.DEX.FlowID] = want + 1
			}
			if len(next) != 3 {
				t.Errorf("%d flow ids, want 3", len(next))
			}
			recs := records(n)
			if len(recs) != 30 {
				t.Fatalf("%d records", len(recs))
			}
			// The collector recomputes the Flow ID from the record.
			for _, r := range recs {
				k := flow.NewKey(r.Src, r.Dst, r.NextHeader, r.SrcPort, r.DstPort, r.FlowLabel)
				if k.ID(0xfeed) != r.FlowID {
					t.Fatalf("record flow id %#x not recomputable (%#x)", r.FlowID, k.ID(0xfeed))
				}
			}
			wantCounters(t, n, map[string]uint64{"flows_new": 3, "flows_active": 3})
		})
	}
}

func TestEncapSkips(t *testing.T) {
	plain := unhex(t, vecPlain)
	tests := []struct {
		name    string
		modify  func(*policy.Spec)
		pkt     []byte
		mtu     int
		counter string
	}{
		{"mtu inline", func(s *policy.Spec) { s.Ports[1].MTU = 52 + 15 }, plain, 0, "skipped_mtu"},
		{"mtu encap", func(s *policy.Spec) {
			s.Routes[0].Mode, s.Routes[0].TunDst = policy.ModeEncap, netip.MustParseAddr("2001:db8:ffff::2")
			s.Ports[1].MTU = 52 + 55
		}, plain, 0, "skipped_mtu"},
		{"mtu from config", nil, plain, 60, "skipped_mtu"},
		{"hbh without merge", func(s *policy.Spec) { s.Options.MergeHbH = false }, unhex(t, vecDIn), 0, "skipped_hbh"},
		{"no route", func(s *policy.Spec) { s.Routes[0].Prefix = netip.MustParsePrefix("2001:db9::/32") }, plain, 0, "no_route"},
		{"ipfix export", nil, udpPacket("2001:db8::1", "2001:db8::2", 1, 4739, 60), 0, "skipped_export"},
		{"collector port", func(s *policy.Spec) {
			s.Export.Collectors = []policy.Collector{{Address: "[2001:db8::99]:9995"}}
		}, udpPacket("2001:db8::1", "2001:db8::2", 1, 9995, 60), 0, "skipped_export"},
		{"from node address", nil, udpPacket("2001:db8:ffff::1", "2001:db8::2", 1, 2, 60), 0, "skipped_export"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			spec := baseSpec(encapDir)
			spec.Routes[0].DEX.ExtFlags = 0xC0
			if tc.modify != nil {
				tc.modify(&spec)
			}
			s, err := policy.New(spec, nil)
			if err != nil {
				t.Fatal(err)
			}
			ptr := newPtr(s)
			n, err := New(Config{Policy: ptr, PortMTU: [2]int{0, tc.mtu}})
			if err != nil {
				t.Fatal(err)
			}
			f := newFrame(tc.pkt, 0)
			if v := n.Handle(f); v != handle.Forward {
				t.Fatalf("verdict %v", v)
			}
			if got := ip6Of(f); !bytes.Equal(got, tc.pkt) {
				t.Errorf("packet modified:\n got %x\nwant %x", got, tc.pkt)
			}
			wantCounters(t, n, map[string]uint64{tc.counter: 1, "dex_inserted": 0, "forwarded": 1})
			if len(records(n)) != 0 {
				t.Error("record exported for a skipped packet")
			}
			// A skipped packet consumes no sequence number.
			if seq, ok := n.flows.Peek(vecFlowID, testNow); ok {
				t.Errorf("flow table advanced to %d", seq)
			}
		})
	}
}

// TestEncapMTUExactFit checks the MTU boundary: equal fits.
func TestEncapMTUExactFit(t *testing.T) {
	spec := baseSpec(encapDir)
	spec.Ports[1].MTU = 52 + 16
	n, _ := newNode(t, spec)
	f := newFrame(unhex(t, vecPlain), 0)
	n.Handle(f)
	if !bytes.Equal(ip6Of(f), unhex(t, vecA)) {
		t.Errorf("packet of exactly the MTU not encapsulated: %x", ip6Of(f))
	}
}

func TestEncapNoHeadroom(t *testing.T) {
	n, _ := newNode(t, baseSpec(encapDir))
	ip6 := unhex(t, vecPlain)
	buf := make([]byte, 200)
	copy(buf[8:], ethHeader)
	copy(buf[22:], ip6)
	f := &handle.Frame{Buf: buf, Off: 8, Len: 14 + len(ip6), RxTime: testNow}
	if v := n.Handle(f); v != handle.Forward {
		t.Fatalf("verdict %v", v)
	}
	if !bytes.Equal(ip6Of(f), ip6) {
		t.Error("packet modified")
	}
	wantCounters(t, n, map[string]uint64{"skipped_no_room": 1})
}

func TestForeignIOAM(t *testing.T) {
	tests := []struct {
		name    string
		policy  policy.ForeignIOAM
		dir     int // encapDir or outside→outside
		pkt     string
		verdict handle.Verdict
		want    string // expected output (hex) when forwarded
		counter string
	}{
		{"drop", policy.ForeignDrop, encapDir, vecA, handle.Drop, "", "foreign_dropped"},
		{"forward", policy.ForeignForward, encapDir, vecB, handle.Forward, vecB, "foreign_forwarded"},
		// Stripped, then processed as a plain packet: the route adds our DEX.
		{"strip then encap", policy.ForeignStrip, encapDir, vecPTO, handle.Forward, vecA, "foreign_stripped"},
		{"drop pto", policy.ForeignDrop, encapDir, vecPTO, handle.Drop, "", "foreign_dropped"},
		{"outside to outside strip", policy.ForeignStrip, -1, vecA, handle.Forward, vecPlain, "foreign_stripped"},
		{"outside to outside drop", policy.ForeignDrop, -1, vecA, handle.Drop, "", "foreign_dropped"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			spec := baseSpec(encapDir)
			if tc.dir < 0 {
				spec.Ports[1].Domain = policy.Outside
			}
			spec.Ports[0].ForeignIOAM = tc.policy
			n, _ := newNode(t, spec)
			f := newFrame(unhex(t, tc.pkt), 0)
			if v := n.Handle(f); v != tc.verdict {
				t.Fatalf("verdict %v, want %v", v, tc.verdict)
			}
			if tc.verdict == handle.Forward {
				if got := hex.EncodeToString(ip6Of(f)); got != tc.want {
					t.Errorf("output\n got %s\nwant %s", got, tc.want)
				}
			}
			wantCounters(t, n, map[string]uint64{tc.counter: 1})
		})
	}
}

func newPtr(s *policy.Snapshot) *atomicSnapshot {
	p := new(atomicSnapshot)
	p.Store(s)
	return p
}
