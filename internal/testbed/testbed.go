// Package testbed builds throw-away network topologies from Linux network
// namespaces and veth pairs for dexplane's root-only tests, and tears them
// down again in t.Cleanup.
//
// Every namespace gets a unique name, DefaultPrefix + pid + "-" + counter +
// "-" + node (for example "dxt4242-3-dut"), so parallel test binaries never
// collide; namespaces left behind by a test binary that died are removed the
// next time a testbed is created (their pid no longer exists).
//
// The helper drives iproute2 (`ip`), the same tool scripts/testbed.sh uses,
// so the shell and Go testbeds are built the same way. Every veth is created
// with one TX and one RX queue (an AF_XDP socket bound to queue 0 then sees
// all traffic), with fixed locally administered MACs, `addrgenmode none`
// (no link-local address, so no router solicitations), `nodad` addresses and
// permanent neighbours: the only neighbour discovery on the wire is the one a
// test provokes on purpose.
//
// Requirements: root (CAP_NET_ADMIN, CAP_SYS_ADMIN, CAP_BPF), iproute2,
// iputils ping, a kernel with veth native XDP (Linux 5.x or newer).
// The topologies and their addresses are documented in topology.go.
package testbed

import (
	"bytes"
	"errors"
	"fmt"
	"net"
	"net/netip"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/cilium/ebpf"
	"github.com/cilium/ebpf/asm"
	"github.com/cilium/ebpf/link"
	"github.com/vishvananda/netlink"
	"github.com/vishvananda/netns"
	"golang.org/x/sys/unix"

	"github.com/dexplane/dexplane/internal/testutil"
)

// DefaultPrefix starts the name of every namespace this package creates.
const DefaultPrefix = "dxt"

// netnsDir is where iproute2 keeps the bind mounts of named namespaces.
const netnsDir = "/var/run/netns"

var (
	counter   atomic.Uint64
	sweepOnce sync.Once
)

// SkipIfNotRoot skips t unless the test runs as root, which creating
// network namespaces, veths and XDP programs needs.
func SkipIfNotRoot(t testing.TB) {
	t.Helper()
	if os.Geteuid() != 0 {
		t.Skip("needs root for network namespaces, veths and XDP (run as root; CI does)")
	}
	testutil.NeedTool(t, "ip", "iproute2")
}

// Netns is one named network namespace of a testbed, standing for one node.
type Netns struct {
	// Node is the topology's name for the node, e.g. "dut" or "r2".
	Node string
	// Name is the namespace name as `ip netns` knows it.
	Name string
	// Ifaces are the node's interfaces by name.
	Ifaces map[string]*Iface
}

// Iface is one veth end inside a namespace.
type Iface struct {
	Name string
	MAC  net.HardwareAddr
	// Addrs holds the addresses configured on the interface (with prefix
	// length); empty for the ports of a bump in the wire.
	Addrs []netip.Prefix
	// Peer is the other end of the veth pair.
	Peer *Iface
	// NS is the namespace the interface lives in.
	NS *Netns
}

// NewNetns creates a namespace with a unique name for node, brings its
// loopback up and registers its removal with t.Cleanup.
func NewNetns(t testing.TB, node string) *Netns {
	t.Helper()
	SkipIfNotRoot(t)
	sweepOnce.Do(sweepStale)
	name := fmt.Sprintf("%s%d-%d-%s", DefaultPrefix, os.Getpid(), counter.Add(1), node)
	if err := ipCmd("netns", "add", name); err != nil {
		t.Fatalf("testbed: %v", err)
	}
	t.Cleanup(func() {
		if err := ipCmd("netns", "del", name); err != nil {
			t.Errorf("testbed: cleanup: %v", err)
		}
	})
	n := &Netns{Node: node, Name: name, Ifaces: map[string]*Iface{}}
	n.mustIP(t, "link", "set", "lo", "up")
	return n
}

// sweepStale removes namespaces created by this package in test binaries
// whose process no longer exists (they crashed before their t.Cleanup ran).
func sweepStale() {
	ents, err := os.ReadDir(netnsDir)
	if err != nil {
		return
	}
	for _, e := range ents {
		rest, ok := strings.CutPrefix(e.Name(), DefaultPrefix)
		if !ok {
			continue
		}
		pidStr, _, ok := strings.Cut(rest, "-")
		if !ok {
			continue
		}
		pid, err := strconv.Atoi(pidStr)
		if err != nil || pid == os.Getpid() {
			continue
		}
		if _, err := os.Stat(filepath.Join("/proc", pidStr)); err == nil {
			continue // still running: another test binary's namespace
		}
		_ = ipCmd("netns", "del", e.Name())
	}
}

// ipCmd runs `ip args...` and returns an error holding its output on failure.
func ipCmd(args ...string) error {
	out, err := exec.Command("ip", args...).CombinedOutput()
	if err != nil {
		return fmt.Errorf("ip %s: %w: %s", strings.Join(args, " "), err, bytes.TrimSpace(out))
	}
	return nil
}

// IP runs `ip -n NAME args...` (iproute2 inside the namespace).
func (n *Netns) IP(args ...string) error {
	return ipCmd(append([]string{"-n", n.Name}, args...)...)
}

func (n *Netns) mustIP(t testing.TB, args ...string) {
	t.Helper()
	if err := n.IP(args...); err != nil {
		t.Fatalf("testbed: %v", err)
	}
}

// Run runs a command inside the namespace (`ip netns exec NAME cmd...`) and
// returns its combined output; err wraps the exit status and the output.
func (n *Netns) Run(cmd string, args ...string) (string, error) {
	full := append([]string{"netns", "exec", n.Name, cmd}, args...)
	out, err := exec.Command("ip", full...).CombinedOutput()
	if err != nil {
		return string(out), fmt.Errorf("netns %s: %s %s: %w: %s", n.Name, cmd,
			strings.Join(args, " "), err, bytes.TrimSpace(out))
	}
	return string(out), nil
}

// MustRun is Run that fails the test on error.
func (n *Netns) MustRun(t testing.TB, cmd string, args ...string) string {
	t.Helper()
	out, err := n.Run(cmd, args...)
	if err != nil {
		t.Fatal(err)
	}
	return out
}

// Snmp6 returns the namespace's IPv6 protocol counters, /proc/net/snmp6
// (Ip6InDiscards, Udp6RcvbufErrors, ...) read from inside it, by name.
func (n *Netns) Snmp6(t testing.TB) map[string]uint64 {
	t.Helper()
	m := map[string]uint64{}
	for _, line := range strings.Split(n.MustRun(t, "cat", "/proc/net/snmp6"), "\n") {
		f := strings.Fields(line)
		if len(f) != 2 {
			continue
		}
		v, err := strconv.ParseUint(f[1], 10, 64)
		if err != nil {
			t.Fatalf("netns %s: /proc/net/snmp6: %q: %v", n.Name, line, err)
		}
		m[f[0]] = v
	}
	return m
}

// Command returns an exec.Cmd that runs cmd inside the namespace, for
// long-running helpers (traffic generators, tcpdump) the caller starts
// and stops itself.
func (n *Netns) Command(cmd string, args ...string) *exec.Cmd {
	return exec.Command("ip", append([]string{"netns", "exec", n.Name, cmd}, args...)...)
}

// Do runs fn on a locked OS thread that has entered the namespace, so Go
// sockets, netlink and AF_XDP calls made by fn act inside it. Goroutines fn
// starts do NOT inherit the namespace. The thread returns to its original
// namespace afterwards; if that fails the thread stays locked and is thrown
// away by the runtime when this call returns.
func (n *Netns) Do(fn func() error) error {
	target, err := netns.GetFromName(n.Name)
	if err != nil {
		return fmt.Errorf("netns %s: open: %w", n.Name, err)
	}
	defer target.Close()
	errc := make(chan error, 1)
	// A fresh goroutine: if restoring the namespace fails we exit it while
	// still locked, and the runtime terminates the contaminated thread.
	go func() {
		runtime.LockOSThread()
		orig, err := netns.Get()
		if err != nil {
			errc <- fmt.Errorf("netns: get current: %w", err)
			return
		}
		defer orig.Close()
		if err := netns.Set(target); err != nil {
			errc <- fmt.Errorf("netns %s: setns: %w", n.Name, err)
			return
		}
		ferr := fn()
		if err := netns.Set(orig); err != nil {
			errc <- errors.Join(ferr, fmt.Errorf("netns: restore: %w", err))
			return // thread stays locked and dies with this goroutine
		}
		runtime.UnlockOSThread()
		errc <- ferr
	}()
	return <-errc
}

// Ifindex returns the interface index of ifname inside the namespace.
func (n *Netns) Ifindex(ifname string) (int, error) {
	var idx int
	err := n.doLink(ifname, func(l netlink.Link) error {
		idx = l.Attrs().Index
		return nil
	})
	return idx, err
}

// doLink looks up the link ifname inside the namespace and calls fn with
// it there (see Do).
func (n *Netns) doLink(ifname string, fn func(netlink.Link) error) error {
	return n.Do(func() error {
		l, err := netlink.LinkByName(ifname)
		if err != nil {
			return fmt.Errorf("netns %s: link %q: %w", n.Name, ifname, err)
		}
		return fn(l)
	})
}

// MustIfindex is Ifindex that fails the test on error.
func (n *Netns) MustIfindex(t testing.TB, ifname string) int {
	t.Helper()
	idx, err := n.Ifindex(ifname)
	if err != nil {
		t.Fatal(err)
	}
	return idx
}

// Veth creates a veth pair with one TX and one RX queue per end: aName with
// MAC aMAC in a, bName with MAC bMAC in b. Both ends get `addrgenmode none`
// and are set up. The pair disappears with either namespace.
func Veth(t testing.TB, a *Netns, aName, aMAC string, b *Netns, bName, bMAC string) (*Iface, *Iface) {
	t.Helper()
	return VethQueues(t, 1, a, aName, aMAC, b, bName, bMAC)
}

// VethQueues is Veth with queues TX and RX queues per end. A veth delivers a
// frame on the peer's RX queue with the index of the TX queue it was sent
// on, and the sender picks its TX queue by flow hash (veths configure no
// XPS), so the flows of a multi-queue pair spread over the queues and each
// flow stays on one, as with RSS on a NIC.
func VethQueues(t testing.TB, queues int, a *Netns, aName, aMAC string, b *Netns, bName, bMAC string) (*Iface, *Iface) {
	t.Helper()
	if queues < 1 {
		t.Fatalf("testbed: veth %s: %d queues", aName, queues)
	}
	ma, err := net.ParseMAC(aMAC)
	if err != nil {
		t.Fatalf("testbed: veth %s: %v", aName, err)
	}
	mb, err := net.ParseMAC(bMAC)
	if err != nil {
		t.Fatalf("testbed: veth %s: %v", bName, err)
	}
	q := strconv.Itoa(queues)
	a.mustIP(t, "link", "add", aName, "numtxqueues", q, "numrxqueues", q, "address", aMAC,
		"type", "veth", "peer", "name", bName, "numtxqueues", q, "numrxqueues", q,
		"address", bMAC, "netns", b.Name)
	for _, side := range []struct {
		ns   *Netns
		name string
	}{{a, aName}, {b, bName}} {
		side.ns.mustIP(t, "link", "set", side.name, "addrgenmode", "none")
		side.ns.mustIP(t, "link", "set", side.name, "up")
	}
	ia := &Iface{Name: aName, MAC: ma, NS: a}
	ib := &Iface{Name: bName, MAC: mb, NS: b, Peer: ia}
	ia.Peer = ib
	a.Ifaces[aName], b.Ifaces[bName] = ia, ib
	return ia, ib
}

// AddAddr configures prefix (address/len) on ifname with `nodad`, so it is
// usable at once and no DAD probe crosses the wire.
func (n *Netns) AddAddr(t testing.TB, ifname string, prefix netip.Prefix) {
	t.Helper()
	args := []string{"addr", "add", prefix.String(), "dev", ifname}
	if prefix.Addr().Is6() {
		args = append(args, "nodad")
	}
	n.mustIP(t, args...)
	if ifc := n.Ifaces[ifname]; ifc != nil {
		ifc.Addrs = append(ifc.Addrs, prefix)
	}
}

// AddNeigh adds a permanent neighbour entry addr → mac on ifname.
func (n *Netns) AddNeigh(t testing.TB, ifname string, addr netip.Addr, mac net.HardwareAddr) {
	t.Helper()
	n.mustIP(t, "neigh", "replace", addr.String(), "lladdr", mac.String(), "dev", ifname, "nud", "permanent")
}

// AddRoute adds a route to dst via gateway gw on ifname.
func (n *Netns) AddRoute(t testing.TB, dst netip.Prefix, gw netip.Addr, ifname string) {
	t.Helper()
	n.mustIP(t, "route", "add", dst.String(), "via", gw.String(), "dev", ifname)
}

// Sysctl sets a sysctl inside the namespace, e.g.
// Sysctl(t, "net.ipv6.conf.all.forwarding", "1").
func (n *Netns) Sysctl(t testing.TB, key, value string) {
	t.Helper()
	n.MustRun(t, "sysctl", "-qw", key+"="+value)
}

// passProgram is loaded once per test binary and shared by every
// attachment; the kernel keeps it alive while it is attached anywhere.
var passProgram struct {
	once sync.Once
	prog *ebpf.Program
	err  error
}

// PassProgName is the kernel name of the XDP_PASS program the testbed
// attaches to host-side veth ends. The "dxp_" prefix marks it as dexplane's,
// so the ebpf loader may replace it when a node's port needs one.
const PassProgName = "dxp_tb_pass"

func loadPass() (*ebpf.Program, error) {
	passProgram.once.Do(func() {
		passProgram.prog, passProgram.err = ebpf.NewProgram(&ebpf.ProgramSpec{
			Name: PassProgName,
			Type: ebpf.XDP,
			Instructions: asm.Instructions{
				asm.Mov.Imm(asm.R0, 2), // XDP_PASS
				asm.Return(),
			},
			License: "GPL",
		})
		if passProgram.err != nil {
			passProgram.err = fmt.Errorf("testbed: load XDP_PASS program: %w", passProgram.err)
		}
	})
	return passProgram.prog, passProgram.err
}

// AttachPass attaches an XDP program returning XDP_PASS to ifname in native
// (driver) mode. A veth only accepts frames redirected into it by
// XDP (ndo_xdp_xmit, e.g. bpf_redirect_map on a devmap) when its peer has a
// native XDP program, so the far end of every port that dexplane redirects
// into needs one. The program goes away with the interface.
func (n *Netns) AttachPass(ifname string) error {
	prog, err := loadPass()
	if err != nil {
		return err
	}
	return n.AttachXDP(ifname, prog, unix.XDP_FLAGS_DRV_MODE)
}

// AttachXDP attaches prog to ifname in n through netlink (the legacy
// attachment `ip link set xdp` makes, not a bpf_link) with flags
// (unix.XDP_FLAGS_*). The attachment keeps prog loaded until it is replaced
// or the interface goes.
func (n *Netns) AttachXDP(ifname string, prog *ebpf.Program, flags int) error {
	return n.doLink(ifname, func(l netlink.Link) error {
		if err := netlink.LinkSetXdpFdWithFlags(l, prog.FD(), flags); err != nil {
			return fmt.Errorf("netns %s: attach XDP program %s to %s (flags %#x): %w", n.Name, prog, ifname, flags, err)
		}
		return nil
	})
}

// DropMLDReports attaches a TCX egress program to ifname that drops MLDv2
// reports (frames to 33:33:00:00:00:16). Linux sends them at unpredictable
// times after a host gets an address, even with `nodad` and no link-local
// address, and nothing in a testbed needs them (no MLD snooping), so tests
// that count frames stay exact. Needs Linux >= 6.6 (tcx); the link is
// released by t.Cleanup.
func (n *Netns) DropMLDReports(t testing.TB, ifname string) error {
	prog, err := ebpf.NewProgram(&ebpf.ProgramSpec{
		Name: "dxp_tb_nomld",
		Type: ebpf.SchedCLS,
		Instructions: asm.Instructions{
			asm.LoadMem(asm.R2, asm.R1, 76, asm.Word), // __sk_buff.data
			asm.LoadMem(asm.R3, asm.R1, 80, asm.Word), // __sk_buff.data_end
			asm.Mov.Reg(asm.R4, asm.R2),
			asm.Add.Imm(asm.R4, 6),
			asm.JGT.Reg(asm.R4, asm.R3, "pass"),
			// Destination MAC 33:33:00:00:00:16, loaded little-endian.
			asm.LoadMem(asm.R5, asm.R2, 0, asm.Word),
			asm.JNE.Imm(asm.R5, 0x00003333, "pass"),
			asm.LoadMem(asm.R5, asm.R2, 4, asm.Half),
			asm.JNE.Imm(asm.R5, 0x1600, "pass"),
			asm.Mov.Imm(asm.R0, 2), // TC_ACT_SHOT
			asm.Return(),
			asm.Mov.Imm(asm.R0, 0).WithSymbol("pass"), // TC_ACT_OK
			asm.Return(),
		},
		License: "GPL",
	})
	if err != nil {
		return fmt.Errorf("testbed: load MLD filter: %w", err)
	}
	defer prog.Close()
	return n.Do(func() error {
		ifc, err := net.InterfaceByName(ifname)
		if err != nil {
			return fmt.Errorf("netns %s: %w", n.Name, err)
		}
		l, err := link.AttachTCX(link.TCXOptions{Interface: ifc.Index, Program: prog, Attach: ebpf.AttachTCXEgress})
		if err != nil {
			return fmt.Errorf("netns %s: attach MLD filter to %s: %w", n.Name, ifname, err)
		}
		t.Cleanup(func() { l.Close() })
		return nil
	})
}

// XDPProgID returns the id of the XDP program attached to ifname, 0 if none.
func (n *Netns) XDPProgID(ifname string) (uint32, error) {
	var id uint32
	err := n.doLink(ifname, func(l netlink.Link) error {
		if x := l.Attrs().Xdp; x != nil && x.Attached {
			id = x.ProgId
		}
		return nil
	})
	return id, err
}

// WaitDAD waits up to 10 s in all until no IPv6 address in the namespaces
// is tentative (duplicate address detection finished, for addresses added
// without `nodad`), or fails t naming the namespace and its addresses.
func WaitDAD(t testing.TB, ns ...*Netns) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for _, n := range ns {
		var out string
		var err error
		if !testutil.Within(time.Until(deadline), func() bool {
			out, err = n.Run("ip", "-6", "addr", "show", "tentative")
			return err == nil && strings.TrimSpace(out) == ""
		}) {
			t.Fatalf("%s: addresses still tentative after 10 s (%v):\n%s", n.Node, err, out)
		}
	}
}
