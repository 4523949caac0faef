package dataplane_test

// Regression tests of issue 11 findings 1 and 2 on a bump in the wire built
// like a user's: `ip link add ... type veth` with kernel defaults (TX
// checksum offload and TSO on, DAD and ND on, no static neighbours, no XDP
// on either host).

import (
	"context"
	"crypto/rand"
	"crypto/sha256"
	"io"
	"net"
	"strings"
	"testing"
	"time"

	"github.com/cilium/ebpf"
	"github.com/cilium/ebpf/link"

	"github.com/dexplane/dexplane/dataplane"
	"github.com/dexplane/dexplane/dataplane/policy"
	"github.com/dexplane/dexplane/internal/testbed"
	"github.com/dexplane/dexplane/steering"
)

type plainBump struct{ a, dut, b *testbed.Netns }

func newPlainBump(t *testing.T) *plainBump {
	t.Helper()
	p := &plainBump{a: testbed.NewNetns(t, "pa"), dut: testbed.NewNetns(t, "pdut"), b: testbed.NewNetns(t, "pb")}
	must := func(n *testbed.Netns, args ...string) {
		t.Helper()
		if err := n.IP(args...); err != nil {
			t.Fatal(err)
		}
	}
	must(p.a, "link", "add", "eth0", "type", "veth", "peer", "name", "west", "netns", p.dut.Name)
	must(p.b, "link", "add", "eth0", "type", "veth", "peer", "name", "east", "netns", p.dut.Name)
	for _, x := range []struct {
		n   *testbed.Netns
		ifn string
	}{{p.a, "eth0"}, {p.b, "eth0"}, {p.dut, "west"}, {p.dut, "east"}} {
		must(x.n, "link", "set", x.ifn, "up")
	}
	must(p.a, "addr", "add", "2001:db8:9::a/64", "dev", "eth0")
	must(p.b, "addr", "add", "2001:db8:9::b/64", "dev", "eth0")
	testbed.WaitDAD(t, p.a, p.b)
	return p
}

func (p *plainBump) start(t *testing.T, opts dataplane.Options) *dataplane.Engine {
	t.Helper()
	opts.Ports = [2]string{"west", "east"}
	e, err := dataplane.New(opts)
	if err != nil {
		t.Fatal(err)
	}
	if err := p.dut.Do(func() error { return e.Start(context.Background()) }); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = e.Stop() })
	return e
}

// TestAutoAttachPlainVeth (finding 1): with the default attach mode, neighbour
// discovery and ping cross a bump whose neighbours run no XDP.
func TestAutoAttachPlainVeth(t *testing.T) {
	testbed.SkipIfNotRoot(t)
	p := newPlainBump(t)
	e := p.start(t, dataplane.Options{})
	if out, err := p.a.Run("ping", "-6", "-c", "3", "-i", "0.2", "-W", "2", "2001:db8:9::b"); err != nil {
		t.Fatalf("ping across the bump (attach auto): %v\n%s", err, out)
	}
	c := e.Counters()
	for port := range 2 {
		if c.Ports[port].RedirectCounted && c.Ports[port].RedirectErrors[steering.TargetPeer] != 0 {
			t.Errorf("port %d: %d refused redirects to the peer", port, c.Ports[port].RedirectErrors[steering.TargetPeer])
		}
	}
}

// TestNativeRedirectErrorsCounted (finding 1): an explicit native attach on
// a veth whose neighbour has no XDP loses what XDP forwards in the kernel;
// the loss is counted, not silent.
func TestNativeRedirectErrorsCounted(t *testing.T) {
	testbed.SkipIfNotRoot(t)
	p := newPlainBump(t)
	e := p.start(t, dataplane.Options{Attach: policy.AttachNative})
	_, _ = p.a.Run("ping", "-6", "-c", "2", "-i", "0.2", "-W", "1", "2001:db8:9::b")
	c := e.Counters()
	if !c.Ports[0].RedirectCounted {
		t.Skip("redirect errors cannot be counted here (no tracefs)")
	}
	if c.Ports[0].RedirectErrors[steering.TargetPeer] == 0 {
		t.Fatalf("native attach toward a veth without XDP on its neighbour: no refused redirect counted on port 0: %+v", c.Ports[0].RedirectErrors)
	}
	if c.Lost(0) < c.Ports[0].RedirectErrors[steering.TargetPeer] {
		t.Errorf("Lost(0) = %d does not include %d refused redirects", c.Lost(0), c.Ports[0].RedirectErrors[steering.TargetPeer])
	}
}

// TestKernelTCPThroughBump (finding 2): a kernel TCP transfer from a host
// with TX checksum offload on (the veth default) crosses the workers
// intact; the unfinished checksums were completed and counted.
//
// With generic attach the workers get the neighbour's GSO frames whole (up
// to 64 KiB, more than a UMEM chunk), so that case sends one small segment:
// it checks the checksum alone.
func TestKernelTCPThroughBump(t *testing.T) {
	testbed.SkipIfNotRoot(t)
	for _, c := range []struct {
		name  string
		mode  policy.AttachMode
		steer policy.Steer
		size  int
	}{
		{"auto", policy.AttachAuto, policy.SteerAll, 4 << 20},
		{"generic", policy.AttachGeneric, policy.SteerAll, 1000},
		// steer sampled without routes: every frame crosses in the kernel
		// (XDP_PASS and TC with auto), keeping its skb, so nothing needs
		// completing.
		{"auto-kernel-path", policy.AttachAuto, policy.SteerSampled, 4 << 20},
	} {
		t.Run(c.name, func(t *testing.T) { kernelTCP(t, c.mode, c.steer, c.size) })
	}
}

// TestGenericGSORefusalCounted: with generic attach the kernel refuses to
// redirect the neighbour's GSO frames (larger than the egress MTU) to the
// peer port, so a bulk kernel TCP transfer stalls; this is why auto is
// native on a veth. The refusals must be counted (xdp_redirect_peer),
// never silent.
func TestGenericGSORefusalCounted(t *testing.T) {
	testbed.SkipIfNotRoot(t)
	p := newPlainBump(t)
	e := p.start(t, dataplane.Options{Attach: policy.AttachGeneric, Steer: policy.SteerSampled})
	var ln net.Listener
	if err := p.b.Do(func() (err error) { ln, err = net.Listen("tcp6", "[2001:db8:9::b]:7000"); return }); err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	go func() {
		if c, err := ln.Accept(); err == nil {
			_ = c.SetDeadline(time.Now().Add(5 * time.Second))
			_, _ = io.Copy(io.Discard, c)
			c.Close()
		}
	}()
	var c net.Conn
	if err := p.a.Do(func() (err error) { c, err = net.DialTimeout("tcp6", "[2001:db8:9::b]:7000", 5*time.Second); return }); err != nil {
		t.Fatalf("TCP connect across the bump: %v", err)
	}
	_ = c.SetDeadline(time.Now().Add(3 * time.Second))
	_, werr := c.Write(make([]byte, 4<<20))
	c.Close()
	ctr := e.Counters()
	if !ctr.Ports[0].RedirectCounted {
		t.Skip("redirect errors cannot be counted here (no tracefs)")
	}
	refused := ctr.Ports[0].RedirectErrors[steering.TargetPeer]
	if werr != nil && refused == 0 {
		t.Fatalf("bulk TCP stalled (%v) under generic attach but no refused redirect was counted", werr)
	}
	t.Logf("generic attach: write %v, %d refused redirects counted on port 0", werr, refused)
}

func kernelTCP(t *testing.T, mode policy.AttachMode, steer policy.Steer, size int) {
	p := newPlainBump(t)
	e := p.start(t, dataplane.Options{Attach: mode, Steer: steer})
	var ln net.Listener
	if err := p.b.Do(func() (err error) { ln, err = net.Listen("tcp6", "[2001:db8:9::b]:7000"); return }); err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	data := make([]byte, size)
	_, _ = rand.Read(data)
	got := make(chan [32]byte, 1)
	go func() {
		c, err := ln.Accept()
		if err != nil {
			got <- [32]byte{}
			return
		}
		defer c.Close()
		_ = c.SetDeadline(time.Now().Add(30 * time.Second))
		h := sha256.New()
		_, _ = io.Copy(h, c)
		var s [32]byte
		copy(s[:], h.Sum(nil))
		got <- s
	}()
	var c net.Conn
	if err := p.a.Do(func() (err error) { c, err = net.DialTimeout("tcp6", "[2001:db8:9::b]:7000", 5*time.Second); return }); err != nil {
		t.Fatalf("TCP connect across the bump: %v", err)
	}
	_ = c.SetDeadline(time.Now().Add(30 * time.Second))
	if _, err := c.Write(data); err != nil {
		t.Errorf("write: %v", err)
	}
	c.Close()
	if s := <-got; s != sha256.Sum256(data) {
		var b strings.Builder
		c := e.Counters()
		_ = c.WriteText(&b)
		t.Fatalf("%d-byte TCP transfer across the bump (attach %v, steer %v) did not arrive intact; counters:\n%s", size, mode, steer, b.String())
	}
	if n := e.Counters().Ports[0].Checksum.Completed; steer == policy.SteerAll && n == 0 {
		t.Error("no checksum completed on port 0, although the host's veth offloads TX checksums")
	}
}

// TestChecksumOffCounted (finding 2): with complete_checksums off the
// unfinished checksums are counted (and warned about once), so the loss of
// the TCP handshake is never silent.
func TestChecksumOffCounted(t *testing.T) {
	testbed.SkipIfNotRoot(t)
	p := newPlainBump(t)
	e := p.start(t, dataplane.Options{Checksums: [2]policy.ChecksumMode{policy.ChecksumOff, policy.ChecksumOff}})
	var ln net.Listener
	if err := p.b.Do(func() (err error) { ln, err = net.Listen("tcp6", "[2001:db8:9::b]:7000"); return }); err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	_ = p.a.Do(func() error {
		c, err := net.DialTimeout("tcp6", "[2001:db8:9::b]:7000", 2*time.Second)
		if err == nil {
			c.Close()
		}
		return nil
	})
	if n := e.Counters().Ports[0].Checksum.Unfinished; n == 0 {
		t.Fatal("complete_checksums off: the host's SYN with an unfinished checksum was not counted")
	}
	if n := e.Counters().Ports[0].Checksum.Completed; n != 0 {
		t.Fatalf("complete_checksums off: %d checksums completed", n)
	}
}

// TestStopLeavesNoTC: the TC programs of auto attach on a veth go with the
// engine, like its XDP programs.
func TestStopLeavesNoTC(t *testing.T) {
	testbed.SkipIfNotRoot(t)
	p := newPlainBump(t)
	e := p.start(t, dataplane.Options{})
	count := func() (n int) {
		t.Helper()
		for _, ifn := range []string{"west", "east"} {
			if err := p.dut.Do(func() error {
				ifc, err := net.InterfaceByName(ifn)
				if err != nil {
					return err
				}
				r, err := link.QueryPrograms(link.QueryOptions{Target: ifc.Index, Attach: ebpf.AttachTCXIngress})
				if err != nil {
					return err
				}
				n += len(r.Programs)
				return nil
			}); err != nil {
				t.Fatal(err)
			}
		}
		return n
	}
	if n := count(); n != 2 {
		t.Fatalf("running: %d tcx ingress programs on the ports, want 2", n)
	}
	if err := e.Stop(); err != nil {
		t.Fatal(err)
	}
	if n := count(); n != 0 {
		t.Fatalf("stopped: %d tcx ingress programs left on the ports", n)
	}
}
