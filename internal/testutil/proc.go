package testutil

import (
	"errors"
	"fmt"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"
)

// ExitCode returns the exit status of a process that err (from
// exec.Cmd.Run, Wait or Output) reports: 0 for a nil err, the status for an
// *exec.ExitError, and err itself for an error that is not an exit status
// (the program could not be started).
func ExitCode(err error) (int, error) {
	var ee *exec.ExitError
	if errors.As(err, &ee) {
		return ee.ExitCode(), nil
	}
	return 0, err
}

// Proc is a process started by Start or StartCmd. Its methods may be
// called from one goroutine at a time.
type Proc struct {
	Cmd  *exec.Cmd
	Log  *LockedBuffer // stdout and stderr, unless the caller set Cmd.Stdout or Cmd.Stderr
	done chan struct{}
	err  error
}

// Start starts the program name with args, its stdout and stderr going to
// p.Log. t.Cleanup kills the process if it is still running and waits for
// it.
func Start(t testing.TB, name string, args ...string) *Proc {
	t.Helper()
	return StartCmd(t, exec.Command(name, args...))
}

// StartCmd starts cmd like Start; Cmd.Stdout and Cmd.Stderr that are nil
// go to p.Log, others are left as the caller set them.
func StartCmd(t testing.TB, cmd *exec.Cmd) *Proc {
	t.Helper()
	p := &Proc{Cmd: cmd, Log: &LockedBuffer{}, done: make(chan struct{})}
	if cmd.Stdout == nil {
		cmd.Stdout = p.Log
	}
	if cmd.Stderr == nil {
		cmd.Stderr = p.Log
	}
	if err := cmd.Start(); err != nil {
		t.Fatalf("start %s: %v", cmd.Path, err)
	}
	go func() {
		p.err = cmd.Wait()
		close(p.done)
	}()
	t.Cleanup(p.Kill)
	return p
}

// Done is closed when the process has exited.
func (p *Proc) Done() <-chan struct{} { return p.done }

// Exited reports whether the process has exited.
func (p *Proc) Exited() bool {
	select {
	case <-p.done:
		return true
	default:
		return false
	}
}

// Err returns what exec.Cmd.Wait returned; call it after Done is closed.
func (p *Proc) Err() error { return p.err }

// Kill kills the process unless it has exited, and waits for it.
func (p *Proc) Kill() {
	if !p.Exited() {
		_ = p.Cmd.Process.Kill()
	}
	<-p.done
}

// Signal sends sig to the process; it returns an error, showing p.Log, if
// the process has exited.
func (p *Proc) Signal(sig syscall.Signal) error {
	if p.Exited() {
		return fmt.Errorf("%s has exited (%v):\n%s", filepath.Base(p.Cmd.Path), p.err, p.Log)
	}
	return p.Cmd.Process.Signal(sig)
}

// WaitFor waits up to timeout for cond to hold (polling as Within does);
// it returns an error, showing p.Log, if the process exits first or the
// time runs out.
func (p *Proc) WaitFor(what string, timeout time.Duration, cond func() bool) error {
	exited := false
	ok := Within(timeout, func() bool {
		if cond() {
			return true
		}
		exited = p.Exited()
		return exited
	})
	switch {
	case exited:
		return fmt.Errorf("%s exited (%v) before %s:\n%s", filepath.Base(p.Cmd.Path), p.err, what, p.Log)
	case !ok:
		return fmt.Errorf("%s: no %s after %v:\n%s", filepath.Base(p.Cmd.Path), what, timeout, p.Log)
	}
	return nil
}

// WaitLog waits up to timeout until p.Log contains s (see WaitFor).
func (p *Proc) WaitLog(s string, timeout time.Duration) error {
	return p.WaitFor(fmt.Sprintf("%q in its output", s), timeout, func() bool { return strings.Contains(p.Log.String(), s) })
}

// Wait waits up to timeout for the process to exit and returns its exit
// status. It kills the process and returns an error, showing p.Log, if it
// is still running after timeout, and returns Wait's error if that is not
// an exit status.
func (p *Proc) Wait(timeout time.Duration) (int, error) {
	select {
	case <-p.done:
		return ExitCode(p.err)
	case <-time.After(timeout):
		p.Kill()
		return -1, fmt.Errorf("%s still running after %v; killed:\n%s", filepath.Base(p.Cmd.Path), timeout, p.Log)
	}
}

// Stop sends SIGTERM and waits up to timeout for the process to exit,
// killing it after that. It returns an error, showing p.Log, unless the
// process exited with status 0 within timeout.
func (p *Proc) Stop(timeout time.Duration) error {
	_ = p.Signal(syscall.SIGTERM)
	select {
	case <-p.done:
	case <-time.After(timeout):
		p.Kill()
		return fmt.Errorf("%s ignored SIGTERM for %v; killed:\n%s", filepath.Base(p.Cmd.Path), timeout, p.Log)
	}
	if p.err != nil {
		return fmt.Errorf("%s: %v\n%s", filepath.Base(p.Cmd.Path), p.err, p.Log)
	}
	return nil
}

// Run runs the program name with args and returns its stdout and stderr,
// interleaved, and its exit status; it fails t if the program cannot be
// started.
func Run(t testing.TB, name string, args ...string) (string, int) {
	t.Helper()
	out, err := exec.Command(name, args...).CombinedOutput()
	code, err := ExitCode(err)
	if err != nil {
		t.Fatalf("%s: %v", name, err)
	}
	return string(out), code
}
