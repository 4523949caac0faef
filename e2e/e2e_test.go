package e2e

// Shared helpers of the end-to-end tests that run the dexplane binary on a
// testbed: build it, run nodes, decode captures, read exported records and
// ask tshark for its opinion.

import (
	"bytes"
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"strings"
	"testing"
	"time"

	"gopkg.in/yaml.v3"

	"github.com/dexplane/dexplane/config"
	"github.com/dexplane/dexplane/internal/metrics"
	"github.com/dexplane/dexplane/internal/testbed"
	"github.com/dexplane/dexplane/internal/testutil"
)

// dexNode is a `dexplane run` process inside a testbed namespace; Log
// holds its stdout and stderr.
type dexNode struct {
	*testutil.Proc
	name string
}

// startDexNode starts `bin run -c cfg --netns NS` for ns. It does not wait
// for the node to forward; see waitForwarding. t.Cleanup kills the process
// if the test did not stop it.
func startDexNode(t *testing.T, bin string, ns *testbed.Netns, cfg string) *dexNode {
	t.Helper()
	return &dexNode{Proc: testutil.Start(t, bin, "run", "-c", cfg, "--netns", ns.Name), name: ns.Node}
}

// waitForwarding waits until the node logged that it forwards (the run
// command logs msg=forwarding once the data plane is attached), or fails.
func (n *dexNode) waitForwarding(timeout time.Duration) error {
	if err := n.WaitLog("msg=forwarding", timeout); err != nil {
		return fmt.Errorf("dexplane on %s: %w", n.name, err)
	}
	return nil
}

// stop sends SIGTERM (the node detaches and flushes its outputs) and waits
// up to 15 s; it returns an error unless the process exited with status 0.
func (n *dexNode) stop() error {
	if err := n.Stop(15 * time.Second); err != nil {
		return fmt.Errorf("dexplane on %s: %w", n.name, err)
	}
	return nil
}

// nodeStats reads /stats of the node running in ns with metrics address
// addr, with `bin stats --json`, as an operator would.
func nodeStats(t testing.TB, bin string, ns *testbed.Netns, addr string) metrics.Stats {
	t.Helper()
	out, err := ns.Command(bin, "stats", "--addr", addr, "--json").Output()
	if err != nil {
		t.Fatalf("dexplane stats in %s: %v", ns.Node, err)
	}
	var s metrics.Stats
	if err := json.Unmarshal(out, &s); err != nil {
		t.Fatalf("dexplane stats in %s: %v\n%s", ns.Node, err, out)
	}
	return s
}

// saveConfig writes cfg as YAML to path and returns it as config.Load reads
// it back; it fails t if the derived file does not load.
func saveConfig(t *testing.T, path string, cfg *config.Config) *config.Config {
	t.Helper()
	data, err := yaml.Marshal(cfg)
	if err != nil {
		t.Fatal(err)
	}
	testutil.WriteFile(t, path, data)
	back, err := config.Load(path)
	if err != nil {
		t.Fatalf("derived configuration %s does not load: %v\n%s", path, err, data)
	}
	return back
}

// readJSONRecords reads a file of exporter JSON records (one object per
// line), keeping every key, numbers as json.Number.
func readJSONRecords(t *testing.T, file string) []map[string]any {
	t.Helper()
	data, err := os.ReadFile(file)
	if err != nil {
		t.Fatalf("records: %v", err)
	}
	var recs []map[string]any
	for i, line := range bytes.Split(data, []byte("\n")) {
		if len(bytes.TrimSpace(line)) == 0 {
			continue
		}
		d := json.NewDecoder(bytes.NewReader(line))
		d.UseNumber()
		var m map[string]any
		if err := d.Decode(&m); err != nil {
			t.Fatalf("records %s:%d: %q: %v", file, i+1, line, err)
		}
		recs = append(recs, m)
	}
	return recs
}

// tsharkProblems returns what tshark reports as malformed or as an expert
// message of severity error or worse in file, one line per packet. tshark
// 4.0 does not dissect IOAM Option-Type 4 (DEX) and adds the expert item
// "Unknown Data (not interpreted)" to every DEX packet; its severity is note
// (0x400000), below error (0x800000), so the filter needs no exception.
func tsharkProblems(t *testing.T, file string) []string {
	t.Helper()
	out, err := exec.Command("tshark", "-n", "-r", file,
		"-Y", "_ws.malformed || _ws.expert.severity >= error",
		"-T", "fields", "-e", "frame.number", "-e", "_ws.expert.message", "-e", "_ws.malformed").CombinedOutput()
	if err != nil {
		t.Fatalf("tshark -r %s: %v\n%s", file, err, out)
	}
	var bad []string
	for _, line := range strings.Split(string(out), "\n") {
		line = strings.TrimSpace(line)
		if line == "" || strings.HasPrefix(line, "Running as user") {
			continue
		}
		bad = append(bad, line)
	}
	return bad
}
