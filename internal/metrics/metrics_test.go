package metrics_test

import (
	"context"
	"encoding/json"
	"errors"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"
	dto "github.com/prometheus/client_model/go"

	"github.com/dexplane/dexplane/dataplane/handle"
	"github.com/dexplane/dexplane/dataplane/node"
	"github.com/dexplane/dexplane/dataplane/telemetry"
	"github.com/dexplane/dexplane/dataplane/xsk"
	"github.com/dexplane/dexplane/exporter"
	"github.com/dexplane/dexplane/internal/metrics"
	"github.com/dexplane/dexplane/internal/metrics/metricstest"
	"github.com/dexplane/dexplane/steering"
)

// fullCollector returns a collector with every source registered: an
// engine of two workers, the exporter, rate-limit tokens and config.
func fullCollector(t *testing.T) (*metrics.Scraper, *metricstest.Engine, *metrics.Reloads) {
	t.Helper()
	c := metrics.NewScraper()
	e := metricstest.NewEngine(2)
	c.SetEngine(e)
	c.SetExporter(metricstest.ExporterCounters)
	c.SetRateLimitTokens(func() float64 { return 42.5 })
	r := &metrics.Reloads{}
	r.Loaded(1)
	r.Failed()
	r.Loaded(3)
	c.SetConfig(r.State)
	return c, e, r
}

// gather registers c alone and returns its families by name.
func gather(t *testing.T, c prometheus.Collector) map[string]*dto.MetricFamily {
	t.Helper()
	reg := prometheus.NewPedanticRegistry()
	if err := reg.Register(c); err != nil {
		t.Fatalf("register: %v", err)
	}
	mfs, err := reg.Gather()
	if err != nil {
		t.Fatalf("gather: %v", err)
	}
	out := make(map[string]*dto.MetricFamily, len(mfs))
	for _, mf := range mfs {
		out[mf.GetName()] = mf
	}
	return out
}

// value returns the value of the series of family name whose labels are
// exactly the given name=value pairs.
func value(t *testing.T, fams map[string]*dto.MetricFamily, name string, labels ...string) float64 {
	t.Helper()
	mf, ok := fams[name]
	if !ok {
		t.Fatalf("metric %s not exported", name)
	}
	want := map[string]string{}
	for i := 0; i+1 < len(labels); i += 2 {
		want[labels[i]] = labels[i+1]
	}
next:
	for _, m := range mf.GetMetric() {
		if len(m.GetLabel()) != len(want) {
			continue
		}
		for _, lp := range m.GetLabel() {
			if v, ok := want[lp.GetName()]; !ok || v != lp.GetValue() {
				continue next
			}
		}
		switch {
		case m.Counter != nil:
			return m.Counter.GetValue()
		case m.Gauge != nil:
			return m.Gauge.GetValue()
		}
	}
	t.Fatalf("metric %s%v: no such series", name, labels)
	return 0
}

func TestLint(t *testing.T) {
	c, _, _ := fullCollector(t)
	problems, err := testutil.CollectAndLint(c)
	if err != nil {
		t.Fatal(err)
	}
	for _, p := range problems {
		t.Errorf("lint %s: %s", p.Metric, p.Text)
	}
}

func TestEveryMetricExported(t *testing.T) {
	c, _, _ := fullCollector(t)
	fams := gather(t, c)
	for _, n := range metrics.MetricNames() {
		if !strings.HasPrefix(n, "dexplane_") {
			t.Errorf("%s: missing dexplane_ prefix", n)
		}
		if _, ok := fams[n]; !ok {
			t.Errorf("%s: described but not exported with every source set", n)
		}
	}
	if len(fams) != len(metrics.MetricNames()) {
		t.Errorf("exported %d families, described %d", len(fams), len(metrics.MetricNames()))
	}
}

func TestValues(t *testing.T) {
	c, e, _ := fullCollector(t)
	fams := gather(t, c)
	for w := range 2 {
		for p := range 2 {
			pc := &e.C.Workers[w][p]
			lab := []string{"port", string(rune('0' + p)), "worker", string(rune('0' + w))}
			for _, tc := range []struct {
				name string
				want uint64
			}{
				{"dexplane_rx_packets_total", pc[xsk.CtrRxFrames]},
				{"dexplane_rx_bytes_total", pc[xsk.CtrRxBytes]},
				{"dexplane_tx_packets_total", pc[xsk.CtrTxFrames]},
				{"dexplane_tx_bytes_total", pc[xsk.CtrTxBytes]},
				{"dexplane_tx_completed_total", pc[xsk.CtrTxCompleted]},
			} {
				if got := value(t, fams, tc.name, lab...); got != float64(tc.want) {
					t.Errorf("%s%v = %v, want %d", tc.name, lab, got, tc.want)
				}
			}
		}
		nc := e.Handlers[w].(*metricstest.Worker).Counters()
		ws := string(rune('0' + w))
		for _, tc := range []struct {
			name   string
			labels []string
			want   uint64
		}{
			{"dexplane_node_forwarded_total", nil, nc.Forwarded.Load()},
			{"dexplane_node_dropped_total", nil, nc.Dropped.Load()},
			{"dexplane_dex_seen_total", nil, nc.DEXSeen.Load()},
			{"dexplane_dex_removed_total", nil, nc.DEXRemoved.Load()},
			{"dexplane_dex_inserted_total", []string{"mode", "merged"}, nc.DEXMerged.Load()},
			{"dexplane_dex_inserted_total", []string{"mode", "encapsulated"}, nc.DEXEncapsulated.Load()},
			{"dexplane_dex_inserted_total", []string{"mode", "inline"}, nc.DEXInserted.Load() - nc.DEXMerged.Load() - nc.DEXEncapsulated.Load()},
			{"dexplane_dex_skipped_total", []string{"role", "encap", "reason", "not_sampled"}, nc.NotSampled.Load()},
			{"dexplane_dex_skipped_total", []string{"role", "encap", "reason", "mtu"}, nc.SkippedMTU.Load()},
			{"dexplane_dex_skipped_total", []string{"role", "transit", "reason", "unknown_namespace"}, nc.UnknownNamespace.Load()},
			{"dexplane_malformed_total", []string{"reason", "ioam_misaligned"}, nc.Malformed[node.MalformedIOAMMisaligned].Load()},
			{"dexplane_foreign_ioam_total", []string{"action", "stripped"}, nc.ForeignStripped.Load()},
			{"dexplane_leak_dropped_total", nil, nc.LeakDropped.Load()},
			{"dexplane_ptb_sent_total", nil, nc.PTBSent.Load()},
			{"dexplane_ptb_rate_limited_total", nil, nc.PTBRateLimited.Load()},
			{"dexplane_ring_dropped_total", nil, nc.RecordsDropped.Load()},
			{"dexplane_ring_occupancy_records", nil, uint64(w + 1)},
			{"dexplane_ring_capacity_records", nil, 8},
			{"dexplane_flows", nil, nc.FlowsActive.Load()},
			{"dexplane_flows_evicted_total", nil, nc.FlowsEvicted.Load()},
		} {
			lab := append([]string{"worker", ws}, tc.labels...)
			if got := value(t, fams, tc.name, lab...); got != float64(tc.want) {
				t.Errorf("%s%v = %v, want %d", tc.name, lab, got, tc.want)
			}
		}
	}
	for _, tc := range []struct {
		name   string
		labels []string
		want   float64
	}{
		{"dexplane_workers", nil, 2},
		{"dexplane_drops_total", []string{"port", "1", "reason", "handler"}, float64(e.C.Ports[1].Worker[xsk.CtrDropped])},
		{"dexplane_drops_total", []string{"port", "0", "reason", "socket_rx_ring_full"}, 14},
		{"dexplane_drops_total", []string{"port", "1", "reason", "xdp_no_peer"}, float64(e.C.Ports[1].XDP[steering.ReasonNoPeer].Packets)},
		{"dexplane_port_events_total", []string{"port", "0", "reason", "tx_ring_full"}, float64(e.C.Ports[0].Worker[xsk.CtrTxRingFull])},
		{"dexplane_xdp_packets_total", []string{"port", "1", "reason", "hbh"}, float64(e.C.Ports[1].XDP[steering.ReasonHbH].Packets)},
		{"dexplane_xdp_bytes_total", []string{"port", "0", "reason", "all"}, float64(e.C.Ports[0].XDP[steering.ReasonAll].Bytes)},
		{"dexplane_export_records_total", nil, 800},
		{"dexplane_export_drops_total", []string{"reason", "rate_limited"}, 70},
		{"dexplane_export_rate_limit_records_per_second", nil, 10000},
		{"dexplane_export_rate_limit_tokens", nil, 42.5},
		{"dexplane_export_aggregate_folded_records_total", nil, 990},
		{"dexplane_export_aggregate_overflow_records_total", nil, 1},
		{"dexplane_export_aggregate_records_total", nil, 10},
		{"dexplane_export_aggregate_intervals_total", nil, 7},
		{"dexplane_export_aggregate_flows", nil, 4},
		{"dexplane_export_collector_messages_total", []string{"collector", "[2001:db8::9]:4739", "transport", "udp"}, 40},
		{"dexplane_port_rx_queues", []string{"port", "1"}, 5},
		{"dexplane_export_collector_behind_total", []string{"collector", "[2001:db8::9]:4739", "transport", "udp"}, 2},
		{"dexplane_export_collector_up", []string{"collector", "[2001:db8::9]:4739", "transport", "udp"}, 1},
		{"dexplane_export_output_drops_total", []string{"output", "/var/log/dexplane/records.json", "format", "json"}, 3},
		{"dexplane_config_generation", nil, 3},
		{"dexplane_config_loads_total", nil, 2},
		{"dexplane_config_reload_failures_total", nil, 1},
	} {
		if got := value(t, fams, tc.name, tc.labels...); got != tc.want {
			t.Errorf("%s%v = %v, want %v", tc.name, tc.labels, got, tc.want)
		}
	}
}

func TestExposition(t *testing.T) {
	c := metrics.NewScraper()
	r := &metrics.Reloads{}
	r.Loaded(7)
	c.SetConfig(r.State)
	want := `
# HELP dexplane_config_generation Generation of the policy snapshot in use.
# TYPE dexplane_config_generation gauge
dexplane_config_generation 7
# HELP dexplane_config_reload_failures_total Configuration reloads rejected (the old configuration kept running).
# TYPE dexplane_config_reload_failures_total counter
dexplane_config_reload_failures_total 0
# HELP dexplane_workers Number of data-plane workers (RX queues) reporting.
# TYPE dexplane_workers gauge
dexplane_workers 0
`
	if err := testutil.CollectAndCompare(c, strings.NewReader(want),
		"dexplane_config_generation", "dexplane_config_reload_failures_total", "dexplane_workers"); err != nil {
		t.Error(err)
	}
}

func TestNoSources(t *testing.T) {
	c := metrics.NewScraper()
	if n := testutil.CollectAndCount(c); n != 1 {
		t.Errorf("collected %d series without sources, want 1 (dexplane_workers)", n)
	}
	s := c.Snapshot()
	if s.Ports != nil || s.Workers != nil || s.Export != nil || s.Config != nil {
		t.Errorf("snapshot without sources has sections: %+v", s)
	}
}

func TestHandlersWithoutNodes(t *testing.T) {
	// Identity handlers (plain forwarding) have no node counters or ring:
	// port counters only.
	e := metricstest.NewEngine(3)
	for i := range e.Handlers {
		e.Handlers[i] = handle.Identity{}
	}
	c := metrics.NewScraper()
	c.SetEngine(e)
	s := c.Snapshot()
	if len(s.Workers) != 3 || len(s.Ports) != 2 {
		t.Fatalf("workers %d ports %d, want 3 and 2", len(s.Workers), len(s.Ports))
	}
	for _, w := range s.Workers {
		if w.Node != nil || w.Ring != nil || len(w.Ports) != 2 {
			t.Errorf("worker %d: node %v ring %v ports %d", w.Worker, w.Node, w.Ring, len(w.Ports))
		}
	}
	fams := gather(t, c)
	if _, ok := fams["dexplane_dex_seen_total"]; ok {
		t.Error("node metrics exported without nodes")
	}
}

func TestSetNodesOverrides(t *testing.T) {
	e := metricstest.NewEngine(1)
	var n0, n2 node.Counters
	n0.DEXSeen.Store(77)
	n2.DEXSeen.Store(99)
	r2, err := telemetry.NewRing(4)
	if err != nil {
		t.Fatal(err)
	}
	c := metrics.NewScraper()
	c.SetEngine(e)
	c.SetNodes(func() []*node.Counters { return []*node.Counters{&n0, nil, &n2} })
	c.SetRings(func() []*telemetry.Ring { return []*telemetry.Ring{nil, nil, r2} })
	s := c.Snapshot()
	if len(s.Workers) != 3 {
		t.Fatalf("workers %d, want 3", len(s.Workers))
	}
	if s.Workers[0].Node.DEXSeen != 77 || s.Workers[1].Node != nil || s.Workers[2].Node.DEXSeen != 99 {
		t.Errorf("nodes not taken from SetNodes: %+v", s.Workers)
	}
	if s.Workers[0].Ring != nil || s.Workers[2].Ring.Cap != 4 {
		t.Errorf("rings not taken from SetRings: %+v %+v", s.Workers[0].Ring, s.Workers[2].Ring)
	}
	if len(s.Workers[0].Ports) != 2 || len(s.Workers[2].Ports) != 0 {
		t.Errorf("engine ports: worker 0 %d, worker 2 %d; want 2 and 0", len(s.Workers[0].Ports), len(s.Workers[2].Ports))
	}
	fams := gather(t, c)
	if got := value(t, fams, "dexplane_dex_seen_total", "worker", "2"); got != 99 {
		t.Errorf("dex_seen worker 2 = %v", got)
	}
}

func TestDuplicateCollectorLabels(t *testing.T) {
	c := metrics.NewScraper()
	c.SetExporter(func() exporter.Counters {
		x := metricstest.ExporterCounters()
		x.Collectors = append(x.Collectors, x.Collectors[0])
		x.Outputs = append(x.Outputs, x.Outputs[0])
		return x
	})
	fams := gather(t, c) // fails on duplicate series
	if got := value(t, fams, "dexplane_export_collector_records_total", "collector", "[2001:db8::9]:4739#2", "transport", "udp"); got != 795 {
		t.Errorf("second collector records = %v", got)
	}
}

func TestHTTP(t *testing.T) {
	c, e, _ := fullCollector(t)
	reg, err := metrics.NewRegistry(c)
	if err != nil {
		t.Fatal(err)
	}
	srv := httptest.NewServer(metrics.NewHandler(c, reg))
	defer srv.Close()

	get := func(path string) (int, string) {
		t.Helper()
		resp, err := http.Get(srv.URL + path)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		b, err := io.ReadAll(resp.Body)
		if err != nil {
			t.Fatal(err)
		}
		return resp.StatusCode, string(b)
	}

	code, body := get("/metrics")
	if code != http.StatusOK {
		t.Fatalf("/metrics: %d %s", code, body)
	}
	for _, want := range []string{
		`dexplane_rx_packets_total{port="1",worker="0"} 1101`,
		`dexplane_config_generation 3`,
		"go_goroutines ", "go_memstats_heap_alloc_bytes ", "process_start_time_seconds ",
	} {
		if !strings.Contains(body, want) {
			t.Errorf("/metrics lacks %q", want)
		}
	}

	code, body = get("/stats")
	if code != http.StatusOK {
		t.Fatalf("/stats: %d %s", code, body)
	}
	var s metrics.Stats
	if err := json.Unmarshal([]byte(body), &s); err != nil {
		t.Fatalf("/stats is not Stats JSON: %v", err)
	}
	want := c.Snapshot()
	want.Time, s.Time = time.Time{}, time.Time{}
	wj, _ := json.Marshal(want)
	gj, _ := json.Marshal(s)
	if string(wj) != string(gj) {
		t.Errorf("/stats round trip differs:\n got %s\nwant %s", gj, wj)
	}
	if s.Ports[0].RxPackets != e.C.Ports[0].Worker[xsk.CtrRxFrames] || s.Export.Exported != 800 || s.Config.Generation != 3 {
		t.Errorf("/stats values: %+v", s)
	}

	if code, body = get("/healthz"); code != http.StatusOK || body != "ok\n" {
		t.Errorf("/healthz: %d %q", code, body)
	}
	c.SetHealth(func() error { return errors.New("engine stopped") })
	if code, body = get("/healthz"); code != http.StatusServiceUnavailable || !strings.Contains(body, "engine stopped") {
		t.Errorf("/healthz unhealthy: %d %q", code, body)
	}
	if code, _ = get("/nope"); code != http.StatusNotFound {
		t.Errorf("/nope: %d", code)
	}
}

func TestServeStops(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- metrics.ServeListener(ctx, ln, http.NotFoundHandler()) }()
	resp, err := http.Get("http://" + ln.Addr().String() + "/")
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	cancel()
	select {
	case err := <-done:
		if err != nil {
			t.Errorf("ServeListener after cancel: %v", err)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("ServeListener did not return after cancel")
	}
	if err := metrics.Serve(context.Background(), "256.0.0.1:bad", nil); err == nil {
		t.Error("Serve on a bad address: no error")
	}
}

func TestReloads(t *testing.T) {
	var r metrics.Reloads
	if s := r.State(); s != (metrics.ConfigStats{}) {
		t.Errorf("zero Reloads: %+v", s)
	}
	before := time.Now()
	r.Loaded(1)
	r.Failed()
	r.Failed()
	r.Loaded(2)
	s := r.State()
	if s.Generation != 2 || s.Loads != 2 || s.ReloadFailures != 2 || s.LastLoad.Before(before.Add(-time.Second)) {
		t.Errorf("State = %+v", s)
	}
}

func TestMetricNamesUnique(t *testing.T) {
	n := metrics.MetricNames()
	seen := map[string]bool{}
	for _, x := range n {
		if seen[x] {
			t.Errorf("duplicate metric name %s", x)
		}
		seen[x] = true
	}
	n[0] = "mutated"
	if metrics.MetricNames()[0] == "mutated" {
		t.Error("MetricNames returns its internal slice")
	}
}
