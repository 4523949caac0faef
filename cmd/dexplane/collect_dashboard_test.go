package main

import (
	"encoding/json"
	"io"
	"math"
	"net"
	"net/http"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"gonum.org/v1/plot"
	"gonum.org/v1/plot/palette/moreland"
	"gonum.org/v1/plot/plotter"
	"gonum.org/v1/plot/plotutil"
	"gonum.org/v1/plot/vg"
	"gonum.org/v1/plot/vg/draw"
	"gonum.org/v1/plot/vg/vgimg"

	"github.com/dexplane/dexplane/dataplane/telemetry"
	"github.com/dexplane/dexplane/internal/grafanatest"
)

// TestDomainDashboardPicture renders the domain dashboard
// (deploy/grafana-domain-dashboard.json) from real data: three nodes' DEX
// records for 80 s (segment 2→3 delay rising mid-run, node 3 losing one
// packet in 40) go to `dexplane collect --metrics-address`, Debian's
// Prometheus scrapes it every second, every panel's PromQL runs as a range
// query, and gonum/plot draws the results, one plot per panel, into the PNG
// named by DEXPLANE_DASHBOARD_PNG (docs/domain-dashboard.png is made with
// `make dashboard-png`). It is a generator, not a check; without the
// variable it skips. It is not Grafana: the panels are plotted by this test.
func TestDomainDashboardPicture(t *testing.T) {
	out := os.Getenv("DEXPLANE_DASHBOARD_PNG")
	if out == "" {
		t.Skip("generator: set DEXPLANE_DASHBOARD_PNG=FILE (make dashboard-png) to render the domain dashboard")
	}
	prom, err := exec.LookPath("prometheus")
	if err != nil {
		t.Skip("prometheus not installed (Debian package prometheus; scripts/install-deps.sh installs it)")
	}
	d := grafanatest.Load(t, filepath.Join("..", "..", "deploy", "grafana-domain-dashboard.json"))
	addrs, _, stderr, stop := startAnalyticsCollect(t, "--quiet", "--listen", "udp://127.0.0.1:0", "--path-timeout", "200ms",
		"--metrics-address", "127.0.0.1:0")
	defer stop()
	web, _, stopProm := startPrometheus(t, prom, addrs["http"])
	defer stopProm()

	conn, err := net.Dial("udp", addrs["udp"])
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	// 80 s, a batch of 20 packets of two flows every 250 ms
	const run, batch = 80 * time.Second, 20
	start := time.Now()
	seq := uint32(0)
	for time.Since(start) < run {
		el := time.Since(start).Seconds()
		var nodes [3][]telemetry.Record
		for range batch {
			ts := time.Now()
			d12 := time.Duration(150+40*math.Sin(el/6)) * time.Microsecond
			d23 := 250 * time.Microsecond
			if el > 30 && el < 55 { // a congested segment
				d23 = time.Duration(900+300*math.Sin(el)) * time.Microsecond
			}
			for i, at := range []time.Time{ts, ts.Add(d12), ts.Add(d12 + d23)} {
				if i == 2 && seq%40 == 7 {
					continue // node 3 loses one packet in 40
				}
				nodes[i] = append(nodes[i], telemetry.Record{Namespace: 123, HasFlowID: true, FlowID: 0xAB00 + seq%2, HasSeq: true, Seq: seq / 2,
					TraceType: telemetry.TraceHopLimNodeID | telemetry.TraceTimestampSec | telemetry.TraceTimestampFrac,
					HopLimit:  uint8(64 - i), NodeID: uint32(i + 1), TimestampSec: uint32(at.Unix()), TimestampFrac: uint32(at.Nanosecond() / 1000),
					RxTime: at.UnixNano()})
			}
			seq++
		}
		for dom, recs := range nodes {
			sendNode(t, conn, uint32(dom+1), recs)
		}
		time.Sleep(250 * time.Millisecond)
	}
	time.Sleep(3 * time.Second) // the last scrapes
	end := time.Now()

	vars := strings.NewReplacer("$namespace", ".*", "$instance", ".*", "$from", ".*", "$to", ".*", "$__rate_interval", "5s")
	var plots []*plot.Plot
	for _, p := range d.Panels {
		if p.Type == "row" || len(p.Targets) == 0 {
			continue
		}
		pl := plot.New()
		pl.Title.Text = p.Title
		pl.X.Label.Text = "s"
		pl.Legend.Top = true
		if p.Type == "heatmap" {
			heat(t, pl, web, vars.Replace(p.Targets[0].Expr), start, end)
			plots = append(plots, pl)
			continue
		}
		n := 0
		for _, tg := range p.Targets {
			for _, s := range queryRange(t, web, vars.Replace(tg.Expr), start, end) {
				line, err := plotter.NewLine(s.xy)
				if err != nil {
					continue
				}
				line.Color = plotutil.Color(n)
				n++
				pl.Add(line)
				label := s.label
				if len(p.Targets) > 1 { // which query: the panel's refId
					label = tg.RefID + " " + label
				}
				pl.Legend.Add(label, line)
			}
		}
		plots = append(plots, pl)
	}
	if len(plots) == 0 {
		t.Fatalf("no panel plotted; collect:\n%s", stderr.String())
	}
	const cols = 3
	rows := (len(plots) + cols - 1) / cols
	img := vgimg.New(vg.Length(cols)*5*vg.Inch, vg.Length(rows)*3.2*vg.Inch)
	dc := draw.New(img)
	tiles := draw.Tiles{Rows: rows, Cols: cols, PadX: vg.Millimeter * 4, PadY: vg.Millimeter * 4,
		PadTop: vg.Millimeter * 4, PadBottom: vg.Millimeter * 4, PadLeft: vg.Millimeter * 4, PadRight: vg.Millimeter * 4}
	grid := make([][]*plot.Plot, rows)
	for i, p := range plots {
		grid[i/cols] = append(grid[i/cols], p)
	}
	for len(grid[rows-1]) < cols {
		grid[rows-1] = append(grid[rows-1], nil)
	}
	canvases := plot.Align(grid, tiles, dc)
	for r := range grid {
		for c, p := range grid[r] {
			if p != nil {
				p.Draw(canvases[r][c])
			}
		}
	}
	f, err := os.Create(out)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	if _, err := (vgimg.PngCanvas{Canvas: img}).WriteTo(f); err != nil {
		t.Fatal(err)
	}
	t.Logf("%d panels of %s rendered from %v of data into %s", len(plots), d.Title, end.Sub(start).Round(time.Second), out)
}

type series struct {
	label string
	xy    plotter.XYs
}

// queryRange runs q over [start, end] in 2 s steps; x is seconds since start.
func queryRange(t *testing.T, web, q string, start, end time.Time) []series {
	v := url.Values{"query": {q}, "start": {strconv.FormatInt(start.Unix(), 10)}, "end": {strconv.FormatInt(end.Unix(), 10)}, "step": {"2"}}
	resp, err := http.Get("http://" + web + "/api/v1/query_range?" + v.Encode())
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(resp.Body)
	var r struct {
		Status string `json:"status"`
		Data   struct {
			Result []struct {
				Metric map[string]string `json:"metric"`
				Values [][2]any          `json:"values"`
			} `json:"result"`
		} `json:"data"`
	}
	if err := json.Unmarshal(body, &r); err != nil || r.Status != "success" {
		t.Fatalf("query %s: %v %s", q, err, body)
	}
	var out []series
	for _, res := range r.Data.Result {
		var lbl []string
		for _, k := range slices.Sorted(func(yield func(string) bool) {
			for k := range res.Metric {
				if !yield(k) {
					return
				}
			}
		}) {
			lbl = append(lbl, k+"="+res.Metric[k])
		}
		s := series{label: strings.Join(lbl, " ")}
		for _, p := range res.Values {
			ts, _ := p[0].(float64)
			y, err := strconv.ParseFloat(p[1].(string), 64)
			if err != nil || math.IsNaN(y) || math.IsInf(y, 0) {
				continue
			}
			s.xy = append(s.xy, plotter.XY{X: ts - float64(start.Unix()), Y: y})
		}
		if len(s.xy) > 0 {
			out = append(out, s)
		}
	}
	return out
}

// heatGrid is a time × delay-bucket grid for plotter.HeatMap.
type heatGrid struct {
	x, y []float64
	z    [][]float64 // [bucket][step]
}

func (g heatGrid) Dims() (c, r int)   { return len(g.x), len(g.y) }
func (g heatGrid) Z(c, r int) float64 { return g.z[r][c] }
func (g heatGrid) X(c int) float64    { return g.x[c] }
func (g heatGrid) Y(r int) float64    { return g.y[r] }

// heat plots the per-bucket increases of q (sum by (le)) as a heatmap:
// x seconds, y log10 of the bucket's upper bound in µs.
func heat(t *testing.T, pl *plot.Plot, web, q string, start, end time.Time) {
	ss := queryRange(t, web, q, start, end)
	type bucket struct {
		le float64
		xy plotter.XYs
	}
	var bs []bucket
	for _, s := range ss {
		le, err := strconv.ParseFloat(strings.TrimPrefix(s.label, "le="), 64)
		if err != nil || math.IsInf(le, 0) {
			continue
		}
		bs = append(bs, bucket{le, s.xy})
	}
	slices.SortFunc(bs, func(a, b bucket) int { return int(math.Copysign(1, a.le-b.le)) })
	if len(bs) < 2 {
		return
	}
	// sum by (le) of increase() is cumulative over le: per-bucket counts
	// are the differences
	var g heatGrid
	for _, p := range bs[0].xy {
		g.x = append(g.x, p.X)
	}
	prev := make([]float64, len(g.x))
	for _, b := range bs {
		row := make([]float64, len(g.x))
		for i, p := range b.xy {
			if i < len(row) {
				row[i] = max(p.Y-prev[i], 0)
				prev[i] = p.Y
			}
		}
		g.y = append(g.y, math.Log10(b.le*1e6))
		g.z = append(g.z, row)
	}
	hm := plotter.NewHeatMap(g, moreland.SmoothBlueRed().Palette(32)) // blue: no packet, red: most
	pl.Add(hm)
	pl.Y.Label.Text = "log10(delay µs)"
}
