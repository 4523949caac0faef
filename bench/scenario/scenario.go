// Package scenario runs dexplane's benchmark matrix: the paper's evaluation
// (role × DEX injection rate × trace type × extension flags, plus steering
// mode and worker count) with its baselines — kernel IPv6 forwarding, a
// plain XDP redirect and dexplane with IOAM off — measured in the same run,
// on the same veth testbeds, with the same traffic (package bench/gen).
//
// Repetitions are interleaved: repetition r of every scenario runs before
// repetition r+1 of any, so that slow drifts of a shared machine spread
// over all scenarios instead of biasing the ones measured last.
package scenario

import (
	"fmt"
	"strings"
)

// DUTKind is the device under test.
type DUTKind string

// The devices under test.
const (
	// Kernel is Linux IPv6 forwarding in the dut namespace of the router
	// testbed (the paper's baseline).
	Kernel DUTKind = "kernel"
	// XDPRedirect is steering's dxp_redirect on both dut ports of the bitw
	// testbed: every frame to the peer port (the ceiling).
	XDPRedirect DUTKind = "xdp-redirect"
	// Dexplane is `dexplane run` in the dut namespace of the bitw testbed.
	Dexplane DUTKind = "dexplane"
	// AFXDPFloor is bench/floor/afxdp-floor.c, a minimal C AF_XDP L2
	// forwarder (libxdp, shared UMEM, batch 64, busy loop), in the dut
	// namespace of the bitw testbed and the same layout as dexplane: what
	// a userspace bump in the wire costs when it does nothing per packet.
	AFXDPFloor DUTKind = "afxdp-floor"
)

// Role is what the DUT does to the traffic.
type Role string

// Roles. RoleForward is IOAM off (plain forwarding); the others are the
// paper's five columns (spec §4.10).
const (
	RoleForward           Role = "forward"
	RoleEncapInline       Role = "encap-inline"
	RoleEncapIP6IP6       Role = "encap-ip6ip6"
	RoleEncapIP6IP6TunSrc Role = "encap-ip6ip6-tunsrc"
	RoleTransit           Role = "transit"
	RoleDecap             Role = "decap"
)

// Roles lists the IOAM roles in the paper's order.
var Roles = []Role{RoleEncapInline, RoleEncapIP6IP6, RoleEncapIP6IP6TunSrc, RoleTransit, RoleDecap}

// IsEncap reports whether the DUT inserts DEX.
func (r Role) IsEncap() bool {
	return r == RoleEncapInline || r == RoleEncapIP6IP6 || r == RoleEncapIP6IP6TunSrc
}

// InjectionRates are the paper's DEX injection rates in percent.
var InjectionRates = []float64{0.001, 1, 5, 10, 25, 50, 100}

// DefaultTraceType is the paper's default trace type (bit 0: hop limit
// and node id).
const DefaultTraceType = 0x800000

// TraceTypes are the trace types the full matrix sweeps for encap inline:
// single bits as the paper (0, 1, 2 = timestamp seconds, 3 = fraction,
// 8 = wide node id) and a realistic combination (bits 0-3: node id,
// interfaces, timestamp).
var TraceTypes = []uint32{0x800000, 0x400000, 0x200000, 0x100000, 0x008000, 0xF00000}

// ExtFlags are the extension flag values of the paper.
var ExtFlags = []uint8{0x00, 0x80, 0xC0}

// Scenario is one cell of the matrix.
type Scenario struct {
	DUT  DUTKind
	Role Role
	// Inject is the DEX injection rate in percent (encap: the route's
	// k/n; transit and decap: the share of generated packets with DEX).
	Inject    float64
	TraceType uint32
	ExtFlags  uint8
	// Steer is a policy.Steer keyword, "all" or "sampled" (dexplane only).
	Steer string
	// Workers is the number of dexplane queues/workers.
	Workers int
	// Size is the IPv6 packet size leaving the DUT for encap and entering
	// it otherwise (the paper's 1500-byte packets).
	Size int
	// TraceSize, when not 0, replaces DEX by a Pre-allocated Trace of that
	// many octets of node data (RFC 9197; trace type TraceType).
	TraceSize int
}

// Name identifies the scenario in CSV files, summaries and plots.
func (s Scenario) Name() string {
	switch {
	case s.DUT != Dexplane:
		return fmt.Sprintf("%s/%d", s.DUT, s.Size)
	case s.Role == RoleForward:
		return fmt.Sprintf("dexplane-ioam-off/%s/w%d/%d", s.Steer, s.Workers, s.Size)
	}
	if s.TraceSize > 0 {
		return fmt.Sprintf("%s/%s/pto%d/tt%06x/%s/w%d/%d", s.Role, fmtPct(s.Inject), s.TraceSize, s.TraceType,
			s.Steer, s.Workers, s.Size)
	}
	return fmt.Sprintf("%s/%s/tt%06x/ext%02x/%s/w%d/%d", s.Role, fmtPct(s.Inject), s.TraceType, s.ExtFlags,
		s.Steer, s.Workers, s.Size)
}

// Variant is the scenario's name without the injection rate: the line a
// plot draws across injection rates.
func (s Scenario) Variant() string {
	if s.DUT != Dexplane || s.Role == RoleForward {
		return s.Name()
	}
	if s.TraceSize > 0 {
		return fmt.Sprintf("pto=%d tt=0x%06x %s w%d", s.TraceSize, s.TraceType, s.Steer, s.Workers)
	}
	return fmt.Sprintf("tt=0x%06x ext=0x%02x %s w%d", s.TraceType, s.ExtFlags, s.Steer, s.Workers)
}

// fmtPct formats an injection rate without trailing zeros: "0.001%".
func fmtPct(p float64) string {
	return strings.TrimRight(strings.TrimRight(fmt.Sprintf("%.3f", p), "0"), ".") + "%"
}

// Baselines returns the baselines for one packet size: kernel forwarding,
// plain XDP redirect, the C AF_XDP floor and dexplane with IOAM off (steer
// all, and steer sampled with nothing selected).
func Baselines(size, workers int) []Scenario {
	return []Scenario{
		{DUT: Kernel, Role: RoleForward, Size: size},
		{DUT: XDPRedirect, Role: RoleForward, Size: size},
		{DUT: AFXDPFloor, Role: RoleForward, Size: size},
		{DUT: Dexplane, Role: RoleForward, Steer: "all", Workers: workers, Size: size},
		{DUT: Dexplane, Role: RoleForward, Steer: "sampled", Workers: workers, Size: size},
	}
}

// Quick is the smoke matrix (well under 3 minutes with one repetition):
// the baselines and each role at 100 % and 1 % at 1500 bytes, and the
// Pre-allocated Trace rows (PTORows).
func Quick() []Scenario {
	out := Baselines(1500, 1)
	for _, r := range Roles {
		if r == RoleEncapIP6IP6TunSrc {
			continue
		}
		for _, p := range []float64{1, 100} {
			out = append(out, dx(r, p, DefaultTraceType, 0x00, "all", 1))
		}
	}
	return append(out, PTORows()...)
}

// PTOTraceSizes are the Pre-allocated Trace sizes of PTORows, in octets:
// three nodes of type 0x800000, and four nodes of type 0xc00000 (hop limit,
// node id, interface ids).
var PTOTraceSizes = []int{12, 48}

// PTORows are the Pre-allocated Trace rows beside DEX: encap inline, encap
// ip6ip6 and transit with every packet carrying a trace of each size of
// PTOTraceSizes (type 0x800000 for 12 octets, 0xc00000 for 48).
func PTORows() []Scenario {
	var out []Scenario
	for _, size := range PTOTraceSizes {
		tt := uint32(0x800000)
		if size == 48 {
			tt = 0xC00000
		}
		for _, r := range []Role{RoleEncapInline, RoleEncapIP6IP6, RoleTransit} {
			s := dx(r, 100, tt, 0x00, "all", 1)
			s.TraceSize = size
			out = append(out, s)
		}
	}
	return out
}

func dx(r Role, pct float64, tt uint32, ext uint8, steer string, workers int) Scenario {
	return Scenario{DUT: Dexplane, Role: r, Inject: pct, TraceType: tt, ExtFlags: ext, Steer: steer, Workers: workers, Size: 1500}
}

// Full is the paper's matrix, varied one factor at a time around the
// paper's defaults (trace type 0x800000, ext-flags 0x00, steer all, one
// worker, 1500 bytes), as the paper's figures do:
//   - every role at every injection rate;
//   - encap inline and encap ip6ip6 with ext-flags 0x80 and 0xC0, and
//     transit with 0xC0, at every rate;
//   - encap inline with every trace type of TraceTypes at every rate;
//   - steer sampled for encap inline, encap ip6ip6 and transit at every rate;
//   - the baselines at 64 and 512 bytes too;
//   - two workers (two-queue veths, the generator sending on both queues):
//     dexplane IOAM off and every role at 1 % and 100 %.
func Full() []Scenario {
	var out []Scenario
	for _, size := range []int{1500, 512, 64} {
		out = append(out, Baselines(size, 1)...)
	}
	for _, r := range Roles {
		for _, p := range InjectionRates {
			out = append(out, dx(r, p, DefaultTraceType, 0x00, "all", 1))
		}
	}
	for _, r := range []Role{RoleEncapInline, RoleEncapIP6IP6, RoleTransit} {
		for _, ext := range ExtFlags[1:] {
			if r == RoleTransit && ext != 0xC0 {
				continue
			}
			for _, p := range InjectionRates {
				out = append(out, dx(r, p, DefaultTraceType, ext, "all", 1))
			}
		}
	}
	for _, tt := range TraceTypes[1:] {
		for _, p := range InjectionRates {
			out = append(out, dx(RoleEncapInline, p, tt, 0x00, "all", 1))
		}
	}
	for _, r := range []Role{RoleEncapInline, RoleEncapIP6IP6, RoleTransit} {
		for _, p := range InjectionRates {
			out = append(out, dx(r, p, DefaultTraceType, 0x00, "sampled", 1))
		}
	}
	out = append(out, PTORows()...)
	out = append(out, Scenario{DUT: Dexplane, Role: RoleForward, Steer: "all", Workers: 2, Size: 1500})
	for _, r := range Roles {
		for _, p := range []float64{1, 100} {
			out = append(out, dx(r, p, DefaultTraceType, 0x00, "all", 2))
		}
	}
	return out
}

// Filter keeps the scenarios whose name matches expr ("" keeps all):
// alternatives separated by ";", each a comma-separated list of terms that
// must all occur in the name ("!term": must not occur). Baselines of the
// kept scenarios' sizes are always kept.
func Filter(in []Scenario, expr string) []Scenario {
	if expr == "" {
		return in
	}
	var alts [][]string
	for _, a := range strings.Split(expr, ";") {
		if a = strings.TrimSpace(a); a != "" {
			alts = append(alts, strings.Split(a, ","))
		}
	}
	matchAll := func(name string, terms []string) bool {
		for _, t := range terms {
			if neg, ok := strings.CutPrefix(t, "!"); ok {
				if strings.Contains(name, neg) {
					return false
				}
			} else if !strings.Contains(name, t) {
				return false
			}
		}
		return true
	}
	match := func(name string) bool {
		for _, terms := range alts {
			if matchAll(name, terms) {
				return true
			}
		}
		return false
	}
	sizes := map[int]bool{}
	for _, s := range in {
		if match(s.Name()) {
			sizes[s.Size] = true
		}
	}
	var out []Scenario
	for _, s := range in {
		// A two-worker baseline comes only with two-worker scenarios: it
		// needs a two-queue testbed.
		isBase := s.DUT != Dexplane || (s.Role == RoleForward && s.Workers <= 1)
		if match(s.Name()) || (isBase && sizes[s.Size]) {
			out = append(out, s)
		}
	}
	return out
}
