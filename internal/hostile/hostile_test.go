package hostile

import (
	"bytes"
	"encoding/binary"
	"fmt"
	"runtime"
	"slices"
	"strings"
	"sync/atomic"
	"testing"

	"github.com/dexplane/dexplane/dataplane/handle"
	"github.com/dexplane/dexplane/dataplane/node"
	"github.com/dexplane/dexplane/dataplane/packet"
	"github.com/dexplane/dexplane/dataplane/policy"
	"github.com/dexplane/dexplane/dataplane/telemetry"
	"github.com/dexplane/dexplane/dataplane/xsk"

	"github.com/dexplane/dexplane/internal/testutil"
)

// TestFiles keeps testdata/hostile.pcap and testdata/hostile.md in
// step with Frames.
func TestFiles(t *testing.T) {
	fs := Frames()
	var pcap, md bytes.Buffer
	if err := WritePcap(&pcap, fs); err != nil {
		t.Fatal(err)
	}
	if err := WriteTable(&md, fs); err != nil {
		t.Fatal(err)
	}
	const regen = "go test ./internal/hostile -run TestFiles -update"
	testutil.Golden(t, "../../e2e/testdata/hostile.pcap", pcap.Bytes(), regen)
	testutil.Golden(t, "../../e2e/testdata/hostile.md", md.Bytes(), regen)
}

// TestCounterNames checks that every Counter is a counter the node
// reports, under a distinct name.
func TestCounterNames(t *testing.T) {
	names := CounterNames()
	seen := map[string]Counter{}
	for c := range Counter(numCounters) {
		n := c.String()
		if !names[n] {
			t.Errorf("Counter %d: %q is not a node counter", c, n)
		}
		if d, ok := seen[n]; ok {
			t.Errorf("Counters %d and %d are both %q", d, c, n)
		}
		seen[n] = c
	}
	if len(seen) != numCounters {
		t.Errorf("%d names for %d counters", len(seen), numCounters)
	}
}

// TestTable checks the table itself: enough frames, unique names, known
// counters listed once per role, Want only where an edited frame is
// expected.
func TestTable(t *testing.T) {
	fs := Frames()
	if len(fs) < 40 {
		t.Errorf("%d frames, want at least 40", len(fs))
	}
	seen := map[string]bool{}
	for _, f := range fs {
		if seen[f.Name] {
			t.Errorf("duplicate frame name %q", f.Name)
		}
		seen[f.Name] = true
		if !bytes.Equal(Frames()[len(seen)-1].Bytes, f.Bytes) {
			t.Errorf("%s: table is not deterministic", f.Name)
		}
		for r, e := range f.Expect {
			if len(e.Counters.Deltas()) != len(e.Counters) {
				t.Errorf("%s/%v: a counter listed twice in %v", f.Name, telemetry.Role(r), e.Counters)
			}
			for _, c := range e.Counters {
				if int(c.Counter) >= numCounters || c.N == 0 {
					t.Errorf("%s/%v: counter %v moved by %d", f.Name, telemetry.Role(r), c.Counter, c.N)
				}
			}
			if f.Want[r] != nil && e.Outcome != WithDEX && e.Outcome != Stripped && e.Outcome != TraceFilled {
				t.Errorf("%s/%v: Want set for outcome %v", f.Name, telemetry.Role(r), e.Outcome)
			}
		}
	}
}

// newNode returns a node for role r of the suite's policy.
func newNode(t testing.TB, r telemetry.Role) *node.Handler {
	t.Helper()
	return specNode(t, Spec(r))
}

// specNode returns a node of policy spec, with a 64-record ring.
func specNode(t testing.TB, spec policy.Spec) *node.Handler {
	t.Helper()
	s, err := policy.New(spec, nil)
	if err != nil {
		t.Fatalf("policy.New: %v", err)
	}
	return snapshotNode(t, s)
}

// snapshotNode returns a node of policy snapshot s, with a 64-record ring.
func snapshotNode(t testing.TB, s *policy.Snapshot) *node.Handler {
	t.Helper()
	var ptr atomic.Pointer[policy.Snapshot]
	ptr.Store(s)
	n, err := node.New(node.Config{Policy: &ptr, RingSize: 64})
	if err != nil {
		t.Fatalf("node.New: %v", err)
	}
	return n
}

// handleCounted runs frame f through n (see handleInUMEM) and returns the
// verdict, the frame that left and the counters that moved.
func handleCounted(c *Checker, n *node.Handler, f *Frame) (handle.Verdict, []byte, map[string]uint64) {
	before := SnapshotCounters(n)
	v, out := handleInUMEM(c, f.Name, n, f.Bytes)
	return v, out, DeltaCounters(before, SnapshotCounters(n))
}

// Layout of the UMEM-like test buffer: three chunks, the frame in the
// middle one, the neighbours filled with a pattern that must survive.
const (
	chunk    = 2048
	headroom = xsk.DefaultHeadroom
	guard    = 0xa5
)

// handleInUMEM runs frame through n in the middle of a three-chunk buffer
// and returns the verdict and the frame that left (nil when dropped). It
// reports a change to a neighbouring chunk on c.
func handleInUMEM(c *Checker, name string, n *node.Handler, frame []byte) (handle.Verdict, []byte) {
	umem := bytes.Repeat([]byte{guard}, 3*chunk)
	buf := umem[chunk : 2*chunk : 2*chunk]
	copy(buf[headroom:], frame)
	fr := &handle.Frame{Buf: buf, Off: headroom, Len: len(frame), Ingress: 0, RxTime: 1_700_000_000_000_000_000}
	v := n.Handle(fr)
	for _, nb := range [][]byte{umem[:chunk], umem[2*chunk:]} {
		if i := slices.IndexFunc(nb, func(b byte) bool { return b != guard }); i >= 0 {
			c.Errorf("%s: neighbour chunk corrupted at octet %d", name, i)
		}
	}
	if fr.Off < 0 || fr.Len < 0 || fr.Off+fr.Len > len(buf) {
		c.Errorf("%s: frame bounds off %d len %d outside the chunk", name, fr.Off, fr.Len)
		return v, nil
	}
	if v == handle.Drop {
		return v, nil
	}
	return v, slices.Clone(buf[fr.Off : fr.Off+fr.Len])
}

// TestUnit runs every frame through node.Handle in every role.
func TestUnit(t *testing.T) {
	for _, f := range Frames() {
		t.Run(f.Name, func(t *testing.T) {
			var c Checker
			for r := range NumRoles {
				n := newNode(t, r)
				before := SnapshotCounters(n)
				v, out := handleInUMEM(&c, f.Name+"/"+r.String(), n, f.Bytes)
				if (v == handle.Drop) != (out == nil) {
					c.Errorf("%s/%v: verdict %v with output %v", f.Name, r, v, out != nil)
				}
				CheckOutput(&c, &f, r, f.Bytes, out)
				CheckCounters(&c, &f, r, DeltaCounters(before, SnapshotCounters(n)))
				checkRecord(&c, &f, r, n)
			}
			c.Settle(t, f.Bug)
		})
	}
}

// checkRecord checks the transit record of a row that expects one: the
// namespace and the hop limit of the header that carries DEX.
func checkRecord(c *Checker, f *Frame, r telemetry.Role, n *node.Handler) {
	want := f.Expect[r].Counters.Deltas()
	var rec telemetry.Record
	got := 0
	for n.Ring().Pop(&rec) {
		got++
		if r == telemetry.RoleEncap {
			continue
		}
		var p packet.Packet
		if err := packet.Parse(f.Bytes, &p); err != nil {
			c.Errorf("%s/%v: record for a frame that does not parse", f.Name, r)
			continue
		}
		if rec.Namespace != Namespace || rec.HopLimit != packet.HopLimit(f.Bytes, p.L3) {
			c.Errorf("%s/%v: record namespace %d hop limit %d, want %d and %d", f.Name, r, rec.Namespace, rec.HopLimit, Namespace, packet.HopLimit(f.Bytes, p.L3))
		}
	}
	if r != telemetry.RoleEncap && uint64(got) != want["records_exported"] {
		c.Errorf("%s/%v: %d records in the ring, want %d", f.Name, r, got, want["records_exported"])
	}
}

// TestExtFlags runs a DEX option with every Extension-Flags value,
// at its exact length and one field short, through every role.
func TestExtFlags(t *testing.T) {
	nodes := [NumRoles]*node.Handler{}
	for r := range NumRoles {
		nodes[r] = newNode(t, r)
	}
	for e := range 256 {
		ef := uint8(e)
		fields := fieldsFor(ef)
		p := plain("ext-flags")
		good := eth6(withHbH(p, dexHbH(0, Namespace, ef, fields...)))
		rows := []Frame{{Name: fmt.Sprintf("ext%02x", ef), Bytes: good,
			Expect: [NumRoles]Expect{drop(CtrForeignDropped), same(CtrRecordsExported), strip(CtrDEXRemoved, CtrRecordsExported)},
			Want:   [NumRoles][]byte{telemetry.RoleDecap: eth6(p)}}}
		if len(fields) > 0 {
			o := ioamOpt(0x31, 10+4*(len(fields)-1), dexBody(Namespace, 0, ef, TraceType, fields...))
			body := cat(pad(2), o)
			if r := (2 + len(body)) % 8; r != 0 {
				body = cat(body, pad(8-r))
			}
			rows = append(rows, Frame{Name: fmt.Sprintf("ext%02x-short", ef), Bytes: eth6(withHbH(p, hbh(0, body))),
				Expect: malformed(node.MalformedDEXExtTruncated)})
		}
		var c Checker
		for i := range rows {
			f := &rows[i]
			for r := range NumRoles {
				n := nodes[r]
				_, out, d := handleCounted(&c, n, f)
				CheckOutput(&c, f, r, f.Bytes, out)
				CheckCounters(&c, f, r, d)
				var rec telemetry.Record
				for n.Ring().Pop(&rec) {
					if r == telemetry.RoleEncap {
						continue
					}
					if rec.ExtFlags != ef || rec.HasFlowID != (ef&0x80 != 0) || rec.HasSeq != (ef&0x40 != 0) {
						c.Errorf("%s/%v: record ext 0x%02x flow %v seq %v", f.Name, r, rec.ExtFlags, rec.HasFlowID, rec.HasSeq)
					}
					if rec.HasFlowID && rec.FlowID != fields[0] {
						c.Errorf("%s/%v: flow id 0x%x, want 0x%x", f.Name, r, rec.FlowID, fields[0])
					}
					if rec.HasSeq && rec.Seq != fields[popBefore(ef, 0x40)] {
						c.Errorf("%s/%v: seq 0x%x, want 0x%x", f.Name, r, rec.Seq, fields[popBefore(ef, 0x40)])
					}
				}
			}
		}
		c.Settle(t, "")
	}
}

// popBefore returns the index of the optional field of flag bit among the
// fields extFlags announces (fields are in bit order, 0x80 first).
func popBefore(extFlags, bit uint8) int {
	n := 0
	for b := uint8(0x80); b > bit; b >>= 1 {
		if extFlags&b != 0 {
			n++
		}
	}
	return n
}

// TestFlowExhaustion sends one million distinct 5-tuples through the
// encapsulating role with Flow ID and sequence numbers on: the flow table
// stays within max_flows, evictions are counted and the heap stays bounded.
func TestFlowExhaustion(t *testing.T) {
	const (
		flows    = 1_000_000
		maxFlows = 4096
	)
	if testing.Short() {
		t.Skip("one million packets")
	}
	spec := Spec(telemetry.RoleEncap)
	spec.Routes[0].DEX.ExtFlags = packet.ExtFlagFlowID | packet.ExtFlagSeq
	spec.Flows.MaxFlows = maxFlows
	n := specNode(t, spec)
	base := eth6(plain("flows"))
	buf := make([]byte, chunk)
	f := &handle.Frame{Buf: buf}
	var ms runtime.MemStats
	runtime.GC()
	runtime.ReadMemStats(&ms)
	heap0 := ms.HeapAlloc
	var rec telemetry.Record
	for i := range flows {
		copy(buf[headroom:], base)
		l3 := headroom + 14
		// The source address's last octets and the source port make the
		// tuple distinct; the destination port stays 5001 (not an export
		// port, which would never get DEX).
		binary.BigEndian.PutUint32(buf[l3+20:], uint32(i>>12))
		binary.BigEndian.PutUint16(buf[l3+40:], uint16(i*13))
		f.Off, f.Len, f.RxTime = headroom, len(base), int64(i)
		if v := n.Handle(f); v != handle.Forward {
			t.Fatalf("packet %d dropped", i)
		}
		for n.Ring().Pop(&rec) {
		}
		if i%100_000 == 0 {
			if a := n.Counters().FlowsActive.Load(); a > maxFlows {
				t.Fatalf("after %d packets: %d flows active, max %d", i+1, a, maxFlows)
			}
		}
	}
	runtime.GC()
	runtime.ReadMemStats(&ms)
	c := n.Counters()
	active, created, evicted := c.FlowsActive.Load(), c.FlowsNew.Load(), c.FlowsEvicted.Load()
	t.Logf("flows: active %d new %d evicted %d expired %d; dex inserted %d; heap %d → %d octets",
		active, created, evicted, c.FlowsExpired.Load(), c.DEXInserted.Load(), heap0, ms.HeapAlloc)
	if active > maxFlows || active == 0 {
		t.Errorf("flows active %d, want 1..%d", active, maxFlows)
	}
	// Distinct 5-tuples can share a 32-bit Flow ID (about 120 pairs
	// among a million), so a few packets continue an existing flow.
	if created < flows-1000 || created > flows {
		t.Errorf("flows created %d, want about %d", created, flows)
	}
	if evicted+c.FlowsExpired.Load() != created-active {
		t.Errorf("evicted %d + expired %d != created %d − active %d", evicted, c.FlowsExpired.Load(), created, active)
	}
	if got := c.DEXInserted.Load(); got != flows {
		t.Errorf("dex inserted %d, want %d", got, flows)
	}
	if ms.HeapAlloc > heap0+8<<20 {
		t.Errorf("heap grew from %d to %d octets over %d flows", heap0, ms.HeapAlloc, flows)
	}
}

// runUnit handles every row of rows in role r on a fresh node built from
// spec and checks it like TestUnit.
func runUnit(t *testing.T, spec policy.Spec, r telemetry.Role, rows []Frame) {
	t.Helper()
	s, err := policy.New(spec, nil)
	if err != nil {
		t.Fatal(err)
	}
	for i := range rows {
		f := &rows[i]
		n := snapshotNode(t, s)
		var c Checker
		_, out, d := handleCounted(&c, n, f)
		CheckOutput(&c, f, r, f.Bytes, out)
		CheckCounters(&c, f, r, d)
		checkRecord(&c, f, r, n)
		c.Settle(t, f.Bug)
	}
}

// ioamLengthReasons are the parse failures the node forwards untouched
// inside the domain when the ingress port is not IOAM-enabled (node's
// malformed-packet table: Linux checks IOAM lengths only then).
var ioamLengthReasons = []Counter{Malformed(node.MalformedIOAMShort), Malformed(node.MalformedDEXShort),
	Malformed(node.MalformedDEXExtTruncated), Malformed(node.MalformedPTOShort), Malformed(node.MalformedPTORemLen),
	Malformed(node.MalformedPTONodeLen)}

// TestIOAMDisabled runs the table in the transit and decap roles
// with the ingress port not IOAM-enabled. Documented policy: IOAM length
// errors are forwarded untouched inside the domain (transit) but still
// dropped before an outside port (decap); misalignment is dropped anyway;
// DEX is never exported (ioam_disabled, checked before the namespace as in
// Linux ipv6_hop_ioam) and still removed at the edge.
func TestIOAMDisabled(t *testing.T) {
	for _, r := range []telemetry.Role{telemetry.RoleTransit, telemetry.RoleDecap} {
		t.Run(r.String(), func(t *testing.T) {
			spec := Spec(r)
			spec.Ports[0].IOAMEnabled = false
			var rows []Frame
			for _, f := range Frames() {
				e := &f.Expect[r]
				if r == telemetry.RoleTransit && e.Outcome == Dropped && len(e.Counters) == 1 && e.Counters[0].N == 1 && slices.Contains(ioamLengthReasons, e.Counters[0].Counter) {
					e.Outcome = Unchanged // Linux ignores IOAM it is not enabled for
				}
				// Never a record, whatever the namespace: the enabled check
				// comes first. Traces are neither written nor exported
				// (trace_ioam_disabled), as Linux ignores them.
				if e.Outcome == TraceFilled {
					e.Outcome, f.Want[r] = Unchanged, nil
				}
				var p packet.Packet
				hasDEX := packet.Parse(f.Bytes, &p) == nil && p.HasDEX
				var ctrs Counts
				for _, c := range e.Counters {
					switch {
					case c.Counter.IsTrace():
						c = Count{CtrTraceIOAMDisabled, 1}
					case (c.Counter == CtrRecordsExported || c.Counter == CtrUnknownNamespace) && hasDEX:
						c = Count{CtrIOAMDisabled, 1}
					case c.Counter == CtrRecordsExported:
						continue
					}
					if !slices.Contains(ctrs, c) {
						ctrs = append(ctrs, c)
					}
				}
				e.Counters = ctrs
				rows = append(rows, f)
			}
			runUnit(t, spec, r, rows)
		})
	}
}

// TestForeignPolicies runs every row the encapsulating role drops
// as foreign IOAM under the two other foreign_ioam policies. forward: the
// packet leaves untouched. strip: the IOAM options go, and the packet is
// handled as if it had arrived without them, so it leaves with no IOAM but
// the route's own DEX (when its destination is routed).
func TestForeignPolicies(t *testing.T) {
	var rows []Frame
	for _, f := range Frames() {
		if f.Expect[telemetry.RoleEncap].Counters.Is(CtrForeignDropped) {
			rows = append(rows, f)
		}
	}
	if len(rows) < 20 {
		t.Fatalf("only %d foreign-IOAM rows", len(rows))
	}
	t.Run("forward", func(t *testing.T) {
		spec := Spec(telemetry.RoleEncap)
		spec.Ports[0].ForeignIOAM = policy.ForeignForward
		fw := slices.Clone(rows)
		for i := range fw {
			fw[i].Expect[telemetry.RoleEncap] = same(CtrForeignForwarded)
		}
		runUnit(t, spec, telemetry.RoleEncap, fw)
	})
	t.Run("strip", func(t *testing.T) {
		spec := Spec(telemetry.RoleEncap)
		spec.Ports[0].ForeignIOAM = policy.ForeignStrip
		s, err := policy.New(spec, nil)
		if err != nil {
			t.Fatal(err)
		}
		for _, f := range rows {
			n := snapshotNode(t, s)
			var c Checker
			v, out, d := handleCounted(&c, n, &f)
			var pi, po packet.Packet
			switch {
			case v != handle.Forward || out == nil:
				c.Errorf("%s: dropped under foreign_ioam strip (counters %v)", f.Name, d)
			case packet.Parse(f.Bytes, &pi) != nil:
				c.Errorf("%s: input does not parse", f.Name)
			case packet.Parse(out, &po) != nil:
				c.Errorf("%s: output does not parse: %x", f.Name, out)
			default:
				routed := routePrefix.Contains(packet.Addr(packet.Dst(f.Bytes, pi.L3)))
				in := f.Bytes
				if pi.DstOptsDEX > 0 {
					// IOAM in Destination Options is stripped too: compare
					// with the input without it.
					buf := make([]byte, 64+len(in))
					copy(buf[64:], in)
					o, l, err := packet.RemoveDstOptsDEX(buf, 64, len(in), &pi)
					if err != nil || po.DstOptsDEX != 0 {
						c.Errorf("%s: Destination Options IOAM left (%v)", f.Name, err)
					}
					in = buf[o : o+l]
				}
				li, ii, hi, ri := hbhParts(in, pi.L3)
				lo, io, ho, ro := hbhParts(out, po.L3)
				oi, _ := nonPadOptions(hi)
				oo, ioam := nonPadOptions(ho)
				if !bytes.Equal(li, lo) || !bytes.Equal(ii, io) || !bytes.Equal(ri, ro) || !slices.EqualFunc(oi, oo, bytes.Equal) {
					c.Errorf("%s: more than the IOAM options changed:\n%x\n%x", f.Name, f.Bytes, out)
				}
				wantIOAM := 0
				if routed {
					wantIOAM = 1
				}
				if len(ioam) != wantIOAM || (routed && (po.DEX.Namespace != Namespace || po.DEX.ExtFlags != 0 || po.DEX.TraceType != TraceType)) {
					c.Errorf("%s: %d IOAM options left (%+v), want %d (the route's DEX only)", f.Name, len(ioam), po.DEX, wantIOAM)
				}
				if d["foreign_stripped"] != 1 || (routed && d["dex_inserted"] != 1) || (!routed && d["no_route"] != 1) {
					c.Errorf("%s: counters %v", f.Name, d)
				}
			}
			c.Settle(t, f.Bug)
		}
	})
}

// cutPlen returns frame[:n] with the Payload Length of the IPv6 header at
// l3 set to what is left after that header.
func cutPlen(frame []byte, l3, n int) []byte {
	b := slices.Clone(frame[:n])
	binary.BigEndian.PutUint16(b[l3+4:], uint16(n-l3-40))
	return b
}

// TestTruncations cuts two IOAM frames (802.1Q + inline DEX, and
// ip6ip6 with DEX) at every octet. A plain cut always leaves a short
// Ethernet/802.1Q/IPv6 header or a Payload Length past the frame: dropped
// in every role. A cut that also shortens the Payload Length is dropped
// while a header is incomplete (Hop-by-Hop, inner IPv6) or the inner
// Payload Length overruns; an inline DEX packet whose Hop-by-Hop header is
// complete is a valid (short) packet and handled as such.
func TestTruncations(t *testing.T) {
	p := plain("cut")
	vlanDEX := ether(0x86dd, withHbH(p, dexHbH(0, Namespace, 0)), vlanTag{0x8100, 100})
	vlanPlain := ether(0x86dd, p, vlanTag{0x8100, 100})
	tunDEX := eth6(encapIn(p, peerNode, endpoint, dexHbH(0, Namespace, 0xc0, 1, 2)))
	var rows []Frame
	for _, base := range []struct {
		name  string
		frame []byte
		l3    int
	}{{"vlan-dex", vlanDEX, 18}, {"ip6ip6-dex", tunDEX, 14}} {
		for n := range len(base.frame) {
			rows = append(rows, Frame{Name: fmt.Sprintf("%s-cut%d", base.name, n), Bytes: base.frame[:n], Expect: all(drop())})
			if n < base.l3+40 {
				continue
			}
			plen := n - base.l3 - 40
			f := Frame{Name: fmt.Sprintf("%s-plen%d", base.name, plen), Bytes: cutPlen(base.frame, base.l3, n)}
			switch {
			case base.name == "ip6ip6-dex":
				f.Expect = all(drop()) // outer HbH, inner header or inner length cut
			case plen < 16:
				f.Expect = malformed(node.MalformedHbHTruncated)
			default:
				f.Expect = [NumRoles]Expect{drop(CtrForeignDropped), same(CtrRecordsExported), strip(CtrDEXRemoved, CtrRecordsExported)}
				f.Want[telemetry.RoleDecap] = cutPlen(vlanPlain, base.l3, n-16)
			}
			rows = append(rows, f)
		}
	}
	for r := range NumRoles {
		t.Run(r.String(), func(t *testing.T) {
			n := newNode(t, r)
			for i := range rows {
				f := &rows[i]
				var c Checker
				_, out, d := handleCounted(&c, n, f)
				CheckOutput(&c, f, r, f.Bytes, out)
				if f.Expect[r].Outcome == Dropped && len(f.Expect[r].Counters) == 0 {
					// Any one parse reason, exactly once.
					var m uint64
					for k, v := range d {
						if strings.HasPrefix(k, "malformed_") {
							m += v
						}
					}
					if m != 1 || d["dropped"] != 1 {
						c.Errorf("%s/%v: counters %v, want dropped and one malformed reason", f.Name, r, d)
					}
				} else {
					CheckCounters(&c, f, r, d)
				}
				for rec := (telemetry.Record{}); n.Ring().Pop(&rec); {
				}
				c.Settle(t, "")
			}
		})
	}
}
