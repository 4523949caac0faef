package node

import (
	"bytes"
	"go/ast"
	"go/parser"
	"go/token"
	"path/filepath"
	"strconv"
	"testing"

	"github.com/dexplane/dexplane/dataplane/handle"
	"github.com/dexplane/dexplane/dataplane/packet"

	"github.com/dexplane/dexplane/dataplane/policy"
	"github.com/dexplane/dexplane/internal/testutil"
)

// patch returns vector v with the octets at off replaced by b.
func patch(t *testing.T, v string, off int, b ...byte) []byte {
	p := unhex(t, v)
	copy(p[off:], b)
	return p
}

func TestMalformed(t *testing.T) {
	// DEX option with Opt Data Len 8 (< 10), then PadN(2).
	dexShort := unhex(t, "600000000018004020010db800000000000000000000000120010db80000000000000000000000021101010031080004007b000080000100"+"9c401389000c15c7")
	tests := []struct {
		name       string
		frame      []byte // whole Ethernet frame when set
		pkt        []byte
		dir        int
		ioamOff    bool // ingress port not ioam_enabled
		verdict    handle.Verdict
		reason     Malformed
		notCounted bool
	}{
		{name: "short frame", frame: make([]byte, 10), verdict: handle.Drop, reason: MalformedShortFrame},
		{name: "short vlan", frame: append(append([]byte{}, ethHeader[:12]...), 0x81, 0, 0), verdict: handle.Drop, reason: MalformedShortVLAN},
		{name: "not ipv6", frame: append(append([]byte{}, ethHeader[:12]...), 0x08, 0, 0x45, 0), verdict: handle.Forward, notCounted: true},
		{name: "short ipv6", pkt: unhex(t, vecPlain)[:30], verdict: handle.Drop, reason: MalformedShortIPv6},
		{name: "ip version", pkt: patch(t, vecPlain, 0, 0x40), verdict: handle.Drop, reason: MalformedIPVersion},
		{name: "payload length", pkt: patch(t, vecPlain, 4, 0x01, 0x00), verdict: handle.Drop, reason: MalformedPayloadLength},
		{name: "hbh truncated", pkt: patch(t, vecA, 41, 0x09), verdict: handle.Drop, reason: MalformedHbHTruncated},
		{name: "padn nonzero", pkt: patch(t, vecB2, 63, 0x01), verdict: handle.Drop, reason: MalformedPadNNonZero},
		{name: "option discard", pkt: patch(t, vecD, 42, 0x9e), verdict: handle.Drop, reason: MalformedOptionDiscard},
		{name: "router alert length 4", dir: transitDir, ioamOff: true, pkt: patch(t, vecDIn, 42, 0x05, 0x04, 0, 0, 0, 0), verdict: handle.Drop, reason: MalformedRouterAlert},
		{name: "jumbo not a jumbogram", pkt: patch(t, vecDIn, 42, 0xc2, 0x04, 0, 1, 0, 0), verdict: handle.Drop, reason: MalformedJumbo},
		{name: "calipso length 4", dir: decapDir, pkt: patch(t, vecDIn, 42, 0x07, 0x04, 0, 0, 0, 0), verdict: handle.Drop, reason: MalformedCALIPSO},
		{name: "ioam misaligned", dir: transitDir, ioamOff: true,
			pkt:     patch(t, vecA, 42, 0x00, 0x31, 0x0a, 0x00, 0x04, 0x00, 0x7b, 0x00, 0x00, 0x80, 0x00, 0x00, 0x00, 0x00),
			verdict: handle.Drop, reason: MalformedIOAMMisaligned},
		{name: "dex short transit enabled", dir: transitDir, pkt: dexShort, verdict: handle.Drop, reason: MalformedDEXShort},
		{name: "dex short transit disabled forwards", dir: transitDir, ioamOff: true, pkt: dexShort, verdict: handle.Forward, reason: MalformedDEXShort},
		{name: "dex short decap disabled drops", dir: decapDir, ioamOff: true, pkt: dexShort, verdict: handle.Drop, reason: MalformedDEXShort},
		{name: "dex short from outside", dir: encapDir, pkt: dexShort, verdict: handle.Drop, reason: MalformedDEXShort},
		{name: "inner version", dir: decapDir, pkt: patch(t, vecC, 64, 0x40), verdict: handle.Drop, reason: MalformedInnerVersion},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			spec := baseSpec(tc.dir)
			spec.Ports[0].IOAMEnabled = !tc.ioamOff
			n, _ := newNode(t, spec)
			var f *handle.Frame
			if tc.frame != nil {
				f = newFrame(nil, 0)
				f.Len = copy(f.Buf[headroom:], tc.frame)
			} else {
				f = newFrame(tc.pkt, 0)
			}
			before := append([]byte(nil), f.Buf[f.Off:f.Off+f.Len]...)
			if v := n.Handle(f); v != tc.verdict {
				t.Fatalf("verdict %v, want %v", v, tc.verdict)
			}
			if tc.verdict == handle.Forward && !bytes.Equal(f.Buf[f.Off:f.Off+f.Len], before) {
				t.Error("malformed packet forwarded modified")
			}
			c := n.Counters()
			if tc.notCounted {
				if c.MalformedTotal() != 0 || c.NotIPv6.Load() != 1 {
					t.Errorf("malformed %d not_ipv6 %d", c.MalformedTotal(), c.NotIPv6.Load())
				}
				return
			}
			if got := c.Malformed[tc.reason].Load(); got != 1 || c.MalformedTotal() != 1 {
				t.Errorf("malformed[%v] = %d, total %d (counters %v)", tc.reason, got, c.MalformedTotal(), counters(n))
			}
			if len(records(n)) != 0 {
				t.Error("record exported for a malformed packet")
			}
		})
	}
}

func TestBadFrameBounds(t *testing.T) {
	n, _ := newNode(t, baseSpec(transitDir))
	for _, f := range []*handle.Frame{
		{Buf: make([]byte, 100), Off: 90, Len: 20},
		{Buf: make([]byte, 100), Off: -1, Len: 20},
		{Buf: make([]byte, 100), Off: 0, Len: 0},
		{Buf: nil, Off: 0, Len: 1},
	} {
		if v := n.Handle(f); v != handle.Drop {
			t.Errorf("frame off %d len %d in %d: verdict %v", f.Off, f.Len, len(f.Buf), v)
		}
	}
}

func TestMalformedNames(t *testing.T) {
	testutil.CheckNames(t, NumMalformed)
	for m := Malformed(0); m < MalformedOther; m++ {
		if malformedOf(malformedErrs[m]) != m {
			t.Errorf("reason %v does not round-trip", m)
		}
	}
	if malformedOf(policy.ErrFreq) != MalformedOther {
		t.Error("foreign error not classified as other")
	}
}

// TestNilSnapshotForwards checks that a node without policy is a wire.
func TestNilSnapshotForwards(t *testing.T) {
	var ptr atomicSnapshot
	n, err := New(Config{Policy: &ptr})
	if err != nil {
		t.Fatal(err)
	}
	f := newFrame(unhex(t, vecA), 0)
	if n.Handle(f) != handle.Forward || !bytes.Equal(ip6Of(f), unhex(t, vecA)) {
		t.Fatal("nil snapshot: frame not forwarded untouched")
	}
	if _, err := New(Config{}); err == nil {
		t.Error("New without policy pointer succeeded")
	}
	if _, err := New(Config{Policy: &ptr, RingSize: 3}); err == nil {
		t.Error("New with ring size 3 succeeded")
	}
}

// TestEveryParseErrorClassified reads the packet codec's parse sentinels
// from its source (the first var block of errors.go) so that a sentinel
// added there without a Malformed reason here fails the tests.
func TestEveryParseErrorClassified(t *testing.T) {
	fset := token.NewFileSet()
	f, err := parser.ParseFile(fset, filepath.Join("..", "packet", "errors.go"), nil, 0)
	if err != nil {
		t.Skipf("packet sources not available: %v", err)
	}
	known := map[string]bool{packet.ErrNotIPv6.Error(): true}
	for _, e := range malformedErrs {
		known[e.Error()] = true
	}
	for _, decl := range f.Decls {
		gd, ok := decl.(*ast.GenDecl)
		if !ok || gd.Tok != token.VAR {
			continue
		}
		n := 0
		for _, spec := range gd.Specs {
			vs := spec.(*ast.ValueSpec)
			for i, name := range vs.Names {
				call, ok := vs.Values[i].(*ast.CallExpr)
				if !ok || len(call.Args) != 1 {
					continue
				}
				lit, ok := call.Args[0].(*ast.BasicLit)
				if !ok {
					continue
				}
				msg, err := strconv.Unquote(lit.Value)
				if err != nil {
					t.Fatal(err)
				}
				n++
				if !known[msg] {
					t.Errorf("parse sentinel packet.%s (%q) has no Malformed reason", name.Name, msg)
				}
			}
		}
		if n == 0 {
			t.Fatal("no sentinels found in the first var block of errors.go")
		}
		break // the first var block holds the parse sentinels
	}
}

// TestZeroSnapshot runs a hand-built zero Snapshot (both ports inside, no
// tables): the node is a transit node that exports nothing.
func TestZeroSnapshot(t *testing.T) {
	var ptr atomicSnapshot
	ptr.Store(&policy.Snapshot{})
	n, err := New(Config{Policy: &ptr})
	if err != nil {
		t.Fatal(err)
	}
	for _, v := range []string{vecPlain, vecA, vecC} {
		f := newFrame(unhex(t, v), 0)
		if n.Handle(f) != handle.Forward || !bytes.Equal(ip6Of(f), unhex(t, v)) {
			t.Errorf("zero snapshot changed or dropped %s", v[:16])
		}
	}
	s := &policy.Snapshot{}
	s.Ports[0].Domain = policy.Outside
	ptr.Store(s)
	f := newFrame(unhex(t, vecPlain), 0)
	if n.Handle(f) != handle.Forward || !bytes.Equal(ip6Of(f), unhex(t, vecPlain)) {
		t.Error("encap without routes dropped or changed the packet")
	}
	s2 := &policy.Snapshot{Options: policy.Options{StripAtDecap: true}}
	s2.Ports[1].Domain = policy.Outside
	ptr.Store(s2)
	f = newFrame(unhex(t, vecA), 0)
	if n.Handle(f) != handle.Forward || !bytes.Equal(ip6Of(f), unhex(t, vecPlain)) {
		t.Error("decap without tables did not strip")
	}
}
