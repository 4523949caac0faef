package e2e

// Multi-queue tests: a node with one worker per queue on veths with two
// queue pairs, and a node whose ports gain and lose queues while it runs
// (ethtool -L). A veth hands a frame to the peer's RX queue with the index of
// the TX queue it was sent on, and host-a picks a TX queue per socket, so
// flows spread over the queues and each flow stays on one, as RSS does on a
// NIC.

import (
	"fmt"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/dexplane/dexplane/config"
	"github.com/dexplane/dexplane/internal/metrics"
	"github.com/dexplane/dexplane/internal/testbed"
	"github.com/dexplane/dexplane/internal/testbed/plan"
	"github.com/dexplane/dexplane/internal/testutil"
)

// newQueueBed is newFaultBed on bitw with queues queue pairs per veth.
func newQueueBed(t *testing.T, queues int) *faultBed {
	t.Helper()
	testbed.SkipIfNotRoot(t)
	b := &faultBed{t: t, bin: testutil.BuildDexplane(t), tb: testbed.NewQueues(t, testbed.Bitw, queues), dir: t.TempDir()}
	b.tb.HostA.Sysctl(t, "net.ipv6.auto_flowlabels", "0")
	return b
}

// flowBurst sends count datagrams on each of flows flows (source ports
// 42000, 42001, …, one socket each) at rate datagrams per second in all and
// returns what host-b received.
func (b *faultBed) flowBurst(flows, count, rate int) faultTally {
	b.t.Helper()
	l := b.listen(faultPort)
	b.sendFlows(faultPort, 42000, flows, flows*count, rate, 200).wait(b.t)
	return collect(l, flows*count)
}

// xskMiss is port 0's XDP xsk_miss count: frames meant for a worker that
// arrived on a queue without one and crossed unmodified.
func xskMiss(s metrics.Stats) uint64 { return xdpPackets(s, "xsk_miss") }

// TestMultiQueueWorkers runs R1 with queues: 2 on two-queue veths. Both
// workers must carry traffic, every datagram must arrive with DEX, and each
// flow's DEX sequence numbers (from the node's records) must run 0, 1, 2, …
// without a gap or a repeat: a flow is served by one worker, whose flow
// table alone numbers it.
func TestMultiQueueWorkers(t *testing.T) {
	b := newQueueBed(t, 2)
	cfg := b.writeConfig(1, "r1.yaml", func(c *config.Config) {
		c.Routes[0].Freq = config.Freq{K: 1, N: 1}
		c.Dataplane.Queues = 2
	})
	dut := b.tb.DUT()
	n := b.start(dut, cfg)
	b.ready()

	const flows, count = 16, 200
	tl := b.flowBurst(flows, count, 10000)
	expectStream(t, "16 flows over 2 queues", tl, flows*count, flows*count)
	s := b.stats(dut)
	if len(s.Workers) != 2 {
		t.Fatalf("stats report %d workers, want 2", len(s.Workers))
	}
	for _, w := range s.Workers {
		if len(w.Ports) != 2 || w.Ports[0].RxPackets == 0 {
			t.Errorf("worker %d received nothing from port 0: %+v (flows did not spread over the queues)", w.Worker, w.Ports)
		}
		t.Logf("worker %d: port 0 rx %d, port 1 tx %d", w.Worker, w.Ports[0].RxPackets, w.Ports[1].TxPackets)
	}
	if m := xskMiss(s); m != 0 {
		t.Errorf("xdp xsk_miss = %d, want 0: every queue has a worker", m)
	}
	if q := s.Ports[0].RxQueues; q != 2 {
		t.Errorf("port 0 rx_queues = %d, want 2", q)
	}
	if err := n.stop(); err != nil {
		t.Fatal(err)
	}
	seqs := map[string][]int64{}
	for _, r := range readJSONRecords(t, filepath.Join(b.dir, "r1.yaml.records")) {
		if fmt.Sprint(r["dst_port"]) != strconv.Itoa(faultPort) {
			continue
		}
		v, err := strconv.ParseInt(fmt.Sprint(r["seq"]), 10, 64)
		if err != nil {
			t.Fatalf("record without a sequence number: %v", r)
		}
		sp := fmt.Sprint(r["src_port"])
		seqs[sp] = append(seqs[sp], v)
	}
	if len(seqs) != flows {
		t.Errorf("records of %d flows, want %d", len(seqs), flows)
	}
	for sp, got := range seqs {
		sorted := sort.SliceIsSorted(got, func(i, j int) bool { return got[i] < got[j] })
		ok := len(got) == count && sorted
		for i := 0; ok && i < len(got); i++ {
			ok = got[i] == int64(i)
		}
		if !ok {
			t.Errorf("flow from port %s: %d records, sequence numbers %v…, want 0..%d in order", sp, len(got), head(got, 8), count-1)
		}
	}
}

func head(v []int64, n int) []int64 { return v[:min(n, len(v))] }

// TestFaultQueueCountChange runs one worker on two-queue veths: frames on
// queue 1 have no worker and must cross unmodified (counted as xsk_miss)
// while queue 0 gets DEX, and the node warns about it. Then the ports drop
// to one queue (ethtool -L) and everything gets DEX; then back to two. No
// datagram is lost at any point and the node reports each queue count.
func TestFaultQueueCountChange(t *testing.T) {
	b := newQueueBed(t, 2)
	cfg := b.writeConfig(1, "r1.yaml", setFreq(1, 1))
	dut := b.tb.DUT()
	n := b.start(dut, cfg)
	b.ready()
	if !strings.Contains(n.Log.String(), "more RX queues than workers") {
		t.Errorf("no warning about the port's second queue in the log:\n%s", n.Log.String())
	}

	const flows, count = 16, 100
	burst := func(what string, wantQueues int, allDEX bool) {
		t.Helper()
		if _, ok := b.waitStats(dut, 5*time.Second, func(s metrics.Stats) bool {
			return len(s.Ports) == 2 && s.Ports[0].RxQueues == wantQueues && s.Ports[1].RxQueues == wantQueues
		}); !ok {
			t.Errorf("%s: the node did not report %d RX queues per port within 5 s", what, wantQueues)
		}
		s0 := b.stats(dut)
		tl := b.flowBurst(flows, count, 10000)
		s1 := b.stats(dut)
		want := -1
		if allDEX {
			want = flows * count
		}
		expectStream(t, what, tl, flows*count, want)
		miss := xskMiss(s1) - xskMiss(s0)
		t.Logf("%s: %d of %d with DEX, xsk_miss +%d", what, tl.dex, tl.rep.Received, miss)
		if got := uint64(tl.rep.Received - tl.dex); miss != got {
			t.Errorf("%s: %d datagrams crossed without DEX but xsk_miss rose by %d", what, got, miss)
		}
		if !allDEX && (tl.dex == 0 || tl.dex == tl.rep.Received) {
			t.Errorf("%s: %d of %d datagrams with DEX; want the queue-0 flows with and the queue-1 flows without", what, tl.dex, tl.rep.Received)
		}
	}
	burst("2 queues, 1 worker", 2, false)

	// While XDP is attached a veth refuses fewer RX queues than its peer
	// has TX queues, so of each pair (x, y) x's TX shrinks first and grows
	// last, and x's RX the other way round.
	pair := func(x *testbed.Netns, xif string, y *testbed.Netns, yif string, q int) {
		arg := strconv.Itoa(q)
		first, last := "tx", "rx"
		if q > 1 {
			first, last = "rx", "tx"
		}
		x.MustRun(t, "ethtool", "-L", xif, first, arg)
		y.MustRun(t, "ethtool", "-L", yif, "rx", arg, "tx", arg)
		x.MustRun(t, "ethtool", "-L", xif, last, arg)
	}
	setQueues := func(q int) {
		pair(b.tb.HostA, plan.HostIf, dut, plan.West, q)
		pair(b.tb.HostB, plan.HostIf, dut, plan.East, q)
	}
	setQueues(1)
	burst("after ethtool -L to 1 queue", 1, true)
	setQueues(2)
	burst("back to 2 queues", 2, false)
	alive(t, n)
}
