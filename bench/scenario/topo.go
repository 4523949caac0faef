package scenario

import (
	"fmt"
	"net/netip"
	"os"
	"os/exec"
	"strings"

	"github.com/vishvananda/netlink"

	"github.com/dexplane/dexplane/bench/gen"
	"github.com/dexplane/dexplane/internal/testbed/plan"
)

// Testbed is one topology built by scripts/testbed.sh (the shell twin of
// internal/testbed, which only works inside tests): host-a ── dut ── host-b.
type Testbed struct {
	// Script is the path of scripts/testbed.sh.
	Script string
	// Topology is "bitw" or "router"; Prefix starts the namespace names.
	Topology, Prefix string
	// Queues is the number of TX and RX queues of every veth (0 means 1),
	// TESTBED_QUEUES of the script.
	Queues int
}

// HostA returns the namespace of host-a (the generator's side), as
// scripts/testbed.sh names it.
func (t *Testbed) HostA() string { return t.Prefix + "-host-a" }

// HostB returns the namespace of host-b.
func (t *Testbed) HostB() string { return t.Prefix + "-host-b" }

// DUT returns the namespace of the device under test.
func (t *Testbed) DUT() string { return t.Prefix + "-dut" }

// HostBAddr returns host-b's IPv6 address in this topology.
func (t *Testbed) HostBAddr() netip.Addr {
	if t.Topology == "router" {
		return plan.RouterHostBAddr
	}
	return plan.HostBAddr
}

// Up builds the testbed (removing a stale one with the same prefix first).
func (t *Testbed) Up() error { return t.script("up") }

// Down removes the testbed; it succeeds when nothing is there.
func (t *Testbed) Down() error { return t.script("down") }

func (t *Testbed) script(action string) error {
	cmd := exec.Command(t.Script, action, t.Topology, t.Prefix)
	cmd.Env = append(os.Environ(), fmt.Sprintf("TESTBED_QUEUES=%d", max(t.Queues, 1)))
	out, err := cmd.CombinedOutput()
	if err != nil {
		return fmt.Errorf("%s %s %s %s: %w\n%s", t.Script, action, t.Topology, t.Prefix, err,
			strings.TrimSpace(string(out)))
	}
	return nil
}

// SteerRPS sets receive packet steering on both dut ports to cpu, so that
// the kernel's receive work for frames entering the dut (forwarding,
// generic XDP, AF_XDP copy) runs there rather than on the sending CPU;
// cpu < 0 turns RPS off.
func (t *Testbed) SteerRPS(cpu int) error {
	mask := "0"
	if cpu >= 0 {
		mask = fmt.Sprintf("%x", uint64(1)<<cpu)
	}
	for _, port := range []string{plan.West, plan.East} {
		path := "/sys/class/net/" + port + "/queues/rx-*/rps_cpus"
		// ip netns exec mounts the namespace's own /sys.
		out, err := exec.Command("ip", "netns", "exec", t.DUT(), "sh", "-c", "for f in "+path+"; do echo "+mask+" > $f; done").CombinedOutput()
		if err != nil {
			return fmt.Errorf("set RPS of %s %s to CPU %d: %w %s", t.DUT(), port, cpu, err, strings.TrimSpace(string(out)))
		}
	}
	return nil
}

// RxQueues returns the number of RX queues of the dut's west port.
func (t *Testbed) RxQueues() (int, error) {
	n := 0
	err := gen.InNetns(t.DUT(), func() error {
		l, err := netlink.LinkByName(plan.West)
		if err != nil {
			return fmt.Errorf("dut %s: %w", plan.West, err)
		}
		n = l.Attrs().NumRxQueues
		return nil
	})
	return n, err
}
