package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strings"
	"time"

	"github.com/dexplane/dexplane/bench/plot"
	"github.com/dexplane/dexplane/bench/scenario"
)

func runScenarios(ctx context.Context, args []string) int {
	fs := flag.NewFlagSet("run", flag.ContinueOnError)
	mode := fs.String("mode", "full", "matrix: quick (smoke, < 3 min) or full (the paper's matrix)")
	filter := fs.String("filter", "", "keep scenarios whose name contains every comma-separated term (!term excludes); baselines stay")
	reps := fs.Int("reps", 0, "repetitions per scenario (default: quick 1, full 5)")
	warmup := fs.Duration("warmup", 0, "traffic before each window (default: quick 300ms, full 1s)")
	dur := fs.Duration("duration", 0, "measurement window (default: quick 1s, full 3s)")
	rate := fs.Float64("rate", 0, "generator target in packets/s (0: flat out)")
	flows := fs.Int("flows", 16, "flows (UDP source ports)")
	out := fs.String("out", "bench/results", "results directory; each run writes a subdirectory RUNID/")
	dexBin := fs.String("dexplane", "", "dexplane binary (default: go build ./cmd/dexplane into the run directory)")
	pinWorkers := fs.Bool("pin-workers", false, "with -pin, pin only dexplane's worker threads to -dut-cpu (dataplane.cpus) instead of the whole process (taskset)")
	floorBin := fs.String("floor", "", "afxdp-floor binary (default: cc -O2 bench/floor/afxdp-floor.c -lxdp -lbpf into a temporary directory; needs libxdp-dev)")
	script := fs.String("testbed", "scripts/testbed.sh", "path of scripts/testbed.sh")
	attach := fs.String("attach", "auto", "XDP attach mode for dexplane, and for the redirect baseline without -pin (with -pin it is generic, to run after RPS): auto, native, generic")
	pin := fs.Bool("pin", runtime.NumCPU() >= 2, "give the DUT a CPU of its own (-dut-cpu: kernel forwarding and XDP redirect via RPS, dexplane via taskset) and run generator and sink on -gen-cpu")
	genCPU := fs.Int("gen-cpu", 0, "CPU of the generator and sink threads with -pin")
	dutCPU := fs.Int("dut-cpu", 1, "CPU of the device under test with -pin")
	exportRate := fs.Uint64("export-rate", 0, "dexplane export.rate_limit.records_per_second (0: config default)")
	prefix := fs.String("prefix", fmt.Sprintf("dxb%d", os.Getpid()%100000), "namespace name prefix")
	list := fs.Bool("list", false, "print the scenarios and exit")
	if err := fs.Parse(args); err != nil {
		return 2
	}
	var scens []scenario.Scenario
	switch *mode {
	case "quick":
		scens = scenario.Quick()
		setDefault(reps, 1)
		setDefaultDur(warmup, 300*time.Millisecond)
		setDefaultDur(dur, time.Second)
	case "full":
		scens = scenario.Full()
		setDefault(reps, 5)
		setDefaultDur(warmup, time.Second)
		setDefaultDur(dur, 3*time.Second)
	default:
		return fail("run", fmt.Errorf("-mode %q: want quick or full", *mode))
	}
	scens = scenario.Filter(scens, *filter)
	if *list {
		for _, s := range scens {
			fmt.Println(s.Name())
		}
		fmt.Printf("%d scenarios × %d reps ≈ %v\n", len(scens), *reps,
			(time.Duration(len(scens)**reps) * (*warmup + *dur + 1500*time.Millisecond)).Round(time.Minute))
		return 0
	}
	if os.Geteuid() != 0 {
		return fail("run", errors.New("needs root (network namespaces, XDP, AF_XDP)"))
	}

	runID := time.Now().UTC().Format("20060102T150405Z")
	dir := filepath.Join(*out, runID)
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return fail("run", err)
	}
	// Generated DUT configs and DUT logs go to a temporary directory that
	// is kept for inspection (outside the tree, so runs leave it clean).
	dutDir, err := os.MkdirTemp("", "dexbench-"+runID+"-dut-")
	if err != nil {
		return fail("run", err)
	}
	if *dexBin == "" && hasDexplane(scens) {
		tmp, err := os.MkdirTemp("", "dexbench-")
		if err != nil {
			return fail("run", err)
		}
		defer os.RemoveAll(tmp)
		*dexBin = filepath.Join(tmp, "dexplane")
		fmt.Fprintf(os.Stderr, "building dexplane into %s\n", *dexBin)
		cmd := exec.Command("go", "build", "-o", *dexBin, "github.com/dexplane/dexplane/cmd/dexplane")
		cmd.Stdout, cmd.Stderr = os.Stderr, os.Stderr
		if err := cmd.Run(); err != nil {
			return fail("run", fmt.Errorf("build dexplane: %w", err))
		}
	}
	if hasDexplane(scens) {
		if missing := scenario.EngineMissing(*dexBin); missing != "" {
			fmt.Fprintf(os.Stderr, "dexbench run: dexplane scenarios skipped: %s\n", missing)
			var kept []scenario.Scenario
			for _, s := range scens {
				if s.DUT != scenario.Dexplane {
					kept = append(kept, s)
				}
			}
			scens = kept
		} else if err := validateConfigs(*dexBin, scens, *attach, *exportRate, dutDir); err != nil {
			return fail("run", err)
		}
	}
	if *floorBin == "" && hasDUT(scens, scenario.AFXDPFloor) {
		tmp, err := os.MkdirTemp("", "dexbench-floor-")
		if err != nil {
			return fail("run", err)
		}
		defer os.RemoveAll(tmp)
		out := filepath.Join(tmp, "afxdp-floor")
		cmd := exec.Command("cc", "-O2", "-o", out, filepath.Join("bench", "floor", "afxdp-floor.c"), "-lxdp", "-lbpf")
		if b, err := cmd.CombinedOutput(); err != nil {
			fmt.Fprintf(os.Stderr, "dexbench run: afxdp-floor scenarios skipped: cannot build bench/floor/afxdp-floor.c (%v; scripts/install-deps.sh installs libxdp-dev):\n%s", err, b)
			var kept []scenario.Scenario
			for _, s := range scens {
				if s.DUT != scenario.AFXDPFloor {
					kept = append(kept, s)
				}
			}
			scens = kept
		} else {
			*floorBin = out
		}
	}
	csvPath := filepath.Join(dir, "results.csv")
	w, err := scenario.CreateCSV(csvPath)
	if err != nil {
		return fail("run", err)
	}
	defer w.Close()
	fmt.Fprintf(os.Stderr, "DUT configs and logs: %s\n", dutDir)
	pinning := "not pinned"
	if *pin {
		pinning = fmt.Sprintf("generator+sink on CPU %d, DUT on CPU %d", *genCPU, *dutCPU)
	}
	fmt.Fprintf(os.Stderr, "run %s: %d scenarios × %d reps, window %v after %v warm-up, %s → %s\n",
		runID, len(scens), *reps, *dur, *warmup, pinning, dir)
	rows, err := scenario.Run(ctx, scenario.Options{
		Scenarios: scens, Reps: *reps, Warmup: *warmup, Duration: *dur, Rate: *rate, Flows: *flows,
		Pin: *pin, GenCPU: *genCPU, DUTCPU: *dutCPU,
		TestbedScript: *script, Prefix: *prefix, RunID: runID, CSV: w, Progress: os.Stderr,
		DUT: scenario.DUTOptions{Dexplane: *dexBin, AttachMode: *attach, ExportRate: *exportRate,
			WorkDir: dutDir, Floor: *floorBin, PinWorkers: *pinWorkers},
	})
	if err != nil {
		fmt.Fprintf(os.Stderr, "dexbench run: %v (partial results kept)\n", err)
	}
	if len(rows) > 0 {
		if perr := report(rows, dir); perr != nil {
			return fail("run", perr)
		}
	}
	if err != nil {
		return 1
	}
	return 0
}

func setDefault(p *int, v int) {
	if *p == 0 {
		*p = v
	}
}

func setDefaultDur(p *time.Duration, v time.Duration) {
	if *p == 0 {
		*p = v
	}
}

// hasDUT reports whether a scenario runs on DUT kind k.
func hasDUT(scens []scenario.Scenario, k scenario.DUTKind) bool {
	for _, s := range scens {
		if s.DUT == k {
			return true
		}
	}
	return false
}

func hasDexplane(scens []scenario.Scenario) bool {
	for _, s := range scens {
		if s.DUT == scenario.Dexplane {
			return true
		}
	}
	return false
}

// validateConfigs checks every generated config with `dexplane validate`
// when that command exists, so a config error stops the run up front.
func validateConfigs(bin string, scens []scenario.Scenario, attach string, exportRate uint64, dir string) error {
	out, _ := exec.Command(bin, "help").CombinedOutput()
	if !strings.Contains(string(out), "validate") {
		return nil
	}
	seen := map[string]bool{}
	for _, s := range scens {
		if s.DUT != scenario.Dexplane {
			continue
		}
		y, err := scenario.DexplaneConfig(s, scenario.ConfigOptions{AttachMode: attach, ExportRate: exportRate})
		if err != nil {
			return err
		}
		if seen[string(y)] {
			continue
		}
		seen[string(y)] = true
		p := filepath.Join(dir, "validate.yaml")
		if err := os.WriteFile(p, y, 0o644); err != nil {
			return err
		}
		if out, err := exec.Command(bin, "validate", "-c", p).CombinedOutput(); err != nil {
			return fmt.Errorf("generated config for %s does not validate: %v\n%s\n%s", s.Name(), err, out, y)
		}
	}
	return nil
}

// report writes summary.md and the figures for rows into dir and prints the
// summary.
func report(rows []scenario.Row, dir string) error {
	sums := scenario.Summarize(rows)
	f, err := os.Create(filepath.Join(dir, "summary.md"))
	if err != nil {
		return err
	}
	if err := scenario.WriteMarkdown(f, sums); err != nil {
		f.Close()
		return err
	}
	if err := f.Close(); err != nil {
		return err
	}
	if err := scenario.WriteMarkdown(os.Stdout, sums); err != nil {
		return err
	}
	files, err := plot.Figures(sums, dir)
	if err != nil {
		return err
	}
	fmt.Fprintf(os.Stderr, "wrote %s, %s and %d figures\n", filepath.Join(dir, "results.csv"),
		filepath.Join(dir, "summary.md"), len(files))
	return nil
}

func runPlot(_ context.Context, args []string) int {
	fs := flag.NewFlagSet("plot", flag.ContinueOnError)
	out := fs.String("o", ".", "output directory for summary.md and the PNG figures")
	fs.Usage = func() {
		fmt.Fprintln(os.Stderr, "usage: dexbench plot [-o DIR] RESULTS.csv ...")
		fs.PrintDefaults()
	}
	if err := fs.Parse(args); err != nil {
		return 2
	}
	if fs.NArg() == 0 {
		fs.Usage()
		return 2
	}
	rows, err := scenario.ReadCSVFiles(fs.Args()...)
	if err != nil {
		return fail("plot", err)
	}
	if err := os.MkdirAll(*out, 0o755); err != nil {
		return fail("plot", err)
	}
	if err := report(rows, *out); err != nil {
		return fail("plot", err)
	}
	return 0
}
