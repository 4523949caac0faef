package steering_test

import (
	"errors"
	"strings"
	"testing"

	"github.com/cilium/ebpf"
	"github.com/cilium/ebpf/asm"
	"golang.org/x/sys/unix"

	"github.com/dexplane/dexplane/dataplane/policy"
	"github.com/dexplane/dexplane/internal/testbed"
	"github.com/dexplane/dexplane/internal/testbed/plan"
	"github.com/dexplane/dexplane/steering"
)

// TestRedirectBaseline: dxp_redirect forwards everything, attach auto picks
// native on veth.
func TestRedirectBaseline(t *testing.T) {
	n := start(t, steering.Options{Program: steering.ProgramRedirect}, policy.AttachAuto, policy.Outside, policy.Inside)
	if n.atts[0].Mode != policy.AttachNative {
		t.Errorf("auto on veth gave %v, want native", n.atts[0].Mode)
	}
	n.tb.PingBothWays(t, 3, true)
}

// xdpShown reports whether `ip -d link show` in the dut lists an XDP program.
func xdpShown(t *testing.T, dut *testbed.Netns) string {
	t.Helper()
	out := dut.MustRun(t, "ip", "-d", "link", "show")
	var lines []string
	for _, l := range strings.Split(out, "\n") {
		if strings.Contains(l, "xdp") {
			lines = append(lines, strings.TrimSpace(l))
		}
	}
	return strings.Join(lines, "\n")
}

// TestCloseDetaches: Detach and Close leave no program on the ports.
func TestCloseDetaches(t *testing.T) {
	n := start(t, steering.Options{}, policy.AttachGeneric, policy.Outside, policy.Inside)
	dut := n.tb.DUT()
	if xdpShown(t, dut) == "" {
		t.Fatal("no XDP program shown after attach")
	}
	if err := n.atts[0].Detach(); err != nil {
		t.Fatal(err)
	}
	if err := n.atts[0].Detach(); err != nil {
		t.Fatalf("second Detach: %v", err)
	}
	if id, _ := dut.XDPProgID(plan.West); id != 0 {
		t.Errorf("west still has program %d after Detach", id)
	}
	if err := n.objs.Close(); err != nil {
		t.Fatal(err)
	}
	if s := xdpShown(t, dut); s != "" {
		t.Errorf("XDP left after Close:\n%s", s)
	}
	if _, err := n.objs.Counters(); !errors.Is(err, steering.ErrClosed) {
		t.Errorf("Counters after Close: %v, want ErrClosed", err)
	}
}

// attachLegacy attaches a one-instruction XDP program named name to ifname
// through netlink, the way a crashed older run or `ip link set xdp` leaves one.
func attachLegacy(t *testing.T, ns *testbed.Netns, ifname, name string) {
	t.Helper()
	prog, err := ebpf.NewProgram(&ebpf.ProgramSpec{
		Name: name, Type: ebpf.XDP, License: "GPL",
		Instructions: asm.Instructions{asm.Mov.Imm(asm.R0, 1), asm.Return()}, // XDP_DROP
	})
	if err != nil {
		t.Fatal(err)
	}
	defer prog.Close() // the attachment keeps it alive
	if err := ns.AttachXDP(ifname, prog, unix.XDP_FLAGS_SKB_MODE); err != nil {
		t.Fatal(err)
	}
}

// TestStaleReplaced: a dexplane program left on a port is replaced; a
// foreign one is refused and left alone.
func TestStaleReplaced(t *testing.T) {
	tb := testbed.New(t, testbed.Bitw)
	dut := tb.DUT()
	west, east := dut.MustIfindex(t, plan.West), dut.MustIfindex(t, plan.East)
	attachLegacy(t, dut, plan.West, "dxp_steer")
	attachLegacy(t, dut, plan.East, "foreign")
	foreignID, _ := dut.XDPProgID(plan.East)

	objs, err := steering.Load(steering.Options{Steer: policy.SteerAll, Logger: quiet})
	if err != nil {
		t.Fatal(err)
	}
	defer objs.Close()
	var a0 *steering.Attachment
	var err1 error
	err = dut.Do(func() error {
		var err error
		if a0, err = objs.AttachPort(west, 0, east, policy.AttachGeneric, policy.Outside); err != nil {
			return err
		}
		_, err1 = objs.AttachPort(east, 1, west, policy.AttachGeneric, policy.Inside)
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	if a0.Replaced != "dxp_steer" {
		t.Errorf("Replaced = %q, want dxp_steer", a0.Replaced)
	}
	if !errors.Is(err1, steering.ErrForeignProgram) {
		t.Errorf("attach over a foreign program: %v, want ErrForeignProgram", err1)
	}
	if id, _ := dut.XDPProgID(plan.East); id != foreignID {
		t.Errorf("foreign program %d replaced by %d", foreignID, id)
	}
	// A live dexplane attachment (bpf_link) is not stolen by a second node.
	objs2, err := steering.Load(steering.Options{Logger: quiet})
	if err != nil {
		t.Fatal(err)
	}
	defer objs2.Close()
	err = dut.Do(func() error {
		_, err := objs2.AttachPort(west, 0, east, policy.AttachGeneric, policy.Outside)
		return err
	})
	if !errors.Is(err, steering.ErrPortBusy) {
		t.Errorf("attach over a live dexplane: %v, want ErrPortBusy", err)
	}
}
