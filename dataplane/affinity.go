package dataplane

import (
	"fmt"
	"os"
	"runtime"
	"strconv"

	"golang.org/x/sys/unix"
)

// confineRuntime keeps the Go runtime off the workers' CPUs: every thread
// of the process that exists now is restricted to the CPUs it may use
// minus workerCPUs (threads created later inherit that: the runtime
// creates new threads from unpinned threads, or from its template thread
// when the creating thread is locked, as the workers are), and GOMAXPROCS
// is raised to at least 2 + the workers, so that the garbage collector and
// the exporter run beside the workers rather than on their cores. The
// workers then pin their own threads (xsk.WorkerConfig.PinCPU). It does
// nothing when no CPU would be left for the rest, and reports what it did.
func confineRuntime(workerCPUs []int) (string, error) {
	if len(workerCPUs) == 0 {
		return "", nil
	}
	var allowed unix.CPUSet
	if err := unix.SchedGetaffinity(0, &allowed); err != nil {
		return "", fmt.Errorf("sched_getaffinity: %w", err)
	}
	rest := allowed
	for _, c := range workerCPUs {
		rest.Clear(c)
	}
	if rest.Count() == 0 {
		return "no CPU left beside the workers' CPUs: the runtime shares them", nil
	}
	tasks, err := os.ReadDir("/proc/self/task")
	if err != nil {
		return "", fmt.Errorf("list threads: %w", err)
	}
	for _, t := range tasks {
		tid, err := strconv.Atoi(t.Name())
		if err != nil {
			continue
		}
		if err := unix.SchedSetaffinity(tid, &rest); err != nil && err != unix.ESRCH {
			return "", fmt.Errorf("sched_setaffinity thread %d: %w", tid, err)
		}
	}
	if want := len(workerCPUs) + 2; runtime.GOMAXPROCS(0) < want {
		runtime.GOMAXPROCS(want)
	}
	return fmt.Sprintf("runtime threads on %d CPUs beside the workers', GOMAXPROCS %d", rest.Count(), runtime.GOMAXPROCS(0)), nil
}
