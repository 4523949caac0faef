package gen

import (
	"bytes"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"time"

	"golang.org/x/sys/unix"
)

// CPUProbe reports cumulative CPU time consumed by whatever it watches;
// the difference of two samples over a window is the CPU used in it.
type CPUProbe interface {
	// Sample returns the cumulative CPU time so far.
	Sample() (time.Duration, error)
	// Name describes the probe for reports ("pid 1234", "softirq").
	Name() string
}

// userHZ is the kernel's USER_HZ, the unit of /proc/stat and
// /proc/PID/stat times; it is 100 on every Linux architecture Go supports.
const userHZ = 100

// ProcessCPU measures a process's CPU time: the sum over its threads of the
// scheduler's on-CPU nanoseconds (/proc/PID/task/TID/schedstat, field 1),
// falling back to utime+stime of /proc/PID/stat (10 ms ticks) when
// schedstat is unavailable. Kernel work done in the process's syscalls
// (sendto kicks that run the veth transmit path) is included; softirq work
// done on behalf of the process in another context is not.
type ProcessCPU struct{ PID int }

// Name implements CPUProbe.
func (p ProcessCPU) Name() string { return fmt.Sprintf("pid %d", p.PID) }

// Sample implements CPUProbe.
func (p ProcessCPU) Sample() (time.Duration, error) {
	tasks, err := filepath.Glob(fmt.Sprintf("/proc/%d/task/*/schedstat", p.PID))
	if err == nil && len(tasks) > 0 {
		var total int64
		ok := false
		for _, t := range tasks {
			b, err := os.ReadFile(t)
			if err != nil {
				continue // thread exited between glob and read
			}
			f := strings.Fields(string(b))
			if len(f) < 1 {
				continue
			}
			ns, err := strconv.ParseInt(f[0], 10, 64)
			if err != nil {
				continue
			}
			total += ns
			ok = true
		}
		if ok {
			return time.Duration(total), nil
		}
	}
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", p.PID))
	if err != nil {
		return 0, fmt.Errorf("read CPU time of pid %d: %w", p.PID, err)
	}
	// The command name (field 2) may contain spaces: split after ")".
	i := bytes.LastIndexByte(b, ')')
	if i < 0 {
		return 0, fmt.Errorf("parse /proc/%d/stat: no ')'", p.PID)
	}
	f := strings.Fields(string(b[i+1:]))
	// f[0] is field 3 (state); utime and stime are fields 14 and 15.
	if len(f) < 13 {
		return 0, fmt.Errorf("parse /proc/%d/stat: %d fields", p.PID, len(f)+2)
	}
	ut, err1 := strconv.ParseInt(f[11], 10, 64)
	st, err2 := strconv.ParseInt(f[12], 10, 64)
	if err1 != nil || err2 != nil {
		return 0, fmt.Errorf("parse /proc/%d/stat utime %q stime %q", p.PID, f[11], f[12])
	}
	return time.Duration(ut+st) * time.Second / userHZ, nil
}

// SoftirqCPU measures the machine-wide time spent in softirq context (the
// "softirq" column of the cpu line of /proc/stat, 10 ms ticks, all CPUs).
// Kernel IPv6 forwarding and XDP on veth run there, so this is the DUT cost
// for the kernel baseline; on a shared machine it includes everyone's
// softirq work, so compare it only within one run.
type SoftirqCPU struct{}

// Name implements CPUProbe.
func (SoftirqCPU) Name() string { return "softirq" }

// Sample implements CPUProbe.
func (SoftirqCPU) Sample() (time.Duration, error) {
	return aggregateCPU(func(f []string) (int64, error) {
		ticks, err := strconv.ParseInt(f[7], 10, 64)
		if err != nil {
			return 0, fmt.Errorf("parse /proc/stat softirq %q: %w", f[7], err)
		}
		return ticks, nil
	})
}

// CoreCPU measures the busy time of some CPUs: every column of their
// /proc/stat "cpuN" lines except idle and iowait (user, nice, system, irq,
// softirq, steal; 10 ms ticks). When the device under test has a core to
// itself (generator and sink pinned elsewhere, its softirq work steered
// there by RPS), this is its whole cost — process, kernel and softirq alike —
// measured the same way for kernel forwarding, XDP and dexplane.
type CoreCPU struct{ CPUs []int }

// Name implements CPUProbe.
func (c CoreCPU) Name() string { return fmt.Sprintf("cpus %v", c.CPUs) }

// Sample implements CPUProbe.
func (c CoreCPU) Sample() (time.Duration, error) {
	b, err := os.ReadFile("/proc/stat")
	if err != nil {
		return 0, fmt.Errorf("read /proc/stat: %w", err)
	}
	want := map[string]bool{}
	for _, n := range c.CPUs {
		want[fmt.Sprintf("cpu%d", n)] = true
	}
	var ticks int64
	found := 0
	for _, line := range strings.Split(string(b), "\n") {
		f := strings.Fields(line)
		if len(f) < 9 || !want[f[0]] {
			continue
		}
		found++
		n, err := busyTicks(f)
		if err != nil {
			return 0, err
		}
		ticks += n
	}
	if found != len(want) {
		return 0, fmt.Errorf("/proc/stat has %d of the CPUs %v", found, c.CPUs)
	}
	return time.Duration(ticks) * time.Second / userHZ, nil
}

// MachineCPU measures the busy time of all CPUs: every column of the
// aggregate "cpu" line of /proc/stat except idle and iowait (user, nice,
// system, irq, softirq, steal; 10 ms ticks). Per received packet it is what
// the whole path costs the machine — generator, sink, the DUT's process
// and every softirq on whichever CPU it ran, including the XDP and
// copy-mode work a pinned DUT-core figure does not see. On a shared
// machine it also counts other tenants' work.
type MachineCPU struct{}

// Name implements CPUProbe.
func (MachineCPU) Name() string { return "machine" }

// Sample implements CPUProbe.
func (MachineCPU) Sample() (time.Duration, error) { return aggregateCPU(busyTicks) }

// busyTicks sums the busy columns of a /proc/stat cpu line split into
// fields f (at least 9: the name, then user nice system idle iowait irq
// softirq steal, in ticks): all but idle and iowait.
func busyTicks(f []string) (int64, error) {
	var ticks int64
	for i, v := range f[1:9] {
		if i == 3 || i == 4 {
			continue
		}
		n, err := strconv.ParseInt(v, 10, 64)
		if err != nil {
			return 0, fmt.Errorf("parse /proc/stat %s: %w", f[0], err)
		}
		ticks += n
	}
	return ticks, nil
}

// aggregateCPU splits the aggregate "cpu" line of /proc/stat into fields
// ("cpu", then user nice system idle iowait irq softirq steal … in ticks)
// and returns the time that ticks picks from them.
func aggregateCPU(ticks func(f []string) (int64, error)) (time.Duration, error) {
	b, err := os.ReadFile("/proc/stat")
	if err != nil {
		return 0, fmt.Errorf("read /proc/stat: %w", err)
	}
	line, _, _ := strings.Cut(string(b), "\n")
	f := strings.Fields(line)
	if len(f) < 9 || f[0] != "cpu" {
		return 0, fmt.Errorf("parse /proc/stat: unexpected first line %q", line)
	}
	t, err := ticks(f)
	if err != nil {
		return 0, err
	}
	return time.Duration(t) * time.Second / userHZ, nil
}

// pinThread restricts the calling OS thread to cpus (nil: no change).
func pinThread(cpus []int) error {
	if len(cpus) == 0 {
		return nil
	}
	var set unix.CPUSet
	for _, c := range cpus {
		set.Set(c)
	}
	if err := unix.SchedSetaffinity(0, &set); err != nil {
		return fmt.Errorf("pin thread to CPUs %v: %w", cpus, err)
	}
	return nil
}
