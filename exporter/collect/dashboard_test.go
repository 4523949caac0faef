package collect

import (
	"encoding/json"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/dexplane/dexplane/exporter/aggregate"
)

// TestDomainDashboard checks deploy/grafana-domain-dashboard.json like the
// node's dashboard is checked: valid JSON, unique panel ids with a size,
// the ${datasource} variable everywhere, balanced expressions that use only
// metrics `collect --metrics-address` exports, and the panels the domain
// view needs (segment delay heatmap, per-node loss).
func TestDomainDashboard(t *testing.T) {
	raw, err := os.ReadFile(filepath.Join("..", "..", "deploy", "grafana-domain-dashboard.json"))
	if err != nil {
		t.Fatal(err)
	}
	var d struct {
		Title, UID string
		Panels     []struct {
			ID         int            `json:"id"`
			Type       string         `json:"type"`
			Title      string         `json:"title"`
			GridPos    map[string]int `json:"gridPos"`
			Datasource *struct {
				UID string `json:"uid"`
			} `json:"datasource"`
			Targets []struct {
				Expr   string `json:"expr"`
				RefID  string `json:"refId"`
				Format string `json:"format"`
			} `json:"targets"`
		} `json:"panels"`
		Templating struct {
			List []struct {
				Name, Definition string
			} `json:"list"`
		} `json:"templating"`
	}
	if err := json.Unmarshal(raw, &d); err != nil {
		t.Fatal(err)
	}
	m := NewMetrics()
	reg := prometheus.NewRegistry()
	if err := m.Register(reg); err != nil {
		t.Fatal(err)
	}
	m.ObserveSegment(123, 1, 2, 50_000)
	m.AddAggregate(1, &aggregate.Record{Key: aggregate.Key{Namespace: 123}, Packets: 1})
	mfs, err := reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	exported := map[string]bool{}
	for _, mf := range mfs {
		exported[mf.GetName()] = true
		if mf.GetType().String() == "HISTOGRAM" {
			for _, s := range []string{"_bucket", "_sum", "_count"} {
				exported[mf.GetName()+s] = true
			}
		}
	}
	metricRef := regexp.MustCompile(`\bdexplane_[a-zA-Z0-9_]*`)
	used := map[string]bool{}
	ids := map[int]bool{}
	heatmap := false
	for _, p := range d.Panels {
		if ids[p.ID] || p.GridPos["w"] == 0 || p.GridPos["h"] == 0 {
			t.Errorf("panel %q: duplicate id or no size", p.Title)
		}
		ids[p.ID] = true
		if p.Type == "row" {
			continue
		}
		if p.Datasource == nil || p.Datasource.UID != "${datasource}" || len(p.Targets) == 0 {
			t.Errorf("panel %q: datasource or targets", p.Title)
		}
		for _, tg := range p.Targets {
			if strings.Count(tg.Expr, "(") != strings.Count(tg.Expr, ")") || strings.Count(tg.Expr, "{") != strings.Count(tg.Expr, "}") ||
				strings.Count(tg.Expr, "[") != strings.Count(tg.Expr, "]") || tg.RefID == "" {
				t.Errorf("panel %q: unbalanced %q or no refId", p.Title, tg.Expr)
			}
			for _, n := range metricRef.FindAllString(tg.Expr, -1) {
				used[n] = true
				if !exported[n] {
					t.Errorf("panel %q uses %s, which collect does not export", p.Title, n)
				}
			}
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
