package e2e

import (
	"bytes"
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"net"
	"net/netip"
	"os"
	"path/filepath"
	"sync/atomic"
	"testing"
	"time"

	"golang.org/x/sys/unix"

	"github.com/dexplane/dexplane/dataplane"
	"github.com/dexplane/dexplane/dataplane/handle"
	"github.com/dexplane/dexplane/dataplane/node"
	"github.com/dexplane/dexplane/dataplane/packet"
	"github.com/dexplane/dexplane/dataplane/policy"
	"github.com/dexplane/dexplane/dataplane/telemetry"
	"github.com/dexplane/dexplane/internal/testbed"
	"github.com/dexplane/dexplane/internal/testbed/plan"
	"github.com/dexplane/dexplane/internal/testutil"
)

// The Pre-allocated Trace interop tests put the Linux kernel in the path as
// an IOAM transit router: a netns with forwarding on, its ingress interface
// ioam6_enabled, net.ipv6.ioam6_id[_wide], per-interface ids and the
// namespace added with `ip ioam namespace add`, exactly as an operator
// configures Linux. The kernel writes its data into the trace dexplane
// inserted, and dexplane reads and extends what the kernel wrote.

// ptoTrace is every deterministic field: bits 0, 1, 5 (hop limit + node id,
// interface ids, namespace data) and their wide variants 8, 9, 10. NodeLen
// 9, 36 octets per node.
const ptoTrace = 0xC4E000

// The kernel router's IOAM identity.
const (
	kNodeID     = 77
	kNodeIDWide = 0x0077000000000077
	kIfIn       = 5
	kIfOut      = 6
	kIfInWide   = 0x50
	kIfOutWide  = 0x60
	ptoNS       = 123
	ptoNSData   = 0x1234
	ptoNSWide   = 0x00000000abcdef01
)

// The hosts and the kernel router use the router testbed's addresses
// (package plan); the tunnel ends are this test's own.
var (
	ptoTunDst = netip.MustParseAddr("2001:db8:2::d") // the decapsulating bump's tunnel end
	ptoTunSrc = netip.MustParseAddr("2001:db8:1::e")
)

// kernelIOAMRouter turns ns into a Linux IOAM transit router between its
// interfaces west (ingress, ioam6_enabled) and east.
func kernelIOAMRouter(t *testing.T, ns *testbed.Netns, west, east string) {
	ns.Sysctl(t, "net.ipv6.conf.all.forwarding", "1")
	ns.Sysctl(t, "net.ipv6.ioam6_id", fmt.Sprint(kNodeID))
	ns.Sysctl(t, "net.ipv6.ioam6_id_wide", fmt.Sprint(uint64(kNodeIDWide)))
	ns.Sysctl(t, "net.ipv6.conf."+west+".ioam6_enabled", "1")
	ns.Sysctl(t, "net.ipv6.conf."+west+".ioam6_id", fmt.Sprint(kIfIn))
	ns.Sysctl(t, "net.ipv6.conf."+east+".ioam6_id", fmt.Sprint(kIfOut))
	ns.Sysctl(t, "net.ipv6.conf."+west+".ioam6_id_wide", fmt.Sprint(kIfInWide))
	ns.Sysctl(t, "net.ipv6.conf."+east+".ioam6_id_wide", fmt.Sprint(kIfOutWide))
	// iproute2 6.1 reads "wide" in base 16 even without 0x: write both in hex.
	ns.MustRun(t, "ip", "ioam", "namespace", "add", fmt.Sprint(ptoNS), "data", fmt.Sprintf("%#x", ptoNSData), "wide", fmt.Sprintf("%#x", uint64(ptoNSWide)))
}

// ptoSpec is a dexplane node between two ports with the given domains and
// ids, namespace 123 configured like the kernel's.
func ptoSpec(id uint32, west, east policy.Domain, ifW, ifE uint16) policy.Spec {
	return policy.Spec{
		Node: policy.Node{ID: id, IDWide: uint64(id) << 32, Address: ptoTunSrc},
		Ports: [2]policy.Port{
			{Name: plan.West, Domain: west, IOAMEnabled: west == policy.Inside, IfID: ifW, IfIDWide: uint32(ifW) << 4},
			{Name: plan.East, Domain: east, IOAMEnabled: east == policy.Inside, IfID: ifE, IfIDWide: uint32(ifE) << 4},
		},
		Namespaces: []policy.Namespace{{ID: ptoNS, Data: ptoNSData, HasData: true, DataWide: ptoNSWide, HasDataWide: true}},
		Flows:      policy.Flows{MaxFlows: 1024},
		Options:    policy.Options{StripAtDecap: true},
	}
}

// wantHop is the node data of one hop as the trace type asks for it.
func wantHop(hl uint8, id uint32, idWide uint64, in, out uint16, inW, outW uint32) []byte {
	b := binary.BigEndian.AppendUint32(nil, uint32(hl)<<24|id)
	b = binary.BigEndian.AppendUint16(b, in)
	b = binary.BigEndian.AppendUint16(b, out)
	b = binary.BigEndian.AppendUint32(b, ptoNSData)
	b = binary.BigEndian.AppendUint64(b, uint64(hl)<<56|idWide)
	b = binary.BigEndian.AppendUint32(b, inW)
	b = binary.BigEndian.AppendUint32(b, outW)
	return binary.BigEndian.AppendUint64(b, ptoNSWide)
}

// startNode runs an in-process dexplane engine with one node for spec in ns
// (generic XDP, steering steer) and returns the engine and the node;
// t.Cleanup stops the engine.
func startNode(t *testing.T, ns *testbed.Netns, spec policy.Spec, steer policy.Steer) (*dataplane.Engine, *node.Handler) {
	t.Helper()
	s, err := policy.New(spec, nil)
	if err != nil {
		t.Fatal(err)
	}
	opts := dataplane.Options{Ports: [2]string{plan.West, plan.East}, Attach: policy.AttachGeneric, Steer: steer, Policy: s}
	for i, p := range spec.Ports {
		opts.Roles[i] = p.Domain
	}
	var (
		e     *dataplane.Engine
		nodes []*node.Handler
	)
	opts.Handler = func(int) handle.Handler {
		cfg := node.Config{Policy: e.Policy()}
		if steer == policy.SteerSampled {
			cfg.Presampled = dataplane.Presampled // the XDP sampler's decision, from the frame's metadata
		}
		n, err := node.New(cfg)
		if err != nil {
			t.Errorf("node.New: %v", err)
			return handle.Identity{}
		}
		nodes = append(nodes, n)
		return n
	}
	// The kernel releases the AF_XDP sockets of an engine that just stopped
	// on these ports asynchronously: retry while the bind says EBUSY.
	for attempt := 0; ; attempt++ {
		nodes = nodes[:0]
		if e, err = dataplane.New(opts); err != nil {
			t.Fatal(err)
		}
		err = ns.Do(func() error { return e.Start(context.Background()) })
		if err == nil {
			break
		}
		if !errors.Is(err, unix.EBUSY) || attempt == 50 {
			t.Fatalf("%s: engine start: %v", ns.Node, err)
		}
		time.Sleep(100 * time.Millisecond)
	}
	t.Cleanup(func() {
		if err := e.Stop(); err != nil {
			t.Errorf("%s: engine stop: %v", ns.Node, err)
		}
	})
	if len(nodes) != 1 {
		t.Fatalf("%s: %d nodes", ns.Node, len(nodes))
	}
	return e, nodes[0]
}

// ptoTopology builds host-a ── E ── K ── T ── D ── host-b for the trace
// interop tests: E, T and D bumps in the wire (ports west/east, IPv6 off),
// K a Linux IOAM router (kernelIOAMRouter), host-a and host-b routing via K.
func ptoTopology(t *testing.T) (e, k, tr, d, ha, hb *testbed.Netns) {
	testbed.SkipIfNotRoot(t)
	ha = testbed.NewNetns(t, "pto-a")
	e = testbed.NewNetns(t, "pto-e")
	k = testbed.NewNetns(t, "pto-k")
	tr = testbed.NewNetns(t, "pto-t")
	d = testbed.NewNetns(t, "pto-d")
	hb = testbed.NewNetns(t, "pto-b")
	const (
		macA, macB   = plan.HostAMAC, plan.HostBMAC
		macKW, macKE = "02:00:00:00:77:01", "02:00:00:00:77:02"
	)
	testbed.Veth(t, ha, plan.HostIf, macA, e, plan.West, plan.PortMAC(1, 0))
	testbed.Veth(t, e, plan.East, plan.PortMAC(1, 1), k, "kw", macKW)
	testbed.Veth(t, k, "ke", macKE, tr, plan.West, plan.PortMAC(3, 0))
	testbed.Veth(t, tr, plan.East, plan.PortMAC(3, 1), d, plan.West, plan.PortMAC(4, 0))
	testbed.Veth(t, d, plan.East, plan.PortMAC(4, 1), hb, plan.HostIf, macB)
	for _, x := range []struct {
		ns *testbed.Netns
		If string
	}{{ha, plan.HostIf}, {hb, plan.HostIf}, {k, "kw"}, {k, "ke"}} {
		if err := x.ns.AttachPass(x.If); err != nil {
			t.Fatal(err)
		}
	}
	for _, b := range []*testbed.Netns{e, tr, d} {
		for _, p := range []string{plan.West, plan.East} {
			b.Sysctl(t, "net.ipv6.conf."+p+".disable_ipv6", "1")
		}
	}
	// As the testbed does for its hosts: complete L4 checksums in the
	// sender, since a frame crossing an AF_XDP node in copy mode loses its
	// CHECKSUM_PARTIAL state (see testbed.hostsChecksumTx).
	ha.MustRun(t, "ethtool", "-K", plan.HostIf, "tx", "off")
	ha.AddAddr(t, plan.HostIf, netip.PrefixFrom(plan.HostAAddr, 64))
	hb.AddAddr(t, plan.HostIf, netip.PrefixFrom(plan.RouterHostBAddr, 64))
	k.AddAddr(t, "kw", netip.PrefixFrom(plan.RouterWestAddr, 64))
	k.AddAddr(t, "ke", netip.PrefixFrom(plan.RouterEastAddr, 64))
	ha.AddRoute(t, netip.MustParsePrefix("::/0"), plan.RouterWestAddr, plan.HostIf)
	hb.AddRoute(t, netip.MustParsePrefix("::/0"), plan.RouterEastAddr, plan.HostIf)
	ha.AddNeigh(t, plan.HostIf, plan.RouterWestAddr, mustMAC(macKW))
	hb.AddNeigh(t, plan.HostIf, plan.RouterEastAddr, mustMAC(macKE))
	k.AddNeigh(t, "kw", plan.HostAAddr, mustMAC(macA))
	k.AddNeigh(t, "ke", plan.RouterHostBAddr, mustMAC(macB))
	k.AddNeigh(t, "ke", ptoTunDst, mustMAC(macB)) // D ends the tunnel in the wire
	kernelIOAMRouter(t, k, "kw", "ke")
	return e, k, tr, d, ha, hb
}

// TestPTOKernelInterop: host-a ── E ── K ── T ── D ── host-b, where E, T and
// D are dexplane bumps in the wire (encapsulating, transit, decapsulating)
// and K is a Linux IOAM router. E inserts a Pre-allocated Trace (inline, and
// ip6ip6 to D's tunnel end), K, T and D write their data. D's records must
// list the four hops in path order with each node's own ids and hop
// limit, RemainingLen and Overflow right (the ip6ip6 case has room for three
// nodes only: D finds it full and sets Overflow), and host-b must get every
// datagram without IOAM.
func TestPTOKernelInterop(t *testing.T) {
	e, k, tr, d, ha, hb := ptoTopology(t)
	for _, steer := range []policy.Steer{policy.SteerAll, policy.SteerSampled} {
		// steer: sampled checks that XDP hands the trace frames to the
		// workers: inside ports steer every Hop-by-Hop frame, and the
		// encapsulating port's XDP sampler knows trace routes.
		t.Run(steer.String(), func(t *testing.T) { ptoChain(t, steer, e, k, tr, d, ha, hb) })
	}
}

// ptoChain runs the inline and ip6ip6 cases of TestPTOKernelInterop with
// dexplane's XDP steering steer.
func ptoChain(t *testing.T, steer policy.Steer, e, k, tr, d, ha, hb *testbed.Netns) {
	_, tn := startNode(t, tr, ptoSpec(33, policy.Inside, policy.Inside, 7, 8), steer)
	dspec := ptoSpec(44, policy.Inside, policy.Outside, 9, 10)
	dspec.DecapEndpoints = []netip.Addr{ptoTunDst}
	_, dn := startNode(t, d, dspec, steer)
	for i, tc := range []struct {
		name  string
		mode  policy.Mode
		size  int
		nodes int // hops that fit
	}{
		{"inline", policy.ModeInline, 4 * 36, 4},
		{"ip6ip6", policy.ModeEncap, 3 * 36, 3},
	} {
		t.Run(tc.name, func(t *testing.T) {
			espec := ptoSpec(11, policy.Outside, policy.Inside, 1, 2)
			espec.Routes = []policy.Route{{
				Prefix: netip.MustParsePrefix("2001:db8:2::/64"), Mode: tc.mode, K: 1, N: 1,
				HasTrace: true, Trace: policy.Trace{Namespace: ptoNS, TraceType: ptoTrace, Size: tc.size},
			}}
			if tc.mode == policy.ModeEncap {
				espec.Routes[0].TunSrc, espec.Routes[0].TunDst = ptoTunSrc, ptoTunDst
			}
			_, en := startNode(t, e, espec, steer) // stopped when the subtest ends, before the next one starts
			port := 7000 + i
			l, err := listenHopOpts(hb, port)
			if err != nil {
				t.Fatal(err)
			}
			const count = 20
			if err := ha.Do(func() error { return sendUDP(plan.RouterHostBAddr, port, count) }); err != nil {
				t.Fatal(err)
			}
			got := l.wait(count, 5*time.Second)
			if len(got) != count {
				for _, x := range []struct {
					n    string
					node *node.Handler
				}{{"E", en}, {"T", tn}, {"D", dn}} {
					t.Logf("%s: %v", x.n, nonZero(x.node))
				}
				t.Logf("K: %s", k.MustRun(t, "nstat", "-az", "Ip6*"))
				t.Fatalf("host-b received %d of %d datagrams", len(got), count)
			}
			for _, g := range got {
				if len(g.hbh) != 0 {
					t.Fatalf("IOAM left the domain: Hop-by-Hop %x", g.hbh)
				}
			}
			wantCtr(t, "E", en, "trace_inserted", count)
			wantCtr(t, "T", tn, "trace_filled", uint64(count*(i+1))) // T and D serve both subtests
			var recs []telemetry.Record
			testutil.Within(5*time.Second, func() bool {
				var r telemetry.Record
				for dn.Ring().Pop(&r) {
					recs = append(recs, r)
				}
				return len(recs) >= count
			})
			if len(recs) != count {
				t.Fatalf("decap exported %d records, want %d", len(recs), count)
			}
			// Path order: E (output path, hop limit as sent: 64), K (input:
			// 64-1, then forwards with 63), T (input: 63-1, but a bump in
			// the wire forwards with 63, it does not decrement), D (63-1).
			hops := [][]byte{
				wantHop(64, 11, 11<<32, 1, 2, 1<<4, 2<<4),
				wantHop(63, kNodeID, kNodeIDWide, kIfIn, kIfOut, kIfInWide, kIfOutWide),
				wantHop(62, 33, 33<<32, 7, 8, 7<<4, 8<<4),
				wantHop(62, 44, 44<<32, 9, 10, 9<<4, 10<<4),
			}[:tc.nodes]
			var want []byte
			for i := len(hops) - 1; i >= 0; i-- {
				want = append(want, hops[i]...) // most recent first on the wire
			}
			for _, r := range recs {
				tt := r.Trace
				overflow := tt.Flags&packet.PTOFlagOverflow != 0
				if !tt.Has || tt.Namespace != ptoNS || tt.TraceType != ptoTrace || tt.NodeLen != 9 || tt.RemLen != 0 ||
					overflow != (tc.nodes < 4) || int(tt.DataLen) != tc.size {
					t.Fatalf("trace header: has %v ns %d type %06x nodelen %d remlen %d flags %x len %d",
						tt.Has, tt.Namespace, tt.TraceType, tt.NodeLen, tt.RemLen, tt.Flags, tt.DataLen)
				}
				if got := tt.Data[:tt.DataLen]; !bytes.Equal(got, want) {
					t.Fatalf("trace data\n got %x\nwant %x", got, want)
				}
				if r.Src != plan.HostAAddr.As16() || r.Dst != plan.RouterHostBAddr.As16() || r.DstPort != uint16(port) {
					t.Fatalf("record flow %x > %x port %d", r.Src, r.Dst, r.DstPort)
				}
			}
			if tc.nodes < 4 {
				wantCtr(t, "D", dn, "trace_overflowed", count)
				wantCtr(t, "D", dn, "tunnels_stripped", count)
			}
			t.Logf("%s: %d datagrams, %d decap records, each trace holds %d hops in path order (E, K=Linux, T%s)",
				tc.name, len(got), len(recs), tc.nodes, map[bool]string{true: ", D", false: "; D set Overflow"}[tc.nodes == 4])
		})
	}
}

func wantCtr(t *testing.T, who string, n *node.Handler, name string, want uint64) {
	t.Helper()
	var got uint64
	n.Counters().Each(func(k string, v uint64) {
		if k == name {
			got = v
		}
	})
	if got != want {
		t.Errorf("%s: counter %s = %d, want %d", who, name, got, want)
	}
}

func mustMAC(s string) net.HardwareAddr {
	m, err := net.ParseMAC(s)
	if err != nil {
		panic(err)
	}
	return m
}

func newSnapshotPtr(s *policy.Snapshot) *atomic.Pointer[policy.Snapshot] {
	var p atomic.Pointer[policy.Snapshot]
	p.Store(s)
	return &p
}

// sendUDP sends count datagrams to dst:port from the calling namespace,
// 2 ms apart.
func sendUDP(dst netip.Addr, port, count int) error {
	fd, err := unix.Socket(unix.AF_INET6, unix.SOCK_DGRAM|unix.SOCK_CLOEXEC, 0)
	if err != nil {
		return err
	}
	defer unix.Close(fd)
	sa := &unix.SockaddrInet6{Port: port, Addr: dst.As16()}
	for i := range count {
		if err := unix.Sendto(fd, []byte(fmt.Sprintf("pto %d", i)), 0, sa); err != nil {
			return err
		}
		time.Sleep(2 * time.Millisecond)
	}
	return nil
}

// TestPTOKernelTransitSameBytes is the reverse check: the same trace packet
// goes through a Linux IOAM router and through dexplane's transit role
// configured with the router's ids; both must leave the Hop-by-Hop header
// with the same octets (every field of ptoTrace is deterministic: node
// ids, hop limit, interface ids, namespace data, narrow and wide).
func TestPTOKernelTransitSameBytes(t *testing.T) {
	testbed.SkipIfNotRoot(t)
	ha := testbed.NewNetns(t, "ptr-a")
	k := testbed.NewNetns(t, "ptr-k")
	hb := testbed.NewNetns(t, "ptr-b")
	const macA, macB, macKW, macKE = plan.HostAMAC, plan.HostBMAC, "02:00:00:00:77:01", "02:00:00:00:77:02"
	testbed.Veth(t, ha, plan.HostIf, macA, k, "kw", macKW)
	testbed.Veth(t, k, "ke", macKE, hb, plan.HostIf, macB)
	ha.AddAddr(t, plan.HostIf, netip.PrefixFrom(plan.HostAAddr, 64))
	hb.AddAddr(t, plan.HostIf, netip.PrefixFrom(plan.RouterHostBAddr, 64))
	k.AddAddr(t, "kw", netip.PrefixFrom(plan.RouterWestAddr, 64))
	k.AddAddr(t, "ke", netip.PrefixFrom(plan.RouterEastAddr, 64))
	hb.AddRoute(t, netip.MustParsePrefix("::/0"), plan.RouterEastAddr, plan.HostIf)
	hb.AddNeigh(t, plan.HostIf, plan.RouterEastAddr, mustMAC(macKE))
	k.AddNeigh(t, "ke", plan.RouterHostBAddr, mustMAC(macB))
	kernelIOAMRouter(t, k, "kw", "ke")

	// The packet as a dexplane encapsulating node (node 11) sends it: a
	// trace with room for three nodes, its own entry written.
	const port = 7100
	payload := []byte("same bytes")
	frame := ptoUDPFrame(t, macKW, macA, port, payload)
	var p packet.Packet
	if err := packet.Parse(frame, &p); err != nil {
		t.Fatal(p.Detail(err))
	}
	buf := make([]byte, 512+len(frame))
	copy(buf[512:], frame)
	ins := packet.Insert{HasPTO: true, PTO: packet.PTO{Namespace: ptoNS, TraceType: ptoTrace, RemLen: 3 * 9}}
	off, n, pto, err := packet.InsertIOAMInline(buf, 512, len(frame), &p, &ins)
	if err != nil {
		t.Fatal(err)
	}
	packet.FillPTO(buf[off+pto:off+n], &packet.NodeData{HopLimit: 64, NodeID: 11, IfIn: 1, IfOut: 2, NSData: ptoNSData, NSDataWide: ptoNSWide})
	in := append([]byte(nil), buf[off:off+n]...)

	// Through the kernel.
	l, err := listenHopOpts(hb, port)
	if err != nil {
		t.Fatal(err)
	}
	tx := openHostileSenderOn(t, ha, macKW)
	if err := tx.send(in); err != nil {
		t.Fatal(err)
	}
	got := l.wait(1, 2*time.Second)
	if len(got) != 1 || !bytes.Equal(got[0].payload, payload) {
		t.Fatalf("the kernel router did not forward the trace packet (%d datagrams)", len(got))
	}
	kernelHbH := got[0].hbh

	// Through dexplane's transit role with the router's identity.
	spec := policy.Spec{
		Node: policy.Node{ID: kNodeID, IDWide: kNodeIDWide},
		Ports: [2]policy.Port{
			{Name: "kw", Domain: policy.Inside, IOAMEnabled: true, IfID: kIfIn, IfIDWide: kIfInWide},
			{Name: "ke", Domain: policy.Inside, IOAMEnabled: true, IfID: kIfOut, IfIDWide: kIfOutWide},
		},
		Namespaces: []policy.Namespace{{ID: ptoNS, Data: ptoNSData, HasData: true, DataWide: ptoNSWide, HasDataWide: true}},
	}
	s, err := policy.New(spec, nil)
	if err != nil {
		t.Fatal(err)
	}
	var ptr = newSnapshotPtr(s)
	dn, err := node.New(node.Config{Policy: ptr})
	if err != nil {
		t.Fatal(err)
	}
	fb := make([]byte, 2048)
	copy(fb[256:], in)
	f := &handle.Frame{Buf: fb, Off: 256, Len: len(in), Ingress: 0, RxTime: time.Now().UnixNano()}
	if v := dn.Handle(f); v != handle.Forward {
		t.Fatalf("dexplane transit verdict %v", v)
	}
	var q packet.Packet
	out := f.Buf[f.Off : f.Off+f.Len]
	if err := packet.Parse(out, &q); err != nil {
		t.Fatal(q.Detail(err))
	}
	ourHbH := out[q.HbH : q.HbH+q.HbHLen]
	if !bytes.Equal(kernelHbH, ourHbH) {
		t.Fatalf("Hop-by-Hop after transit differs\nlinux    %x\ndexplane %x", kernelHbH, ourHbH)
	}
	t.Logf("Linux and dexplane transit wrote the same %d Hop-by-Hop octets: %x", len(ourHbH), ourHbH)
}

// ptoUDPFrame is an Ethernet frame host-a → host-b (UDP, hop limit 64) with
// a valid checksum.
func ptoUDPFrame(t *testing.T, dstMAC, srcMAC string, port int, payload []byte) []byte {
	b := append(append([]byte(nil), mustMAC(dstMAC)...), mustMAC(srcMAC)...)
	b = append(b, 0x86, 0xdd)
	ip := make([]byte, 40+8+len(payload))
	ip[0] = 0x60
	binary.BigEndian.PutUint16(ip[4:], uint16(8+len(payload)))
	ip[6], ip[7] = packet.ProtoUDP, 64
	s, d := plan.HostAAddr.As16(), plan.RouterHostBAddr.As16()
	copy(ip[8:], s[:])
	copy(ip[24:], d[:])
	u := ip[40:]
	binary.BigEndian.PutUint16(u[0:], 40000)
	binary.BigEndian.PutUint16(u[2:], uint16(port))
	binary.BigEndian.PutUint16(u[4:], uint16(8+len(payload)))
	copy(u[8:], payload)
	var sum uint32
	add := func(x []byte) {
		for i := 0; i+1 < len(x); i += 2 {
			sum += uint32(binary.BigEndian.Uint16(x[i:]))
		}
		if len(x)%2 == 1 {
			sum += uint32(x[len(x)-1]) << 8
		}
	}
	add(s[:])
	add(d[:])
	sum += uint32(len(u)) + packet.ProtoUDP
	add(u)
	for sum>>16 != 0 {
		sum = sum&0xFFFF + sum>>16
	}
	c := ^uint16(sum)
	if c == 0 {
		c = 0xFFFF
	}
	binary.BigEndian.PutUint16(u[6:], c)
	return append(b, ip...)
}

// openHostileSenderOn is openHostileSender with another destination MAC.
func openHostileSenderOn(t *testing.T, ns *testbed.Netns, dst string) *hostileSender {
	s := openHostileSender(t, ns)
	copy(s.to.Addr[:], mustMAC(dst))
	return s
}

func nonZero(n *node.Handler) map[string]uint64 {
	m := map[string]uint64{}
	n.Counters().Each(func(k string, v uint64) {
		if v != 0 {
			m[k] = v
		}
	})
	return m
}

// TestPTOKernelInteropRun is the same chain with real `dexplane run`
// processes configured from YAML, the encapsulating route written in the
// kernel's own iproute2 syntax, and the decapsulating node's JSON output as
// the judge: every record lists the four hops in path order with each
// node's id, hop limit and interface ids.
func TestPTOKernelInteropRun(t *testing.T) {
	bin := testutil.BuildDexplane(t)
	e, _, tr, d, ha, hb := ptoTopology(t)
	dir := t.TempDir()
	recFile := filepath.Join(dir, "d.json")
	write := func(name, node, west, east, routes, outputs string) string {
		p := filepath.Join(dir, name+".yaml")
		y := fmt.Sprintf(`node: {%s}
ports:
  - {name: west, %s}
  - {name: east, %s}
namespaces:
  - {id: 123, data: 0x1234, data_wide: 0xabcdef01}
%s
export:
  rate_limit: {records_per_second: 1000000, capacity_fraction: 0}
%s
dataplane: {attach_mode: generic}
`, node, west, east, routes, outputs)
		if err := os.WriteFile(p, []byte(y), 0o644); err != nil {
			t.Fatal(err)
		}
		return p
	}
	ecfg := write("e", "id: 11, address: 2001:db8:1::e", "domain: outside, if_id: 1", "domain: inside, if_id: 2",
		`routes:
  - "2001:db8:2::/64 encap ioam6 mode inline trace prealloc type 0xc40000 ns 123 size 48"`, "")
	tcfg := write("t", "id: 33", "domain: inside, if_id: 7", "domain: inside, if_id: 8", "", "")
	dcfg := write("d", "id: 44", "domain: inside, if_id: 9", "domain: outside, if_id: 10", "",
		fmt.Sprintf("  outputs: [{format: json, path: %q}]", recFile))
	var nodes []*dexNode
	for _, x := range []struct {
		ns  *testbed.Netns
		cfg string
	}{{e, ecfg}, {tr, tcfg}, {d, dcfg}} {
		n := startDexNode(t, bin, x.ns, x.cfg)
		if err := n.waitForwarding(20 * time.Second); err != nil {
			t.Fatal(err)
		}
		nodes = append(nodes, n)
	}
	const port, count = 7200, 10
	l, err := listenHopOpts(hb, port)
	if err != nil {
		t.Fatal(err)
	}
	if err := ha.Do(func() error { return sendUDP(plan.RouterHostBAddr, port, count) }); err != nil {
		t.Fatal(err)
	}
	if got := l.wait(count, 5*time.Second); len(got) != count {
		t.Fatalf("host-b received %d of %d datagrams", len(got), count)
	}
	for _, n := range nodes {
		if err := n.stop(); err != nil {
			t.Fatal(err)
		}
	}
	recs := readJSONRecords(t, recFile)
	if len(recs) != count {
		// The nodes' logs end with their counters: say where the record went.
		t.Fatalf("decap wrote %d records, want %d\ndecap log:\n%s\ntransit log:\n%s", len(recs), count, nodes[2].Log.String(), nodes[1].Log.String())
	}
	// Path order: E (hop limit as sent), K (64-1), T (63-1, forwards with
	// 63), D (63-1).
	want := []struct{ id, hl, in, out int }{{11, 64, 1, 2}, {kNodeID, 63, kIfIn, kIfOut}, {33, 62, 7, 8}, {44, 62, 9, 10}}
	str := fmt.Sprint
	for _, r := range recs {
		pto, _ := r["pto"].(map[string]any)
		hops, _ := pto["hops"].([]any)
		if len(hops) != len(want) || str(pto["rem_len"]) != "0" || str(pto["overflow"]) != "false" {
			t.Fatalf("record trace %v", pto)
		}
		for i, h := range hops {
			m := h.(map[string]any)
			w := want[i]
			if str(m["index"]) != str(i) || str(m["node_id"]) != str(w.id) || str(m["hop_limit"]) != str(w.hl) ||
				str(m["ingress_if_id"]) != str(w.in) || str(m["egress_if_id"]) != str(w.out) || str(m["namespace_data"]) != str(ptoNSData) {
				t.Fatalf("hop %d: %v, want %+v", i, m, w)
			}
		}
	}
	t.Logf("dexplane run (YAML, kernel route syntax) -> Linux -> dexplane -> dexplane: %d records, 4 hops each in path order", len(recs))
}
