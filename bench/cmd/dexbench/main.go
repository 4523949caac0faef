// Command dexbench is dexplane's benchmark harness: an AF_XDP traffic
// generator and sink for network namespaces, the scenario matrix of the
// paper's evaluation with its baselines, and plots.
//
//	dexbench pair  [flags]   generator → DUT → sink, one measurement, one report
//	dexbench gen   [flags]   generator only (until -duration or Ctrl-C)
//	dexbench sink  [flags]   sink only (until -duration or Ctrl-C)
//	dexbench run   [flags]   scenario matrix with baselines → CSV, summary, plots
//	dexbench plot  [flags]   plots and summary from existing CSV files
//	dexbench config [flags]  the dexplane config of one scenario (TRex DUTs)
//	dexbench redirect [flags] the XDP redirect baseline on two ports (TRex DUTs)
//
// All but plot need root. See bench/README.md.
package main

import (
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"os"
	"os/signal"
	"syscall"
	"time"

	"github.com/dexplane/dexplane/bench/gen"
	"github.com/dexplane/dexplane/internal/cli"
)

// commands are dexbench's subcommands; run receives the arguments after the
// subcommand name and a context cancelled on SIGINT or SIGTERM, and returns
// the process exit code.
var commands = cli.Commands[func(ctx context.Context, args []string) int]{
	"pair":     {Summary: "one measurement: generator in one namespace, sink in another", Run: runPair},
	"gen":      {Summary: "generator only", Run: runGen},
	"sink":     {Summary: "sink only", Run: runSink},
	"run":      {Summary: "scenario matrix with baselines: CSV, summary table, plots", Run: runScenarios},
	"plot":     {Summary: "summary table and plots from CSV files", Run: runPlot},
	"config":   {Summary: "print the dexplane config of one scenario (for DUTs on other machines)", Run: runConfig},
	"redirect": {Summary: "attach the plain XDP redirect baseline to two ports until interrupted", Run: runRedirect},
}

func main() {
	cmd, code, ok := commands.Lookup("dexbench", os.Args[1:])
	if !ok {
		os.Exit(code)
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	code = cmd.Run(ctx, os.Args[2:])
	stop()
	os.Exit(code)
}

// withDuration bounds ctx to d, or leaves it unbounded when d is 0.
func withDuration(ctx context.Context, d time.Duration) (context.Context, context.CancelFunc) {
	if d > 0 {
		return context.WithTimeout(ctx, d)
	}
	return context.WithCancel(ctx)
}

func fail(cmd string, err error) int {
	fmt.Fprintf(os.Stderr, "dexbench %s: %v\n", cmd, err)
	return 1
}

func runPair(ctx context.Context, args []string) int {
	fs := flag.NewFlagSet("pair", flag.ContinueOnError)
	var sf streamFlags
	sf.register(fs)
	sinkNS := fs.String("sink-netns", "", "network namespace of the sink")
	sinkIf := fs.String("sink-if", "eth0", "interface of the sink (queue 0; its XDP program is replaced while the sink runs)")
	warmup := fs.Duration("warmup", time.Second, "traffic before the measurement window")
	dur := fs.Duration("duration", 5*time.Second, "measurement window")
	dutPID := fs.Int("dut-pid", 0, "pid of the device under test, for its CPU time per packet")
	asJSON := fs.Bool("json", false, "print the result as JSON")
	if err := fs.Parse(args); err != nil {
		return 2
	}
	gc, err := sf.config()
	if err != nil {
		return fail("pair", err)
	}
	mc := gen.MeasureConfig{Gen: gc, SinkNetns: *sinkNS, SinkIface: *sinkIf, Warmup: *warmup, Duration: *dur}
	if *dutPID > 0 {
		mc.DUT = gen.ProcessCPU{PID: *dutPID}
	}
	if !*asJSON {
		mc.Progress = func(el time.Duration, c gen.SinkCounters) {
			fmt.Fprintf(os.Stderr, "\r%5.1fs received %d", el.Seconds(), c.Received)
		}
	}
	r, err := gen.Measure(ctx, mc)
	if !*asJSON {
		fmt.Fprintln(os.Stderr)
	}
	if err != nil {
		return fail("pair", err)
	}
	if *asJSON {
		enc := json.NewEncoder(os.Stdout)
		enc.SetIndent("", "  ")
		if err := enc.Encode(r); err != nil {
			return fail("pair", err)
		}
		return 0
	}
	fmt.Print(r)
	return 0
}

func runGen(ctx context.Context, args []string) int {
	fs := flag.NewFlagSet("gen", flag.ContinueOnError)
	var sf streamFlags
	sf.register(fs)
	dur := fs.Duration("duration", 0, "stop after this long (0: until Ctrl-C or -count)")
	if err := fs.Parse(args); err != nil {
		return 2
	}
	gc, err := sf.config()
	if err != nil {
		return fail("gen", err)
	}
	g, err := gen.NewGenerator(gc)
	if err != nil {
		return fail("gen", err)
	}
	ctx, cancel := withDuration(ctx, *dur)
	defer cancel()
	start := time.Now()
	if err := g.Start(ctx); err != nil {
		return fail("gen", err)
	}
	err = g.Wait()
	c := g.Counters()
	el := time.Since(start).Seconds()
	fmt.Printf("sent %d frames (%d with DEX, %d octets) in %.2fs = %.0f pps; ring-full loops %d, tx errors %d\n",
		c.Sent, c.SentDEX, c.Bytes, el, float64(c.Sent)/el, c.RingFull, c.Errors)
	if gc.Rate > 0 && float64(c.Sent)/el < 0.97*gc.Rate {
		fmt.Printf("limit: GENERATOR (%.0f of %.0f pps target)\n", float64(c.Sent)/el, gc.Rate)
	}
	if err != nil {
		return fail("gen", err)
	}
	return 0
}

func runSink(ctx context.Context, args []string) int {
	fs := flag.NewFlagSet("sink", flag.ContinueOnError)
	netns := fs.String("netns", "", "network namespace to receive in")
	iface := fs.String("if", "eth0", "interface (queue 0; its XDP program is replaced while the sink runs)")
	flows := fs.Int("flows", 65536, "flow indexes to track")
	dur := fs.Duration("duration", 0, "stop after this long (0: until Ctrl-C)")
	if err := fs.Parse(args); err != nil {
		return 2
	}
	s := gen.NewSink(gen.SinkConfig{Netns: *netns, Iface: *iface, Flows: *flows})
	ctx, cancel := withDuration(ctx, *dur)
	defer cancel()
	start := time.Now()
	if err := s.Start(ctx); err != nil {
		return fail("sink", err)
	}
	err := s.Wait()
	c := s.Counters()
	el := time.Since(start).Seconds()
	var missing uint64
	active := 0
	for _, f := range s.Flows() {
		if f.Received > 0 {
			active++
			missing += uint64(f.Next) - min(f.Received, uint64(f.Next))
		}
	}
	d := s.Drops()
	fmt.Printf("received %d frames (%d with DEX, %d ip6ip6) in %.2fs = %.0f pps over %d flows\n",
		c.Received, c.WithDEX, c.Encapsulated, el, float64(c.Received)/el, active)
	fmt.Printf("missing by sequence %d, late %d, corrupt %d, foreign %d; socket drops %d (rx ring full %d, fill ring empty %d)\n",
		missing, c.Late, c.Corrupt, c.Foreign, d.Dropped, d.RxRingFull, d.FillRingEmpty)
	if err != nil {
		return fail("sink", err)
	}
	return 0
}
