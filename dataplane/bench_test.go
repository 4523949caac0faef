package dataplane_test

import (
	"context"
	"fmt"
	"net"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/dexplane/dexplane/bench/gen"
	"github.com/dexplane/dexplane/dataplane"
	"github.com/dexplane/dexplane/dataplane/policy"
	"github.com/dexplane/dexplane/internal/testbed"
	"github.com/dexplane/dexplane/internal/testbed/plan"
	"github.com/dexplane/dexplane/steering"
)

// TestForwardingBench measures forwarded packets per second through the
// bump for 64- and 1500-octet IPv6 packets (78- and 1514-octet frames), in
// one run and on the same machine: dexplane (steer all: every frame through
// a worker), dexplane steer sampled with no route (every frame stays in XDP),
// a plain XDP redirect program, and kernel IPv6 forwarding (router
// topology). The generator and sink are bench/gen's AF_XDP pair on the
// hosts' veths, sending flat out. It is skipped unless DEXPLANE_BENCH is set
// (it loads both cores for about 40 s):
//
//	DEXPLANE_BENCH=1 go test -run TestForwardingBench -v ./dataplane/
//
// DEXPLANE_BENCH_SECONDS sets the measurement window (default 3).
func TestForwardingBench(t *testing.T) {
	if os.Getenv("DEXPLANE_BENCH") == "" {
		t.Skip("set DEXPLANE_BENCH=1 to run the forwarding benchmark")
	}
	window := time.Duration(envInt("DEXPLANE_BENCH_SECONDS", 3)) * time.Second
	type scenario struct {
		name  string
		topo  testbed.Topology
		setup func(t *testing.T, tb *testbed.Testbed)
	}
	engine := func(steer policy.Steer) func(t *testing.T, tb *testbed.Testbed) {
		return func(t *testing.T, tb *testbed.Testbed) {
			startEngine(t, tb, dataplane.Options{Attach: policy.AttachGeneric, Steer: steer})
		}
	}
	scenarios := []scenario{
		{"kernel-forwarding", testbed.Router, func(*testing.T, *testbed.Testbed) {}},
		{"xdp-redirect", testbed.Bitw, func(t *testing.T, tb *testbed.Testbed) {
			err := tb.DUT().Do(func() error {
				o, err := steering.Load(steering.Options{Program: steering.ProgramRedirect, Logger: quietLog})
				if err != nil {
					return err
				}
				t.Cleanup(func() { o.Close() })
				w, e := tb.DUT().MustIfindex(t, plan.West), tb.DUT().MustIfindex(t, plan.East)
				for p, idx := range [2][2]int{{w, e}, {e, w}} {
					if _, err := o.AttachPort(idx[0], p, idx[1], policy.AttachGeneric, policy.Inside); err != nil {
						return err
					}
				}
				return nil
			})
			if err != nil {
				t.Fatal(err)
			}
		}},
		{"dexplane-sampled-none", testbed.Bitw, engine(policy.SteerSampled)},
		{"dexplane-all", testbed.Bitw, engine(policy.SteerAll)},
	}
	results := map[string]map[int]gen.Result{}
	for _, sc := range scenarios {
		results[sc.name] = map[int]gen.Result{}
		for _, size := range []int{64, 1500} {
			t.Run(fmt.Sprintf("%s/%d", sc.name, size), func(t *testing.T) {
				tb := testbed.New(t, sc.topo)
				sc.setup(t, tb)
				dstMAC, _ := net.ParseMAC(plan.HostBMAC)
				if sc.topo == testbed.Router {
					dstMAC, _ = net.ParseMAC(plan.PortMAC(1, 0))
				}
				srcMAC, _ := net.ParseMAC(plan.HostAMAC)
				r, err := gen.Measure(context.Background(), gen.MeasureConfig{
					Gen: gen.GenConfig{Netns: tb.HostA.Name, Iface: plan.HostIf, Stream: gen.StreamSpec{
						Size: size, SrcMAC: srcMAC, DstMAC: dstMAC, Src: tb.AddrA, Dst: tb.AddrB,
						SrcPort: 40000, DstPort: 5001, Spread: gen.Spread{SrcPorts: 16},
					}},
					SinkNetns: tb.HostB.Name, SinkIface: plan.HostIf,
					Warmup: 500 * time.Millisecond, Duration: window,
				})
				if err != nil {
					t.Fatal(err)
				}
				t.Logf("%s %d:\n%s", sc.name, size, r)
				if r.Corrupt != 0 {
					t.Errorf("%d corrupt frames", r.Corrupt)
				}
				results[sc.name][size] = r
			})
		}
	}
	var b strings.Builder
	fmt.Fprintf(&b, "%-24s %14s %14s\n", "forwarded pps", "64 B packet", "1500 B packet")
	for _, sc := range scenarios {
		fmt.Fprintf(&b, "%-24s %14.0f %14.0f\n", sc.name, results[sc.name][64].RxPPS, results[sc.name][1500].RxPPS)
	}
	ratio := func(a, b string, size int) float64 {
		if results[b][size].RxPPS == 0 {
			return 0
		}
		return results[a][size].RxPPS / results[b][size].RxPPS
	}
	fmt.Fprintf(&b, "dexplane-all / kernel-forwarding: %.2f (64 B), %.2f (1500 B)\n", ratio("dexplane-all", "kernel-forwarding", 64), ratio("dexplane-all", "kernel-forwarding", 1500))
	fmt.Fprintf(&b, "dexplane-sampled-none / xdp-redirect: %.2f (64 B), %.2f (1500 B)\n", ratio("dexplane-sampled-none", "xdp-redirect", 64), ratio("dexplane-sampled-none", "xdp-redirect", 1500))
	t.Log("\n" + b.String())
}
