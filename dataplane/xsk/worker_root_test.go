package xsk_test

import (
	"log/slog"
	"os"
	"testing"
	"time"

	"github.com/cilium/ebpf/link"
	"golang.org/x/sys/unix"

	"github.com/dexplane/dexplane/dataplane/handle"
	"github.com/dexplane/dexplane/dataplane/xsk"
	"github.com/dexplane/dexplane/internal/testbed"
	"github.com/dexplane/dexplane/internal/testbed/plan"
	"github.com/dexplane/dexplane/internal/xskprog"
	"github.com/dexplane/dexplane/internal/xsktest"
)

// bitwWorker builds a bitw testbed, attaches the test steering program to
// both dut ports in generic mode and runs one worker on queue 0.
func bitwWorker(t *testing.T, what xskprog.Match, h handle.Handler, opts ...func(*xsk.WorkerConfig)) (*testbed.Testbed, *xsk.Worker) {
	t.Helper()
	tb := testbed.New(t, testbed.Bitw)
	xsktest.NoTxChecksumOffload(t, tb)
	dut := tb.DUT()
	west, east := dut.MustIfindex(t, plan.West), dut.MustIfindex(t, plan.East)
	var w *xsk.Worker
	err := dut.Do(func() error {
		var steers [2]*xskprog.Program
		for p, idx := range [2][2]int{{west, east}, {east, west}} {
			s, err := xskprog.Attach(xskprog.Config{Ifindex: idx[0], Peer: idx[1], Queues: 1, Match: what, Flags: link.XDPGenericMode})
			if err != nil {
				return err
			}
			t.Cleanup(func() { s.Close() })
			steers[p] = s
		}
		var err error
		cfg := xsk.WorkerConfig{
			ID: 0, Ifindex: [2]int{west, east}, FillSize: 4096,
			Handler: h, Logger: slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelWarn})),
		}
		for _, o := range opts {
			o(&cfg)
		}
		w, err = xsk.NewWorker(cfg)
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
	tb, w := bitwWorker(t, xskprog.MatchIPv6, nil)
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
	for i, dir := range xsktest.BothWays(tb) {
		r, _ := dir.Stream(t, xsktest.StreamConfig{ID: uint32(i + 1), Count: n, MinSize: xsktest.MinPayload, MaxSize: 1452, Rate: 50000}, 500*time.Millisecond)
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

// TestWorkerBusyPollBitw runs a worker with preferred busy polling on the
// veths: the socket options are set, and every frame of a stream each way
// still crosses.
func TestWorkerBusyPollBitw(t *testing.T) {
	tb, w := bitwWorker(t, xskprog.MatchIPv6, nil, func(c *xsk.WorkerConfig) {
		c.BusyPoll, c.BusyPollBudget = 20*time.Microsecond, 64
	})
	for p := range 2 {
		for _, o := range []struct {
			name      string
			opt, want int
		}{{"SO_PREFER_BUSY_POLL", 69, 1}, {"SO_BUSY_POLL", 46, 20}} {
			// SO_BUSY_POLL_BUDGET cannot be read back (ENOPROTOOPT); its
			// setsockopt succeeded or NewWorker would have failed.
			got, err := unix.GetsockoptInt(w.Socket(p).FD(), unix.SOL_SOCKET, o.opt)
			if err != nil || got != o.want {
				t.Errorf("port %d %s = %d (%v), want %d", p, o.name, got, err, o.want)
			}
		}
	}
	const n = 2000
	for i, dir := range xsktest.BothWays(tb) {
		r, _ := dir.Stream(t, xsktest.StreamConfig{ID: uint32(i + 1), Count: n, MinSize: xsktest.MinPayload, MaxSize: 1452, Rate: 20000}, 500*time.Millisecond)
		if got := r.Received.Load(); got != n || r.Corrupt.Load() != 0 {
			t.Errorf("direction %d: received %d/%d, corrupt %d (%v)", i, got, n, r.Corrupt.Load(), r.Err())
		}
	}
}
