// Package grafanatest checks the Grafana dashboards under deploy/ in tests:
// it decodes the part of the dashboard JSON the checks need and checks
// every panel the same way for the node's and the collector's dashboard.
// Only test code imports it.
package grafanatest

import (
	"encoding/json"
	"os"
	"regexp"
	"strings"
	"testing"

	"github.com/prometheus/client_golang/prometheus"
	dto "github.com/prometheus/client_model/go"
)

// Dashboard is the part of a Grafana dashboard model the tests read.
type Dashboard struct {
	Title      string  `json:"title"`
	UID        string  `json:"uid"`
	Panels     []Panel `json:"panels"`
	Templating struct {
		List []Variable `json:"list"`
	} `json:"templating"`
}

// Panel is one panel (or row) of a dashboard.
type Panel struct {
	ID         int            `json:"id"`
	Type       string         `json:"type"`
	Title      string         `json:"title"`
	GridPos    map[string]int `json:"gridPos"`
	Datasource *struct {
		UID string `json:"uid"`
	} `json:"datasource"`
	Targets []Target `json:"targets"`
}

// Target is one query of a panel.
type Target struct {
	Expr   string `json:"expr"`
	RefID  string `json:"refId"`
	Format string `json:"format"`
}

// Variable is one templating variable; Definition is its query.
type Variable struct {
	Name       string `json:"name"`
	Definition string `json:"definition"`
}

// Load reads and decodes the dashboard at path; it fails t on an error.
func Load(t testing.TB, path string) *Dashboard {
	t.Helper()
	raw, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	var d Dashboard
	if err := json.Unmarshal(raw, &d); err != nil {
		t.Fatalf("%s: %v", path, err)
	}
	return &d
}

// Exported gathers g and returns the name of every series it exports: each
// metric family's name, and for a histogram also its _bucket, _sum and
// _count series. It fails t if g cannot be gathered.
func Exported(t testing.TB, g prometheus.Gatherer) map[string]bool {
	t.Helper()
	mfs, err := g.Gather()
	if err != nil {
		t.Fatal(err)
	}
	exported := map[string]bool{}
	for _, mf := range mfs {
		exported[mf.GetName()] = true
		if mf.GetType() == dto.MetricType_HISTOGRAM {
			for _, s := range []string{"_bucket", "_sum", "_count"} {
				exported[mf.GetName()+s] = true
			}
		}
	}
	return exported
}

// CheckPanels reports an error on t for every panel with a duplicate id or
// no size, and for every panel other than a row that does not use the
// ${datasource} variable, has no targets, or has a target with a missing
// or duplicate refId, unbalanced brackets, no metric that ref matches, or
// a metric that exported does not hold. It returns the metric names the
// panels use.
func CheckPanels(t testing.TB, d *Dashboard, ref *regexp.Regexp, exported map[string]bool) (used map[string]bool) {
	t.Helper()
	used = map[string]bool{}
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
			names := ref.FindAllString(tg.Expr, -1)
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
	return used
}
