package e2e

import (
	"fmt"
	"net/netip"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/dexplane/dexplane/config"
	"github.com/dexplane/dexplane/exporter"
	"github.com/dexplane/dexplane/internal/testbed"
	"github.com/dexplane/dexplane/internal/testutil"
)

// TestPartitionFlow runs the demo domain (R1 encapsulates with DEX on 1 of
// every 10 packets, R2..R4 export) with three `dexplane collect` processes
// on a management network and export.partition: flow on every node. Each
// collector must see complete paths (all four nodes, every packet) for the
// flows the hash gives it, and no record of any other flow.
func TestPartitionFlow(t *testing.T) {
	testbed.SkipIfNotRoot(t)
	bin := testutil.BuildDexplane(t)
	const (
		flows = 13 // coprime with the 1-in-10 sampler: every flow gets samples
		count = 2600
		m     = 3
	)
	outs := runMgmtDomain(t, bin, m, flows, count, nil)
	flowRe := regexp.MustCompile(`(?m)^flow ns=(\d+) id=0x([0-9a-f]{8})$`)
	nodeRe := regexp.MustCompile(`^  node (\d+): received (\d+),`)
	pathRe := regexp.MustCompile(`^  path ([0-9 >]+): (\d+) packet\(s\)`)
	seen := map[uint32]int{}
	var packets int
	recRe := regexp.MustCompile(`--- (\d+) record\(s\)`)
	for c := range m {
		text := outs[c].String()
		mine := 0
		for _, block := range flowRe.FindAllStringSubmatchIndex(text, -1) {
			ns, _ := strconv.Atoi(text[block[2]:block[3]])
			id64, _ := strconv.ParseUint(text[block[4]:block[5]], 16, 32)
			id := uint32(id64)
			if want := exporter.PartitionIndex(uint16(ns), id, m); want != c {
				t.Errorf("collector %d got flow %#x of collector %d", c, id, want)
			}
			if prev, dup := seen[id]; dup {
				t.Errorf("flow %#x at collectors %d and %d", id, prev, c)
			}
			seen[id] = c
			rest := text[block[1]:]
			if next := flowRe.FindStringIndex(rest); next != nil {
				rest = rest[:next[0]]
			}
			var received []int
			var paths []string
			for _, l := range strings.Split(rest, "\n") {
				if mm := nodeRe.FindStringSubmatch(l); mm != nil {
					n, _ := strconv.Atoi(mm[2])
					received = append(received, n)
				}
				if mm := pathRe.FindStringSubmatch(l); mm != nil {
					paths = append(paths, mm[1]+": "+mm[2])
				}
			}
			if len(received) != 4 || received[0] == 0 || received[1] != received[0] || received[2] != received[0] || received[3] != received[0] ||
				len(paths) != 1 || paths[0] != fmt.Sprintf("1 > 2 > 3 > 4: %d", received[0]) {
				t.Errorf("collector %d flow %#x: nodes received %v, paths %q (want one complete path 1 > 2 > 3 > 4)", c, id, received, paths)
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
			len(seen), flows, packets, count/10, per, outs[0].String(), outs[1].String(), outs[2].String())
	}
	t.Logf("3 collectors, flows per collector %v: every flow's %d sampled packets complete (4 nodes) at exactly one collector", per, packets)
}

// runMgmtDomain runs the demo domain (config/examples/demo-rN.yaml) with m
// `dexplane collect` processes on a management network, every node
// exporting to all of them in the same order with export.partition: flow
// (edit may change node n's configuration further), sends count datagrams
// in flows flows host-a → host-b, stops everything and returns each
// collector's output. Each address of alsoTo is added to host-b (in its
// /64, with a neighbour entry at host-a as the testbed does for host-b's
// own) and receives the same traffic after it.
func runMgmtDomain(t *testing.T, bin string, m, flows, count int, edit func(n int, cfg *config.Config), alsoTo ...netip.Addr) []*testutil.LockedBuffer {
	t.Helper()
	tb := testbed.New(t, testbed.Domain4)
	for _, a := range alsoTo {
		tb.HostB.AddAddr(t, testbed.HostIf, netip.PrefixFrom(a, 64))
		tb.HostA.AddNeigh(t, testbed.HostIf, a, tb.HostB.Ifaces[testbed.HostIf].MAC)
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
	outs := make([]*testutil.LockedBuffer, m)
	cols := make([]*testutil.Proc, m)
	for c := range m {
		cols[c] = testutil.StartCmd(t, coll.Command(bin, "collect", "--quiet", "--listen", fmt.Sprintf("udp://[::]:%d", 4801+c)))
		outs[c] = cols[c].Log
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
	for c := range m {
		if err := cols[c].Stop(10 * time.Second); err != nil {
			t.Fatalf("collector %d: %v", c, err)
		}
	}

	return outs
}
