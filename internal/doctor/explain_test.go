package doctor

import (
	"errors"
	"fmt"
	"path/filepath"
	"testing"

	"github.com/cilium/ebpf"
	"golang.org/x/sys/unix"

	"github.com/dexplane/dexplane/config"
	"github.com/dexplane/dexplane/steering"

	"github.com/dexplane/dexplane/internal/testutil"
)

// allCaps holds every capability dexplane needs.
const allCaps = 1<<capNetAdmin | 1<<capBPF | 1<<capNetRaw | 1<<capIPCLock

// goodHost is a root process on a 6.1 kernel where every interface exists.
func goodHost() Host {
	return Host{Caps: allCaps, Memlock: 8 << 20, Kernel: "6.1.0-18-amd64", Major: 6, Minor: 1,
		Interfaces: func(string) bool { return true }}
}

// fileTarget is the encapsulating edge example, as `run -c` loads it.
func fileTarget(t *testing.T) *Target {
	c, err := config.Load("../../config/examples/encap-edge.yaml")
	if err != nil {
		t.Fatal(err)
	}
	return FromConfig(c, FileSource("/etc/dexplane/dexplane.yaml"))
}

// TestFirstRunMessages: each first-run error a new user meets, as `dexplane
// run` prints it, against a golden file (go test -run FirstRun -update
// rewrites them after a deliberate change; review the diff).
func TestFirstRunMessages(t *testing.T) {
	def, err := config.Default()
	if err != nil {
		t.Fatal(err)
	}
	embedded := FromConfig(def, EmbeddedSource)
	bindErr := fmt.Errorf("dataplane: worker 0 on p0/p1 queue 0: %w",
		fmt.Errorf("xsk: bind ifindex 2 queue 0 in copy mode: %w", unix.EBUSY))
	mapErr := fmt.Errorf("ebpf: create maps: assign values: field DecapAddrs: map decap_addrs: map create: %w (MEMLOCK may be too low, consider rlimit.RemoveMemlock)", unix.EPERM)

	for _, tc := range []struct {
		name string
		want error // the sentinel the message wraps
		err  func(t *testing.T) error
	}{
		{"run-without-c-missing-ports", ErrNoInterface, func(t *testing.T) error {
			h := goodHost()
			h.Interfaces = func(string) bool { return false }
			return Preflight(embedded, h)
		}},
		{"config-one-port-missing", ErrNoInterface, func(t *testing.T) error {
			h := goodHost()
			h.Interfaces = func(n string) bool { return n != "ens1f1" }
			return Preflight(fileTarget(t), h)
		}},
		{"plain-ports-missing", ErrNoInterface, func(t *testing.T) error {
			tg := FromConfig(def, EmbeddedSource)
			tg.WithPorts("eth1", "eth9", true)
			h := goodHost()
			h.Interfaces = func(n string) bool { return n == "eth1" }
			return Preflight(tg, h)
		}},
		{"non-root", ErrPrivileges, func(t *testing.T) error {
			h := goodHost()
			h.Caps = 0
			return Preflight(fileTarget(t), h)
		}},
		{"memlock-only", ErrPrivileges, func(t *testing.T) error {
			h := goodHost()
			h.Caps, h.Memlock = 1<<capNetAdmin|1<<capBPF|1<<capNetRaw, 64<<10
			return Preflight(fileTarget(t), h)
		}},
		{"eperm-from-maps-without-caps", ErrPrivileges, func(t *testing.T) error {
			h := goodHost()
			h.Caps = 1 << capNetAdmin
			return Explain(fileTarget(t), h, mapErr)
		}},
		{"eperm-with-caps", ErrPrivileges, func(t *testing.T) error {
			return Explain(fileTarget(t), goodHost(), mapErr)
		}},
		{"foreign-xdp-program", steering.ErrForeignProgram, func(t *testing.T) error {
			err := fmt.Errorf("dataplane: port 0 %q: %w", "ens1f0", fmt.Errorf("ebpf: ens3f0: program %q: %w", "someone_else", steering.ErrForeignProgram))
			return ExplainXDP(fileTarget(t), 0, &XDPProgram{Name: "someone_else", ID: 42, Mode: "xdpgeneric"}, err)
		}},
		{"foreign-xdp-program-link", steering.ErrForeignProgram, func(t *testing.T) error {
			err := fmt.Errorf("dataplane: port 1 %q: %w", "ens1f1", steering.ErrForeignProgram)
			return ExplainXDP(fileTarget(t), 1, &XDPProgram{Name: "xdp_fw", ID: 42, Mode: "xdpdrv", LinkID: 9}, err)
		}},
		{"another-dexplane", steering.ErrPortBusy, func(t *testing.T) error {
			err := fmt.Errorf("dataplane: port 0 %q: %w", "ens1f0", steering.ErrPortBusy)
			return ExplainXDP(fileTarget(t), 0, &XDPProgram{Name: "dxp_steer", ID: 77, Mode: "xdpdrv", LinkID: 12, Ours: true, LinkPID: 4242, LinkComm: "dexplane"}, err)
		}},
		{"xsk-bind-ebusy", ErrQueueBusy, func(t *testing.T) error {
			return Explain(fileTarget(t), goodHost(), bindErr)
		}},
		{"kernel-without-bpf-link", ErrKernelFeature, func(t *testing.T) error {
			old := probeFeature
			defer func() { probeFeature = old }()
			probeFeature = func(f feature) error {
				if f.name == "bpf_link for XDP" {
					return ebpf.ErrNotSupported
				}
				return nil
			}
			h := goodHost()
			h.Kernel, h.Major, h.Minor = "5.4.0-150-generic", 5, 4
			return Explain(fileTarget(t), h, fmt.Errorf("dataplane: port 0 \"ens1f0\": ebpf: attach port 0 to ifindex 2: native: %w", unix.EINVAL))
		}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			err := tc.err(t)
			if err == nil {
				t.Fatal("no error")
			}
			if !errors.Is(err, tc.want) {
				t.Errorf("error does not wrap %v: %v", tc.want, err)
			}
			got := "dexplane run: " + err.Error() + "\n"
			testutil.Golden(t, filepath.Join("testdata", "firstrun", tc.name+".txt"), []byte(got),
				"go test ./internal/doctor -run FirstRun -update")
		})
	}
}

// TestPreflightPasses: nothing to say for a good host, and CAP_SYS_ADMIN
// stands in for CAP_BPF, a large memlock limit for CAP_IPC_LOCK.
func TestPreflightPasses(t *testing.T) {
	tg := fileTarget(t)
	for _, h := range []Host{
		goodHost(),
		{Caps: 1<<capNetAdmin | 1<<capSysAdmin | 1<<capNetRaw | 1<<capIPCLock, Major: 6, Minor: 1},
		{Caps: 1<<capNetAdmin | 1<<capBPF | 1<<capNetRaw, Memlock: unix.RLIM_INFINITY, Major: 6, Minor: 1},
	} {
		if err := Preflight(tg, h); err != nil {
			t.Errorf("caps %#x memlock %d: %v", h.Caps, h.Memlock, err)
		}
	}
}
