package steering_test

import (
	"bytes"
	"net/netip"
	"testing"
	"time"

	"github.com/dexplane/dexplane/dataplane/handle"
	"github.com/dexplane/dexplane/dataplane/policy"
	"github.com/dexplane/dexplane/dataplane/xsk"
	"github.com/dexplane/dexplane/internal/testbed"
	"github.com/dexplane/dexplane/internal/testbed/plan"
	"github.com/dexplane/dexplane/steering"
)

// TestSteerToSocket binds a plain AF_XDP socket to the dut's west queue 0
// and checks that steered frames reach it, bit for bit, with the metadata
// that says why; unsteered frames still cross.
func TestSteerToSocket(t *testing.T) {
	for _, mode := range []policy.AttachMode{policy.AttachGeneric, policy.AttachNative} {
		t.Run(mode.String(), func(t *testing.T) {
			n := start(t, steering.Options{Steer: policy.SteerSampled}, mode, policy.Outside, policy.Inside)
			const routeID = 9
			err := n.objs.SetRoutes([]steering.SteerRoute{{Prefix: netip.PrefixFrom(n.tb.AddrB, 128), RouteID: routeID, K: 1, N: 1}})
			if err != nil {
				t.Fatal(err)
			}
			var port *xsk.Port
			err = n.tb.DUT().Do(func() error {
				var err error
				port, err = xsk.OpenPort(xsk.PortConfig{Ifindex: n.west, Queue: 0, FillSize: 64, RxSize: 64, TxSize: 64, CompletionSize: 64})
				return err
			})
			if err != nil {
				t.Fatal(err)
			}
			defer port.Close()
			if err := n.objs.RegisterXSK(0, 0, port.Socket().FD()); err != nil {
				t.Fatal(err)
			}
			port.Refill()

			frame := ether("02:00:00:00:ee:ee", plan.HostAMAC, 0, etIPv6, ipv6(17, n.tb.AddrA, n.tb.AddrB, udp()))
			inject(t, n.tb.HostA, plan.HostIf, frame, frame, frame)
			var got int
			deadline := time.Now().Add(2 * time.Second)
			for got < 3 && time.Now().Before(deadline) {
				if err := xsk.WaitRx([]*xsk.Port{port}, 100*time.Millisecond); err != nil {
					t.Fatal(err)
				}
				port.Receive(func(f *handle.Frame) {
					got++
					// The metadata is the last MetaLen octets of the
					// headroom in front of the packet.
					withMeta := f.Buf[f.Off-steering.MetaLen : f.Off+f.Len]
					m, ok := steering.ParseMeta(withMeta[:steering.MetaLen])
					if !ok || m.Reason != steering.ReasonSampled || m.RouteID != routeID {
						t.Errorf("metadata %+v ok=%v, want sampled route %d", m, ok, routeID)
					}
					if !bytes.Equal(withMeta[steering.MetaLen:], frame) {
						t.Errorf("frame changed on the way to the socket")
					}
				})
			}
			if got != 3 {
				t.Fatalf("socket got %d frames, want 3", got)
			}
			c := n.counters(t)
			if c[0][steering.ReasonSampled].Packets != 3 || c[0][steering.ReasonXSKMiss].Packets != 0 {
				t.Errorf("port 0: %s", format(c[0]))
			}
			// ARP and IPv4 still cross (IPv6 to host-b now ends in the socket).
			for _, p := range []struct {
				from *testbed.Netns
				to   netip.Addr
			}{{n.tb.HostA, n.tb.AddrB4}, {n.tb.HostB, n.tb.AddrA4}} {
				if err := p.from.Ping(p.to, 2); err != nil {
					t.Errorf("%s → %v: %v", p.from.Node, p.to, err)
				}
			}
		})
	}
}
