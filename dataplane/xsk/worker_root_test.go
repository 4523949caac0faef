package xsk_test

import (
	"log/slog"
	"net/netip"
	"os"
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
	xsktest.NoTxChecksumOffload(t, tb)
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
			ID: 0, Ifindex: [2]int{west, east}, FillSize: 4096,
			Handler: h, Logger: slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelWarn})),
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
		r, _ := xsktest.Stream(t, dir.src, dir.dst, dir.addr, xsktest.StreamConfig{ID: uint32(i + 1), Count: n, MinSize: 20, MaxSize: 1452, Rate: 50000}, 500*time.Millisecond)
		if got := r.Received.Load(); got != n || r.Corrupt.Load() != 0 {
			for _, ns := range []*testbed.Netns{tb.HostA, tb.DUT(), tb.HostB} {
				out, _ := ns.Run("ip", "-s", "link")
				t.Logf("%s:\n%s", ns.Node, out)
			}
			out, _ := tb.HostA.Run("cat", "/proc/net/softnet_stat")
			t.Logf("softnet_stat:\n%s", out)
			t.Errorf("direction %d: received %d/%d, corrupt %d (%v), missing %v", i, got, n, r.Corrupt.Load(), r.Err(), r.Missing(n, 10))
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
