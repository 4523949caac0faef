package testbed

import (
	"errors"
	"fmt"
	"net/netip"
	"strings"
	"testing"

	"github.com/cilium/ebpf"
	"github.com/dexplane/dexplane/internal/testbed/plan"
)

// Topology names a prebuilt testbed. scripts/testbed.sh builds the same
// topologies (with its own namespace names) from the shell.
//
// Shapes (the addressing is identical in every testbed):
//
//	bitw:    host-a ── dut ── host-b           one L2 segment through the bump
//	domain4: host-a ── r1 ── r2 ── r3 ── r4 ── host-b   (RFC 9326 paper, Fig. 2)
//	router:  host-a ── dut ── host-b           dut is a kernel IPv6/IPv4 router
//	domain4tap: host-a ── r1 ═ w12 ═ r2 ═ w23 ═ r3 ═ w34 ═ r4 ── host-b
//	         domain4 with a capture point on every link between bump nodes
//	         (see tap.go; Go only, scripts/testbed.sh does not build it)
//
// Interface names, MACs and addresses are those of package [plan].
//
// In bitw and domain4 the hosts hold each other's MAC as a permanent IPv6
// neighbour; the bump nodes' ports have no addresses and IPv6 disabled, so
// their own kernel never puts a frame on the wire. Hosts send no MLD
// reports (see DropMLDReports), so tests that count frames see only theirs. Each host's eth0 carries
// an XDP_PASS program so frames redirected into the bump's ports by XDP
// arrive (see AttachPass). IPv4 neighbours are left dynamic so ARP crosses
// the bump. In router the hosts route everything via the dut (permanent
// neighbours on both sides) and the dut forwards in the kernel: the baseline
// for benchmarks. Without a forwarding program on the bump nodes, bitw and
// domain4 have no connectivity: frames reach the node's stack and die there.
type Topology string

// The topologies New builds.
const (
	Bitw    Topology = "bitw"
	Router  Topology = "router"
	Domain4 Topology = "domain4"
	// Domain4Tap is Domain4 with a wire namespace (a Linux bridge) on each
	// link between two bump nodes, where captures see what the nodes
	// transmit with XDP; see Testbed.Wires and Testbed.TapPoint.
	Domain4Tap Topology = "domain4tap"
)

// Testbed is a built topology. All namespaces are removed by t.Cleanup.
type Testbed struct {
	Topology Topology
	HostA    *Netns
	HostB    *Netns
	// Bumps are the nodes between the hosts, from host-a's side: [dut] in
	// bitw and router, [r1 r2 r3 r4] in domain4. Each has ports West and East.
	Bumps []*Netns
	// Wires are the wire namespaces of Domain4Tap (nil otherwise):
	// Wires[i] bridges Bumps[i] East and Bumps[i+1] West, see tap.go.
	Wires []*Netns
	// AddrA and AddrB are the hosts' IPv6 addresses, AddrA4 and AddrB4
	// their IPv4 addresses, as configured in this topology.
	AddrA, AddrB   netip.Addr
	AddrA4, AddrB4 netip.Addr
	// Queues is the number of TX and RX queues of every veth.
	Queues int
}

// DUT returns the first bump node (the dut of bitw and router, r1 of domain4).
func (tb *Testbed) DUT() *Netns { return tb.Bumps[0] }

// New builds topology topo with one queue pair per veth, skipping t when
// not root.
func New(t testing.TB, topo Topology) *Testbed {
	t.Helper()
	return NewQueues(t, topo, 1)
}

// NewQueues builds topology topo with queues TX and RX queues on every
// veth (see VethQueues), skipping t when not root.
func NewQueues(t testing.TB, topo Topology, queues int) *Testbed {
	t.Helper()
	SkipIfNotRoot(t)
	var nbumps int
	switch topo {
	case Bitw, Router:
		nbumps = 1
	case Domain4, Domain4Tap:
		nbumps = 4
	default:
		t.Fatalf("testbed: unknown topology %q (want bitw, router, domain4 or domain4tap)", topo)
	}
	tb := &Testbed{Topology: topo, AddrA: plan.HostAAddr, AddrB: plan.HostBAddr, AddrA4: plan.HostAAddr4, AddrB4: plan.HostBAddr4, Queues: queues}
	tb.HostA = NewNetns(t, "host-a")
	for i := 1; i <= nbumps; i++ {
		name := "dut"
		if topo == Domain4 || topo == Domain4Tap {
			name = fmt.Sprintf("r%d", i)
		}
		tb.Bumps = append(tb.Bumps, NewNetns(t, name))
	}
	tb.HostB = NewNetns(t, "host-b")

	// Wire host-a ── bump1 ── … ── bumpN ── host-b.
	VethQueues(t, queues, tb.HostA, plan.HostIf, plan.HostAMAC, tb.Bumps[0], plan.West, plan.PortMAC(1, 0))
	for i := 0; i+1 < nbumps; i++ {
		if topo == Domain4Tap {
			tb.addWire(t, i)
			continue
		}
		VethQueues(t, queues, tb.Bumps[i], plan.East, plan.PortMAC(i+1, 1), tb.Bumps[i+1], plan.West, plan.PortMAC(i+2, 0))
	}
	VethQueues(t, queues, tb.Bumps[nbumps-1], plan.East, plan.PortMAC(nbumps, 1), tb.HostB, plan.HostIf, plan.HostBMAC)

	// Attach before any address exists: attaching changes the veth's
	// features, and the host would then repeat its MLD reports.
	for _, h := range []*Netns{tb.HostA, tb.HostB} {
		if err := h.AttachPass(plan.HostIf); err != nil {
			t.Fatalf("testbed: %v", err)
		}
		if err := h.DropMLDReports(t, plan.HostIf); errors.Is(err, ebpf.ErrNotSupported) {
			t.Logf("testbed: hosts will send MLD reports: %v", err)
		} else if err != nil {
			t.Fatalf("testbed: %v", err)
		}
	}
	if topo == Router {
		tb.buildRouter(t)
	} else {
		tb.buildBump(t)
		tb.hostsChecksumTx(t)
	}
	if topo == Domain4Tap {
		tb.hostsChecksumTx(t)
	}
	return tb
}

func (tb *Testbed) buildBump(t testing.TB) {
	a, b := tb.HostA, tb.HostB
	a.AddAddr(t, plan.HostIf, netip.PrefixFrom(plan.HostAAddr, 64))
	a.AddAddr(t, plan.HostIf, netip.PrefixFrom(plan.HostAAddr4, 24))
	b.AddAddr(t, plan.HostIf, netip.PrefixFrom(plan.HostBAddr, 64))
	b.AddAddr(t, plan.HostIf, netip.PrefixFrom(plan.HostBAddr4, 24))
	a.AddNeigh(t, plan.HostIf, plan.HostBAddr, b.Ifaces[plan.HostIf].MAC)
	b.AddNeigh(t, plan.HostIf, plan.HostAAddr, a.Ifaces[plan.HostIf].MAC)
	for _, n := range tb.Bumps {
		for _, p := range []string{plan.West, plan.East} {
			n.Sysctl(t, "net.ipv6.conf."+p+".disable_ipv6", "1")
		}
	}
}

func (tb *Testbed) buildRouter(t testing.TB) {
	a, d, b := tb.HostA, tb.Bumps[0], tb.HostB
	tb.AddrB, tb.AddrB4 = plan.RouterHostBAddr, plan.RouterHostBAddr4
	a.AddAddr(t, plan.HostIf, netip.PrefixFrom(plan.HostAAddr, 64))
	a.AddAddr(t, plan.HostIf, netip.PrefixFrom(plan.HostAAddr4, 24))
	d.AddAddr(t, plan.West, netip.PrefixFrom(plan.RouterWestAddr, 64))
	d.AddAddr(t, plan.West, netip.PrefixFrom(plan.RouterWestAddr4, 24))
	d.AddAddr(t, plan.East, netip.PrefixFrom(plan.RouterEastAddr, 64))
	d.AddAddr(t, plan.East, netip.PrefixFrom(plan.RouterEastAddr4, 24))
	b.AddAddr(t, plan.HostIf, netip.PrefixFrom(plan.RouterHostBAddr, 64))
	b.AddAddr(t, plan.HostIf, netip.PrefixFrom(plan.RouterHostBAddr4, 24))

	a.AddRoute(t, netip.MustParsePrefix("::/0"), plan.RouterWestAddr, plan.HostIf)
	a.AddRoute(t, netip.MustParsePrefix("0.0.0.0/0"), plan.RouterWestAddr4, plan.HostIf)
	b.AddRoute(t, netip.MustParsePrefix("::/0"), plan.RouterEastAddr, plan.HostIf)
	b.AddRoute(t, netip.MustParsePrefix("0.0.0.0/0"), plan.RouterEastAddr4, plan.HostIf)

	a.AddNeigh(t, plan.HostIf, plan.RouterWestAddr, d.Ifaces[plan.West].MAC)
	d.AddNeigh(t, plan.West, plan.HostAAddr, a.Ifaces[plan.HostIf].MAC)
	d.AddNeigh(t, plan.East, plan.RouterHostBAddr, b.Ifaces[plan.HostIf].MAC)
	b.AddNeigh(t, plan.HostIf, plan.RouterEastAddr, d.Ifaces[plan.East].MAC)

	d.Sysctl(t, "net.ipv6.conf.all.forwarding", "1")
	d.Sysctl(t, "net.ipv4.ip_forward", "1")
}

// PingBothWays pings host-b from host-a and host-a from host-b, count echo
// requests each, over IPv6 and, with v4, over IPv4 too (ARP included); it
// reports every direction that failed.
func (tb *Testbed) PingBothWays(t testing.TB, count int, v4 bool) {
	t.Helper()
	type dir struct {
		from *Netns
		to   netip.Addr
	}
	dirs := []dir{{tb.HostA, tb.AddrB}, {tb.HostB, tb.AddrA}}
	if v4 {
		dirs = append(dirs, dir{tb.HostA, tb.AddrB4}, dir{tb.HostB, tb.AddrA4})
	}
	for _, p := range dirs {
		if err := p.from.Ping(p.to, count); err != nil {
			t.Errorf("%s → %v: %v", p.from.Node, p.to, err)
		}
	}
}

// NDBothWays makes each host forget its neighbour entry for the other, so
// the next ping needs neighbour discovery across whatever sits between
// them, pings, and checks that each learnt the other's address through ND
// (an lladdr entry that is not PERMANENT).
func (tb *Testbed) NDBothWays(t testing.TB) {
	t.Helper()
	for _, h := range []struct {
		n    *Netns
		peer netip.Addr
	}{{tb.HostA, tb.AddrB}, {tb.HostB, tb.AddrA}} {
		h.n.MustRun(t, "ip", "neigh", "del", h.peer.String(), "dev", plan.HostIf)
		if err := h.n.Ping(h.peer, 2); err != nil {
			t.Errorf("%s: ping6 %v after forgetting the neighbour (ND across the bump): %v", h.n.Node, h.peer, err)
		}
		out := h.n.MustRun(t, "ip", "-6", "neigh", "show", h.peer.String(), "dev", plan.HostIf)
		if !strings.Contains(out, "lladdr") || strings.Contains(out, "PERMANENT") {
			t.Errorf("%s: no neighbour entry for %v learnt through ND: %q", h.n.Node, h.peer, out)
		}
	}
}

// Ping sends count echo requests from n to dst (IPv4 or IPv6), 10 ms apart,
// waiting at most 1 s for each reply; it fails unless every reply arrives.
func (n *Netns) Ping(dst netip.Addr, count int) error {
	_, err := n.Run("ping", "-n", "-q", "-c", fmt.Sprint(count), "-i", "0.01", "-W", "1", dst.String())
	return err
}
