package gen

import (
	"context"
	"fmt"
	"net"
	"net/netip"
	"os"
	"os/exec"
	"strconv"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/dexplane/dexplane/dataplane/packet"
	"github.com/dexplane/dexplane/internal/testbed"
)

var nsCounter atomic.Int32

// vethPair creates two namespaces joined by one veth pair (one queue each)
// and returns their names and the MAC addresses of both ends; everything
// is deleted when the test ends.
func vethPair(t *testing.T) (nsA, nsB string, macA, macB net.HardwareAddr) {
	t.Helper()
	return vethPairQ(t, 1)
}

// vethPairQ is vethPair with queues queue pairs per end.
func vethPairQ(t *testing.T, queues int) (nsA, nsB string, macA, macB net.HardwareAddr) {
	t.Helper()
	testbed.SkipIfNotRoot(t)
	id := fmt.Sprintf("dxg%d-%d", os.Getpid(), nsCounter.Add(1))
	nsA, nsB = id+"a", id+"b"
	run := func(args ...string) {
		t.Helper()
		if out, err := exec.Command("ip", args...).CombinedOutput(); err != nil {
			t.Fatalf("ip %s: %v\n%s", strings.Join(args, " "), err, out)
		}
	}
	t.Cleanup(func() {
		for _, ns := range []string{nsA, nsB} {
			if out, err := exec.Command("ip", "netns", "del", ns).CombinedOutput(); err != nil {
				t.Logf("cleanup: ip netns del %s: %v %s", ns, err, out)
			}
		}
	})
	run("netns", "add", nsA)
	run("netns", "add", nsB)
	macA = net.HardwareAddr{0x02, 0xdb, 0, 0, 0, 0x0a}
	macB = net.HardwareAddr{0x02, 0xdb, 0, 0, 0, 0x0b}
	q := fmt.Sprint(queues)
	run("link", "add", "veth0", "netns", nsA, "numtxqueues", q, "numrxqueues", q, "address", macA.String(),
		"type", "veth", "peer", "name", "veth0", "netns", nsB, "numtxqueues", q, "numrxqueues", q, "address", macB.String())
	run("-n", nsA, "link", "set", "veth0", "up")
	run("-n", nsB, "link", "set", "veth0", "up")
	return nsA, nsB, macA, macB
}

// vethDrops are the drop counters of a veth pair, in frames. Tx is the
// sending end's tx_dropped; Rx the receiving end's rx_dropped, which sums
// its queues' rx_queue_N_drops (ethtool -S): frames its ring could not
// take and frames XDP redirected into an AF_XDP socket that could not take
// them (the socket counts those too, as RX ring full or dropped). XDP is
// the receiving end's rx_queue_N_xdp_drops: XDP_DROP verdicts, which the
// sink's program returns for a queue with no socket registered (yet: a
// neighbour discovery frame may arrive between attach and register); it
// explains no lost generator frame.
type vethDrops struct{ Tx, Rx, XDP uint64 }

func (d vethDrops) minus(o vethDrops) vethDrops {
	return vethDrops{Tx: d.Tx - o.Tx, Rx: d.Rx - o.Rx, XDP: d.XDP - o.XDP}
}

// readVethDrops reads the drop counters of veth0 in nsTx (sending end) and
// nsRx (receiving end).
func readVethDrops(t *testing.T, nsTx, nsRx string) vethDrops {
	t.Helper()
	sysfs := func(ns, name string) uint64 {
		out, err := exec.Command("ip", "netns", "exec", ns, "cat", "/sys/class/net/veth0/statistics/"+name).Output()
		if err != nil {
			t.Fatalf("%s of veth0 in %s: %v", name, ns, err)
		}
		n, err := strconv.ParseUint(strings.TrimSpace(string(out)), 10, 64)
		if err != nil {
			t.Fatalf("%s of veth0 in %s: %v", name, ns, err)
		}
		return n
	}
	d := vethDrops{Tx: sysfs(nsTx, "tx_dropped"), Rx: sysfs(nsRx, "rx_dropped")}
	out, err := exec.Command("ip", "netns", "exec", nsRx, "ethtool", "-S", "veth0").Output()
	if err != nil {
		t.Fatalf("ethtool -S veth0 in %s: %v", nsRx, err)
	}
	for _, line := range strings.Split(string(out), "\n") {
		name, val, ok := strings.Cut(strings.TrimSpace(line), ":")
		if !ok || !strings.HasPrefix(name, "rx_queue_") || !strings.HasSuffix(name, "_xdp_drops") {
			continue
		}
		if n, err := strconv.ParseUint(strings.TrimSpace(val), 10, 64); err == nil {
			d.XDP += n
		}
	}
	return d
}

// TestGeneratorToSinkOverVeth sends each DEX mode over one veth pair and
// accounts for every frame: received intact, or dropped where a counter
// saw it (veth ring, XDP, sink socket). Loss under load is allowed; loss
// nobody counted is a generator or sink bug.
func TestGeneratorToSinkOverVeth(t *testing.T) {
	nsA, nsB, macA, macB := vethPair(t)
	for _, mode := range []packet.Encap{packet.EncapNone, packet.EncapInline, packet.EncapIP6IP6} {
		t.Run(mode.String(), func(t *testing.T) {
			mc := MeasureConfig{
				Gen: GenConfig{Netns: nsA, Iface: "veth0", Rate: 20000, Stream: StreamSpec{
					Size: 1500, SrcMAC: macA, DstMAC: macB,
					Src: netip.MustParseAddr("2001:db8:a::1"), Dst: netip.MustParseAddr("2001:db8:b::1"),
					SrcPort: 40000, DstPort: 5001, Spread: Spread{SrcPorts: 16},
					Mode: mode, K: 1, N: 4, DEX: DEX{DEX: packet.DEX{Namespace: 123, ExtFlags: 0xC0, TraceType: 0x800000}},
					TunSrc: netip.MustParseAddr("2001:db8:f::1"), TunDst: netip.MustParseAddr("2001:db8:f::2"),
				}},
				SinkNetns: nsB, SinkIface: "veth0",
				Warmup: 100 * time.Millisecond, Duration: 500 * time.Millisecond,
			}
			before := readVethDrops(t, nsA, nsB)
			r, err := Measure(context.Background(), mc)
			if err != nil {
				t.Fatal(err)
			}
			vd := readVethDrops(t, nsA, nsB).minus(before)
			t.Log("\n" + r.String())
			t.Logf("veth drops: %+v", vd)
			if r.Sent == 0 || r.Received == 0 {
				t.Fatalf("nothing went through: %+v", r)
			}
			if r.Corrupt != 0 || r.Late != 0 {
				t.Errorf("corrupt %d, late %d; want 0", r.Corrupt, r.Late)
			}
			// Every frame sent is received or counted as dropped by the
			// veth pair (on a loaded machine its ring overflows: not the
			// generator's or the sink's fault) or by the sink's socket
			// (a slow sink; veth counts those in rx_dropped as well).
			explained := vd.Tx + max(vd.Rx, r.SinkDrops.Total())
			if r.Received+explained < r.Sent {
				t.Errorf("sent %d, received %d: %d frames lost that neither the veth pair (%+v) nor the sink socket (%+v) counted: a generator or sink bug",
					r.Sent, r.Received, r.Sent-r.Received-explained, vd, r.SinkDrops)
			}
			if r.Gaps != r.Sent-r.Received {
				t.Errorf("sink counted %d sequence gaps for %d frames lost", r.Gaps, r.Sent-r.Received)
			}
			wantDEX := uint64(0)
			if mode != packet.EncapNone {
				wantDEX = (r.Sent + 3) / 4
			}
			if r.SentDEX != wantDEX {
				t.Errorf("sent %d with DEX, want %d", r.SentDEX, wantDEX)
			}
		})
	}
}

// TestGeneratorToSinkTwoQueues sends 16 flows on two TX queues into a sink
// listening on both RX queues of a two-queue veth: every frame arrives, no
// flow sees a gap or a late frame (each flow is numbered on one queue),
// and the per-flow sent counts match what the sink got.
func TestGeneratorToSinkTwoQueues(t *testing.T) {
	nsA, nsB, macA, macB := vethPairQ(t, 2)
	mc := MeasureConfig{
		Gen: GenConfig{Netns: nsA, Iface: "veth0", Rate: 20000, Queues: 2, Stream: StreamSpec{
			Size: 512, SrcMAC: macA, DstMAC: macB,
			Src: netip.MustParseAddr("2001:db8:a::1"), Dst: netip.MustParseAddr("2001:db8:b::1"),
			SrcPort: 40000, DstPort: 5001, Spread: Spread{SrcPorts: 15},
		}},
		SinkNetns: nsB, SinkIface: "veth0", SinkQueues: 2,
		Warmup: 100 * time.Millisecond, Duration: 500 * time.Millisecond,
	}
	r, err := Measure(context.Background(), mc)
	if err != nil {
		t.Fatal(err)
	}
	t.Log("\n" + r.String())
	if r.Sent == 0 || r.Received != r.Sent || r.Corrupt != 0 || r.Late != 0 || r.Gaps != 0 || r.FlowsWithLoss != 0 {
		t.Errorf("sent %d received %d corrupt %d late %d gaps %d flows with loss %d; want all received, in order",
			r.Sent, r.Received, r.Corrupt, r.Late, r.Gaps, r.FlowsWithLoss)
	}
}

func TestSentPerFlowQueues(t *testing.T) {
	g, err := NewGenerator(GenConfig{Queues: 2, Stream: StreamSpec{Size: 128,
		SrcMAC: net.HardwareAddr{2, 0, 0, 0, 0, 1}, DstMAC: net.HardwareAddr{2, 0, 0, 0, 0, 2},
		Src: netip.MustParseAddr("2001:db8:a::1"), Dst: netip.MustParseAddr("2001:db8:b::1"),
		SrcPort: 40000, DstPort: 5001, Spread: Spread{SrcPorts: 5}}})
	if err != nil {
		t.Fatal(err)
	}
	// Queue 0 carries flows 0, 2, 4; queue 1 flows 1, 3.
	g.perQueue[0].Store(7) // 0,2,4,0,2,4,0
	g.perQueue[1].Store(3) // 1,3,1
	for f, want := range []uint64{3, 2, 2, 1, 2} {
		if got := g.SentPerFlow(f); got != want {
			t.Errorf("SentPerFlow(%d) = %d, want %d", f, got, want)
		}
	}
	if _, err := NewGenerator(GenConfig{Queues: 6, Stream: g.cfg.Stream}); err == nil {
		t.Error("6 queues for 5 flows accepted")
	}
}
