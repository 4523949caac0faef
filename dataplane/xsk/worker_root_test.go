package xsk_test

import (
	"net"
	"net/netip"
	"testing"
	"time"

	"github.com/cilium/ebpf/link"

	"github.com/dexplane/dexplane/dataplane/xsk"
	"github.com/dexplane/dexplane/dataplane/xsk/xsktest"
	"github.com/dexplane/dexplane/internal/testbed"
)

// bitwWorker builds a bitw testbed, attaches the test steering program to
// both dut ports in generic mode and runs one worker on queue 0.
func bitwWorker(t *testing.T, what xsktest.SteerIPv6, h xsk.Handler) (*testbed.Testbed, *xsk.Worker) {
	t.Helper()
	tb := testbed.New(t, testbed.Bitw)
	noTxCsumOffload(t, tb)
	dut := tb.DUT()
	west, east := dut.MustIfindex(t, testbed.West), dut.MustIfindex(t, testbed.East)
	var w *xsk.Worker
	err := dut.Do(func() error {
		var steers [2]*xsktest.Steer
		for p, idx := range [2][2]int{{west, east}, {east, west}} {
			s, err := xsktest.AttachSteer(idx[0], idx[1], 1, what, link.XDPGenericMode)
			if err != nil {
				return err
			}
			t.Cleanup(func() { s.Close() })
			steers[p] = s
		}
		var err error
		w, err = xsk.NewWorker(xsk.WorkerConfig{
			ID: 0, Ifindex: [2]int{west, east}, RxSize: 512, TxSize: 512, FillSize: 512, CompletionSize: 512,
			Handler: h,
		})
		if err != nil {
			return err
		}
		for p := range steers {
			if err := steers[p].Register(0, w.Socket(p).FD()); err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	done := make(chan error, 1)
	go func() { done <- w.Run() }()
	t.Cleanup(func() {
		w.Stop()
		if err := <-done; err != nil {
			t.Errorf("Run: %v", err)
		}
		if err := w.Close(); err != nil {
			t.Errorf("Close: %v", err)
		}
	})
	return tb, w
}

// udpPair opens a receiver on host dst and a connected sender on host src.
func udpPair(t *testing.T, src, dst *testbed.Netns, dstAddr netip.Addr, port int) (*net.UDPConn, *net.UDPConn) {
	t.Helper()
	var rx, tx *net.UDPConn
	addr := net.UDPAddrFromAddrPort(netip.AddrPortFrom(dstAddr, uint16(port)))
	if err := dst.Do(func() (err error) {
		rx, err = net.ListenUDP("udp", addr)
		return err
	}); err != nil {
		t.Fatal(err)
	}
	if err := src.Do(func() (err error) {
		tx, err = net.DialUDP("udp", nil, addr)
		return err
	}); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { rx.Close(); tx.Close() })
	for _, c := range []*net.UDPConn{rx, tx} {
		if err := xsktest.SetBuffers(c, 8<<20); err != nil {
			t.Fatal(err)
		}
	}
	return rx, tx
}

func stream(t *testing.T, src, dst *testbed.Netns, dstAddr netip.Addr, cfg xsktest.StreamConfig) *xsktest.Receiver {
	t.Helper()
	rx, tx := udpPair(t, src, dst, dstAddr, 9000+int(cfg.ID))
	r := xsktest.NewReceiver(cfg.ID, cfg.Count)
	done := make(chan struct{})
	go func() { r.Run(rx, 500*time.Millisecond); close(done) }()
	if _, err := xsktest.Send(tx, cfg); err != nil {
		t.Fatal(err)
	}
	<-done
	return r
}

func TestWorkerForwardsBitw(t *testing.T) {
	tb, w := bitwWorker(t, xsktest.SteerAllIPv6, nil)
	if w.ZeroCopy() {
		t.Errorf("veth reported zero-copy")
	}
	if err := tb.HostA.Ping(tb.AddrB, 3); err != nil {
		t.Fatalf("ping6 a→b: %v", err)
	}
	if err := tb.HostB.Ping(tb.AddrA, 3); err != nil {
		t.Fatalf("ping6 b→a: %v", err)
	}
	if err := tb.HostA.Ping(tb.AddrB4, 2); err != nil {
		t.Fatalf("ping a→b IPv4 (ARP + redirect): %v", err)
	}
	const n = 5000
	for i, dir := range []struct {
		src, dst *testbed.Netns
		addr     netip.Addr
	}{{tb.HostA, tb.HostB, tb.AddrB}, {tb.HostB, tb.HostA, tb.AddrA}} {
		r := stream(t, dir.src, dir.dst, dir.addr, xsktest.StreamConfig{ID: uint32(i + 1), Count: n, MinSize: 20, MaxSize: 1452, Rate: 50000})
		if got := r.Received.Load(); got != n || r.Corrupt.Load() != 0 {
			t.Errorf("direction %d: received %d/%d, corrupt %d (%v), missing %v", i, got, n, r.Corrupt.Load(), r.Err(), r.Missing(10))
		}
	}
	c := w.Counters().Snapshot()
	for p := range c {
		for i, v := range c[p] {
			if v != 0 {
				t.Logf("port %d %-14s %d", p, xsk.Counter(i), v)
			}
		}
		st, err := w.Socket(p).Stats()
		if err != nil {
			t.Error(err)
		}
		t.Logf("port %d kernel %+v", p, st)
	}
	if c[0][xsk.CtrRxFrames] < n || c[1][xsk.CtrTxFrames] < n {
		t.Errorf("counters do not show the stream: %v", c)
	}
}

// noTxCsumOffload turns off TX checksum offload on the hosts' veths. A veth
// hands the peer a CHECKSUM_PARTIAL skb whose L4 checksum was never
// computed; once an AF_XDP socket copies the frame's bytes out, that
// checksum is wrong on the wire (a real NIC would have filled it in).
func noTxCsumOffload(t *testing.T, tb *testbed.Testbed) {
	t.Helper()
	for _, h := range []*testbed.Netns{tb.HostA, tb.HostB} {
		h.MustRun(t, "ethtool", "-K", testbed.HostIf, "tx", "off")
	}
}
