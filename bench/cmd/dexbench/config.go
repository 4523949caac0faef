package main

import (
	"context"
	"flag"
	"fmt"
	"os"

	"github.com/dexplane/dexplane/bench/scenario"
	"github.com/dexplane/dexplane/internal/testbed/plan"
)

// runConfig prints the dexplane config of one scenario, for DUTs the
// harness does not start itself (the TRex runner's DUT hook).
func runConfig(_ context.Context, args []string) int {
	fs := flag.NewFlagSet("config", flag.ContinueOnError)
	role := fs.String("role", "forward", "forward (IOAM off), encap-inline, encap-ip6ip6, encap-ip6ip6-tunsrc, transit or decap")
	inject := fs.Float64("inject", 100, "DEX injection rate in percent (encap: the route's k/n)")
	tt := fs.String("trace-type", "0x800000", "DEX trace type")
	ext := fs.String("ext-flags", "0x00", "DEX extension flags")
	steer := fs.String("steer", "all", "all or sampled")
	workers := fs.Int("workers", 1, "queues/workers per port")
	west := fs.String("west", plan.West, "port 0 (towards the generator)")
	east := fs.String("east", plan.East, "port 1 (towards the sink)")
	cpus := fs.String("cpus", "", "worker CPU list, e.g. 2-5")
	attach := fs.String("attach", "auto", "XDP attach mode: auto, native, generic")
	exportRate := fs.Uint64("export-rate", 0, "export.rate_limit.records_per_second (0: default)")
	if err := fs.Parse(args); err != nil {
		return 2
	}
	t, err := parseUint("trace-type", *tt, 0xFFFFFF)
	if err != nil {
		return fail("config", err)
	}
	e, err := parseUint("ext-flags", *ext, 0xFF)
	if err != nil {
		return fail("config", err)
	}
	s := scenario.Scenario{DUT: scenario.Dexplane, Role: scenario.Role(*role), Inject: *inject, TraceType: uint32(t),
		ExtFlags: uint8(e), Steer: *steer, Workers: *workers, Size: 1500}
	y, err := scenario.DexplaneConfig(s, scenario.ConfigOptions{AttachMode: *attach, ExportRate: *exportRate,
		West: *west, East: *east, CPUs: *cpus})
	if err != nil {
		return fail("config", err)
	}
	if _, err := os.Stdout.Write(y); err != nil {
		return fail("config", err)
	}
	return 0
}

// runRedirect attaches the plain XDP redirect baseline to two ports until
// interrupted (for NIC testbeds; the netns runner attaches it itself).
func runRedirect(ctx context.Context, args []string) int {
	fs := flag.NewFlagSet("redirect", flag.ContinueOnError)
	west := fs.String("west", plan.West, "port 0")
	east := fs.String("east", plan.East, "port 1")
	netns := fs.String("netns", "", "network namespace of the ports")
	attach := fs.String("attach", "auto", "XDP attach mode: auto, native, generic")
	if err := fs.Parse(args); err != nil {
		return 2
	}
	d, err := scenario.AttachRedirect(*netns, *west, *east, *attach)
	if err != nil {
		return fail("redirect", err)
	}
	fmt.Fprintf(os.Stderr, "dxp_redirect attached to %s and %s; Ctrl-C or SIGTERM detaches\n", *west, *east)
	<-ctx.Done()
	if err := d.Stop(); err != nil {
		return fail("redirect", err)
	}
	return 0
}
