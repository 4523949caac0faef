package e2e

// Fault tests of issue 8 ("Faults", "Domain edge"): a running `dexplane run`
// process is reloaded, reloaded with broken files, flooded with SIGHUPs,
// SIGKILLed, has its port MTU changed, loses its collector and is flooded
// with DEX, while self-checking probe traffic crosses it. Each test checks
// the wire (what host-b's kernel received, with the Hop-by-Hop header it
// validated) and the node's /stats against numbers the test derives from the
// configuration it wrote and the traffic it sent.
//
// Most tests use the bitw testbed (host-a ── dut ── host-b) with the demo's
// R1 configuration turned to inline mode, so host-b receives the DEX option
// itself; the amplification test uses domain4 (R1 adds DEX to every packet,
// R2 exports under a low rate limit).

import (
	"fmt"
	"net/netip"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/dexplane/dexplane/config"
	"github.com/dexplane/dexplane/internal/metrics"
	"github.com/dexplane/dexplane/internal/probe"
	"github.com/dexplane/dexplane/internal/testbed"
	"github.com/dexplane/dexplane/internal/testbed/plan"
	"github.com/dexplane/dexplane/internal/testutil"
)

// faultMetrics is the metrics address every node of these tests serves in
// its own namespace.
const faultMetrics = "[::1]:9102"

// faultPort is the UDP port host-b listens on for probe traffic.
const faultPort = 5001

// faultBed is a testbed with the dexplane binary and a work directory.
type faultBed struct {
	t   *testing.T
	bin string
	tb  *testbed.Testbed
	dir string
}

// newFaultBed skips unless root, builds the binary and topo.
func newFaultBed(t *testing.T, topo testbed.Topology) *faultBed {
	t.Helper()
	testbed.SkipIfNotRoot(t)
	testutil.NeedTool(t, "go", "to build dexplane")
	b := &faultBed{t: t, bin: testutil.BuildDexplane(t), tb: testbed.New(t, topo), dir: t.TempDir()}
	b.tb.HostA.Sysctl(t, "net.ipv6.auto_flowlabels", "0")
	return b
}

// writeConfig derives a configuration from config/examples/demo-rN.yaml
// with a metrics endpoint on faultMetrics, lets edit change it and writes it
// to dir/name; it returns the path. For R1 the route is turned to inline
// mode (bitw has no tunnel endpoint).
func (b *faultBed) writeConfig(n int, name string, edit func(*config.Config)) string {
	b.t.Helper()
	cfg, err := config.Load(filepath.Join("..", "config", "examples", fmt.Sprintf("demo-r%d.yaml", n)))
	if err != nil {
		b.t.Fatal(err)
	}
	if n == 1 {
		r := &cfg.Routes[0]
		r.Mode, r.TunSrc, r.TunDst = "inline", netip.Addr{}, netip.Addr{}
	}
	cfg.Dataplane.MetricsAddress = faultMetrics
	cfg.Export.Outputs = []config.Output{{Format: "json", Path: filepath.Join(b.dir, name+".records")}}
	cfg.Export.RateLimit = config.RateLimit{RecordsPerSecond: 1_000_000}
	if edit != nil {
		edit(cfg)
	}
	path := filepath.Join(b.dir, name)
	saveConfig(b.t, path, cfg)
	return path
}

// start runs a node with cfg in ns and waits until it forwards.
func (b *faultBed) start(ns *testbed.Netns, cfg string) *dexNode {
	b.t.Helper()
	n := startDexNode(b.t, b.bin, ns, cfg)
	if err := n.waitForwarding(20 * time.Second); err != nil {
		b.t.Fatal(err)
	}
	return n
}

// ready pings host-b until a reply crosses the bump(s) both ways.
func (b *faultBed) ready() {
	b.t.Helper()
	for try := 0; try < 20; try++ {
		if b.tb.HostA.Ping(b.tb.AddrB, 1) == nil {
			return
		}
	}
	b.t.Fatalf("host-a cannot ping %v through the testbed", b.tb.AddrB)
}

// stats reads /stats of the node in ns (see nodeStats).
func (b *faultBed) stats(ns *testbed.Netns) metrics.Stats {
	b.t.Helper()
	return nodeStats(b.t, b.bin, ns, faultMetrics)
}

// waitStats polls /stats of ns until ok accepts it or timeout passes, and
// returns the last snapshot and whether ok accepted it.
func (b *faultBed) waitStats(ns *testbed.Netns, timeout time.Duration, ok func(metrics.Stats) bool) (metrics.Stats, bool) {
	b.t.Helper()
	var s metrics.Stats
	done := testutil.Within(timeout, func() bool { s = b.stats(ns); return ok(s) })
	return s, done
}

// faultTally is what host-b received of one probe stream.
type faultTally struct {
	rep probe.Report
	dex int // datagrams whose Hop-by-Hop header carried a DEX option
}

// sender is a `dexplane probe send` running in host-a.
type sender struct{ *testutil.Proc }

// sendAsync starts count datagrams of size octets at rate per second to
// host-b port from source port sport.
func (b *faultBed) sendAsync(port, sport, count, rate, size int) *sender {
	b.t.Helper()
	return b.sendFlows(port, sport, 1, count, rate, size)
}

// sendFlows is sendAsync over flows flows (source ports sport, sport+1, …;
// one socket each), count datagrams in all, round-robin.
func (b *faultBed) sendFlows(port, sport, flows, count, rate, size int) *sender {
	b.t.Helper()
	return &sender{testutil.StartCmd(b.t, b.tb.HostA.Command(b.bin, "probe", "send", "-to", netip.AddrPortFrom(b.tb.AddrB, uint16(port)).String(),
		"-sport", fmt.Sprint(sport), "-flows", fmt.Sprint(flows),
		"-count", fmt.Sprint(count), "-rate", fmt.Sprint(rate), "-size", fmt.Sprint(size)))}
}

// wait waits for the sender to finish.
func (s *sender) wait(t *testing.T) {
	t.Helper()
	<-s.Done()
	if err := s.Err(); err != nil {
		t.Fatalf("probe send: %v\n%s", err, s.Log.String())
	}
}

// listen opens host-b's probe socket on port.
func (b *faultBed) listen(port int) *hopListener {
	b.t.Helper()
	l, err := listenHopOpts(b.tb.HostB, port)
	if err != nil {
		b.t.Fatal(err)
	}
	b.t.Cleanup(l.close)
	return l
}

// collect waits for want datagrams (or 1 s of silence) on l and tallies them.
func collect(l *hopListener, want int) faultTally {
	var r = probe.NewReceiver()
	var tl faultTally
	for _, d := range l.wait(want, time.Second) {
		r.Add(d.payload)
		if hasDEX(d.hbh) {
			tl.dex++
		}
	}
	tl.rep = r.Report()
	return tl
}

// stream sends count datagrams of size octets at rate to host-b and returns
// what host-b received.
func (b *faultBed) stream(count, rate, size int) faultTally {
	b.t.Helper()
	l := b.listen(faultPort)
	b.sendAsync(faultPort, 40000, count, rate, size).wait(b.t)
	return collect(l, count)
}

// hasDEX reports whether a Hop-by-Hop header (as IPV6_HOPOPTS hands it
// over) holds an IOAM option (type 0x31) of IOAM type 4, DEX (RFC 9326).
func hasDEX(hbh []byte) bool {
	for i := 2; i < len(hbh); {
		if hbh[i] == 0 { // Pad1
			i++
			continue
		}
		if i+1 >= len(hbh) {
			return false
		}
		l := int(hbh[i+1])
		if hbh[i] == 0x31 && l >= 2 && i+3 < len(hbh) && hbh[i+3] == 4 {
			return true
		}
		i += 2 + l
	}
	return false
}

// dexInserted sums the encapsulating role's DEX insertions over workers.
func dexInserted(s metrics.Stats) (n uint64) {
	for _, w := range s.Workers {
		if w.Node != nil {
			for _, v := range w.Node.DEXInserted {
				n += v
			}
		}
	}
	return n
}

// nodeSum sums f over the workers' role counters.
func nodeSum(s metrics.Stats, f func(*metrics.NodeStats) uint64) (n uint64) {
	for _, w := range s.Workers {
		if w.Node != nil {
			n += f(w.Node)
		}
	}
	return n
}

// xdpPackets is port 0's XDP count of reason in s (0 if s has no port).
func xdpPackets(s metrics.Stats, reason string) uint64 {
	if len(s.Ports) == 0 {
		return 0
	}
	return s.Ports[0].XDP[reason].Packets
}

// generation returns the configuration generation of s (0 if absent).
func generation(s metrics.Stats) uint64 {
	if s.Config == nil {
		return 0
	}
	return s.Config.Generation
}

// alive fails t if the node has exited.
func alive(t *testing.T, n *dexNode) {
	t.Helper()
	if n.Exited() {
		t.Fatalf("dexplane on %s exited: %v\n%s", n.name, n.Err(), n.Log.String())
	}
}

// expectStream fails t unless tl is count intact datagrams of which wantDEX
// carried DEX (wantDEX < 0: not checked).
func expectStream(t *testing.T, what string, tl faultTally, count, wantDEX int) {
	t.Helper()
	r := tl.rep
	if r.Received != count || r.Corrupt != 0 || r.Duplicates != 0 {
		t.Errorf("%s: host-b received %v, want %d intact datagrams", what, r, count)
	}
	if wantDEX >= 0 && tl.dex != wantDEX {
		t.Errorf("%s: %d of %d datagrams carried DEX, want %d", what, tl.dex, r.Received, wantDEX)
	}
}

// setFreq returns an edit setting R1's route frequency to k/n.
func setFreq(k, n uint32) func(*config.Config) {
	return func(c *config.Config) { c.Routes[0].Freq = config.Freq{K: k, N: n} }
}

// TestFaultSIGHUPReload changes R1's route from 1/10 to 1/2 and sends
// SIGHUP: the generation goes up by one, traffic sent afterwards carries
// DEX on exactly 1 of 2 packets (1 of 10 before), and the rx and DEX
// counters continue from where they were.
func TestFaultSIGHUPReload(t *testing.T) {
	b := newFaultBed(t, testbed.Bitw)
	cfg := b.writeConfig(1, "r1.yaml", setFreq(1, 10))
	n := b.start(b.tb.DUT(), cfg)
	b.ready()

	const count = 500
	expectStream(t, "before reload (1/10)", b.stream(count, 5000, 100), count, count/10)
	s0 := b.stats(b.tb.DUT())

	b.writeConfig(1, "r1.yaml", setFreq(1, 2))
	if err := n.Signal(syscall.SIGHUP); err != nil {
		t.Fatal(err)
	}
	s1, ok := b.waitStats(b.tb.DUT(), 5*time.Second, func(s metrics.Stats) bool { return generation(s) > generation(s0) })
	if !ok {
		t.Fatalf("generation still %d 5 s after SIGHUP:\n%s", generation(s1), n.Log.String())
	}
	if g0, g1 := generation(s0), generation(s1); g1 != g0+1 {
		t.Errorf("generation %d → %d after one SIGHUP, want +1", g0, g1)
	}
	expectStream(t, "after reload (1/2)", b.stream(count, 5000, 100), count, count/2)
	s2 := b.stats(b.tb.DUT())
	if rx0, rx2 := s0.Ports[0].RxPackets, s2.Ports[0].RxPackets; rx2 < rx0+count {
		t.Errorf("port 0 rx packets %d → %d across the reload, want ≥ +%d (no reset)", rx0, rx2, count)
	}
	if i0, i2 := dexInserted(s0), dexInserted(s2); i2 != i0+count/2 {
		t.Errorf("DEX inserted %d → %d across the reload, want +%d (no reset)", i0, i2, count/2)
	}
	alive(t, n)
}

// TestFaultSIGHUPBrokenConfig sends SIGHUP after replacing the file by one
// with a YAML syntax error and then by one with freq 11/10: each reload
// fails with the file:line of the error in the log, reload failures count
// up, the generation stays, and traffic keeps getting DEX at the old 1/2.
func TestFaultSIGHUPBrokenConfig(t *testing.T) {
	b := newFaultBed(t, testbed.Bitw)
	cfg := b.writeConfig(1, "r1.yaml", setFreq(1, 2))
	good, err := os.ReadFile(cfg)
	if err != nil {
		t.Fatal(err)
	}
	n := b.start(b.tb.DUT(), cfg)
	b.ready()
	s0 := b.stats(b.tb.DUT())

	lines := strings.Split(string(good), "\n")
	freqLine := -1
	for i, l := range lines {
		if strings.Contains(l, "freq:") {
			freqLine = i
		}
	}
	if freqLine < 0 {
		t.Fatalf("no freq line in\n%s", good)
	}
	semantic := append([]string(nil), lines...)
	semantic[freqLine] = strings.Replace(semantic[freqLine], "1/2", "11/10", 1)
	broken := []struct {
		name string
		text string
		line int // 1-based line the log must name
	}{
		// Line 2 holds a mapping value where none may be.
		{"syntax", lines[0] + "\nnode: id: 1: 2\n" + strings.Join(lines[1:], "\n"), 2},
		{"k>n", strings.Join(semantic, "\n"), freqLine + 1},
	}
	for i, c := range broken {
		if err := os.WriteFile(cfg, []byte(c.text), 0o644); err != nil {
			t.Fatal(err)
		}
		if err := n.Signal(syscall.SIGHUP); err != nil {
			t.Fatal(err)
		}
		s, ok := b.waitStats(b.tb.DUT(), 5*time.Second, func(s metrics.Stats) bool {
			return s.Config != nil && s.Config.ReloadFailures == uint64(i+1)
		})
		if !ok {
			t.Fatalf("%s: reload failures %+v 5 s after SIGHUP, want %d", c.name, s.Config, i+1)
		}
		if generation(s) != generation(s0) {
			t.Errorf("%s: generation %d after a failed reload, want %d", c.name, generation(s), generation(s0))
		}
		if want := fmt.Sprintf("%s:%d:", cfg, c.line); !strings.Contains(n.Log.String(), want) {
			t.Errorf("%s: log does not name %q:\n%s", c.name, want, n.Log.String())
		}
		const count = 200
		expectStream(t, c.name+": after the failed reload (still 1/2)", b.stream(count, 5000, 100), count, count/2)
		alive(t, n)
	}
}

// TestFaultSIGHUPStorm sends 100 SIGHUPs within about a second while a
// probe stream crosses the node: every datagram arrives intact, exactly
// one in two carries DEX (the route's sampler survives every reload), the
// node lives and its generation went up.
func TestFaultSIGHUPStorm(t *testing.T) {
	b := newFaultBed(t, testbed.Bitw)
	cfg := b.writeConfig(1, "r1.yaml", setFreq(1, 2))
	n := b.start(b.tb.DUT(), cfg)
	b.ready()
	g0 := generation(b.stats(b.tb.DUT()))

	const count = 3000
	l := b.listen(faultPort)
	snd := b.sendAsync(faultPort, 40000, count, 2000, 200)
	time.Sleep(200 * time.Millisecond)
	for range 100 {
		if err := n.Signal(syscall.SIGHUP); err != nil {
			t.Fatal(err)
		}
		time.Sleep(10 * time.Millisecond)
	}
	snd.wait(t)
	expectStream(t, "during the SIGHUP storm", collect(l, count), count, count/2)
	alive(t, n)
	if g := generation(b.stats(b.tb.DUT())); g <= g0 {
		t.Errorf("generation %d after 100 SIGHUPs, was %d", g, g0)
	}
}

// xdpProgs returns the XDP programs `ip -d link show dev ifname` lists in
// ns, e.g. "prog/xdp id 42 name dxp_steer".
func xdpProgs(t *testing.T, ns *testbed.Netns, ifname string) []string {
	t.Helper()
	out, err := ns.Run("ip", "-d", "link", "show", "dev", ifname)
	if err != nil {
		t.Fatal(err)
	}
	return regexp.MustCompile(`prog/xdp\w* id \d+( name \S+)?`).FindAllString(out, -1)
}

// TestFaultSIGKILLRestart kills a node with SIGKILL under traffic, leaves a
// stale dexplane-named XDP program on both ports, and starts the node again
// with the same configuration and no cleanup: it forwards again (the stale
// program was replaced, or frames would die in the node's stack), each port
// holds exactly one XDP program, and none after SIGTERM.
func TestFaultSIGKILLRestart(t *testing.T) {
	b := newFaultBed(t, testbed.Bitw)
	cfg := b.writeConfig(1, "r1.yaml", nil)
	dut := b.tb.DUT()
	n := b.start(dut, cfg)
	b.ready()

	l := b.listen(faultPort)
	snd := b.sendAsync(faultPort, 40000, 1000, 2000, 100)
	time.Sleep(200 * time.Millisecond)
	alive(t, n)
	n.Kill()
	snd.wait(t)
	lost := collect(l, 1000)
	t.Logf("SIGKILL under traffic: host-b %v; XDP left behind: west %q east %q",
		lost.rep, xdpProgs(t, dut, plan.West), xdpProgs(t, dut, plan.East))

	// The kernel released the killed node's XDP links with its file
	// descriptors. A node killed while attached through netlink (older
	// kernels, or pinned links) leaves its program behind: put one there,
	// named as dexplane names its programs, on both ports.
	for _, p := range []string{plan.West, plan.East} {
		if err := dut.AttachPass(p); err != nil {
			t.Fatal(err)
		}
	}
	n2 := b.start(dut, cfg)
	b.ready()
	const count = 300
	expectStream(t, "after restart", b.stream(count, 5000, 100), count, -1)
	for _, p := range []string{plan.West, plan.East} {
		if progs := xdpProgs(t, dut, p); len(progs) != 1 || strings.Contains(progs[0], testbed.PassProgName) {
			t.Errorf("after restart, %s has XDP programs %q, want exactly one, not the stale %s", p, progs, testbed.PassProgName)
		}
	}
	if err := n2.stop(); err != nil {
		t.Fatal(err)
	}
	for _, p := range []string{plan.West, plan.East} {
		if progs := xdpProgs(t, dut, p); len(progs) != 0 {
			t.Errorf("after SIGTERM, %s still has XDP programs %q", p, progs)
		}
	}
}

// TestFaultMTUChange lowers the egress port's MTU to 1400 and raises it back
// while a background stream crosses the node. A datagram whose packet (1392
// octets) fits 1400 only without DEX must cross without DEX and be counted
// as skipped for MTU; at 1500 it gets DEX again. The node stays up.
func TestFaultMTUChange(t *testing.T) {
	b := newFaultBed(t, testbed.Bitw)
	cfg := b.writeConfig(1, "r1.yaml", setFreq(1, 1))
	dut := b.tb.DUT()
	n := b.start(dut, cfg)
	b.ready()

	const bg = 3000 // background: 3 s at 1000/s on another port
	bl := b.listen(faultPort + 1)
	bs := b.sendAsync(faultPort+1, 41000, bg, 1000, 100)

	const big, size = 100, 1392 - 40 - 8 // IPv6 packet of 1392 octets
	skipped := func() uint64 {
		return nodeSum(b.stats(dut), func(s *metrics.NodeStats) uint64 { return s.Skipped["encap"]["mtu"] })
	}
	expectStream(t, "MTU 1500", b.stream(big, 2000, size), big, big)
	dut.MustRun(t, "ip", "link", "set", "dev", plan.East, "mtu", "1400")
	// The node learns the new MTU from an rtnetlink notification.
	time.Sleep(300 * time.Millisecond)
	k0 := skipped()
	tl := b.stream(big, 2000, size)
	k1 := skipped()
	expectStream(t, "MTU 1400", tl, big, -1)
	dut.MustRun(t, "ip", "link", "set", "dev", plan.East, "mtu", "1500")
	time.Sleep(300 * time.Millisecond)
	expectStream(t, "MTU back to 1500", b.stream(big, 2000, size), big, big)
	bs.wait(t)
	expectStream(t, "background stream", collect(bl, bg), bg, -1)
	alive(t, n)
	if tl.dex != 0 || k1-k0 != big {
		t.Errorf("after `ip link set east mtu 1400`: %d of %d datagrams carried DEX, skipped mtu +%d; want 0 and +%d",
			tl.dex, tl.rep.Received, k1-k0, big)
	}
}

// TestFaultCollectorDropped exports IPFIX over UDP to a port nothing listens
// on and over TCP to a refused port: forwarding is unaffected and the
// exporter counts its drops; a collector started later on the UDP address
// receives records without the node being restarted.
func TestFaultCollectorDropped(t *testing.T) {
	b := newFaultBed(t, testbed.Bitw)
	dut := b.tb.DUT()
	cfg := b.writeConfig(1, "r1.yaml", func(c *config.Config) {
		c.Routes[0].Freq = config.Freq{K: 1, N: 1}
		c.Export.Outputs = nil
		c.Export.Collectors = []config.Collector{
			{Transport: "udp", Address: "[::1]:4739", ObservationDomainID: 1, TemplateRefresh: config.Duration(time.Second)},
			{Transport: "tcp", Address: "[::1]:4740", ObservationDomainID: 1, TemplateRefresh: config.Duration(time.Second)},
		}
	})
	n := b.start(dut, cfg)
	b.ready()

	const count = 500
	expectStream(t, "collectors down", b.stream(count, 2000, 100), count, count)
	s, ok := b.waitStats(dut, 3*time.Second, func(s metrics.Stats) bool {
		return s.Export != nil && len(s.Export.Collectors) == 2 && s.Export.Collectors[0].Drops > 0 && s.Export.Collectors[1].Drops > 0
	})
	if !ok {
		t.Fatalf("export drops not counted for both collectors: %+v", s.Export)
	}
	if s.Export.Drops["collector"] == 0 || s.Export.Collectors[1].Records != 0 {
		t.Errorf("export %+v: want collector drops and no TCP records", s.Export)
	}
	udp0 := s.Export.Collectors[0].Records

	out := &testutil.LockedBuffer{}
	coll := dut.Command(b.bin, "collect", "--json", "--listen", "udp://[::1]:4739")
	coll.Stdout, coll.Stderr = out, out
	if err := coll.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = coll.Process.Kill(); _ = coll.Wait() })
	time.Sleep(300 * time.Millisecond)
	expectStream(t, "collector up", b.stream(2*count, 1000, 100), 2*count, 2*count)
	if !testutil.Within(5*time.Second, func() bool { return strings.Contains(out.String(), `"namespace"`) }) {
		t.Errorf("the collector started late received no record in 5 s:\n%.2000s", out.String())
	}
	if s := b.stats(dut); s.Export.Collectors[0].Records <= udp0 {
		t.Errorf("UDP collector records %d → %d after it came up", udp0, s.Export.Collectors[0].Records)
	}
	alive(t, n)
}

// TestFaultAmplification is RFC 9326 §8's amplification: R1 adds DEX to
// every packet and R2, a transit node limited to 200 records/s (burst 200),
// receives 6000 of them, sent at a nominal 3000/s (on 2 shared cores with
// four nodes the sender reaches about 1000/s; the bounds use the measured
// time). R2 writes at most burst + limit × elapsed records (elapsed from
// the first packet until R2 had offered every record to the limiter; 2 %
// tolerance for timer granularity) and at least 80 % of limit × the flood's
// duration, counts every other record as rate-limited, and forwards
// everything.
func TestFaultAmplification(t *testing.T) {
	b := newFaultBed(t, testbed.Domain4)
	const limit, count, rate = 200, 6000, 3000
	var nodes [4]*dexNode
	var cfgs [4]string
	for i := range 4 {
		cfgs[i] = b.writeConfig(i+1, fmt.Sprintf("r%d.yaml", i+1), func(c *config.Config) {
			if i == 0 {
				c.Routes[0].Freq = config.Freq{K: 1, N: 1}
			}
			if i == 1 {
				c.Export.RateLimit = config.RateLimit{RecordsPerSecond: limit, Burst: limit}
			}
		})
		nodes[i] = startDexNode(t, b.bin, b.tb.Bumps[i], cfgs[i])
	}
	for _, n := range nodes {
		if err := n.waitForwarding(20 * time.Second); err != nil {
			t.Fatal(err)
		}
	}
	b.ready()
	r2 := b.tb.Bumps[1]
	s0 := b.stats(r2)
	seen := func(s metrics.Stats) uint64 {
		return nodeSum(s, func(s *metrics.NodeStats) uint64 { return s.DEXSeen })
	}

	start := time.Now()
	tl := b.stream(count, rate, 100)
	expectStream(t, "flood", tl, count, -1)
	flood := time.Since(start)
	s, _ := b.waitStats(r2, 3*time.Second, func(s metrics.Stats) bool {
		return s.Export != nil && s.Export.Offered-s0.Export.Offered >= count
	})
	// Every record was offered (and admitted or limited) by now.
	elapsed := time.Since(start)
	if n := seen(s) - seen(s0); n != count {
		t.Errorf("R2 saw %d DEX packets, want %d (R1 adds DEX to every packet)", n, count)
	}
	if err := nodes[1].stop(); err != nil {
		t.Fatal(err)
	}
	var recs []map[string]any // the flood's records; readiness pings have their own
	for _, r := range readJSONRecords(t, filepath.Join(b.dir, "r2.yaml.records")) {
		if fmt.Sprint(r["dst_port"]) == fmt.Sprint(faultPort) {
			recs = append(recs, r)
		}
	}
	bound := int(float64(limit)*elapsed.Seconds()*1.02) + limit
	t.Logf("flood of %d sent and received in %v; R2: %d records written in %v (bound %d); export %+v",
		count, flood.Round(time.Millisecond), len(recs), elapsed.Round(time.Millisecond), bound, s.Export)
	if len(recs) > bound {
		t.Errorf("R2 wrote %d records in %v, more than burst %d + %d/s × elapsed (+2 %%) = %d", len(recs), elapsed, limit, limit, bound)
	}
	// The bucket starts empty (exporter.TokenBucket) and fills at the
	// limit, so a flood longer than a second gets about limit × its
	// duration through: a much lower count means records are lost, not
	// limited.
	if low := int(0.8*limit*flood.Seconds()) - 10; len(recs) < low {
		t.Errorf("R2 wrote %d records during a %v flood, want at least %d (80 %% of %d/s)", len(recs), flood, low, limit)
	}
	if limited := s.Export.Drops["rate_limited"] - s0.Export.Drops["rate_limited"]; limited+uint64(len(recs)) < count {
		t.Errorf("R2: %d records rate-limited + %d written < %d DEX packets: records lost uncounted", limited, len(recs), count)
	}
	for i, n := range nodes {
		if i != 1 {
			alive(t, n)
		}
	}
}
