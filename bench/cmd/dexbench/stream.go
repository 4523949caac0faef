package main

import (
	"flag"
	"fmt"
	"net"
	"net/netip"
	"strconv"
	"strings"

	"github.com/dexplane/dexplane/bench/gen"
	"github.com/dexplane/dexplane/dataplane/packet"
)

// streamFlags are the flags describing a generator stream, shared by the
// gen and pair commands.
type streamFlags struct {
	netns, iface   string
	src, dst       string
	srcMAC, dstMAC string
	sport, dport   uint
	size           int
	flows          int
	spread         string
	dex            string
	inject         float64
	freq           string
	ns             uint
	traceType      string
	extFlags       string
	tunSrc, tunDst string
	rate           float64
	batch          int
	count          uint64
	dexFlowIDBase  uint
	hopLimit       uint
}

func (s *streamFlags) register(fs *flag.FlagSet) {
	fs.StringVar(&s.netns, "netns", "", "network namespace to send from (default: current)")
	fs.StringVar(&s.iface, "if", "eth0", "interface to send on (queue 0)")
	fs.StringVar(&s.src, "src", "2001:db8:1::a", "IPv6 source of the first flow")
	fs.StringVar(&s.dst, "dst", "2001:db8:1::b", "IPv6 destination of the first flow")
	fs.StringVar(&s.srcMAC, "src-mac", "", "source MAC (default: the interface's)")
	fs.StringVar(&s.dstMAC, "dst-mac", "", "destination MAC (default: neighbour entry of the next hop to -dst)")
	fs.UintVar(&s.sport, "sport", 40000, "UDP source port of the first flow")
	fs.UintVar(&s.dport, "dport", 5001, "UDP destination port of the first flow")
	fs.IntVar(&s.size, "size", 1500, "IPv6 packet size in octets (frame = size+14); 64, 512, 1500 …")
	fs.IntVar(&s.flows, "flows", 16, "number of flows (source ports); ignored with -spread")
	fs.StringVar(&s.spread, "spread", "", "5-tuple spread, e.g. sport=16,dport=2,src=4,dst=1 (addresses vary in the low 32 bits)")
	fs.StringVar(&s.dex, "dex", "none", "DEX in generated packets: none, inline or ip6ip6")
	fs.Float64Var(&s.inject, "inject", 100, "percent of packets carrying DEX (mapped to k/n as the paper: 0.001 → 1/100000)")
	fs.StringVar(&s.freq, "freq", "", "k/n DEX frequency (overrides -inject), e.g. 1/100")
	fs.UintVar(&s.ns, "ns", 123, "DEX namespace id")
	fs.StringVar(&s.traceType, "trace-type", "0x800000", "DEX IOAM-Trace-Type (24-bit)")
	fs.StringVar(&s.extFlags, "ext-flags", "0x00", "DEX extension flags (0x80 flow id, 0x40 seq)")
	fs.StringVar(&s.tunSrc, "tunsrc", "2001:db8:ff::a", "outer source for -dex ip6ip6")
	fs.StringVar(&s.tunDst, "tundst", "2001:db8:ff::b", "outer destination for -dex ip6ip6")
	fs.Float64Var(&s.rate, "rate", 0, "target packets per second (0: flat out)")
	fs.IntVar(&s.batch, "batch", 64, "frames queued per loop")
	fs.Uint64Var(&s.count, "count", 0, "stop after this many packets (0: until the duration ends)")
	fs.UintVar(&s.dexFlowIDBase, "dex-flow-id", 0x1000, "DEX Flow ID of flow 0 (flow f gets base+f)")
	fs.UintVar(&s.hopLimit, "hop-limit", 64, "IPv6 hop limit")
}

// parseUint parses a decimal or 0x-prefixed number no larger than max.
func parseUint(name, s string, max uint64) (uint64, error) {
	v, err := strconv.ParseUint(s, 0, 64)
	if err != nil || v > max {
		return 0, fmt.Errorf("-%s %q: want a number ≤ %#x", name, s, max)
	}
	return v, nil
}

// parseSpread parses "sport=16,dst=4".
func parseSpread(s string) (gen.Spread, error) {
	var sp gen.Spread
	for _, kv := range strings.Split(s, ",") {
		k, v, ok := strings.Cut(strings.TrimSpace(kv), "=")
		n, err := strconv.Atoi(v)
		if !ok || err != nil || n < 1 {
			return sp, fmt.Errorf("-spread %q: want FIELD=COUNT[,…] with FIELD src, dst, sport or dport", s)
		}
		switch k {
		case "src":
			sp.SrcAddrs = n
		case "dst":
			sp.DstAddrs = n
		case "sport":
			sp.SrcPorts = n
		case "dport":
			sp.DstPorts = n
		default:
			return sp, fmt.Errorf("-spread: unknown field %q (want src, dst, sport, dport)", k)
		}
	}
	return sp, nil
}

// config turns the flags into a generator configuration, resolving MAC
// addresses inside the namespace when they are not given.
func (s *streamFlags) config() (gen.GenConfig, error) {
	var c gen.GenConfig
	src, err := netip.ParseAddr(s.src)
	if err != nil {
		return c, fmt.Errorf("-src: %w", err)
	}
	dst, err := netip.ParseAddr(s.dst)
	if err != nil {
		return c, fmt.Errorf("-dst: %w", err)
	}
	mode, err := gen.ParseDEXMode(s.dex)
	if err != nil {
		return c, err
	}
	tt, err := parseUint("trace-type", s.traceType, 0xFFFFFF)
	if err != nil {
		return c, err
	}
	ext, err := parseUint("ext-flags", s.extFlags, 0xFF)
	if err != nil {
		return c, err
	}
	k, n := gen.InjectionKN(s.inject)
	if s.freq != "" {
		if k, n, err = gen.ParseFreq(s.freq); err != nil {
			return c, err
		}
	}
	spread := gen.Spread{SrcPorts: s.flows}
	if s.spread != "" {
		if spread, err = parseSpread(s.spread); err != nil {
			return c, err
		}
	}
	spec := gen.StreamSpec{
		Size: s.size, Src: src, Dst: dst, SrcPort: uint16(s.sport), DstPort: uint16(s.dport),
		Spread: spread, HopLimit: uint8(s.hopLimit), Mode: mode, K: k, N: n,
		DEX: gen.DEX{DEX: packet.DEX{Namespace: uint16(s.ns), ExtFlags: uint8(ext), TraceType: uint32(tt), FlowID: uint32(s.dexFlowIDBase)}},
	}
	if mode == packet.EncapIP6IP6 {
		if spec.TunSrc, err = netip.ParseAddr(s.tunSrc); err != nil {
			return c, fmt.Errorf("-tunsrc: %w", err)
		}
		if spec.TunDst, err = netip.ParseAddr(s.tunDst); err != nil {
			return c, fmt.Errorf("-tundst: %w", err)
		}
	}
	if s.srcMAC == "" || s.dstMAC == "" {
		sm, dm, err := gen.ResolveMACs(s.netns, s.iface, dst)
		if s.srcMAC == "" {
			spec.SrcMAC = sm
		}
		if s.dstMAC == "" {
			if err != nil {
				return c, err
			}
			spec.DstMAC = dm
		}
	}
	if s.srcMAC != "" {
		if spec.SrcMAC, err = net.ParseMAC(s.srcMAC); err != nil {
			return c, fmt.Errorf("-src-mac: %w", err)
		}
	}
	if s.dstMAC != "" {
		if spec.DstMAC, err = net.ParseMAC(s.dstMAC); err != nil {
			return c, fmt.Errorf("-dst-mac: %w", err)
		}
	}
	return gen.GenConfig{Netns: s.netns, Iface: s.iface, Stream: spec, Rate: s.rate, Batch: s.batch, Count: s.count}, nil
}
