package node

import (
	"bytes"
	"encoding/binary"
	"encoding/hex"
	"net/netip"
	"testing"

	"github.com/dexplane/dexplane/dataplane/handle"
	"github.com/dexplane/dexplane/dataplane/packet"
	"github.com/dexplane/dexplane/dataplane/policy"
	"github.com/dexplane/dexplane/dataplane/telemetry"
)

// traceSpec is baseSpec(dir) whose route inserts a trace of type tt and
// size octets (and DEX 0xC00000 with Flow ID and sequence when dex), node
// id, and namespace data 0x1234.
func traceSpec(dir int, mode policy.Mode, tt uint32, size int, dex bool, id uint32) policy.Spec {
	s := baseSpec(dir)
	s.Node.ID = id
	s.Namespaces[0].Data, s.Namespaces[0].HasData = 0x1234, true
	r := &s.Routes[0]
	r.Mode = mode
	if mode == policy.ModeEncap {
		r.TunDst = netip.MustParseAddr("2001:db8:ffff::2")
	}
	r.HasTrace, r.Trace = true, policy.Trace{Namespace: 123, TraceType: tt, Size: size}
	r.DEX = policy.DEX{}
	if dex {
		r.DEX = policy.DEX{Namespace: 123, TraceType: 0xC00000, ExtFlags: 0xC0}
	}
	return s
}

// traceOf returns the first trace option of the IPv6 packet ip6.
func traceOf(t *testing.T, ip6 []byte) (packet.PTO, []byte) {
	t.Helper()
	var p packet.Packet
	if err := packet.ParseIPv6(ip6, 0, &p); err != nil {
		t.Fatalf("parse: %v", p.Detail(err))
	}
	if !p.HasPTO {
		t.Fatalf("no trace in %x", ip6)
	}
	o := p.PTO.Data - packet.PTOHeaderLen
	return p.PTO, ip6[o : o+packet.PTOHeaderLen+p.PTO.DataLen]
}

// TestTraceChain runs a packet through an encapsulating, a transit and a
// decapsulating node (inline and ip6ip6, with and without DEX) and checks
// every octet each writes, RemainingLen, Overflow on the fourth node when
// the trace holds three, the decap record listing the hops in order, and
// the packet leaving without IOAM.
func TestTraceChain(t *testing.T) {
	for _, tc := range []struct {
		name string
		mode policy.Mode
		dex  bool
	}{
		{"inline", policy.ModeInline, false},
		{"ip6ip6", policy.ModeEncap, false},
		{"ip6ip6+dex", policy.ModeEncap, true},
		{"inline+dex", policy.ModeInline, true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			const tt = 0xC40000 // bits 0, 1, 5: NodeLen 3
			size := 36          // three nodes
			enc, _ := newNode(t, traceSpec(encapDir, tc.mode, tt, size, tc.dex, 1))
			tr1, _ := newNode(t, traceSpec(transitDir, tc.mode, tt, size, tc.dex, 2))
			tr2, _ := newNode(t, traceSpec(transitDir, tc.mode, tt, size, tc.dex, 3))
			dec, _ := newNode(t, traceSpec(decapDir, tc.mode, tt, size, tc.dex, 4))

			f := newFrame(unhex(t, vecPlain), 0)
			if v := enc.Handle(f); v != handle.Forward {
				t.Fatalf("encap verdict %v", v)
			}
			h, opt := traceOf(t, ip6Of(f))
			if h.RemLen != 6 || h.NodeLen != 3 || h.Flags != 0 {
				t.Fatalf("after encap: %+v", h)
			}
			// Encap (output path): hop limit as sent (64), node 1, if 10 -> 11.
			if got, want := hex.EncodeToString(opt[12+24:]), "40000001"+"000a000b"+"00001234"; got != want {
				t.Errorf("encap slot %s, want %s", got, want)
			}
			if tc.dex && len(records(enc)) != 1 {
				t.Error("encap exported no DEX record")
			}
			wantCounters(t, enc, map[string]uint64{"trace_inserted": 1, "trace_filled": 1})

			before := append([]byte(nil), ip6Of(f)...)
			f.Ingress = 0
			if v := tr1.Handle(f); v != handle.Forward {
				t.Fatalf("transit verdict %v", v)
			}
			after := ip6Of(f)
			h, opt = traceOf(t, after)
			if h.RemLen != 3 {
				t.Fatalf("after transit: %+v", h)
			}
			// Transit (input path): received hop limit - 1 = 63, node 2.
			if got, want := hex.EncodeToString(opt[12+12:12+24]), "3f000002"+"000a000b"+"00001234"; got != want {
				t.Errorf("transit slot %s, want %s", got, want)
			}
			diff := 0
			for i := range before {
				if before[i] != after[i] {
					diff++
				}
			}
			if diff > 1+12 { // RemainingLen octet + the slot
				t.Errorf("transit changed %d octets", diff)
			}
			tr2.Handle(f)

			f.Ingress = 0
			if v := dec.Handle(f); v != handle.Forward {
				t.Fatalf("decap verdict %v", v)
			}
			if !bytes.Equal(ip6Of(f), unhex(t, vecPlain)) {
				t.Errorf("decap output %x, want the plain packet", ip6Of(f))
			}
			wantCounters(t, dec, map[string]uint64{"trace_overflowed": 1, "trace_exported": 1, "dex_removed": 1})
			recs := records(dec)
			if len(recs) != 1 || !recs[0].Trace.Has {
				t.Fatalf("decap records: %d", len(recs))
			}
			r := recs[0]
			if r.Trace.Flags != packet.PTOFlagOverflow || r.Trace.RemLen != 0 || r.Trace.DataLen != 36 || r.Trace.Namespace != 123 || r.Trace.TraceType != tt {
				t.Errorf("record trace header %+v", r.Trace)
			}
			if tc.dex != r.HasSeq {
				t.Errorf("record HasSeq %v", r.HasSeq)
			}
			var ids []uint32
			for o := 0; o+12 <= int(r.Trace.DataLen); o += 12 {
				ids = append(ids, binary.BigEndian.Uint32(r.Trace.Data[o:])&0xFFFFFF)
			}
			if len(ids) != 3 || ids[0] != 3 || ids[1] != 2 || ids[2] != 1 {
				t.Errorf("node ids in the trace %v, want [3 2 1] (most recent first)", ids)
			}
			if r.Src != netip.MustParseAddr("2001:db8::1").As16() || r.Role != telemetry.RoleDecap {
				t.Errorf("record flow/role: %x %v", r.Src, r.Role)
			}
		})
	}
}

// TestTraceEncapSkips: an inline trace route skips packets that already
// have a Hop-by-Hop header (Linux does), and MTU is checked with the trace
// overhead.
func TestTraceEncapSkips(t *testing.T) {
	n, _ := newNode(t, traceSpec(encapDir, policy.ModeInline, 0x800000, 12, false, 1))
	f := newFrame(unhex(t, vecDIn), 0)
	n.Handle(f)
	wantCounters(t, n, map[string]uint64{"skipped_hbh": 1, "trace_inserted": 0})

	s := traceSpec(encapDir, policy.ModeEncap, 0x800000, 12, false, 1)
	s.Ports[1].MTU = 1280
	n, _ = newNode(t, s)
	big := udpPacket("2001:db8::1", "2001:db8::2", 1, 2, 1280-40-32+1) // one octet too many
	f = newFrame(big, 0)
	n.Handle(f)
	wantCounters(t, n, map[string]uint64{"skipped_mtu": 1})
	f = newFrame(udpPacket("2001:db8::1", "2001:db8::2", 1, 2, 1280-40-32), 0)
	n.Handle(f)
	wantCounters(t, n, map[string]uint64{"skipped_mtu": 1, "trace_inserted": 1})
	if f.Len-len(ethHeader) != 1280 {
		t.Errorf("packet length %d, want 1280", f.Len-len(ethHeader))
	}
}

// TestTraceHostile sends hostile traces through transit and decap: Parse
// refuses RemainingLen past the end and NodeLen mismatches (dropped when the
// ingress port is ioam_enabled, as Linux; forwarded untouched otherwise),
// Overflow set is forwarded untouched and still exported, a trace in a
// Destination Options header is not IOAM this node touches (forwarded
// untouched; not removed at decap, as Linux, which never looks there).
func TestTraceHostile(t *testing.T) {
	mut := func(f func(b []byte)) []byte {
		b := unhex(t, vecPTO)
		f(b)
		return b
	}
	inDstOpts := func() []byte {
		b := unhex(t, vecPTO)
		b[6] = packet.ProtoDstOpts // the same 24-octet header as Destination Options
		return b
	}
	for _, tc := range []struct {
		name     string
		pkt      []byte
		dir      int
		disabled bool
		verdict  handle.Verdict
		same     bool
		ctr      string
	}{
		{"remlen past end/transit", mut(func(b []byte) { b[51] = 3 }), transitDir, false, handle.Drop, false, "malformed_pto_remlen"},
		{"remlen past end/transit, ioam off", mut(func(b []byte) { b[51] = 3 }), transitDir, true, handle.Forward, true, "malformed_pto_remlen"},
		{"remlen past end/decap", mut(func(b []byte) { b[51] = 3 }), decapDir, false, handle.Drop, false, "malformed_pto_remlen"},
		{"nodelen mismatch/transit", mut(func(b []byte) { b[50] = 0x10 }), transitDir, false, handle.Drop, false, "malformed_pto_nodelen"},
		{"overflow set/transit", mut(func(b []byte) { b[50] |= 0x04 }), transitDir, false, handle.Forward, true, "trace_skipped_overflow"},
		{"overflow set/decap", mut(func(b []byte) { b[50] |= 0x04 }), decapDir, false, handle.Forward, false, "trace_exported"},
		{"trace in dstopts/transit", inDstOpts(), transitDir, false, handle.Forward, true, "forwarded"},
		{"trace in dstopts/decap", inDstOpts(), decapDir, false, handle.Forward, true, "forwarded"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			s := baseSpec(tc.dir)
			s.Ports[0].IOAMEnabled = !tc.disabled
			n, _ := newNode(t, s)
			f := newFrame(tc.pkt, 0)
			if v := n.Handle(f); v != tc.verdict {
				t.Fatalf("verdict %v, want %v", v, tc.verdict)
			}
			if tc.verdict == handle.Forward && bytes.Equal(ip6Of(f), tc.pkt) != tc.same {
				t.Errorf("unchanged %v, want %v", !tc.same, tc.same)
			}
			wantCounters(t, n, map[string]uint64{tc.ctr: 1})
			records(n)
		})
	}
	// Through the encapsulating node's foreign policy a trace from outside
	// is dropped like any IOAM.
	n, _ := newNode(t, baseSpec(encapDir))
	if v := n.Handle(newFrame(unhex(t, vecPTO), 0)); v != handle.Drop {
		t.Errorf("foreign trace: verdict %v", v)
	}
}

// traceCase sets up a node and a frame for the allocation test and the
// benchmarks; restore puts the frame back (240 octets of headers).
func traceCase(t testing.TB, dir int, mode policy.Mode, size int, tt uint32) (*Handler, *handle.Frame, func()) {
	pkt := plain1500(t)
	if dir != encapDir {
		e, _ := newNode(t, traceSpec(encapDir, mode, tt, size, false, 1))
		f := newFrame(pkt, 0)
		e.Handle(f)
		pkt = append([]byte(nil), ip6Of(f)...)
	}
	s, err := policy.New(traceSpec(dir, mode, tt, size, false, 2), nil)
	if err != nil {
		t.Fatal(err)
	}
	n, err := New(Config{Policy: newPtr(s), RingSize: 1024})
	if err != nil {
		t.Fatal(err)
	}
	f := newFrame(pkt, 0)
	hdr := append([]byte(nil), f.Buf[headroom:headroom+len(ethHeader)+240]...)
	length := f.Len
	return n, f, func() {
		copy(f.Buf[headroom:], hdr)
		f.Off, f.Len = headroom, length
		if r := n.ring.Peek(); r != nil {
			n.ring.Release()
		}
	}
}

func TestTraceAllocs(t *testing.T) {
	for _, dir := range []int{encapDir, transitDir, decapDir} {
		n, f, restore := traceCase(t, dir, policy.ModeEncap, 48, 0xF00000)
		allocs := testing.AllocsPerRun(200, func() {
			restore()
			n.Handle(f)
		})
		if allocs != 0 {
			t.Errorf("dir %d: %v allocs per packet", dir, allocs)
		}
	}
}

// BenchmarkHandleTrace is BenchmarkHandle's roles for a trace route (type
// 0xC00000: hop limit + node id, interface ids) of 12 and 48 octets, in
// ip6ip6; compare with BenchmarkHandle/transit/ip6ip6 for the DEX budget.
func BenchmarkHandleTrace(b *testing.B) {
	for _, size := range []int{12, 48} {
		for _, role := range []struct {
			name string
			dir  int
		}{{"encap", encapDir}, {"transit", transitDir}, {"decap", decapDir}} {
			b.Run(role.name+"/"+map[int]string{12: "12", 48: "48"}[size], func(b *testing.B) {
				n, f, restore := traceCase(b, role.dir, policy.ModeEncap, size, 0xC00000)
				b.ReportAllocs()
				for b.Loop() {
					restore()
					n.Handle(f)
				}
			})
		}
	}
}

// TestTracePacketTooBig: an ip6ip6 trace route answers a packet that no
// longer fits the tunnel with Packet Too Big exactly as a DEX route does,
// reporting the MTU minus the trace's overhead (40 + 16 + size).
func TestTracePacketTooBig(t *testing.T) {
	s := traceSpec(encapDir, policy.ModeEncap, 0x800000, 12, false, 1)
	s.Ports[1].MTU = 1400
	s.Options.PacketTooBig = true
	n, _ := newNode(t, s)
	f := newFrame(udpPacket("2001:db8::1", "2001:db8::2", 1, 2, 1400-40-32+1), 0)
	if v := n.Handle(f); v != handle.Reflect {
		t.Fatalf("verdict %v, want Reflect", v)
	}
	wantCounters(t, n, map[string]uint64{"ptb_sent": 1, "trace_inserted": 0})
	out := ip6Of(f)
	// ICMPv6 type 2 (Packet Too Big) right after the IPv6 header, MTU at +4.
	if out[6] != packet.ProtoICMPv6 || out[40] != 2 || binary.BigEndian.Uint32(out[44:]) != 1400-40-32 {
		t.Errorf("reply %x", out[:48])
	}
}
