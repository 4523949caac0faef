package scenario

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net/netip"
	"time"

	"github.com/dexplane/dexplane/bench/gen"
	"github.com/dexplane/dexplane/dataplane/packet"
	"github.com/dexplane/dexplane/internal/testbed/plan"
)

// Options configure a run of the matrix.
type Options struct {
	// Scenarios to run; Reps repetitions of each (interleaved).
	Scenarios []Scenario
	Reps      int
	// Warmup and Duration are the traffic before and the length of each
	// measurement window.
	Warmup, Duration time.Duration
	// Rate is the generator's target in packets per second, 0 = flat out.
	Rate float64
	// Flows is the number of flows (UDP source ports).
	Flows int
	// Pin gives the DUT a CPU of its own: the generator and sink threads
	// run on GenCPU, the DUT's per-packet work on DUTCPU — for kernel
	// forwarding and the XDP redirect (attached in generic mode, which runs
	// after RPS) by RPS on the dut's ports, for dexplane by pinning its
	// process (its XDP steering stays in the sender's softirq, as a NIC's
	// NAPI on another core: with RPS the softirq and the worker share the
	// core and the worker starves under overload, a receive livelock).
	Pin            bool
	GenCPU, DUTCPU int
	// TestbedScript is the path of scripts/testbed.sh; Prefix starts the
	// namespace names (the runner appends -b and -r for its two testbeds).
	TestbedScript, Prefix string
	DUT                   DUTOptions
	// RunID names the run in every row.
	RunID string
	// CSV receives every row as it is measured (may be nil).
	CSV *CSVWriter
	// Progress receives a progress line (carriage-return updated); nil
	// for none.
	Progress io.Writer
}

// Run measures every scenario Reps times and returns the rows. Failed
// repetitions produce a row with Error set; Run fails only if a testbed
// cannot be built or ctx ends. Testbeds and DUTs are always torn down.
func Run(ctx context.Context, o Options) (rows []Row, err error) {
	if o.Reps < 1 {
		o.Reps = 1
	}
	if o.Flows < 1 {
		o.Flows = 16
	}
	if o.DUT.StartTimeout == 0 {
		o.DUT.StartTimeout = 15 * time.Second
	}
	needRouter, needBitw := false, false
	for _, s := range o.Scenarios {
		if s.DUT == Kernel {
			needRouter = true
		} else {
			needBitw = true
		}
		if s.DUT == Dexplane && o.DUT.Dexplane == "" {
			return nil, errors.New("dexplane scenarios need the dexplane binary (DUTOptions.Dexplane)")
		}
		if s.DUT == AFXDPFloor && o.DUT.Floor == "" {
			return nil, errors.New("afxdp-floor scenarios need the C forwarder (DUTOptions.Floor; scripts/bench.sh builds bench/floor/afxdp-floor.c)")
		}
	}
	beds := map[DUTKind]*Testbed{}
	var up []*Testbed
	defer func() {
		for _, tb := range up {
			if derr := tb.Down(); derr != nil {
				err = errors.Join(err, derr)
			}
		}
	}()
	o.DUT.CPU = -1
	if o.Pin {
		o.DUT.CPU = o.DUTCPU
	}
	// The bitw testbed gets as many queues as the most workers any
	// scenario asks for; the generator then sends on as many queues as
	// the scenario has workers (one for the baselines) and the sink
	// listens on all of them.
	queues := 1
	for _, s := range o.Scenarios {
		if s.DUT == Dexplane {
			queues = max(queues, s.Workers)
		}
	}
	build := func(topo, suffix string) (*Testbed, error) {
		tb := &Testbed{Script: o.TestbedScript, Topology: topo, Prefix: o.Prefix + suffix}
		if topo == "bitw" {
			tb.Queues = queues
		}
		if err := tb.Up(); err != nil {
			return nil, err
		}
		up = append(up, tb)
		return tb, nil
	}
	if needBitw {
		tb, err := build("bitw", "b")
		if err != nil {
			return nil, err
		}
		beds[XDPRedirect], beds[Dexplane], beds[AFXDPFloor] = tb, tb, tb
	}
	if needRouter {
		tb, err := build("router", "r")
		if err != nil {
			return nil, err
		}
		beds[Kernel] = tb
	}

	machine := ThisMachine()
	total := len(o.Scenarios) * o.Reps
	done := 0
	start := time.Now()
	for rep := 1; rep <= o.Reps; rep++ {
		for i, s := range o.Scenarios {
			if err := ctx.Err(); err != nil {
				return rows, err
			}
			progress := func(el time.Duration, c gen.SinkCounters) {
				if o.Progress == nil {
					return
				}
				eta := "?"
				if done > 0 {
					per := time.Since(start) / time.Duration(done)
					eta = (per * time.Duration(total-done)).Round(time.Second).String()
				}
				fmt.Fprintf(o.Progress, "\r\033[K[%d/%d rep %d/%d, eta %s] %s: %.1fs, %d received",
					done+1, total, rep, o.Reps, eta, s.Name(), el.Seconds(), c.Received)
			}
			tag := fmt.Sprintf("%s-%03d-r%d", o.RunID, i, rep)
			r := measureOne(ctx, beds[s.DUT], s, o, tag, progress)
			r.Rep = rep
			r.stamp(o.RunID, machine)
			rows = append(rows, r)
			if o.CSV != nil {
				if err := o.CSV.Write(&r); err != nil {
					return rows, err
				}
			}
			done++
			if o.Progress != nil {
				status := fmt.Sprintf("%.0f pps (%s)", r.RxPPS, r.Limit)
				if r.Error != "" {
					status = "ERROR: " + r.Error
				}
				fmt.Fprintf(o.Progress, "\r\033[K[%d/%d rep %d/%d] %s: %s\n", done, total, rep, o.Reps, s.Name(), status)
			}
		}
	}
	return rows, nil
}

// Stream returns the generator stream for scenario s on testbed tb.
func Stream(s Scenario, tb *Testbed, flows int) (gen.StreamSpec, error) {
	spec := gen.StreamSpec{
		Size: s.Size, Src: plan.HostAAddr, Dst: tb.HostBAddr(), SrcPort: 40000, DstPort: 5001,
		Spread: gen.Spread{SrcPorts: flows},
		DEX:    gen.DEX{DEX: packet.DEX{Namespace: 123, TraceType: s.TraceType, ExtFlags: s.ExtFlags, FlowID: 0x1000}, TraceSize: s.TraceSize},
	}
	k, n := gen.InjectionKN(s.Inject)
	dexLen := spec.DEX.HbHLen()
	switch s.Role {
	case RoleForward:
	case RoleEncapInline:
		// The DUT adds the HbH: send shorter packets so that the
		// DEX-carrying ones leave at s.Size, as the paper's profiles.
		spec.Size = s.Size - dexLen
	case RoleEncapIP6IP6, RoleEncapIP6IP6TunSrc:
		spec.Size = s.Size - 40 - dexLen
	case RoleTransit:
		spec.Mode, spec.K, spec.N = packet.EncapInline, k, n
	case RoleDecap:
		spec.Mode, spec.K, spec.N = packet.EncapIP6IP6, k, n
		spec.TunSrc, spec.TunDst = netip.MustParseAddr("2001:db8:ff::9"), plan.TunDst
	default:
		return spec, fmt.Errorf("unknown role %q", s.Role)
	}
	if spec.Size < gen.MinSize {
		spec.Size = gen.MinSize
	}
	return spec, nil
}

// measureOne starts the DUT, measures, stops the DUT; errors become the
// row's Error.
func measureOne(ctx context.Context, tb *Testbed, s Scenario, o Options, tag string,
	progress func(time.Duration, gen.SinkCounters)) (row Row) {
	k, n := gen.InjectionKN(s.Inject)
	row = Row{Scenario: s.Name(), Variant: s.Variant(), DUT: string(s.DUT), Role: string(s.Role),
		InjectPct: s.Inject, K: k, N: n, TraceType: fmt.Sprintf("0x%06x", s.TraceType),
		ExtFlags: fmt.Sprintf("0x%02x", s.ExtFlags), Steer: s.Steer, Workers: s.Workers, Size: s.Size,
		Flows: o.Flows, TargetPPS: o.Rate}
	if s.Role == RoleForward {
		row.InjectPct, row.K, row.N, row.TraceType, row.ExtFlags = 0, 0, 0, "", ""
	}
	fail := func(err error) Row {
		row.Error = err.Error()
		return row
	}
	spec, err := Stream(s, tb, o.Flows)
	if err != nil {
		return fail(err)
	}
	genQueues := 1
	if s.DUT == Dexplane && s.Workers > 1 {
		// A veth delivers a frame on the RX queue matching the sender's
		// TX queue: the generator sends on as many queues as there are
		// workers, each flow on one.
		if q, err := tb.RxQueues(); err != nil || q < s.Workers {
			return fail(fmt.Errorf("%d workers: the dut's veths have %d queues (%v)", s.Workers, q, err))
		}
		genQueues = s.Workers
	}
	src, dst, err := gen.ResolveMACs(tb.HostA(), plan.HostIf, spec.Dst)
	if err != nil {
		return fail(err)
	}
	spec.SrcMAC, spec.DstMAC = src, dst

	// Where the DUT's per-packet work runs (see Options.Pin): kernel
	// forwarding and the generic-mode redirect are steered to the DUT's
	// CPU by RPS; dexplane's worker is pinned there by taskset while its
	// XDP steering runs in the sender's context, like a NIC's NAPI on
	// another core.
	rps, redirectMode := -1, o.DUT.AttachMode
	if o.Pin && s.DUT != Dexplane && s.DUT != AFXDPFloor {
		rps, redirectMode = o.DUTCPU, "generic"
	}
	if err := tb.SteerRPS(rps); err != nil {
		return fail(err)
	}
	var dut runningDUT
	switch s.DUT {
	case Kernel:
		dut = kernelDUT{}
	case XDPRedirect:
		if dut, err = startRedirect(tb, redirectMode); err != nil {
			return fail(err)
		}
	case Dexplane:
		var cpus []int
		if o.Pin {
			cpus = []int{o.GenCPU}
		}
		col, err := startCollector(tb.DUT(), cpus)
		if err != nil {
			return fail(err)
		}
		defer func() {
			msgs, _, cerr := col.close()
			row.ExportMsgs = msgs
			if cerr != nil && row.Error == "" {
				row.Error = cerr.Error()
			}
		}()
		if dut, err = startDexplane(tb, s, o.DUT, tag); err != nil {
			return fail(err)
		}
	case AFXDPFloor:
		if dut, err = startFloor(tb, o.DUT, tag); err != nil {
			return fail(err)
		}
	default:
		return fail(fmt.Errorf("unknown DUT %q", s.DUT))
	}
	mc := gen.MeasureConfig{
		Gen:       gen.GenConfig{Netns: tb.HostA(), Iface: plan.HostIf, Stream: spec, Rate: o.Rate, Queues: genQueues},
		SinkNetns: tb.HostB(), SinkIface: plan.HostIf, SinkQueues: max(tb.Queues, 1),
		Warmup: o.Warmup, Duration: o.Duration,
		DUT: dut.CPU(), Progress: progress,
	}
	if o.Pin {
		mc.Gen.CPUs, mc.SinkCPUs, mc.DUTCores = []int{o.GenCPU}, []int{o.GenCPU}, []int{o.DUTCPU}
	}
	res, merr := gen.Measure(ctx, mc)
	serr := dut.Stop()
	if err := errors.Join(merr, serr); err != nil {
		return fail(err)
	}
	row.WindowS = res.Window.Seconds()
	row.OfferedPPS, row.RxPPS, row.RxMbps = res.OfferedPPS, res.RxPPS, res.RxBitsPerSec/1e6
	row.RxDEXFrac = res.RxDEXFraction
	row.Sent, row.Received, row.Lost, row.LossPct = res.Sent, res.Received, res.Lost, res.LossPct
	row.Corrupt, row.Late = res.Corrupt, res.Late
	row.SinkDrops = res.SinkDrops.Total()
	row.DUTProcCPUS, row.DUTProcNsPerPkt = res.DUTCPU.Seconds(), res.DUTNsPerPkt
	row.SoftirqCPUS, row.SoftirqNsPerPkt = res.SoftirqCPU.Seconds(), res.SoftirqNsPerPkt
	row.DUTCoreCPUS, row.DUTCoreNsPerPkt = res.CoreCPU.Seconds(), res.CoreNsPerPkt
	row.MachineCPUS, row.MachineNsPerPkt = res.MachineCPU.Seconds(), res.MachineNsPerPkt
	row.Limit = string(res.Limit)
	row.Check = CheckDEX(s, res.RxDEXFraction)
	return row
}

// ExpectedDEXFraction is the share of frames that should reach the sink
// with a DEX option in scenario s.
func ExpectedDEXFraction(s Scenario) float64 {
	if s.Role.IsEncap() || s.Role == RoleTransit {
		k, n := gen.InjectionKN(s.Inject)
		return float64(k) / float64(n)
	}
	return 0
}

// CheckDEX compares the DEX share seen at the sink with the expected one
// (tolerance 2 points plus 5 % of the expected share).
func CheckDEX(s Scenario, got float64) string {
	want := ExpectedDEXFraction(s)
	if d := got - want; d > 0.02+0.05*want || d < -(0.02+0.05*want) {
		return fmt.Sprintf("dex-share %.4f want %.4f", got, want)
	}
	return "ok"
}
