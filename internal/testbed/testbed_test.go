package testbed

import (
	"net/netip"
	"strings"
	"testing"

	"github.com/cilium/ebpf"
	"github.com/cilium/ebpf/asm"
	"github.com/dexplane/dexplane/internal/testbed/plan"
	"github.com/vishvananda/netlink"
	"golang.org/x/sys/unix"
)

// attachRedirect attaches a minimal XDP program to ifname in n that sends
// every frame out of the interface with index to (bpf_redirect), making the
// node a bump in the wire for this direction.
func attachRedirect(t *testing.T, n *Netns, ifname string, to int) {
	t.Helper()
	prog, err := ebpf.NewProgram(&ebpf.ProgramSpec{
		Name: "dxp_tb_redir",
		Type: ebpf.XDP,
		Instructions: asm.Instructions{
			asm.Mov.Imm(asm.R1, int32(to)),
			asm.Mov.Imm(asm.R2, 0),
			asm.FnRedirect.Call(),
			asm.Return(),
		},
		License: "GPL",
	})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { prog.Close() })
	if err := n.AttachXDP(ifname, prog, unix.XDP_FLAGS_DRV_MODE); err != nil {
		t.Fatal(err)
	}
}

func TestTopologies(t *testing.T) {
	for _, topo := range []Topology{Bitw, Router, Domain4} {
		t.Run(string(topo), func(t *testing.T) {
			tb := New(t, topo)
			if topo != Router {
				// Without forwarding the bump is a wall.
				if err := tb.HostA.Ping(tb.AddrB, 1); err == nil {
					t.Fatal("ping crossed a bump that has no forwarding program")
				}
				for _, n := range tb.Bumps {
					attachRedirect(t, n, plan.West, n.MustIfindex(t, plan.East))
					attachRedirect(t, n, plan.East, n.MustIfindex(t, plan.West))
				}
			}
			for _, dst := range []netip.Addr{tb.AddrB, tb.AddrB4} {
				if err := tb.HostA.Ping(dst, 3); err != nil {
					t.Errorf("host-a → %v: %v", dst, err)
				}
			}
			if err := tb.HostB.Ping(tb.AddrA, 3); err != nil {
				t.Errorf("host-b → %v: %v", tb.AddrA, err)
			}
			out := tb.HostA.MustRun(t, "ip", "-d", "link", "show", plan.HostIf)
			for _, want := range []string{"numtxqueues 1", "numrxqueues 1", "addrgenmode none", "xdp", plan.HostAMAC} {
				if !strings.Contains(out, want) {
					t.Errorf("host-a %s lacks %q:\n%s", plan.HostIf, want, out)
				}
			}
		})
	}
}

func TestDoEntersNamespace(t *testing.T) {
	n := NewNetns(t, "do")
	Veth(t, n, "x0", "02:00:00:00:99:01", n, "x1", "02:00:00:00:99:02")
	idx, err := n.Ifindex("x1")
	if err != nil || idx == 0 {
		t.Fatalf("Ifindex(x1) = %d, %v", idx, err)
	}
	if _, err := netlink.LinkByName("x1"); err == nil {
		t.Error("x1 visible outside the namespace after Do returned")
	}
	if id, err := n.XDPProgID("x1"); err != nil || id != 0 {
		t.Fatalf("XDPProgID before attach = %d, %v", id, err)
	}
	if err := n.AttachPass("x1"); err != nil {
		t.Fatal(err)
	}
	if id, err := n.XDPProgID("x1"); err != nil || id == 0 {
		t.Fatalf("XDPProgID after attach = %d, %v", id, err)
	}
}

func TestPortMAC(t *testing.T) {
	if got := plan.PortMAC(3, 1); got != "02:00:00:00:03:02" {
		t.Errorf("PortMAC(3,1) = %s", got)
	}
}
