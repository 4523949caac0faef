// Package plot draws dexplane benchmark results (bench/scenario rows) in
// the style of the paper's figures: received packets per second against
// the DEX injection rate, one figure per role, one line per variant (trace
// type, extension flags, steering, workers), with the baselines of the same
// run drawn as horizontal lines. A second figure per role shows the DUT's
// CPU time per packet, which is steadier than pps on a shared machine.
package plot

import (
	"errors"
	"fmt"
	"image/color"
	"math"
	"os"
	"path/filepath"
	"sort"
	"strings"

	"gonum.org/v1/plot"
	"gonum.org/v1/plot/plotter"
	"gonum.org/v1/plot/plotutil"
	"gonum.org/v1/plot/vg"

	"github.com/dexplane/dexplane/bench/scenario"
)

// rates are the x positions: the paper's injection rates as categories.
var rates = scenario.InjectionRates

// rateIndex returns the category of an injection rate, or -1.
func rateIndex(p float64) int {
	for i, r := range rates {
		if math.Abs(r-p) < 1e-9 {
			return i
		}
	}
	return -1
}

// point is one median with its spread, with y in the unit of the figure.
type point struct {
	x, y, lo, hi float64
}

// series satisfies plotter.XYer and plotter.YErrorer.
type series []point

func (s series) Len() int                        { return len(s) }
func (s series) XY(i int) (float64, float64)     { return s[i].x, s[i].y }
func (s series) YError(i int) (float64, float64) { return s[i].y - s[i].lo, s[i].hi - s[i].y }

// metric selects what a figure shows.
type metric struct {
	file, ylabel string
	scale        float64
	get          func(s *scenario.Summary) scenario.Stat
	// baselines draws the kernel/redirect/IOAM-off lines.
	baselines bool
}

var metrics = []metric{
	{file: "rxpps", ylabel: "received packets/s (10^3)", scale: 1e-3, baselines: true,
		get: func(s *scenario.Summary) scenario.Stat { return s.RxPPS }},
	{file: "cpu", ylabel: "DUT CPU per received packet (ns)", scale: 1, baselines: true,
		get: cpuStat},
	{file: "machinecpu", ylabel: "all CPUs' busy time per received packet (ns)", scale: 1, baselines: true,
		get: func(s *scenario.Summary) scenario.Stat { return s.MachineNs }},
}

// cpuStat is the DUT's CPU per packet: the busy time of its reserved core
// when the run was pinned (comparable across DUT kinds), else the dexplane
// process's CPU time.
func cpuStat(s *scenario.Summary) scenario.Stat {
	if !math.IsNaN(s.CoreNs.Median) {
		return s.CoreNs
	}
	return s.ProcNs
}

// Figures writes PNG figures for every role, packet size and run found in
// sums into dir and returns the files written.
func Figures(sums []scenario.Summary, dir string) ([]string, error) {
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return nil, err
	}
	type fig struct {
		run  string
		role string
		size int
	}
	seen := map[fig]bool{}
	var figs []fig
	for i := range sums {
		f := &sums[i].First
		if f.DUT != string(scenario.Dexplane) || f.Role == string(scenario.RoleForward) {
			continue
		}
		k := fig{f.RunID, f.Role, f.Size}
		if !seen[k] {
			seen[k] = true
			figs = append(figs, k)
		}
	}
	multiRun := false
	for _, f := range figs {
		if f.run != figs[0].run {
			multiRun = true
		}
	}
	var files []string
	for _, f := range figs {
		for _, m := range metrics {
			name := fmt.Sprintf("%s_%s_%d.png", m.file, f.role, f.size)
			if multiRun {
				name = f.run + "_" + name
			}
			path := filepath.Join(dir, name)
			if err := draw1(sums, f.run, f.role, f.size, m, path); err != nil {
				if errors.Is(err, errNoData) {
					continue
				}
				return files, fmt.Errorf("figure %s: %w", name, err)
			}
			files = append(files, path)
		}
	}
	return files, nil
}

var errNoData = errors.New("no data")

// draw1 draws one figure.
func draw1(sums []scenario.Summary, run, role string, size int, m metric, path string) error {
	p := plot.New()
	p.Title.Text = fmt.Sprintf("%s, %d-byte IPv6 (run %s)", role, size, run)
	p.X.Label.Text = "DEX injection rate (% of packets)"
	p.Y.Label.Text = m.ylabel
	names := make([]string, len(rates))
	for i, r := range rates {
		names[i] = strings.TrimSuffix(strings.TrimRight(strings.TrimRight(fmt.Sprintf("%.3f", r), "0"), "."), "%")
	}
	p.NominalX(names...)
	p.Legend.Top = false
	p.Legend.Left = true

	// One series per variant.
	byVariant := map[string]series{}
	var order []string
	for i := range sums {
		s := &sums[i]
		f := &s.First
		if f.RunID != run || f.Role != role || f.Size != size || f.DUT != string(scenario.Dexplane) {
			continue
		}
		x := rateIndex(f.InjectPct)
		st := m.get(s)
		if x < 0 || math.IsNaN(st.Median) {
			continue
		}
		if _, ok := byVariant[f.Variant]; !ok {
			order = append(order, f.Variant)
		}
		byVariant[f.Variant] = append(byVariant[f.Variant],
			point{float64(x), st.Median * m.scale, st.Min * m.scale, st.Max * m.scale})
	}
	if len(order) == 0 {
		return errNoData
	}
	sort.Strings(order)
	ymax := 0.0
	for i, v := range order {
		s := byVariant[v]
		sort.Slice(s, func(a, b int) bool { return s[a].x < s[b].x })
		l, sc, err := plotter.NewLinePoints(s)
		if err != nil {
			return err
		}
		l.Color = plotutil.Color(i)
		sc.Color = plotutil.Color(i)
		sc.Shape = plotutil.Shape(i)
		eb, err := plotter.NewYErrorBars(s)
		if err != nil {
			return err
		}
		eb.Color = plotutil.Color(i)
		p.Add(l, sc, eb)
		p.Legend.Add(v, l, sc)
		for _, pt := range s {
			ymax = math.Max(ymax, pt.hi)
		}
	}
	if m.baselines {
		for i, b := range []struct {
			label string
			match func(f *scenario.Row) bool
		}{
			{"kernel IPv6 forwarding", func(f *scenario.Row) bool { return f.DUT == string(scenario.Kernel) }},
			{"plain XDP redirect", func(f *scenario.Row) bool { return f.DUT == string(scenario.XDPRedirect) }},
			{"C AF_XDP floor", func(f *scenario.Row) bool { return f.DUT == string(scenario.AFXDPFloor) }},
			{"dexplane IOAM off", func(f *scenario.Row) bool {
				return f.DUT == string(scenario.Dexplane) && f.Role == string(scenario.RoleForward) && f.Steer == "all" && f.Workers == 1
			}},
		} {
			for j := range sums {
				f := &sums[j].First
				st := m.get(&sums[j])
				if f.RunID != run || f.Size != size || !b.match(f) || math.IsNaN(st.Median) {
					continue
				}
				y := st.Median * m.scale
				line, err := plotter.NewLine(plotter.XYs{{X: -0.2, Y: y}, {X: float64(len(rates)-1) + 0.2, Y: y}})
				if err != nil {
					return err
				}
				line.Color = color.Gray{Y: uint8(40 + 60*i)}
				line.Dashes = []vg.Length{vg.Points(6), vg.Points(2 + 2*float64(i))}
				p.Add(line)
				p.Legend.Add(b.label, line)
				ymax = math.Max(ymax, y)
				break
			}
		}
	}
	p.Y.Min = 0
	p.Y.Max = ymax * 1.1
	p.Add(plotter.NewGrid())
	p.Legend.ThumbnailWidth = vg.Points(24)
	p.Legend.TextStyle.Font.Size = vg.Points(8)
	return p.Save(20*vg.Centimeter, 13*vg.Centimeter, path)
}
