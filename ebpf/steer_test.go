package ebpf_test

import (
	"net/netip"
	"strconv"
	"strings"
	"testing"

	dx "github.com/dexplane/dexplane/ebpf"
	"github.com/dexplane/dexplane/internal/testbed"
)

// node is a bitw testbed whose dut runs the given dexplane program.
type node struct {
	tb   *testbed.Testbed
	objs *dx.Objects
	west int // ifindex of the dut's port 0
	east int // ifindex of the dut's port 1
	atts [2]*dx.Attachment
}

// start builds bitw and attaches opts' program to both dut ports, port 0
// (west, facing host-a) with role west and port 1 with role east.
func start(t *testing.T, opts dx.Options, mode dx.AttachMode, west, east dx.PortRole) *node {
	t.Helper()
	tb := testbed.New(t, testbed.Bitw)
	n := &node{tb: tb}
	dut := tb.DUT()
	n.west, n.east = dut.MustIfindex(t, testbed.West), dut.MustIfindex(t, testbed.East)
	objs, err := dx.Load(opts)
	if err != nil {
		t.Fatal(err)
	}
	n.objs = objs
	t.Cleanup(func() {
		if err := objs.Close(); err != nil {
			t.Error(err)
		}
	})
	err = dut.Do(func() error {
		var err error
		if n.atts[0], err = objs.AttachPort(n.west, 0, n.east, mode, west); err != nil {
			return err
		}
		n.atts[1], err = objs.AttachPort(n.east, 1, n.west, mode, east)
		return err
	})
	if err != nil {
		t.Fatal(err)
	}
	return n
}

func (n *node) counters(t *testing.T) dx.Counters {
	t.Helper()
	c, err := n.objs.Counters()
	if err != nil {
		t.Fatal(err)
	}
	return c
}

func pings(t *testing.T, tb *testbed.Testbed) {
	t.Helper()
	for _, p := range []struct {
		from *testbed.Netns
		to   netip.Addr
	}{{tb.HostA, tb.AddrB}, {tb.HostB, tb.AddrA}, {tb.HostA, tb.AddrB4}, {tb.HostB, tb.AddrA4}} {
		if err := p.from.Ping(p.to, 3); err != nil {
			t.Errorf("%s → %v: %v", p.from.Node, p.to, err)
		}
	}
}

// TestSteerAllWithoutSockets: with an empty XSKMAP every frame still
// crosses (steered ones via the xsk_miss fallback), ND and ARP included,
// in both attach modes.
func TestSteerAllWithoutSockets(t *testing.T) {
	for _, mode := range []dx.AttachMode{dx.AttachGeneric, dx.AttachNative} {
		t.Run(mode.String(), func(t *testing.T) {
			n := start(t, dx.Options{Steer: dx.SteerAll}, mode, dx.RoleOutside, dx.RoleInside)
			if n.atts[0].Mode != mode || n.atts[1].Mode != mode {
				t.Errorf("attached in %v/%v, asked %v", n.atts[0].Mode, n.atts[1].Mode, mode)
			}
			pings(t, n.tb)
			// Provoke neighbour discovery both ways.
			for _, h := range []struct {
				ns   *testbed.Netns
				peer netip.Addr
			}{{n.tb.HostA, n.tb.AddrB}, {n.tb.HostB, n.tb.AddrA}} {
				h.ns.MustRun(t, "ip", "neigh", "del", h.peer.String(), "dev", testbed.HostIf)
				if err := h.ns.Ping(h.peer, 1); err != nil {
					t.Errorf("%s → %v after neighbour flush: %v", h.ns.Node, h.peer, err)
				}
				out := h.ns.MustRun(t, "ip", "-6", "neigh", "show", h.peer.String())
				if !strings.Contains(out, "lladdr") || strings.Contains(out, "PERMANENT") {
					t.Errorf("%s: no neighbour entry for %v learnt through ND: %q", h.ns.Node, h.peer, out)
				}
			}
			c := n.counters(t)
			for p := range dx.MaxPorts {
				pc := c[p]
				if pc[dx.ReasonAll].Packets < 4 || pc[dx.ReasonND].Packets < 1 || pc[dx.ReasonNotIPv6].Packets < 4 {
					t.Errorf("port %d: want ≥4 all, ≥1 nd, ≥4 not_ipv6: %s", p, format(pc))
				}
				if pc[dx.ReasonXSKMiss] != pc[dx.ReasonAll] || pc[dx.ReasonNoPeer].Packets != 0 {
					t.Errorf("port %d: every steered frame should miss the empty XSKMAP: %s", p, format(pc))
				}
			}
		})
	}
}

func format(pc [dx.NumReasons]dx.Counter) string {
	var b strings.Builder
	for r, v := range pc {
		if v.Packets != 0 {
			b.WriteString(dx.Reason(r).String() + "=" + strconv.FormatUint(v.Packets, 10) + " ")
		}
	}
	return b.String()
}

