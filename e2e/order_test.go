package e2e

import (
	"testing"
	"time"

	"github.com/dexplane/dexplane/config"
	"github.com/dexplane/dexplane/internal/metrics"
	"github.com/dexplane/dexplane/internal/testbed"
)

// TestOrderWindowKeepsFlowOrder runs R1 with steer: sampled, 1 in 10
// packets sampled, and an order window: once a flow's frame went to the
// worker, its next frames follow it there instead of overtaking it on the
// XDP path. host-b must receive the stream complete and in order, every
// sampled datagram with DEX, and the node must count the frames it held
// back (xdp reason "order").
func TestOrderWindowKeepsFlowOrder(t *testing.T) {
	b := newFaultBed(t, testbed.Bitw)
	cfg := b.writeConfig(1, "r1.yaml", func(c *config.Config) {
		c.Routes[0].Freq = config.Freq{K: 1, N: 10}
		c.Dataplane.Steer = "sampled"
		c.Dataplane.OrderWindow = config.Duration(time.Second)
	})
	dut := b.tb.DUT()
	n := b.start(dut, cfg)
	b.ready()

	order := func(s metrics.Stats) uint64 { return xdpPackets(s, "order") }
	sampled := func(s metrics.Stats) uint64 { return xdpPackets(s, "sampled") }
	s0 := b.stats(dut)
	const count = 20000
	tl := b.stream(count, 20000, 100)
	s1 := b.stats(dut)
	t.Logf("host-b: %v, %d with DEX; xdp sampled +%d, order +%d", tl.rep, tl.dex, sampled(s1)-sampled(s0), order(s1)-order(s0))
	expectStream(t, "1/10 sampled with an order window", tl, count, int(sampled(s1)-sampled(s0)))
	if tl.rep.Reordered != 0 {
		t.Errorf("host-b saw %d datagrams out of order; the order window should keep the flow in order", tl.rep.Reordered)
	}
	if held := order(s1) - order(s0); held == 0 || held+sampled(s1)-sampled(s0) > count {
		t.Errorf("xdp order +%d, sampled +%d for %d datagrams: want frames held, none twice", held, sampled(s1)-sampled(s0), count)
	}
	alive(t, n)
}
