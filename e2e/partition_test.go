package e2e

import (
	"fmt"
	"net/netip"
	"path/filepath"
	"regexp"
	"strconv"
	"testing"
	"time"

	"github.com/dexplane/dexplane/config"
	"github.com/dexplane/dexplane/exporter"
	"github.com/dexplane/dexplane/internal/testbed"
	"github.com/dexplane/dexplane/internal/testbed/plan"
	"github.com/dexplane/dexplane/internal/testutil"
)

// TestPartitionFlow runs the demo domain (R1 encapsulates with DEX on 1 of
// every 10 packets, R2..R4 export) with three `dexplane collect` processes
// on a management network and export.partition: flow on every node. Each
// collector must see complete paths (all four nodes, every packet) for the
// flows the hash gives it, and no record of any other flow.
func TestPartitionFlow(t *testing.T) {
	const (
		flows = 13 // coprime with the 1-in-10 sampler: every flow gets samples
		count = 2600
		m     = 3
	)
	outs := runMgmtDomain(t, m, flows, count, nil)
	pathRe := regexp.MustCompile(`(?m)^  path ([0-9 >]+): (\d+) packet\(s\)`)
	seen := map[uint32]int{}
	var packets int
	recRe := regexp.MustCompile(`--- (\d+) record\(s\)`)
	for c, text := range outs {
		mine := 0
		for _, f := range collectFlows(text) {
			if want := exporter.PartitionIndex(f.ns, f.id, m); want != c {
				t.Errorf("collector %d got flow %#x of collector %d", c, f.id, want)
			}
			if prev, dup := seen[f.id]; dup {
				t.Errorf("flow %#x at collectors %d and %d", f.id, prev, c)
			}
			seen[f.id] = c
			var received []int
			var paths []string
			for _, n := range f.nodes {
				received = append(received, n.received)
			}
			for _, mm := range pathRe.FindAllStringSubmatch(f.text, -1) {
				paths = append(paths, mm[1]+": "+mm[2])
			}
			if len(received) != 4 || received[0] == 0 || received[1] != received[0] || received[2] != received[0] || received[3] != received[0] ||
				len(paths) != 1 || paths[0] != fmt.Sprintf("1 > 2 > 3 > 4: %d", received[0]) {
				t.Errorf("collector %d flow %#x: nodes received %v, paths %q (want one complete path 1 > 2 > 3 > 4)", c, f.id, received, paths)
			}
			packets += received[0]
			mine += received[0]
		}
		// every record the collector received belongs to its flows' paths
		if mm := recRe.FindStringSubmatch(text); mm == nil || mm[1] != strconv.Itoa(4*mine) {
			t.Errorf("collector %d: records %v, want 4 × %d (its flows' packets at 4 nodes)", c, mm, mine)
		}
	}
	per := map[int]int{}
	for _, c := range seen {
		per[c]++
	}
	// the readiness pings are sampled too: one more flow, a few packets
	if len(seen) < flows || len(seen) > flows+1 || packets < count/10 || packets > count/10+20 || len(per) != m {
		t.Fatalf("%d flows (want %d and the pings'), %d sampled packets (want %d and the pings'), flows per collector %v\n%s\n%s\n%s",
			len(seen), flows, packets, count/10, per, outs[0], outs[1], outs[2])
	}
	t.Logf("3 collectors, flows per collector %v: every flow's %d sampled packets complete (4 nodes) at exactly one collector", per, packets)
}

// collectFlow is one flow of the summary `dexplane collect` prints: the
// line "flow ns=NS id=0xID" and the lines under it, up to the next flow.
type collectFlow struct {
	ns    uint16
	id    uint32
	text  string        // the lines under the flow line
	nodes []collectNode // its "node N: received R, seq F..L, lost X" lines, in order
}

// collectNode is one node's per-packet figures of a flow in the summary
// (decimal, as printed).
type collectNode struct {
	node, first, last, lost string
	received                int
}

var (
	collectFlowRe = regexp.MustCompile(`(?m)^flow ns=(\d+) id=0x([0-9a-f]{8})$`)
	collectNodeRe = regexp.MustCompile(`(?m)^  node (\d+): received (\d+), seq (\d+)\.\.(\d+), lost (\d+)`)
)

// collectFlows splits the summary in text (collect's output) by flow, in
// the order collect printed them.
func collectFlows(text string) []collectFlow {
	blocks := collectFlowRe.FindAllStringSubmatchIndex(text, -1)
	var flows []collectFlow
	for i, b := range blocks {
		end := len(text)
		if i+1 < len(blocks) {
			end = blocks[i+1][0]
		}
		ns, _ := strconv.ParseUint(text[b[2]:b[3]], 10, 16)
		id, _ := strconv.ParseUint(text[b[4]:b[5]], 16, 32)
		f := collectFlow{ns: uint16(ns), id: uint32(id), text: text[b[1]:end]}
		for _, m := range collectNodeRe.FindAllStringSubmatch(f.text, -1) {
			r, _ := strconv.Atoi(m[2])
			f.nodes = append(f.nodes, collectNode{node: m[1], received: r, first: m[3], last: m[4], lost: m[5]})
		}
		flows = append(flows, f)
	}
	return flows
}

// runMgmtDomain runs the demo domain (config/examples/demo-rN.yaml) with m
// `dexplane collect` processes on a management network, every node
// exporting to all of them in the same order with export.partition: flow
// (edit may change node n's configuration further), sends count datagrams
// in flows flows host-a → host-b, stops everything and returns each
// collector's output. Each address of alsoTo is added to host-b (in its
// /64, with a neighbour entry at host-a as the testbed does for host-b's
// own) and receives the same traffic after it. It needs root and builds
// the dexplane binary.
func runMgmtDomain(t *testing.T, m, flows, count int, edit func(n int, cfg *config.Config), alsoTo ...netip.Addr) []string {
	t.Helper()
	testbed.SkipIfNotRoot(t)
	bin := testutil.BuildDexplane(t)
	tb := testbed.New(t, testbed.Domain4)
	for _, a := range alsoTo {
		tb.HostB.AddAddr(t, plan.HostIf, netip.PrefixFrom(a, 64))
		tb.HostA.AddNeigh(t, plan.HostIf, a, tb.HostB.Ifaces[plan.HostIf].MAC)
	}
	dir := t.TempDir()
	// management network: a link from every node to the collectors' namespace
	coll := testbed.NewNetns(t, "coll")
	for i, r := range tb.Bumps {
		n := i + 1
		testbed.Veth(t, coll, fmt.Sprintf("m%d", n), fmt.Sprintf("02:00:00:ee:0%d:01", n), r, "mgmt", fmt.Sprintf("02:00:00:ee:0%d:02", n))
		coll.AddAddr(t, fmt.Sprintf("m%d", n), netip.MustParsePrefix(fmt.Sprintf("2001:db8:ee:%d::1/64", n)))
		r.AddAddr(t, "mgmt", netip.MustParsePrefix(fmt.Sprintf("2001:db8:ee:%d::2/64", n)))
	}
	cols := make([]*testutil.Proc, m)
	for c := range m {
		cols[c] = testutil.StartCmd(t, coll.Command(bin, "collect", "--quiet", "--listen", fmt.Sprintf("udp://[::]:%d", 4801+c)))
	}
	var nodes [4]*dexNode
	for i, ns := range tb.Bumps {
		n := i + 1
		cfg, err := config.Load(filepath.Join("..", "config", "examples", fmt.Sprintf("demo-r%d.yaml", n)))
		if err != nil {
			t.Fatal(err)
		}
		cfg.Export.Outputs = []config.Output{}
		cfg.Export.Partition = "flow"
		if edit != nil {
			edit(n, cfg)
		}
		cfg.Export.RateLimit = config.RateLimit{RecordsPerSecond: 1_000_000}
		cfg.Export.Collectors = nil
		for c := range m {
			cfg.Export.Collectors = append(cfg.Export.Collectors, config.Collector{Transport: "udp",
				Address: fmt.Sprintf("[2001:db8:ee:%d::1]:%d", n, 4801+c), ObservationDomainID: uint32(n), TemplateRefresh: config.Duration(5 * time.Second)})
		}
		path := filepath.Join(dir, fmt.Sprintf("r%d.yaml", n))
		saveConfig(t, path, cfg)
		nodes[i] = startDexNode(t, bin, ns, path)
	}
	for _, n := range nodes {
		if err := n.waitForwarding(20 * time.Second); err != nil {
			t.Fatal(err)
		}
	}
	ready := false
	for try := 0; try < 20 && !ready; try++ {
		_, err := tb.HostA.Run("ping", "-6", "-n", "-q", "-c", "1", "-W", "1", tb.AddrB.String())
		ready = err == nil
	}
	if !ready {
		t.Fatal("host-a cannot ping host-b through the domain")
	}
	for _, dst := range append([]netip.Addr{tb.AddrB}, alsoTo...) {
		out, err := tb.HostA.Run(bin, "probe", "send", "-to", netip.AddrPortFrom(dst, 5001).String(),
			"-flows", fmt.Sprint(flows), "-sport", "40000", "-count", fmt.Sprint(count), "-size", "100", "-rate", "5000")
		if err != nil {
			t.Fatalf("probe send to %s: %v\n%s", dst, err, out)
		}
	}
	time.Sleep(300 * time.Millisecond)
	for _, n := range nodes {
		if err := n.stop(); err != nil {
			t.Error(err)
		}
	}
	time.Sleep(300 * time.Millisecond)
	outs := make([]string, m)
	for c := range m {
		if err := cols[c].Stop(10 * time.Second); err != nil {
			t.Fatalf("collector %d: %v", c, err)
		}
		outs[c] = cols[c].Log.String()
	}
	return outs
}
