package metrics_test

import (
	"encoding/json"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"

	"github.com/dexplane/dexplane/internal/metrics"
)

// dashboardPath is the Grafana dashboard, relative to this package.
var dashboardPath = filepath.Join("..", "..", "deploy", "grafana-dashboard.json")

type grafanaPanel struct {
	ID         int            `json:"id"`
	Type       string         `json:"type"`
	Title      string         `json:"title"`
	GridPos    map[string]int `json:"gridPos"`
	Datasource *struct {
		UID string `json:"uid"`
	} `json:"datasource"`
	Targets []struct {
		Expr  string `json:"expr"`
		RefID string `json:"refId"`
	} `json:"targets"`
}

// metricRef matches the metric names an expression may use.
var metricRef = regexp.MustCompile(`\b(?:dexplane|go|process)_[a-zA-Z0-9_]*`)

func TestDashboardMetricsExist(t *testing.T) {
	raw, err := os.ReadFile(dashboardPath)
	if err != nil {
		t.Fatal(err)
	}
	var d struct {
		Title      string         `json:"title"`
		UID        string         `json:"uid"`
		Panels     []grafanaPanel `json:"panels"`
		Templating struct {
			List []struct {
				Name string `json:"name"`
			} `json:"list"`
		} `json:"templating"`
	}
	if err := json.Unmarshal(raw, &d); err != nil {
		t.Fatalf("%s: %v", dashboardPath, err)
	}
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
	mfs, err := reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	exported := map[string]bool{}
	for _, mf := range mfs {
		exported[mf.GetName()] = true
	}

	used := map[string]bool{}
	ids := map[int]bool{}
	for _, p := range d.Panels {
		if ids[p.ID] {
			t.Errorf("panel %q: duplicate id %d", p.Title, p.ID)
		}
		ids[p.ID] = true
		if p.GridPos["w"] == 0 || p.GridPos["h"] == 0 {
			t.Errorf("panel %q: no size in gridPos %v", p.Title, p.GridPos)
		}
		if p.Type == "row" {
			continue
		}
		if p.Datasource == nil || p.Datasource.UID != "${datasource}" {
			t.Errorf("panel %q: datasource not the ${datasource} variable", p.Title)
		}
		if len(p.Targets) == 0 {
			t.Errorf("panel %q: no targets", p.Title)
		}
		refs := map[string]bool{}
		for _, tg := range p.Targets {
			if refs[tg.RefID] || tg.RefID == "" {
				t.Errorf("panel %q: refId %q missing or duplicate", p.Title, tg.RefID)
			}
			refs[tg.RefID] = true
			if strings.Count(tg.Expr, "(") != strings.Count(tg.Expr, ")") ||
				strings.Count(tg.Expr, "{") != strings.Count(tg.Expr, "}") ||
				strings.Count(tg.Expr, "[") != strings.Count(tg.Expr, "]") {
				t.Errorf("panel %q: unbalanced expression %q", p.Title, tg.Expr)
			}
			names := metricRef.FindAllString(tg.Expr, -1)
			if len(names) == 0 {
				t.Errorf("panel %q: expression %q uses no dexplane metric", p.Title, tg.Expr)
			}
			for _, n := range names {
				used[n] = true
				if !exported[n] {
					t.Errorf("panel %q: expression %q uses %s, which is not exported", p.Title, tg.Expr, n)
				}
			}
		}
	}

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
