package scenario

import (
	"fmt"
	"io"
	"math"
	"sort"
	"strings"
)

// Stat is a median with its spread over repetitions.
type Stat struct {
	Median, Min, Max float64
	N                int
}

// newStat summarises xs (NaN values are ignored).
func newStat(xs []float64) Stat {
	var v []float64
	for _, x := range xs {
		if !math.IsNaN(x) {
			v = append(v, x)
		}
	}
	if len(v) == 0 {
		return Stat{Median: math.NaN(), Min: math.NaN(), Max: math.NaN()}
	}
	sort.Float64s(v)
	m := v[len(v)/2]
	if len(v)%2 == 0 {
		m = (v[len(v)/2-1] + v[len(v)/2]) / 2
	}
	return Stat{Median: m, Min: v[0], Max: v[len(v)-1], N: len(v)}
}

// SpreadPct is (max-min)/median in percent.
func (s Stat) SpreadPct() float64 {
	if s.Median == 0 {
		return math.NaN()
	}
	return 100 * (s.Max - s.Min) / s.Median
}

// Summary is one scenario's aggregate over its successful repetitions.
type Summary struct {
	// First is the scenario's first row (for its descriptive columns).
	First Row
	// RxPPS, OfferedPPS, ProcNs, SoftirqNs and CoreNs summarise the
	// columns rx_pps, offered_pps, dut_proc_ns_per_pkt, softirq_ns_per_pkt
	// and dut_core_ns_per_pkt; LossPct the loss; DEXFrac the DEX share at
	// the sink.
	RxPPS, OfferedPPS, ProcNs, SoftirqNs, CoreNs, LossPct, DEXFrac Stat
	// MachineNs summarises machine_ns_per_pkt (all CPUs' busy time per
	// received packet).
	MachineNs Stat
	// Errors counts failed repetitions, BadChecks repetitions whose DUT
	// did not do the scenario's job (Row.Check); Limits counts rows per
	// limit.
	Errors, BadChecks int
	Limits            map[string]int
	// VsKernel, VsRedirect and VsIOAMOff are RxPPS.Median divided by the
	// median of the same-size baseline of the same run (NaN if absent).
	VsKernel, VsRedirect, VsIOAMOff float64
	// VsFloor is RxPPS.Median over the afxdp-floor baseline's.
	VsFloor float64
	// CPUVsKernel and CPUVsFloor compare machine-wide CPU per packet the
	// other way round, baseline ÷ this, so that like the rate ratios more
	// is better: 0.9× means 11 % more CPU per packet than the baseline.
	CPUVsKernel, CPUVsFloor float64
}

// key groups rows of one scenario in one run.
func key(r *Row) string { return r.RunID + "|" + r.Scenario }

// Summarize groups rows by run and scenario, in first-seen order, and
// computes ratios to the baselines of the same run.
func Summarize(rows []Row) []Summary {
	idx := map[string]int{}
	var groups [][]Row
	for _, r := range rows {
		k := key(&r)
		i, ok := idx[k]
		if !ok {
			i = len(groups)
			idx[k] = i
			groups = append(groups, nil)
		}
		groups[i] = append(groups[i], r)
	}
	out := make([]Summary, 0, len(groups))
	for _, g := range groups {
		s := Summary{First: g[0], Limits: map[string]int{}}
		var rx, off, proc, sirq, core, loss, dex, mach []float64
		for _, r := range g {
			if r.Error != "" {
				s.Errors++
				continue
			}
			rx = append(rx, r.RxPPS)
			off = append(off, r.OfferedPPS)
			p := r.DUTProcNsPerPkt
			if r.DUTProcCPUS == 0 {
				p = math.NaN()
			}
			proc = append(proc, p)
			sirq = append(sirq, r.SoftirqNsPerPkt)
			c := r.DUTCoreNsPerPkt
			if r.DUTCoreCPUS == 0 {
				c = math.NaN()
			}
			core = append(core, c)
			mc := r.MachineNsPerPkt
			if r.MachineCPUS == 0 {
				mc = math.NaN() // older CSV files have no such column
			}
			mach = append(mach, mc)
			loss = append(loss, r.LossPct)
			dex = append(dex, r.RxDEXFrac)
			s.Limits[r.Limit]++
			if r.Check != "" && r.Check != "ok" {
				s.BadChecks++
			}
		}
		s.RxPPS, s.OfferedPPS, s.ProcNs = newStat(rx), newStat(off), newStat(proc)
		s.SoftirqNs, s.CoreNs, s.LossPct, s.DEXFrac = newStat(sirq), newStat(core), newStat(loss), newStat(dex)
		s.MachineNs = newStat(mach)
		out = append(out, s)
	}
	find := func(runID string, size int, match func(r *Row) bool) *Summary {
		for i := range out {
			f := &out[i].First
			if f.RunID == runID && f.Size == size && match(f) {
				return &out[i]
			}
		}
		return nil
	}
	base := func(runID string, size int, match func(r *Row) bool) float64 {
		if b := find(runID, size, match); b != nil {
			return b.RxPPS.Median
		}
		return math.NaN()
	}
	cpuBase := func(runID string, size int, match func(r *Row) bool) float64 {
		if b := find(runID, size, match); b != nil {
			return b.MachineNs.Median
		}
		return math.NaN()
	}
	isKernel := func(r *Row) bool { return r.DUT == string(Kernel) }
	isFloor := func(r *Row) bool { return r.DUT == string(AFXDPFloor) }
	for i := range out {
		f := &out[i].First
		m := out[i].RxPPS.Median
		out[i].VsKernel = m / base(f.RunID, f.Size, isKernel)
		out[i].VsFloor = m / base(f.RunID, f.Size, isFloor)
		out[i].CPUVsKernel = cpuBase(f.RunID, f.Size, isKernel) / out[i].MachineNs.Median
		out[i].CPUVsFloor = cpuBase(f.RunID, f.Size, isFloor) / out[i].MachineNs.Median
		out[i].VsRedirect = m / base(f.RunID, f.Size, func(r *Row) bool { return r.DUT == string(XDPRedirect) })
		out[i].VsIOAMOff = m / base(f.RunID, f.Size, func(r *Row) bool {
			return r.DUT == string(Dexplane) && r.Role == string(RoleForward) && r.Steer == "all" && r.Workers == f.Workers
		})
	}
	return out
}

// fmtRatio formats a ratio as "0.93×", or "–" when unknown.
func fmtRatio(x float64) string {
	if math.IsNaN(x) || math.IsInf(x, 0) {
		return "–"
	}
	return fmt.Sprintf("%.2f×", x)
}

// fmtK formats packets per second in thousands.
func fmtK(x float64) string {
	if math.IsNaN(x) {
		return "–"
	}
	return fmt.Sprintf("%.1f", x/1e3)
}

func fmtNs(x float64) string {
	if math.IsNaN(x) {
		return "–"
	}
	return fmt.Sprintf("%.0f", x)
}

// WriteMarkdown writes the summary as a Markdown table.
func WriteMarkdown(w io.Writer, sums []Summary) error {
	var b strings.Builder
	b.WriteString("| scenario | n | rx kpps median [min–max] | spread | offered kpps | DUT core ns/pkt | machine ns/pkt | DUT proc ns/pkt | softirq ns/pkt | loss % | DEX at sink | vs kernel | vs XDP redirect | vs floor | vs IOAM off | CPU vs kernel | CPU vs floor | limit |\n")
	b.WriteString("|---|---|---|---|---|---|---|---|---|---|---|---|---|---|---|---|---|---|\n")
	for _, s := range sums {
		limits := make([]string, 0, len(s.Limits))
		for l, c := range s.Limits {
			limits = append(limits, fmt.Sprintf("%s×%d", l, c))
		}
		sort.Strings(limits)
		if s.Errors > 0 {
			limits = append(limits, fmt.Sprintf("ERRORS×%d", s.Errors))
		}
		if s.BadChecks > 0 {
			limits = append(limits, fmt.Sprintf("DEX-SHARE-WRONG×%d", s.BadChecks))
		}
		spread := "–"
		if sp := s.RxPPS.SpreadPct(); !math.IsNaN(sp) {
			spread = fmt.Sprintf("%.0f%%", sp)
		}
		dexs := "–"
		if !math.IsNaN(s.DEXFrac.Median) {
			dexs = fmt.Sprintf("%.3g%%", 100*s.DEXFrac.Median)
		}
		loss := "–"
		if !math.IsNaN(s.LossPct.Median) {
			loss = fmt.Sprintf("%.2f", s.LossPct.Median)
		}
		fmt.Fprintf(&b, "| %s | %d | %s [%s–%s] | %s | %s | %s | %s | %s | %s | %s | %s | %s | %s | %s | %s | %s | %s | %s |\n",
			s.First.Scenario, s.RxPPS.N, fmtK(s.RxPPS.Median), fmtK(s.RxPPS.Min), fmtK(s.RxPPS.Max), spread,
			fmtK(s.OfferedPPS.Median), fmtNs(s.CoreNs.Median), fmtNs(s.MachineNs.Median), fmtNs(s.ProcNs.Median), fmtNs(s.SoftirqNs.Median), loss, dexs,
			fmtRatio(s.VsKernel), fmtRatio(s.VsRedirect), fmtRatio(s.VsFloor), fmtRatio(s.VsIOAMOff),
			fmtRatio(s.CPUVsKernel), fmtRatio(s.CPUVsFloor), strings.Join(limits, " "))
	}
	_, err := io.WriteString(w, b.String())
	return err
}
