package main

import (
	"encoding/json"
	"fmt"
	"io"
	"maps"
	"math"
	"net"
	"net/http"
	"net/url"
	"os"
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

	"github.com/dexplane/dexplane/collector"
	"github.com/dexplane/dexplane/dataplane/telemetry"
	"github.com/dexplane/dexplane/internal/grafanatest"
	"github.com/dexplane/dexplane/internal/testutil"
)

// startAnalyticsCollect runs collectMain with args in the background and returns
// the address of every "listening on"/"metrics on" line, the output
// buffers and a stop function returning the exit code.
func startAnalyticsCollect(t *testing.T, args ...string) (map[string]string, *testutil.LockedBuffer, *testutil.LockedBuffer, func() int) {
	t.Helper()
	r := startCollect(t, args...)
	return r.addrs, r.stdout, r.stderr, r.cancel
}

// threeNodes returns the records nodes 1, 2 and 3 export for n packets of
// flow 0xABCD: node 2 sees each packet 150 µs after node 1, node 3 250 µs
// after node 2.
func threeNodes(n uint32) [3][]telemetry.Record {
	base := time.Now().Add(-time.Second)
	var out [3][]telemetry.Record
	for i, delay := range []time.Duration{0, 150 * time.Microsecond, 400 * time.Microsecond} {
		for seq := range n {
			ts := base.Add(time.Duration(seq)*time.Millisecond + delay)
			out[i] = append(out[i], telemetry.Record{Namespace: 123, HasFlowID: true, FlowID: 0xABCD, HasSeq: true, Seq: seq,
				TraceType: telemetry.TraceHopLimNodeID | telemetry.TraceTimestampSec | telemetry.TraceTimestampFrac,
				HopLimit:  uint8(64 - i), NodeID: uint32(i + 1), TimestampSec: uint32(ts.Unix()), TimestampFrac: uint32(ts.Nanosecond() / 1000),
				RxTime: ts.UnixNano()})
		}
	}
	return out
}

// TestCollectDelayExport checks --ipfix-out: the segment and path delays of
// the correlated packets arrive at a downstream IPFIX socket as RFC 9951
// delay records, decoded by package collector (goflow2's decoder).
func TestCollectDelayExport(t *testing.T) {
	down, err := net.ListenPacket("udp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer down.Close()
	addrs, _, stderr, stop := startAnalyticsCollect(t, "--quiet", "--listen", "udp://127.0.0.1:0", "--path-timeout", "100ms",
		"--export-interval", "300ms", "--ipfix-out", "udp://"+down.LocalAddr().String(), "--ipfix-out-domain", "77")
	conn := dial(t, "udp", addrs["udp"])
	for dom, recs := range threeNodes(20) {
		sendNode(t, conn, uint32(dom+1), recs)
	}
	dec := collector.NewDecoder()
	got := map[[3]uint32]collector.DelayRecord{}
	var domains []uint32
	dec.OnDelay = func(domain uint32, r *collector.DelayRecord) {
		domains = append(domains, domain)
		k := [3]uint32{r.PathID, r.From, r.To}
		g := got[k]
		g.Packets += r.Packets
		g.SumUs += r.SumUs
		g.MinUs, g.MaxUs, g.Hops = r.MinUs, r.MaxUs, r.Hops
		got[k] = g
	}
	buf := make([]byte, 65535)
	deadline := time.Now().Add(5 * time.Second)
	complete := func() bool {
		n := 0
		for _, g := range got {
			if g.Packets == 20 {
				n++
			}
		}
		return n >= 4
	}
	for !complete() && time.Now().Before(deadline) {
		down.SetReadDeadline(time.Now().Add(500 * time.Millisecond))
		n, src, err := down.(*net.UDPConn).ReadFromUDPAddrPort(buf)
		if err != nil {
			continue
		}
		if err := dec.Decode(src, buf[:n], func(*collector.Event) { t.Error("a per-packet record on --ipfix-out") }); err != nil {
			t.Fatal(err)
		}
	}
	if code := stop(); code != 0 {
		t.Fatalf("exit %d: %s", code, stderr.String())
	}
	pid := collector.PathID([]collector.PathHop{{Domain: 1}, {Domain: 2}, {Domain: 3}})
	want := map[[3]uint32]collector.DelayRecord{
		{0, 1, 2}:   {Packets: 20, SumUs: 20 * 150, MinUs: 150, MaxUs: 150, Hops: 2},
		{0, 2, 3}:   {Packets: 20, SumUs: 20 * 250, MinUs: 250, MaxUs: 250, Hops: 2},
		{pid, 1, 2}: {Packets: 20, SumUs: 20 * 150, MinUs: 150, MaxUs: 150, Hops: 3},
		{pid, 1, 3}: {Packets: 20, SumUs: 20 * 400, MinUs: 400, MaxUs: 400, Hops: 3},
	}
	for k, w := range want {
		if g := got[k]; g != w {
			t.Errorf("%v: got %+v, want %+v", k, g, w)
		}
	}
	if len(got) != len(want) || dec.BadRecords != 0 || len(domains) == 0 || domains[0] != 77 {
		t.Fatalf("records %v, bad %d, domains %v", got, dec.BadRecords, domains)
	}
}

// startPrometheus runs Debian's prometheus (binary prom) scraping target
// every second; it returns its web address and the process (killed at
// cleanup), whose Log holds its output.
func startPrometheus(t *testing.T, prom, target string) (web string, p *testutil.Proc) {
	t.Helper()
	dir := t.TempDir()
	cfg := fmt.Sprintf("global: {scrape_interval: 1s}\nscrape_configs:\n  - job_name: dexplane-collect\n    static_configs: [{targets: ['%s']}]\n", target)
	config := testutil.WriteFile(t, filepath.Join(dir, "prometheus.yml"), []byte(cfg))
	web = testutil.FreeAddr(t, "tcp").String()
	return web, testutil.Start(t, prom, "--config.file="+config, "--storage.tsdb.path="+filepath.Join(dir, "data"), "--web.listen-address="+web)
}

// promGet asks the Prometheus HTTP API at web (path, parameters v) and
// decodes its JSON answer into r; it returns the body.
func promGet(web, path string, v url.Values, r any) ([]byte, error) {
	resp, err := http.Get("http://" + web + path + "?" + v.Encode())
	if err != nil {
		return nil, err
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	if err != nil {
		return body, err
	}
	return body, json.Unmarshal(body, r)
}

// TestCollectPrometheus has Debian's Prometheus (2.42) scrape `collect
// --metrics-address` and answers PromQL: the mean delay of segment 2→3 and
// the packets node 3 lost.
func TestCollectPrometheus(t *testing.T) {
	prom := testutil.NeedTool(t, "prometheus", "Debian package prometheus; scripts/install-deps.sh installs it")
	addrs, _, stderr, stop := startAnalyticsCollect(t, "--quiet", "--listen", "udp://127.0.0.1:0", "--path-timeout", "100ms",
		"--metrics-address", "127.0.0.1:0")
	conn := dial(t, "udp", addrs["udp"])
	nodes := threeNodes(50)
	nodes[2] = append(nodes[2][:10], nodes[2][12:]...) // node 3 misses seq 10 and 11
	for dom, recs := range nodes {
		sendNode(t, conn, uint32(dom+1), recs)
	}

	web, promProc := startPrometheus(t, prom, addrs["http"])

	query := func(q string) (float64, bool) {
		var r struct {
			Status string `json:"status"`
			Data   struct {
				Result []struct {
					Value [2]any `json:"value"`
				} `json:"result"`
			} `json:"data"`
		}
		if _, err := promGet(web, "/api/v1/query", url.Values{"query": {q}}, &r); err != nil || r.Status != "success" || len(r.Data.Result) != 1 {
			return 0, false
		}
		s, _ := r.Data.Result[0].Value[1].(string)
		v, err := strconv.ParseFloat(s, 64)
		return v, err == nil
	}
	const meanQ = `dexplane_collect_segment_delay_seconds_sum{namespace="123",from="2",to="3"} / dexplane_collect_segment_delay_seconds_count{namespace="123",from="2",to="3"}`
	const lostQ = `dexplane_collect_node_lost_packets{node="3",namespace="123"}`
	var mean, lost float64
	var ok1, ok2 bool
	if !testutil.Within(30*time.Second, func() bool {
		mean, ok1 = query(meanQ)
		lost, ok2 = query(lostQ)
		return ok1 && ok2 && lost == 2
	}) {
		t.Fatalf("prometheus never answered (mean %v %v, lost %v %v)\nprometheus log:\n%s\ncollect:\n%s", mean, ok1, lost, ok2, promProc.Log.String(), stderr.String())
	}
	if mean < 249e-6 || mean > 251e-6 {
		t.Errorf("PromQL mean delay of segment 2→3 = %v s, want 250 µs", mean)
	}
	// the histogram places the 250 µs samples in one bucket: the median is
	// inside that bucket's bounds (1 µs × 2.5^k: 244 µs .. 610 µs)
	p50, ok := query(`histogram_quantile(0.5, sum by (le) (dexplane_collect_segment_delay_seconds_bucket{from="2",to="3"}))`)
	if !ok || p50 < 244e-6 || p50 > 611e-6 {
		t.Errorf("PromQL median of segment 2→3 = %v (%v)", p50, ok)
	}
	// every expression of the domain dashboard is valid PromQL for this
	// Prometheus and returns data for the segments and nodes above
	raw, err := os.ReadFile(filepath.Join("..", "..", "deploy", "grafana-domain-dashboard.json"))
	if err != nil {
		t.Fatal(err)
	}
	var dash struct {
		Panels []struct {
			Title   string `json:"title"`
			Targets []struct {
				Expr string `json:"expr"`
			} `json:"targets"`
		} `json:"panels"`
	}
	if err := json.Unmarshal(raw, &dash); err != nil {
		t.Fatal(err)
	}
	vars := strings.NewReplacer("$namespace", ".*", "$instance", ".*", "$from", ".*", "$to", ".*", "$__rate_interval", "1m")
	exprs := 0
	for _, p := range dash.Panels {
		for _, tg := range p.Targets {
			q := vars.Replace(tg.Expr)
			resp, err := http.Get("http://" + web + "/api/v1/query?query=" + url.QueryEscape(q))
			if err != nil {
				t.Fatal(err)
			}
			body, _ := io.ReadAll(resp.Body)
			resp.Body.Close()
			if !strings.Contains(string(body), `"status":"success"`) {
				t.Errorf("dashboard panel %q: %s: %s", p.Title, q, body)
			}
			exprs++
		}
	}
	promProc.Kill()
	if code := stop(); code != 0 {
		t.Fatalf("exit %d: %s", code, stderr.String())
	}
	t.Logf("Prometheus 2.42 accepted the domain dashboard's %d expressions", exprs)
	t.Logf("Prometheus 2.42: segment 2→3 mean delay %.1f µs, median bucket ≤ %.0f µs; node 3 lost %v packets", mean*1e6, p50*1e6, lost)
}

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
	prom := testutil.NeedTool(t, "prometheus", "Debian package prometheus; scripts/install-deps.sh installs it")
	d := grafanatest.Load(t, filepath.Join("..", "..", "deploy", "grafana-domain-dashboard.json"))
	addrs, _, stderr, stop := startAnalyticsCollect(t, "--quiet", "--listen", "udp://127.0.0.1:0", "--path-timeout", "200ms",
		"--metrics-address", "127.0.0.1:0")
	defer stop()
	web, promProc := startPrometheus(t, prom, addrs["http"])
	defer promProc.Kill()

	conn := dial(t, "udp", addrs["udp"])
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
	var r struct {
		Status string `json:"status"`
		Data   struct {
			Result []struct {
				Metric map[string]string `json:"metric"`
				Values [][2]any          `json:"values"`
			} `json:"result"`
		} `json:"data"`
	}
	if body, err := promGet(web, "/api/v1/query_range", v, &r); err != nil || r.Status != "success" {
		t.Fatalf("query %s: %v %s", q, err, body)
	}
	var out []series
	for _, res := range r.Data.Result {
		var lbl []string
		for _, k := range slices.Sorted(maps.Keys(res.Metric)) {
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
