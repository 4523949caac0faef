// Package bench holds dexplane's benchmark harness (see README.md); this
// file is its CI smoke test.
package bench

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/dexplane/dexplane/bench/plot"
	"github.com/dexplane/dexplane/bench/scenario"
	"github.com/dexplane/dexplane/internal/testbed"
	"github.com/dexplane/dexplane/internal/testutil"
)

// TestQuickMatrixSmoke runs the quick matrix with very short windows and
// checks that the harness produced one sane row per scenario, a summary
// and figures. It asserts nothing about speed: the numbers of a shared CI
// machine mean nothing. It needs root and a dexplane with the run command.
func TestQuickMatrixSmoke(t *testing.T) {
	testbed.SkipIfNotRoot(t)
	if testing.Short() {
		t.Skip("-short: the smoke test builds dexplane and two testbeds")
	}
	script, err := filepath.Abs("../scripts/testbed.sh")
	if err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(script); err != nil {
		t.Skipf("needs scripts/testbed.sh: %v", err)
	}
	dir := t.TempDir()
	bin := testutil.BuildDexplane(t)
	if why := scenario.EngineMissing(bin); why != "" {
		t.Skip(why)
	}
	// The C AF_XDP floor baseline, built as dexbench builds it
	// (scripts/install-deps.sh installs libxdp-dev).
	floor := filepath.Join(dir, "afxdp-floor")
	if out, code := testutil.Run(t, "cc", "-O2", "-o", floor, filepath.Join("floor", "afxdp-floor.c"), "-lxdp", "-lbpf"); code != 0 {
		t.Fatalf("build bench/floor/afxdp-floor.c (needs libxdp-dev: scripts/install-deps.sh): exit %d\n%s", code, out)
	}
	scens := scenario.Quick()
	w, err := scenario.CreateCSV(filepath.Join(dir, "results.csv"))
	if err != nil {
		t.Fatal(err)
	}
	defer w.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	rows, err := scenario.Run(ctx, scenario.Options{
		Scenarios: scens, Reps: 1, Warmup: 200 * time.Millisecond, Duration: 500 * time.Millisecond,
		Rate: 20000, Flows: 8, TestbedScript: script, Prefix: fmt.Sprintf("dxs%d", os.Getpid()%100000),
		RunID: "smoke", CSV: w,
		DUT: scenario.DUTOptions{Dexplane: bin, AttachMode: "auto", WorkDir: dir, Floor: floor},
	})
	if err != nil {
		t.Fatal(err)
	}
	if len(rows) != len(scens) {
		t.Fatalf("%d rows for %d scenarios", len(rows), len(scens))
	}
	for i, r := range rows {
		if r.Scenario != scens[i].Name() {
			t.Errorf("row %d is %q, want %q", i, r.Scenario, scens[i].Name())
		}
		if r.Error != "" {
			t.Errorf("%s: %s", r.Scenario, r.Error)
			continue
		}
		if r.Received == 0 || r.WindowS <= 0 || r.RxPPS <= 0 || r.Sent < r.Received {
			t.Errorf("%s: not a measurement: sent %d received %d window %.2fs rx %.0f pps",
				r.Scenario, r.Sent, r.Received, r.WindowS, r.RxPPS)
		}
		if r.Corrupt != 0 || r.Late != 0 {
			t.Errorf("%s: %d corrupt, %d late frames", r.Scenario, r.Corrupt, r.Late)
		}
		if r.Limit == "" || r.Check == "" || r.Host == "" || r.Kernel == "" {
			t.Errorf("%s: empty limit/check/machine columns: %+v", r.Scenario, r)
		}
		if r.DUT == string(scenario.Dexplane) && r.DUTProcCPUS <= 0 {
			t.Errorf("%s: no DUT CPU time measured", r.Scenario)
		}
		// Whether the DUT inserted/stripped DEX as configured is the
		// roles' business (their own e2e tests); log it here.
		if r.Check != "ok" {
			t.Logf("%s: %s", r.Scenario, r.Check)
		}
	}
	sums := scenario.Summarize(rows)
	f, err := os.Create(filepath.Join(dir, "summary.md"))
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	if err := scenario.WriteMarkdown(f, sums); err != nil {
		t.Fatal(err)
	}
	if _, err := plot.Figures(sums, dir); err != nil {
		t.Fatal(err)
	}
	back, err := scenario.ReadCSVFiles(filepath.Join(dir, "results.csv"))
	if err != nil || len(back) != len(rows) {
		t.Fatalf("CSV read back %d rows, err %v", len(back), err)
	}
}
