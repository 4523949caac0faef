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
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/dexplane/dexplane/internal/testbed"
	"github.com/dexplane/dexplane/internal/testutil"
)

// dexNode is a `dexplane run` process inside a testbed namespace.
type dexNode struct {
	name string
	cmd  *exec.Cmd
	log  *testutil.LockedBuffer // stdout and stderr
	done chan struct{}          // closed when the process has exited
	err  error                  // Wait's result, valid after done
	once sync.Once
}

// startDexNode starts `bin run -c cfg --netns NS` for ns. It does not wait
// for the node to forward; see waitForwarding. t.Cleanup kills the process
// if the test did not stop it.
func startDexNode(t *testing.T, bin string, ns *testbed.Netns, cfg string) *dexNode {
	t.Helper()
	n := &dexNode{name: ns.Node, log: &testutil.LockedBuffer{}, done: make(chan struct{})}
	n.cmd = exec.Command(bin, "run", "-c", cfg, "--netns", ns.Name)
	n.cmd.Stdout, n.cmd.Stderr = n.log, n.log
	if err := n.cmd.Start(); err != nil {
		t.Fatalf("start dexplane on %s: %v", ns.Node, err)
	}
	go func() {
		n.err = n.cmd.Wait()
		close(n.done)
	}()
	t.Cleanup(func() {
		select {
		case <-n.done:
		default:
			_ = n.cmd.Process.Kill()
			<-n.done
		}
	})
	return n
}

// waitForwarding waits until the node logged that it forwards (the run
// command logs msg=forwarding once the data plane is attached), or fails.
func (n *dexNode) waitForwarding(timeout time.Duration) error {
	exited := false
	if testutil.Within(timeout, func() bool {
		if strings.Contains(n.log.String(), "msg=forwarding") {
			return true
		}
		select {
		case <-n.done:
			exited = true
			return true
		default:
			return false
		}
	}) && !exited {
		return nil
	}
	if exited {
		return fmt.Errorf("dexplane on %s exited before forwarding: %v\n%s", n.name, n.err, n.log.String())
	}
	return fmt.Errorf("dexplane on %s not forwarding after %v:\n%s", n.name, timeout, n.log.String())
}

// stop sends SIGTERM (the node detaches and flushes its outputs) and waits
// up to 15 s; it returns an error unless the process exited with status 0.
func (n *dexNode) stop() error {
	n.once.Do(func() { _ = n.cmd.Process.Signal(syscall.SIGTERM) })
	select {
	case <-n.done:
	case <-time.After(15 * time.Second):
		_ = n.cmd.Process.Kill()
		<-n.done
		return fmt.Errorf("dexplane on %s ignored SIGTERM for 15 s; killed:\n%s", n.name, n.log.String())
	}
	if n.err != nil {
		return fmt.Errorf("dexplane on %s: %v\n%s", n.name, n.err, n.log.String())
	}
	return nil
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
