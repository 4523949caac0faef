package testutil

import (
	"strings"
	"syscall"
	"testing"
	"time"
)

func TestProc(t *testing.T) {
	sh := NeedTool(t, "sh", "a POSIX shell")
	// Exits 0 on SIGTERM, after saying so.
	p := Start(t, sh, "-c", `trap 'echo bye; exit 0' TERM; echo ready; while :; do sleep 0.01; done`)
	if err := p.WaitLog("ready", 10*time.Second); err != nil {
		t.Fatal(err)
	}
	if err := p.Stop(10 * time.Second); err != nil || !strings.Contains(p.Log.String(), "bye") {
		t.Errorf("Stop: %v, log %q", err, p.Log)
	}
	if err := p.Signal(syscall.SIGHUP); err == nil {
		t.Error("Signal to an exited process reported no error")
	}
	// Exits 3 at once: WaitFor reports the exit, Wait the status.
	q := Start(t, sh, "-c", "exit 3")
	if err := q.WaitLog("never", 10*time.Second); err == nil {
		t.Error("WaitLog did not report the exit")
	}
	if code, err := q.Wait(time.Second); code != 3 || err != nil {
		t.Errorf("Wait = %d, %v; want 3", code, err)
	}
	// Does not exit: Wait gives up and kills it.
	r := Start(t, sh, "-c", "exec sleep 10")
	if _, err := r.Wait(50 * time.Millisecond); err == nil || !r.Exited() {
		t.Errorf("Wait on a running process: %v (exited %v), want an error and a killed process", err, r.Exited())
	}
	if out, code := Run(t, sh, "-c", "echo out; echo err >&2; exit 2"); code != 2 || out != "out\nerr\n" {
		t.Errorf("Run = %q, %d", out, code)
	}
}
