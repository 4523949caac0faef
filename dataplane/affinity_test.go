package dataplane

import (
	"os"
	"runtime"
	"strconv"
	"testing"

	"golang.org/x/sys/unix"
)

// TestConfineRuntime checks that every thread of the process leaves the
// worker CPU and that GOMAXPROCS becomes at least 3 for one worker. It
// runs only with two CPUs or more and restores the affinity.
func TestConfineRuntime(t *testing.T) {
	var orig unix.CPUSet
	if err := unix.SchedGetaffinity(0, &orig); err != nil || orig.Count() < 2 {
		t.Skip("needs two CPUs")
	}
	worker := -1
	for c := 0; c < 1024; c++ {
		if orig.IsSet(c) {
			worker = c
		}
	}
	procs := runtime.GOMAXPROCS(0)
	defer func() {
		runtime.GOMAXPROCS(procs)
		tasks, _ := os.ReadDir("/proc/self/task")
		for _, tk := range tasks {
			if tid, err := strconv.Atoi(tk.Name()); err == nil {
				_ = unix.SchedSetaffinity(tid, &orig)
			}
		}
	}()
	msg, err := confineRuntime([]int{worker})
	if err != nil {
		t.Fatal(err)
	}
	t.Log(msg)
	tasks, err := os.ReadDir("/proc/self/task")
	if err != nil {
		t.Fatal(err)
	}
	for _, tk := range tasks {
		tid, _ := strconv.Atoi(tk.Name())
		var s unix.CPUSet
		if err := unix.SchedGetaffinity(tid, &s); err != nil {
			continue // the thread exited
		}
		if s.IsSet(worker) {
			t.Errorf("thread %d may still run on worker CPU %d", tid, worker)
		}
	}
	if runtime.GOMAXPROCS(0) < 3 {
		t.Errorf("GOMAXPROCS %d, want at least 3", runtime.GOMAXPROCS(0))
	}
}
