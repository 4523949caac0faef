package plot

import (
	"bytes"
	"os"
	"path/filepath"
	"testing"

	"github.com/dexplane/dexplane/bench/scenario"
)

// synthetic returns rows of one run: baselines and two roles over every
// injection rate, three repetitions each.
func synthetic() []scenario.Row {
	var rows []scenario.Row
	add := func(s scenario.Scenario, pps, ns float64) {
		for rep := 1; rep <= 3; rep++ {
			rows = append(rows, scenario.Row{RunID: "t", Scenario: s.Name(), Variant: s.Variant(), DUT: string(s.DUT),
				Role: string(s.Role), InjectPct: s.Inject, Steer: s.Steer, Workers: s.Workers, Size: s.Size,
				Rep: rep, RxPPS: pps * (1 + 0.01*float64(rep)), DUTProcNsPerPkt: ns, DUTProcCPUS: 1})
		}
	}
	for i, b := range scenario.Baselines(1500, 1) {
		add(b, 300e3+50e3*float64(i), 500)
	}
	for _, r := range []scenario.Role{scenario.RoleEncapInline, scenario.RoleTransit} {
		for _, ext := range []uint8{0, 0xC0} {
			for i, p := range scenario.InjectionRates {
				s := scenario.Scenario{DUT: scenario.Dexplane, Role: r, Inject: p, TraceType: 0x800000,
					ExtFlags: ext, Steer: "all", Workers: 1, Size: 1500}
				add(s, 400e3-20e3*float64(i), 600+30*float64(i))
			}
		}
	}
	return rows
}

func TestFiguresWritePNGs(t *testing.T) {
	dir := t.TempDir()
	if d := os.Getenv("DEXBENCH_PLOT_DIR"); d != "" {
		dir = d // keep the figures to look at them
	}
	files, err := Figures(scenario.Summarize(synthetic()), dir)
	if err != nil {
		t.Fatal(err)
	}
	want := []string{"rxpps_encap-inline_1500.png", "cpu_encap-inline_1500.png", "rxpps_transit_1500.png", "cpu_transit_1500.png"}
	if len(files) != len(want) {
		t.Fatalf("files %v, want %v", files, want)
	}
	for _, w := range want {
		b, err := os.ReadFile(filepath.Join(dir, w))
		if err != nil {
			t.Fatal(err)
		}
		if !bytes.HasPrefix(b, []byte("\x89PNG\r\n\x1a\n")) || len(b) < 1000 {
			t.Errorf("%s: not a PNG (%d octets)", w, len(b))
		}
	}
}

func TestFiguresWithoutDexplaneRows(t *testing.T) {
	var rows []scenario.Row
	for _, r := range synthetic() {
		if r.DUT != string(scenario.Dexplane) {
			rows = append(rows, r)
		}
	}
	files, err := Figures(scenario.Summarize(rows), t.TempDir())
	if err != nil || len(files) != 0 {
		t.Fatalf("files %v, err %v; want none", files, err)
	}
}
