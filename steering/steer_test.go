package steering_test

import (
	"encoding/binary"
	"log/slog"
	"net/netip"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/dexplane/dexplane/dataplane/policy"
	"github.com/dexplane/dexplane/internal/testbed"
	"github.com/dexplane/dexplane/internal/testbed/plan"
	"github.com/dexplane/dexplane/steering"
)

var quiet = slog.New(slog.DiscardHandler)

// node is a bitw testbed whose dut runs the given dexplane program.
type node struct {
	tb   *testbed.Testbed
	objs *steering.Objects
	west int // ifindex of the dut's port 0
	east int // ifindex of the dut's port 1
	atts [2]*steering.Attachment
}

// start builds bitw and attaches opts' program to both dut ports, port 0
// (west, facing host-a) with role west and port 1 with role east.
func start(t *testing.T, opts steering.Options, mode policy.AttachMode, west, east policy.Domain) *node {
	t.Helper()
	tb := testbed.New(t, testbed.Bitw)
	n := &node{tb: tb}
	dut := tb.DUT()
	n.west, n.east = dut.MustIfindex(t, plan.West), dut.MustIfindex(t, plan.East)
	opts.Logger = quiet
	objs, err := steering.Load(opts)
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

func (n *node) counters(t *testing.T) steering.Counters {
	t.Helper()
	c, err := n.objs.Counters()
	if err != nil {
		t.Fatal(err)
	}
	return c
}

// TestSteerAllWithoutSockets: with an empty XSKMAP every frame still
// crosses (steered ones via the xsk_miss fallback), ND and ARP included,
// in both attach modes.
func TestSteerAllWithoutSockets(t *testing.T) {
	for _, mode := range []policy.AttachMode{policy.AttachGeneric, policy.AttachNative} {
		t.Run(mode.String(), func(t *testing.T) {
			n := start(t, steering.Options{Steer: policy.SteerAll}, mode, policy.Outside, policy.Inside)
			if n.atts[0].Mode != mode || n.atts[1].Mode != mode {
				t.Errorf("attached in %v/%v, asked %v", n.atts[0].Mode, n.atts[1].Mode, mode)
			}
			n.tb.PingBothWays(t, 3, true)
			n.tb.NDBothWays(t) // neighbour discovery across the bump
			c := n.counters(t)
			for p := range steering.MaxPorts {
				pc := c[p]
				if pc[steering.ReasonAll].Packets < 4 || pc[steering.ReasonND].Packets < 1 || pc[steering.ReasonNotIPv6].Packets < 4 {
					t.Errorf("port %d: want ≥4 all, ≥1 nd, ≥4 not_ipv6: %s", p, format(pc))
				}
				if pc[steering.ReasonXSKMiss] != pc[steering.ReasonAll] || pc[steering.ReasonNoPeer].Packets != 0 {
					t.Errorf("port %d: every steered frame should miss the empty XSKMAP: %s", p, format(pc))
				}
			}
		})
	}
}

func format(pc [steering.NumReasons]steering.Counter) string {
	var b strings.Builder
	for r, v := range pc {
		if v.Packets != 0 {
			b.WriteString(steering.Reason(r).String() + "=" + strconv.FormatUint(v.Packets, 10) + " ")
		}
	}
	return b.String()
}

// TestSteerSampled checks each classification of dxp_steer in
// policy.SteerSampled frame by frame with BPF_PROG_TEST_RUN (the table of
// the package doc: malformed IPv6 dropped, outside routes and k/n,
// Hop-by-Hop, decap, other Next Headers on the inside port), the k/n phase
// (the first K of every N), and each frame's fate: dropped, or crossing
// unchanged, with the metadata of its reason when it was steered.
func TestSteerSampled(t *testing.T) {
	n := newXDPRun(t, steering.Options{Steer: policy.SteerSampled}, policy.Outside, policy.Inside)
	addrA, addrB := netip.MustParseAddr("2001:db8:1::a"), netip.MustParseAddr("2001:db8:1::b")
	decapEP := netip.MustParseAddr("2001:db8:1::d")
	other := netip.MustParseAddr("2001:db8:5::1")
	never := netip.MustParseAddr("2001:db8:99::1")
	err := n.objs.SetRoutes([]steering.SteerRoute{
		{Prefix: netip.PrefixFrom(addrB, 128), RouteID: 3, K: 2, N: 5},
		{Prefix: netip.MustParsePrefix("2001:db8:99::/48"), RouteID: 4, K: 0, N: 1},
	})
	if err != nil {
		t.Fatal(err)
	}
	if err := n.objs.SetDecapEndpoints([]netip.Addr{decapEP}); err != nil {
		t.Fatal(err)
	}

	toB := func(vid uint16, dst netip.Addr, l4 []byte, nh uint8) []byte {
		return ether(macB, macA, vid, etIPv6, ipv6(nh, addrA, dst, l4))
	}
	toA := func(dst netip.Addr, l4 []byte, nh uint8) []byte {
		return ether(macA, macB, 0, etIPv6, ipv6(nh, addrB, dst, l4))
	}
	const udpNH, hbhNH, ip6NH = 17, 0, 41
	// withPlen sets the Payload Length of an untagged frame.
	withPlen := func(f []byte, plen int) []byte {
		f = append([]byte{}, f...)
		binary.BigEndian.PutUint16(f[14+4:], uint16(plen))
		return f
	}
	// ext is an 8-octet extension header (Routing, Fragment, Destination
	// Options) before payload.
	ext := func(nh uint8, payload []byte) []byte { return append([]byte{nh, 0, 1, 4, 0, 0, 0, 0}, payload...) }
	plainUDP := toB(0, addrB, udp(), udpNH)
	v4 := append([]byte{}, plainUDP...)
	v4[14] = 0x40

	steps := []struct {
		name   string
		frames [][]byte
		port   int
		want   map[int]uint64 // reason → cumulative packets on port
	}{
		// Counter 0,1,2: selected, selected, not.
		{"k/n first window", repeat(3, toB(0, addrB, udp(), udpNH)), 0,
			map[int]uint64{int(steering.ReasonSampled): 2, int(steering.ReasonUnsampled): 1}},
		// Counter 3,4 | 5,6 (new window): not, not, selected, selected.
		{"k/n second window", repeat(4, toB(0, addrB, udp(), udpNH)), 0,
			map[int]uint64{int(steering.ReasonSampled): 4, int(steering.ReasonUnsampled): 3}},
		// 802.1Q-tagged, counter 7: not selected.
		{"vlan", [][]byte{toB(7, addrB, udp(), udpNH)}, 0,
			map[int]uint64{int(steering.ReasonSampled): 4, int(steering.ReasonUnsampled): 4}},
		// 20 more (counters 8..27): windows 5..9 start at 10,15,20,25 → 8 selected.
		{"k/n 20 more", repeat(20, toB(0, addrB, udp(), udpNH)), 0,
			map[int]uint64{int(steering.ReasonSampled): 12, int(steering.ReasonUnsampled): 16}},
		{"k=0 route", repeat(3, toB(0, never, udp(), udpNH)), 0,
			map[int]uint64{int(steering.ReasonUnsampled): 19}},
		{"no route", repeat(2, toB(0, other, udp(), udpNH)), 0,
			map[int]uint64{int(steering.ReasonNoRoute): 2}},
		{"foreign hbh", [][]byte{toB(0, other, hbh(udpNH, udp()), hbhNH)}, 0,
			map[int]uint64{int(steering.ReasonHbH): 1, int(steering.ReasonNoRoute): 2}},
		{"nd", [][]byte{toB(0, other, []byte{135, 0, 0, 0, 0, 0, 0, 0}, 58)}, 0,
			map[int]uint64{int(steering.ReasonND): 1}},
		{"lldp", [][]byte{ether("01:80:c2:00:00:0e", macA, 0, etLLDP, make([]byte, 46))}, 0,
			map[int]uint64{int(steering.ReasonNotIPv6): 1}},
		// Malformed IPv6 is dropped in every mode, counted once each.
		{"truncated ipv6", [][]byte{ether(macB, macA, 0, etIPv6, make([]byte, 39))}, 0,
			map[int]uint64{int(steering.ReasonMalformed): 1}},
		{"vlan cut", [][]byte{ether(macB, macA, 0, etVLAN, []byte{0, 7})}, 0,
			map[int]uint64{int(steering.ReasonMalformed): 2}},
		{"vlan then nothing", [][]byte{ether(macB, macA, 7, etIPv6, nil)}, 0,
			map[int]uint64{int(steering.ReasonMalformed): 3}},
		{"version 4", [][]byte{v4}, 0,
			map[int]uint64{int(steering.ReasonMalformed): 4, int(steering.ReasonSampled): 12, int(steering.ReasonUnsampled): 19}},
		{"payload length past the frame", [][]byte{withPlen(plainUDP, len(udp())+1)}, 0,
			map[int]uint64{int(steering.ReasonMalformed): 5, int(steering.ReasonSampled): 12, int(steering.ReasonUnsampled): 19}},
		// Payload Length short of the frame (trailer) is fine: counter 28
		// is in the window starting at 25, not selected.
		{"payload length short", [][]byte{withPlen(plainUDP, len(udp())-8)}, 0,
			map[int]uint64{int(steering.ReasonMalformed): 5, int(steering.ReasonUnsampled): 20}},
		// A jumbogram candidate goes up before the route's sampler runs.
		{"jumbogram candidate", [][]byte{withPlen(toB(0, addrB, hbh(udpNH, udp()), hbhNH), 0)}, 0,
			map[int]uint64{int(steering.ReasonHbH): 2, int(steering.ReasonSampled): 12, int(steering.ReasonUnsampled): 20}},
		// Outside ports steer extension headers too, so foreign IOAM in a
		// Destination Options header meets the foreign_ioam policy.
		{"outside routing header", [][]byte{toB(0, other, ext(udpNH, udp()), 43)}, 0,
			map[int]uint64{int(steering.ReasonNoRoute): 2, int(steering.ReasonExtHdr): 1}},
		{"inside hbh", [][]byte{toA(addrA, hbh(udpNH, udp()), hbhNH)}, 1,
			map[int]uint64{int(steering.ReasonHbH): 1}},
		{"inside decap", repeat(2, toA(decapEP, ipv6(udpNH, addrB, addrA, udp()), ip6NH)), 1,
			map[int]uint64{int(steering.ReasonDecap): 2}},
		{"inside ip6ip6 elsewhere", [][]byte{toA(other, ipv6(udpNH, addrB, addrA, udp()), ip6NH)}, 1,
			map[int]uint64{int(steering.ReasonExtHdr): 1, int(steering.ReasonIPv6Pass): 0}},
		{"inside plain", repeat(3, toA(addrA, udp(), udpNH)), 1,
			map[int]uint64{int(steering.ReasonIPv6Pass): 3}},
		// Plain upper layers stay in the kernel: TCP, ICMPv6 echo, SCTP, ESP.
		{"inside upper layers", [][]byte{
			toA(addrA, make([]byte, 20), 6), toA(addrA, []byte{128, 0, 0, 0, 0, 1, 0, 1}, 58),
			toA(addrA, make([]byte, 12), 132), toA(addrA, make([]byte, 16), 50)}, 1,
			map[int]uint64{int(steering.ReasonIPv6Pass): 7, int(steering.ReasonExtHdr): 1}},
		{"inside nd", [][]byte{toA(addrA, []byte{136, 0, 0, 0, 0, 0, 0, 0}, 58)}, 1,
			map[int]uint64{int(steering.ReasonIPv6Pass): 7, int(steering.ReasonExtHdr): 1}},
		// Every other Next Header goes to a worker: Routing, Fragment,
		// Destination Options, AH, No Next Header, unknown (253).
		{"inside extension headers", [][]byte{
			toA(addrA, ext(udpNH, udp()), 43), toA(addrA, ext(udpNH, udp()), 44),
			toA(addrA, ext(hbhNH, hbh(udpNH, udp())), 60), toA(addrA, ext(udpNH, udp()), 51),
			toA(addrA, nil, 59), toA(addrA, udp(), 253)}, 1,
			map[int]uint64{int(steering.ReasonExtHdr): 7, int(steering.ReasonIPv6Pass): 7, int(steering.ReasonHbH): 1}},
		{"inside payload length past the frame", [][]byte{withPlen(toA(addrA, udp(), udpNH), 100)}, 1,
			map[int]uint64{int(steering.ReasonMalformed): 1, int(steering.ReasonIPv6Pass): 7}},
		{"inside jumbogram candidate", [][]byte{withPlen(toA(addrA, hbh(udpNH, udp()), hbhNH), 0)}, 1,
			map[int]uint64{int(steering.ReasonHbH): 2}},
	}
	for _, s := range steps {
		for _, f := range s.frames {
			r := n.run(t, s.port, f)
			checkFate(t, s.name, r, f)
			if r.reason == steering.ReasonSampled && r.meta.RouteID != 3 {
				t.Errorf("%s: sampled with route id %d in the metadata, want 3", s.name, r.meta.RouteID)
			}
		}
		c := n.counters(t)
		for r, want := range s.want {
			if got := c[s.port][r].Packets; got != want {
				t.Errorf("%s: port %d %s = %d, want %d (port: %s)", s.name, s.port, steering.Reason(r), got, want, format(c[s.port]))
			}
		}
	}
	c := n.counters(t)
	var steered, missed uint64
	for p := range steering.MaxPorts {
		for r := steering.ReasonNotIPv6; r < steering.ReasonXSKMiss; r++ {
			if r.Steered() {
				steered += c[p][r].Packets
			}
		}
		missed += c[p][steering.ReasonXSKMiss].Packets
	}
	if steered != missed || c[0][steering.ReasonNoPeer].Packets+c[1][steering.ReasonNoPeer].Packets != 0 {
		t.Errorf("steered %d, xsk_miss %d, no_peer %d/%d", steered, missed, c[0][steering.ReasonNoPeer].Packets, c[1][steering.ReasonNoPeer].Packets)
	}
	if c[0][steering.ReasonSampled].Bytes != 12*uint64(len(toB(0, addrB, udp(), udpNH))) {
		t.Errorf("sampled bytes %d", c[0][steering.ReasonSampled].Bytes)
	}
}

// TestDomain4 chains four nodes, each redirecting natively into the next
// one's steering program: the demo's wiring.
func TestDomain4(t *testing.T) {
	tb := testbed.New(t, testbed.Domain4)
	for i, r := range tb.Bumps {
		objs, err := steering.Load(steering.Options{Steer: policy.SteerSampled, Logger: quiet})
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { objs.Close() })
		west, east := r.MustIfindex(t, plan.West), r.MustIfindex(t, plan.East)
		roleW, roleE := policy.Inside, policy.Inside
		if i == 0 {
			roleW = policy.Outside
		}
		if i == len(tb.Bumps)-1 {
			roleE = policy.Outside
		}
		err = r.Do(func() error {
			if _, err := objs.AttachPort(west, 0, east, policy.AttachNative, roleW); err != nil {
				return err
			}
			_, err := objs.AttachPort(east, 1, west, policy.AttachNative, roleE)
			return err
		})
		if err != nil {
			t.Fatalf("%s: %v", r.Node, err)
		}
	}
	tb.PingBothWays(t, 3, true)
}

// udpFrom is udp() with source port sport: another flow.
func udpFrom(sport uint16) []byte {
	u := udp()
	binary.BigEndian.PutUint16(u, sport)
	return u
}

// TestSteerOrderWindow: with an order window, the frames of a flow that
// follow one sent to a worker go to the worker too (ReasonOrder) instead of
// crossing and overtaking it, on both ports and through Hop-by-Hop and
// ip6ip6 headers; frames of other flows still cross. Each step's frames
// run back to back (BPF_PROG_TEST_RUN), well inside the window.
func TestSteerOrderWindow(t *testing.T) {
	n := newXDPRun(t, steering.Options{Steer: policy.SteerSampled, OrderWindow: steering.MaxOrderWindow}, policy.Outside, policy.Inside)
	addrA, addrB := netip.MustParseAddr("2001:db8:1::a"), netip.MustParseAddr("2001:db8:1::b")
	decapEP := netip.MustParseAddr("2001:db8:1::d")
	other := netip.MustParseAddr("2001:db8:5::1")
	if err := n.objs.SetRoutes([]steering.SteerRoute{{Prefix: netip.PrefixFrom(addrB, 128), RouteID: 1, K: 1, N: 3}}); err != nil {
		t.Fatal(err)
	}
	if err := n.objs.SetDecapEndpoints([]netip.Addr{decapEP}); err != nil {
		t.Fatal(err)
	}
	const udpNH, hbhNH, ip6NH = 17, 0, 41
	toB := func(dst netip.Addr, l4 []byte, nh uint8) []byte {
		return ether(macB, macA, 0, etIPv6, ipv6(nh, addrA, dst, l4))
	}
	toA := func(dst netip.Addr, l4 []byte, nh uint8) []byte {
		return ether(macA, macB, 0, etIPv6, ipv6(nh, addrB, dst, l4))
	}
	flowA := toB(addrB, udpFrom(1000), udpNH)
	steps := []struct {
		name   string
		frames [][]byte
		port   int
		want   map[steering.Reason]uint64 // cumulative packets on port
	}{
		// Counter 0 selects the first frame; 1 and 2 would cross unsampled
		// but follow it.
		{"sampled flow", repeat(3, flowA), 0,
			map[steering.Reason]uint64{steering.ReasonSampled: 1, steering.ReasonOrder: 2, steering.ReasonUnsampled: 0}},
		// Same route, another flow: counter 3 selects the first, which then
		// holds only its own flow; flow A's hold is still on.
		{"second flow", [][]byte{toB(addrB, udpFrom(2000), udpNH), toB(addrB, udpFrom(2000), udpNH), flowA}, 0,
			map[steering.Reason]uint64{steering.ReasonSampled: 2, steering.ReasonOrder: 4, steering.ReasonUnsampled: 0}},
		{"unrelated flow crosses", repeat(2, toB(other, udpFrom(1000), udpNH)), 0,
			map[steering.Reason]uint64{steering.ReasonNoRoute: 2, steering.ReasonOrder: 4}},
		// Inside: a Hop-by-Hop frame (DEX in transit) holds its flow.
		{"inside hbh then plain", [][]byte{toA(addrA, hbh(udpNH, udpFrom(3000)), hbhNH),
			toA(addrA, udpFrom(3000), udpNH), toA(addrA, udpFrom(3000), udpNH),
			toA(addrA, udpFrom(3001), udpNH)}, 1,
			map[steering.Reason]uint64{steering.ReasonHbH: 1, steering.ReasonOrder: 2, steering.ReasonIPv6Pass: 1}},
		// An ip6ip6 frame to a decap endpoint holds its inner flow.
		{"inside decap then inner plain", [][]byte{toA(decapEP, ipv6(udpNH, addrB, addrA, udpFrom(4000)), ip6NH),
			toA(addrA, udpFrom(4000), udpNH)}, 1,
			map[steering.Reason]uint64{steering.ReasonDecap: 1, steering.ReasonOrder: 3, steering.ReasonIPv6Pass: 1}},
	}
	for _, s := range steps {
		for _, f := range s.frames {
			checkFate(t, s.name, n.run(t, s.port, f), f)
		}
		c := n.counters(t)
		for r, want := range s.want {
			if got := c[s.port][r].Packets; got != want {
				t.Errorf("%s: port %d %s = %d, want %d (port: %s)", s.name, s.port, r, got, want, format(c[s.port]))
			}
		}
	}
}

func TestOrderWindowOptions(t *testing.T) {
	for _, o := range []steering.Options{
		{Steer: policy.SteerAll, OrderWindow: time.Millisecond},
		{Steer: policy.SteerSampled, OrderWindow: -1},
		{Steer: policy.SteerSampled, OrderWindow: steering.MaxOrderWindow + 1},
		{Steer: policy.SteerSampled, OrderWindow: time.Millisecond, OrderFlows: -1},
	} {
		// The options are checked before anything is created, so the
		// error names them even without the privileges to load.
		objs, err := steering.Load(o)
		if err == nil {
			objs.Close()
			t.Errorf("Load(%+v) succeeded", o)
		} else if !strings.Contains(strings.ToLower(err.Error()), "order") {
			t.Errorf("Load(%+v): %v; want an error about the order window options", o, err)
		}
	}
}
