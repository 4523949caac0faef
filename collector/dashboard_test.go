package collector

import (
	"path/filepath"
	"regexp"
	"strings"
	"testing"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/dexplane/dexplane/exporter/aggregate"
	"github.com/dexplane/dexplane/internal/grafanatest"
)

// TestDomainDashboard checks deploy/grafana-domain-dashboard.json like the
// node's dashboard is checked: valid JSON, unique panel ids with a size,
// the ${datasource} variable everywhere, balanced expressions that use only
// metrics `collect --metrics-address` exports, and the panels the domain
// view needs (segment delay heatmap, per-node loss).
func TestDomainDashboard(t *testing.T) {
	d := grafanatest.Load(t, filepath.Join("..", "deploy", "grafana-domain-dashboard.json"))
	m := NewMetrics()
	reg := prometheus.NewRegistry()
	if err := m.Register(reg); err != nil {
		t.Fatal(err)
	}
	m.ObserveSegment(123, 1, 2, 50_000)
	m.AddAggregate(1, &aggregate.Record{Key: aggregate.Key{Namespace: 123}, Packets: 1})
	exported := grafanatest.Exported(t, reg)
	metricRef := regexp.MustCompile(`\bdexplane_[a-zA-Z0-9_]*`)
	used := grafanatest.CheckPanels(t, d, metricRef, exported)
	heatmap := false
	for _, p := range d.Panels {
		for _, tg := range p.Targets {
			if p.Type == "heatmap" && tg.Format == "heatmap" && strings.Contains(tg.Expr, "segment_delay_seconds_bucket") {
				heatmap = true
			}
		}
	}
	for _, v := range d.Templating.List {
		for _, n := range metricRef.FindAllString(v.Definition, -1) {
			if !exported[n] {
				t.Errorf("variable %s uses %s, which collect does not export", v.Name, n)
			}
		}
	}
	for _, n := range []string{"dexplane_collect_segment_delay_seconds_bucket", "dexplane_collect_node_lost_packets",
		"dexplane_collect_node_duplicate_packets_total", "dexplane_collect_node_reordered_packets_total", "dexplane_collect_node_packets_total"} {
		if !used[n] {
			t.Errorf("no panel uses %s", n)
		}
	}
	if !heatmap || d.Title == "" || d.UID == "" {
		t.Errorf("no segment delay heatmap panel, or no title/uid")
	}
}
