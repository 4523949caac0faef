package gen

import (
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"time"
)

// MeasureConfig describes one measurement: a generator stream from one
// namespace through the device under test to a sink in another.
type MeasureConfig struct {
	Gen GenConfig
	// SinkNetns and SinkIface say where the sink receives; SinkCPUs pins
	// its thread (nil: not pinned).
	SinkNetns, SinkIface string
	SinkCPUs             []int
	// SinkQueues is how many RX queues the sink listens on (0 means 1); on
	// a multi-queue testbed it must cover every queue the DUT may send on.
	SinkQueues int
	// Warmup runs traffic before the window opens; Duration is the
	// window; Drain waits after the generator stops before the sink
	// stops, so that frames in flight are not counted as lost.
	Warmup, Duration, Drain time.Duration
	// DUT, if set, measures the device under test's CPU time (for
	// dexplane: ProcessCPU of its pid). Softirq time is always measured.
	DUT CPUProbe
	// DUTCores, if set, are the CPUs reserved for the device under test;
	// their busy time is measured (CoreCPU).
	DUTCores []int
	// Progress, if set, is called about every 500 ms with the seconds
	// elapsed and the sink's counters (for a progress line).
	Progress func(elapsed time.Duration, c SinkCounters)
}

// Limit says what bounded a measurement.
type Limit string

// Limits reported by Measure.
const (
	// LimitNone: the target rate was offered and arrived without loss.
	LimitNone Limit = "none"
	// LimitGenerator: the generator could not offer the target rate, or
	// ran flat out and everything it offered arrived; the DUT's capacity
	// is at least the received rate.
	LimitGenerator Limit = "generator"
	// LimitDUT: frames were lost between generator and sink, and the
	// sink's socket dropped none: the DUT (or the veths around it) is the
	// bottleneck.
	LimitDUT Limit = "dut"
	// LimitSink: the sink's socket dropped frames (its rings overflowed).
	LimitSink Limit = "sink"
)

// Result is the outcome of one measurement. Rates are over the window;
// loss and integrity are over the whole run (after draining).
type Result struct {
	Window time.Duration
	// TargetPPS is the configured rate (0 = flat out).
	TargetPPS float64
	// OfferedPPS is what the generator queued; RxPPS what the sink
	// received; RxBitsPerSec counts Ethernet frame octets without FCS.
	OfferedPPS, RxPPS, RxBitsPerSec float64
	// RxDEXFraction is the share of received frames that carried DEX.
	RxDEXFraction float64
	// Sent and Received are whole-run totals; Lost = Sent - Received.
	Sent, SentDEX, Received uint64
	Lost                    int64
	LossPct                 float64
	// Integrity counters from the sink (whole run).
	Corrupt, Foreign, Late, Gaps uint64
	SinkDrops                    SocketDrops
	// Flows is the number of flows; FlowsWithLoss those that received
	// fewer packets than the generator sent them.
	Flows, FlowsWithLoss int
	// Generator trouble: ring-full loops and failed transmit kicks.
	RingFull, TxErrors uint64
	// DUTCPU is the DUT's CPU time in the window (0 without a probe);
	// DUTNsPerPkt divides it by the packets received in the window.
	DUTCPU      time.Duration
	DUTNsPerPkt float64
	// SoftirqCPU is the machine-wide softirq time in the window and
	// SoftirqNsPerPkt its share per received packet.
	SoftirqCPU      time.Duration
	SoftirqNsPerPkt float64
	// CoreCPU is the busy time of DUTCores in the window and CoreNsPerPkt
	// its share per received packet (0 without DUTCores).
	CoreCPU      time.Duration
	CoreNsPerPkt float64
	// MachineCPU is the busy time of all CPUs in the window (MachineCPU)
	// and MachineNsPerPkt its share per received packet.
	MachineCPU      time.Duration
	MachineNsPerPkt float64
	Limit           Limit
	// FrameLen is the plain frame length, FrameLenDEX that of frames the
	// generator sent with DEX (0 if none).
	FrameLen, FrameLenDEX int
}

// snapshot is the state at a window edge.
type snapshot struct {
	at      time.Time
	gen     GenCounters
	sink    SinkCounters
	dut     time.Duration
	softirq time.Duration
	core    time.Duration
	machine time.Duration
}

// Measure runs one measurement: start the sink, start the generator, wait
// Warmup, measure over Duration, stop the generator, wait Drain, stop the
// sink. It never leaves the generator or the sink running.
func Measure(ctx context.Context, mc MeasureConfig) (Result, error) {
	if mc.Duration <= 0 {
		return Result{}, fmt.Errorf("%w: duration %v", ErrSpec, mc.Duration)
	}
	if mc.Drain <= 0 {
		mc.Drain = 300 * time.Millisecond
	}
	if mc.Gen.Stream.Run == 0 {
		mc.Gen.Stream.Run = rand.Uint32() | 1
	}
	g, err := NewGenerator(mc.Gen)
	if err != nil {
		return Result{}, err
	}
	ts := g.Templates()
	sink := NewSink(SinkConfig{Netns: mc.SinkNetns, Iface: mc.SinkIface, Flows: ts.Flows, Run: mc.Gen.Stream.Run,
		CPUs: mc.SinkCPUs, Queues: mc.SinkQueues})

	sinkCtx, stopSink := context.WithCancel(context.WithoutCancel(ctx))
	defer stopSink()
	if err := sink.Start(sinkCtx); err != nil {
		return Result{}, fmt.Errorf("sink: %w", err)
	}
	genCtx, stopGen := context.WithCancel(ctx)
	defer stopGen()
	if err := g.Start(genCtx); err != nil {
		stopSink()
		return Result{}, errors.Join(fmt.Errorf("generator: %w", err), sink.Wait())
	}

	take := func() (snapshot, error) {
		s := snapshot{at: time.Now(), gen: g.Counters(), sink: sink.Counters()}
		var err error
		if mc.DUT != nil {
			if s.dut, err = mc.DUT.Sample(); err != nil {
				return s, fmt.Errorf("DUT CPU (%s): %w", mc.DUT.Name(), err)
			}
		}
		if s.softirq, err = (SoftirqCPU{}).Sample(); err != nil {
			return s, err
		}
		if s.machine, err = (MachineCPU{}).Sample(); err != nil {
			return s, err
		}
		if len(mc.DUTCores) > 0 {
			if s.core, err = (CoreCPU{CPUs: mc.DUTCores}).Sample(); err != nil {
				return s, err
			}
		}
		return s, nil
	}

	start := time.Now()
	var runErr error
	wait := func(d time.Duration) bool {
		t := time.NewTimer(d)
		defer t.Stop()
		tick := time.NewTicker(500 * time.Millisecond)
		defer tick.Stop()
		for {
			select {
			case <-t.C:
				return true
			case <-ctx.Done():
				runErr = ctx.Err()
				return false
			case <-g.Done():
				if g.cfg.Count == 0 {
					runErr = fmt.Errorf("generator stopped early: %w", g.Wait())
					return false
				}
				return true
			case <-tick.C:
				if mc.Progress != nil {
					mc.Progress(time.Since(start), sink.Counters())
				}
			}
		}
	}

	var s0, s1 snapshot
	if wait(mc.Warmup) {
		if s0, runErr = take(); runErr == nil && wait(mc.Duration) {
			s1, runErr = take()
		}
	}
	stopGen()
	genErr := g.Wait()
	time.Sleep(mc.Drain)
	stopSink()
	sinkErr := sink.Wait()
	if err := errors.Join(runErr, genErr, sinkErr); err != nil {
		return Result{}, err
	}

	gc, sc := g.Counters(), sink.Counters()
	r := Result{
		Window:    s1.at.Sub(s0.at),
		TargetPPS: mc.Gen.Rate,
		Sent:      gc.Sent, SentDEX: gc.SentDEX, Received: sc.Received,
		Corrupt: sc.Corrupt, Foreign: sc.Foreign, Late: sc.Late, Gaps: sc.Gaps,
		SinkDrops: sink.Drops(),
		RingFull:  gc.RingFull, TxErrors: gc.Errors,
		FrameLen: len(ts.Plain[0].Frame),
	}
	if len(ts.WithDEX) > 0 {
		r.FrameLenDEX = len(ts.WithDEX[0].Frame)
	}
	r.Flows = ts.Flows
	for f, fs := range sink.Flows() {
		if fs.Received < g.SentPerFlow(f) {
			r.FlowsWithLoss++
		}
	}
	sec := r.Window.Seconds()
	rxWin := s1.sink.Received - s0.sink.Received
	r.OfferedPPS = float64(s1.gen.Sent-s0.gen.Sent) / sec
	r.RxPPS = float64(rxWin) / sec
	r.RxBitsPerSec = float64(s1.sink.Bytes-s0.sink.Bytes) * 8 / sec
	if rxWin > 0 {
		r.RxDEXFraction = float64(s1.sink.WithDEX-s0.sink.WithDEX) / float64(rxWin)
		r.DUTCPU = s1.dut - s0.dut
		r.DUTNsPerPkt = float64(r.DUTCPU.Nanoseconds()) / float64(rxWin)
		r.SoftirqCPU = s1.softirq - s0.softirq
		r.SoftirqNsPerPkt = float64(r.SoftirqCPU.Nanoseconds()) / float64(rxWin)
		r.CoreCPU = s1.core - s0.core
		r.CoreNsPerPkt = float64(r.CoreCPU.Nanoseconds()) / float64(rxWin)
		r.MachineCPU = s1.machine - s0.machine
		r.MachineNsPerPkt = float64(r.MachineCPU.Nanoseconds()) / float64(rxWin)
	}
	r.Lost = int64(r.Sent) - int64(r.Received)
	if r.Sent > 0 {
		r.LossPct = 100 * float64(r.Lost) / float64(r.Sent)
	}
	r.Limit = classify(r)
	return r, nil
}

// classify decides what bounded a measurement (see Limit).
func classify(r Result) Limit {
	const lossTolerance = 0.1 // percent
	switch {
	case r.SinkDrops.Total() > 0 && r.LossPct > lossTolerance:
		return LimitSink
	case r.TargetPPS > 0 && r.OfferedPPS < 0.97*r.TargetPPS:
		return LimitGenerator
	case r.LossPct > lossTolerance:
		return LimitDUT
	case r.TargetPPS == 0:
		return LimitGenerator
	}
	return LimitNone
}

// String formats the result as a short human-readable report.
func (r Result) String() string {
	s := fmt.Sprintf("window %.1fs: offered %.0f pps, received %.0f pps (%.1f Mbit/s), DEX in %.3f%% of received\n",
		r.Window.Seconds(), r.OfferedPPS, r.RxPPS, r.RxBitsPerSec/1e6, 100*r.RxDEXFraction)
	s += fmt.Sprintf("run: sent %d (%d with DEX), received %d, lost %d (%.3f%%, in %d of %d flows), corrupt %d, foreign %d, late %d, gaps %d\n",
		r.Sent, r.SentDEX, r.Received, r.Lost, r.LossPct, r.FlowsWithLoss, r.Flows, r.Corrupt, r.Foreign, r.Late, r.Gaps)
	s += fmt.Sprintf("sink socket drops %d (rx ring full %d, fill ring empty %d); generator ring-full loops %d, tx errors %d\n",
		r.SinkDrops.Dropped, r.SinkDrops.RxRingFull, r.SinkDrops.FillRingEmpty, r.RingFull, r.TxErrors)
	if r.DUTCPU > 0 {
		s += fmt.Sprintf("DUT CPU %.3fs = %.0f ns/pkt; ", r.DUTCPU.Seconds(), r.DUTNsPerPkt)
	}
	if r.CoreCPU > 0 {
		s += fmt.Sprintf("DUT cores busy %.2fs = %.0f ns/pkt; ", r.CoreCPU.Seconds(), r.CoreNsPerPkt)
	}
	s += fmt.Sprintf("softirq (machine-wide) %.2fs = %.0f ns/pkt; all CPUs busy %.2fs = %.0f ns/pkt\n",
		r.SoftirqCPU.Seconds(), r.SoftirqNsPerPkt, r.MachineCPU.Seconds(), r.MachineNsPerPkt)
	switch r.Limit {
	case LimitGenerator:
		if r.TargetPPS > 0 {
			s += fmt.Sprintf("limit: GENERATOR (offered %.0f of %.0f pps target): the DUT was not saturated\n", r.OfferedPPS, r.TargetPPS)
		} else {
			s += "limit: GENERATOR (flat out, no loss): the DUT forwarded all the generator could offer\n"
		}
	case LimitDUT:
		s += "limit: DUT (frames lost between generator and sink)\n"
	case LimitSink:
		s += "limit: SINK (its AF_XDP socket dropped frames)\n"
	default:
		s += "limit: none (target met without loss)\n"
	}
	return s
}
