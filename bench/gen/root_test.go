package gen

import (
	"context"
	"fmt"
	"net"
	"net/netip"
	"os"
	"os/exec"
	"strings"
	"sync/atomic"
	"testing"
	"time"
)

var nsCounter atomic.Int32

// vethPair creates two namespaces joined by one veth pair (one queue each)
// and returns their names and the MAC addresses of both ends; everything
// is deleted when the test ends.
func vethPair(t *testing.T) (nsA, nsB string, macA, macB net.HardwareAddr) {
	t.Helper()
	if os.Geteuid() != 0 {
		t.Skip("needs root for network namespaces")
	}
	if _, err := exec.LookPath("ip"); err != nil {
		t.Skip("needs iproute2")
	}
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
	run("link", "add", "veth0", "netns", nsA, "numtxqueues", "1", "numrxqueues", "1", "address", macA.String(),
		"type", "veth", "peer", "name", "veth0", "netns", nsB, "numtxqueues", "1", "numrxqueues", "1", "address", macB.String())
	run("-n", nsA, "link", "set", "veth0", "up")
	run("-n", nsB, "link", "set", "veth0", "up")
	return nsA, nsB, macA, macB
}

func TestGeneratorToSinkOverVeth(t *testing.T) {
	nsA, nsB, macA, macB := vethPair(t)
	for _, mode := range []DEXMode{NoDEX, Inline, IP6IP6} {
		t.Run(mode.String(), func(t *testing.T) {
			mc := MeasureConfig{
				Gen: GenConfig{Netns: nsA, Iface: "veth0", Rate: 20000, Stream: StreamSpec{
					Size: 1500, SrcMAC: macA, DstMAC: macB,
					Src: netip.MustParseAddr("2001:db8:a::1"), Dst: netip.MustParseAddr("2001:db8:b::1"),
					SrcPort: 40000, DstPort: 5001, Spread: Spread{SrcPorts: 16},
					Mode: mode, K: 1, N: 4, DEX: DEX{Namespace: 123, ExtFlags: 0xC0, TraceType: 0x800000},
					TunSrc: netip.MustParseAddr("2001:db8:f::1"), TunDst: netip.MustParseAddr("2001:db8:f::2"),
				}},
				SinkNetns: nsB, SinkIface: "veth0",
				Warmup: 100 * time.Millisecond, Duration: 500 * time.Millisecond,
			}
			r, err := Measure(context.Background(), mc)
			if err != nil {
				t.Fatal(err)
			}
			t.Log("\n" + r.String())
			if r.Sent == 0 || r.Received == 0 {
				t.Fatalf("nothing went through: %+v", r)
			}
			if r.Corrupt != 0 || r.Late != 0 {
				t.Errorf("corrupt %d, late %d; want 0", r.Corrupt, r.Late)
			}
			if r.Received+r.SinkDrops.Dropped < r.Sent*99/100 {
				t.Errorf("received %d of %d sent", r.Received, r.Sent)
			}
			wantDEX := uint64(0)
			if mode != NoDEX {
				wantDEX = (r.Sent + 3) / 4
			}
			if r.SentDEX != wantDEX {
				t.Errorf("sent %d with DEX, want %d", r.SentDEX, wantDEX)
			}
		})
	}
}
