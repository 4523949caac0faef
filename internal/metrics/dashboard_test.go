package metrics_test

import (
	"path/filepath"
	"regexp"
	"testing"

	"github.com/dexplane/dexplane/internal/grafanatest"
	"github.com/dexplane/dexplane/internal/metrics"
)

// dashboardPath is the Grafana dashboard, relative to this package.
var dashboardPath = filepath.Join("..", "..", "deploy", "grafana-dashboard.json")

// metricRef matches the metric names an expression may use.
var metricRef = regexp.MustCompile(`\b(?:dexplane|go|process)_[a-zA-Z0-9_]*`)

func TestDashboardMetricsExist(t *testing.T) {
	d := grafanatest.Load(t, dashboardPath)
	if d.Title == "" || d.UID == "" {
		t.Errorf("dashboard title %q uid %q", d.Title, d.UID)
	}
	vars := map[string]bool{}
	for _, v := range d.Templating.List {
		vars[v.Name] = true
	}
	if !vars["datasource"] || !vars["instance"] {
		t.Errorf("templating variables %v: want datasource and instance", vars)
	}

	// Every name a fully wired node exports, runtime included.
	c, _, _ := fullCollector(t)
	reg, err := metrics.NewRegistry(c)
	if err != nil {
		t.Fatal(err)
	}
	used := grafanatest.CheckPanels(t, d, metricRef, grafanatest.Exported(t, reg))

	// The dashboard covers what an operator needs.
	for _, n := range []string{
		"dexplane_rx_packets_total", "dexplane_tx_packets_total", "dexplane_rx_bytes_total",
		"dexplane_dex_inserted_total", "dexplane_dex_seen_total", "dexplane_dex_removed_total",
		"dexplane_dex_skipped_total", "dexplane_drops_total", "dexplane_malformed_total",
		"dexplane_xdp_packets_total", "dexplane_export_records_total", "dexplane_export_drops_total",
		"dexplane_export_rate_limit_tokens", "dexplane_ring_occupancy_records", "dexplane_flows",
		"dexplane_flows_evicted_total", "dexplane_config_reload_failures_total", "dexplane_config_generation",
	} {
		if !used[n] {
			t.Errorf("dashboard has no panel using %s", n)
		}
	}
}
