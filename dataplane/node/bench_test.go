package node

import (
	"net/netip"
	"syscall"
	"testing"

	"github.com/dexplane/dexplane/dataplane/handle"
	"github.com/dexplane/dexplane/dataplane/policy"
)

// frameLen is the benchmark frame: 1500 octets including the Ethernet
// header.
const frameLen = 1500

// roleCase is one role set up for a benchmark or an allocation test: a node,
// the frame it handles and what to restore before each Handle.
type roleCase struct {
	name string
	spec func() policy.Spec
	pkt  func(t testing.TB) []byte // IPv6 packet
}

func encapSpec(mode policy.Mode, k, n uint32) func() policy.Spec {
	return func() policy.Spec {
		s := baseSpec(encapDir)
		r := &s.Routes[0]
		r.Mode, r.K, r.N = mode, k, n
		r.DEX.ExtFlags, r.DEX.TraceType = 0xC0, 0xF80000
		if mode == policy.ModeEncap {
			r.TunDst = netip.MustParseAddr("2001:db8:ffff::2")
		}
		return s
	}
}

func plain1500(t testing.TB) []byte {
	return udpPacket("2001:db8::1", "2001:db8::2", 40000, 5001, frameLen-len(ethHeader))
}

// withDEX runs an encapsulating node once over plain1500 to get a 1500-octet
// frame's worth of DEX packet (the packet grows by the DEX overhead).
func withDEX(mode policy.Mode) func(t testing.TB) []byte {
	return func(t testing.TB) []byte {
		n, _ := newNode(t, encapSpec(mode, 1, 1)())
		f := newFrame(plain1500(t), 0)
		n.Handle(f)
		return append([]byte(nil), ip6Of(f)...)
	}
}

var roleCases = []roleCase{
	{"encap/inline", encapSpec(policy.ModeInline, 1, 1), plain1500},
	{"encap/ip6ip6", encapSpec(policy.ModeEncap, 1, 1), plain1500},
	{"encap/not_sampled", encapSpec(policy.ModeInline, 1, 1000000), plain1500},
	{"transit/inline", func() policy.Spec { return baseSpec(transitDir) }, withDEX(policy.ModeInline)},
	{"transit/ip6ip6", func() policy.Spec { return baseSpec(transitDir) }, withDEX(policy.ModeEncap)},
	{"decap/inline", func() policy.Spec { return baseSpec(decapDir) }, withDEX(policy.ModeInline)},
	{"decap/ip6ip6", func() policy.Spec { return baseSpec(decapDir) }, withDEX(policy.ModeEncap)},
	// The first DEX option has an unknown namespace: the second is decoded.
	{"transit/second_dex", func() policy.Spec { return baseSpec(transitDir) },
		func(t testing.TB) []byte { return unhex(t, vecUnknownThenKnown) }},
}

// setup returns the node, the frame and a restore function that puts the
// original headers back (editors move only the headers, never the payload).
func (rc roleCase) setup(t testing.TB) (*Handler, *handle.Frame, func()) {
	s, err := policy.New(rc.spec(), nil)
	if err != nil {
		t.Fatal(err)
	}
	n, err := New(Config{Policy: newPtr(s), RingSize: 1024}) // real clock
	if err != nil {
		t.Fatal(err)
	}
	pkt := rc.pkt(t)
	f := newFrame(pkt, 0)
	hdr := append([]byte(nil), f.Buf[headroom:headroom+len(ethHeader)+128]...)
	length := f.Len
	restore := func() {
		copy(f.Buf[headroom:], hdr)
		f.Off, f.Len = headroom, length
		if r := n.ring.Peek(); r != nil { // the exporter's side
			n.ring.Release()
		}
	}
	return n, f, restore
}

func TestHandleAllocs(t *testing.T) {
	for _, rc := range roleCases {
		t.Run(rc.name, func(t *testing.T) {
			n, f, restore := rc.setup(t)
			restore()
			n.Handle(f) // first frame may build the view
			allocs := testing.AllocsPerRun(200, func() {
				restore()
				if n.Handle(f) != handle.Forward {
					t.Fatal("dropped")
				}
			})
			if allocs != 0 {
				t.Errorf("%v allocations per frame", allocs)
			}
			if n.Counters().MalformedTotal() != 0 {
				t.Errorf("malformed: %v", counters(n))
			}
		})
	}
}

func BenchmarkHandle(b *testing.B) {
	for _, rc := range roleCases {
		b.Run(rc.name, func(b *testing.B) {
			n, f, restore := rc.setup(b)
			b.SetBytes(int64(f.Len))
			b.ReportAllocs()
			cpu0 := processCPU()
			ops := 0
			for b.Loop() {
				restore()
				n.Handle(f)
				ops++
			}
			// ns/op is wall time, inflated when other processes share the
			// cores; cpu-ns/op is this process's CPU time per frame.
			b.ReportMetric(float64(processCPU()-cpu0)/float64(ops), "cpu-ns/op")
		})
	}
}

// processCPU returns the user+system CPU time of the process in ns.
func processCPU() int64 {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		return 0
	}
	return ru.Utime.Nano() + ru.Stime.Nano()
}
