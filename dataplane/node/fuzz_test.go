package node

import (
	"bytes"
	"net/netip"
	"sync"
	"testing"

	"github.com/dexplane/dexplane/dataplane/handle"
	"github.com/dexplane/dexplane/dataplane/packet"
	"github.com/dexplane/dexplane/dataplane/policy"
)

// fuzzConfigs is the number of node configurations FuzzHandle chooses from:
// 4 directions × 2 modes × 4 ext flags × merge × strip × 3 foreign
// policies × ioam_enabled.
const fuzzConfigs = 4 * 2 * 4 * 2 * 2 * 3 * 2

var (
	fuzzMu    sync.Mutex
	fuzzNodes = map[int]*Handler{}
)

// fuzzSpec decodes a configuration index.
func fuzzSpec(i int) (policy.Spec, int) {
	dir := i % 4 // encap, transit, decap, outside→outside
	i /= 4
	mode := []policy.Mode{policy.ModeInline, policy.ModeEncap}[i%2]
	i /= 2
	ext := []uint8{0x00, 0x80, 0x40, 0xC0}[i%4]
	i /= 4
	merge := i%2 == 0
	i /= 2
	strip := i%2 == 0
	i /= 2
	foreign := policy.ForeignIOAM(i % 3)
	i /= 3
	ioam := i%2 == 0

	spec := baseSpec(min(dir, decapDir))
	if dir == 3 {
		spec.Ports[0].Domain, spec.Ports[1].Domain = policy.Outside, policy.Outside
	}
	r := &spec.Routes[0]
	r.Prefix = netip.MustParsePrefix("::/0")
	r.Mode, r.DEX.ExtFlags, r.DEX.TraceType = mode, ext, 0xFFF002&^0x010000
	r.K, r.N = 2, 3
	switch ext {
	case 0x00: // trace only
		r.DEX = policy.DEX{}
		r.HasTrace, r.Trace = true, policy.Trace{Namespace: 123, TraceType: 0xC00000, Size: 12}
	case 0x40: // trace (every field the kernel fills, OSS included) and DEX
		r.HasTrace, r.Trace = true, policy.Trace{Namespace: 123, TraceType: 0xFFF002, Size: 4 * 16}
	}
	if mode == policy.ModeEncap {
		r.TunDst = netip.MustParseAddr("2001:db8:ffff::2")
	}
	spec.Options.MergeHbH, spec.Options.StripAtDecap = merge, strip
	spec.Ports[0].ForeignIOAM = foreign
	spec.Ports[0].IOAMEnabled = ioam
	spec.Ports[1].MTU = 1400
	return spec, dir
}

func fuzzNode(t *testing.T, i int) *Handler {
	fuzzMu.Lock()
	defer fuzzMu.Unlock()
	if n, ok := fuzzNodes[i]; ok {
		return n
	}
	spec, _ := fuzzSpec(i)
	n, _ := newNode(t, spec)
	fuzzNodes[i] = n
	return n
}

// FuzzHandle feeds arbitrary IPv6 packets (behind a fixed Ethernet header)
// to every role and checks the invariants: no panic; a frame the node
// modified parses with our own validation; a packet given DEX carries it;
// a packet given a trace carries it; transit modifies nothing but trace
// slots; nothing with IOAM leaves through an outside port when stripping is
// on.
func FuzzHandle(f *testing.F) {
	for _, v := range []string{vecPlain, vecA, vecB, vecB2, vecC, vecD, vecDIn, vecPTO} {
		for _, cfg := range []uint16{0, 1, 2, 3, 5, 6, 13, 77, 200} {
			f.Add(unhex(f, v), cfg)
		}
	}
	f.Fuzz(func(t *testing.T, ip6 []byte, cfg uint16) {
		if len(ip6) > chunkSize-headroom-len(ethHeader) {
			return
		}
		i := int(cfg) % fuzzConfigs
		_, dir := fuzzSpec(i)
		n := fuzzNode(t, i)
		fuzzMu.Lock()
		defer fuzzMu.Unlock()

		fr := newFrame(ip6, 0)
		before := append([]byte(nil), fr.Buf[fr.Off:fr.Off+fr.Len]...)
		var pin packet.Packet
		inErr := packet.Parse(before, &pin)
		inserted := n.Counters().DEXInserted.Load()
		traced := n.Counters().Trace.Inserted.Load()

		v := n.Handle(fr)
		records(n) // keep the ring drained

		if fr.Off < 0 || fr.Len <= 0 || fr.Off+fr.Len > len(fr.Buf) {
			t.Fatalf("frame bounds off %d len %d", fr.Off, fr.Len)
		}
		if v != handle.Forward {
			return
		}
		out := fr.Buf[fr.Off : fr.Off+fr.Len]
		modified := !bytes.Equal(out, before)
		var p packet.Packet
		outErr := packet.Parse(out, &p)
		if modified && outErr != nil {
			t.Fatalf("modified frame fails validation: %v\n in %x\nout %x", p.Detail(outErr), before, out)
		}
		if n.Counters().DEXInserted.Load() != inserted {
			if outErr != nil || !p.HasDEX || p.DEX.Namespace != 123 {
				t.Fatalf("DEX inserted but output has none: %v %+v", outErr, p.DEX)
			}
		}
		if n.Counters().Trace.Inserted.Load() != traced {
			if outErr != nil || !p.HasPTO || p.PTO.Namespace != 123 {
				t.Fatalf("trace inserted but output has none: %v %+v", outErr, p.PTO)
			}
		}
		switch dir {
		case transitDir:
			// Transit edits only inside Pre-allocated Traces: the flags and
			// RemainingLen word and the node data area.
			if modified && !onlyTraceChanged(before, out, &pin, inErr) {
				t.Fatalf("transit modified the frame outside a trace\n in %x\nout %x", before, out)
			}
		case decapDir:
			strip := (i/4/2/4/2)%2 == 0
			if strip && outErr == nil && p.NumIOAM != 0 {
				t.Fatalf("IOAM leaves through an outside port: %x", out)
			}
			if strip && outErr != nil && outErr != packet.ErrNotIPv6 {
				t.Fatalf("malformed packet (%v) leaves through an outside port", outErr)
			}
		}
		_ = inErr
	})
}

// onlyTraceChanged reports whether out differs from in (parsed into pin)
// only inside its trace options, after their first 6 octets.
func onlyTraceChanged(in, out []byte, pin *packet.Packet, inErr error) bool {
	if inErr != nil || len(in) != len(out) || !pin.HasPTO {
		return false
	}
	for i := range in {
		if in[i] == out[i] {
			continue
		}
		ok := false
		for k := range pin.NumIOAM {
			o := &pin.IOAM[k]
			if o.IOAMType == packet.IOAMTypePreallocTrace && i >= o.Off+6 && i < o.Off+2+int(o.DataLen) {
				ok = true
			}
		}
		if !ok {
			return false
		}
	}
	return true
}
