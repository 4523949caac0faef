package e2e

// TestDomain4 is the proof of issue 5 on real veths: the four demo nodes of
// config/examples (R1 encapsulates, R2 and R3 transit, R4 decapsulates) run
// as `dexplane run` processes in the testbed's Domain4Tap topology, host-a
// sends self-checking probe traffic to host-b, and every link is captured
// on a wire namespace (frames an XDP data plane transmits pass no tap on
// the node itself). Everything is checked against the configuration the
// test wrote, never against what dexplane printed.

import (
	"bytes"
	"encoding/binary"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/netip"
	"os"
	"path/filepath"
	"reflect"
	"sort"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/gopacket/gopacket/pcapgo"
	"golang.org/x/sys/unix"

	"github.com/dexplane/dexplane/config"
	"github.com/dexplane/dexplane/internal/decodejson"
	"github.com/dexplane/dexplane/internal/probe"
	"github.com/dexplane/dexplane/internal/testbed"
	"github.com/dexplane/dexplane/internal/testbed/plan"
	"github.com/dexplane/dexplane/internal/testutil"
)

// d4Case is one configuration of the domain: what R1's route inserts and how
// the nodes run. The traffic is d4Flows flows × d4Count/d4Flows datagrams.
type d4Case struct {
	name      string
	mode      string // route mode: "encap" (ip6ip6) or "inline"
	k, n      uint32 // route freq K/N
	traceType uint32 // 24-bit IOAM-Trace-Type
	extFlags  uint8  // 0x80 Flow ID, 0x40 Sequence Number
	seqStart  uint32 // flows.seq_start
	steer     string // dataplane.steer: all | sampled
	noStrip   bool   // options.strip: false on every node (test mode; R4 leaks DEX)
}

// Traffic of every case: d4Count datagrams round-robin over d4Flows flows
// (source ports d4BasePort+f) to host-b port d4Port, at d4Rate per second.
const (
	d4Flows    = 5
	d4Count    = 3000
	d4Rate     = 10000
	d4Size     = 100
	d4BasePort = 40000
	d4Port     = 5001
)

// Trace types of the matrix: the demo's (node_id, interface ids, timestamp
// seconds and fraction) and one of identifiers only (node_id, namespace
// data, wide node_id, wide namespace data).
const (
	ttDemo = 0xf00000
	ttIDs  = 0x84a000
)

// d4ReadyAddr is a second address of host-b outside R1's route (a /128 for
// host-b): pings to it prove the domain forwards without moving R1's
// sampler.
var d4ReadyAddr = netip.MustParseAddr("2001:db8:1::c")

// TestDomain4 runs the matrix; see the file comment. Root only.
func TestDomain4(t *testing.T) {
	testbed.SkipIfNotRoot(t)
	for _, tool := range []string{"tcpdump", "tshark", "go"} {
		testutil.NeedTool(t, tool, "scripts/install-deps.sh")
	}
	bin := testutil.BuildDexplane(t)
	cases := []d4Case{
		{name: "demo-ip6ip6-all", mode: "encap", k: 1, n: 10, traceType: ttDemo, extFlags: 0xc0, seqStart: 0, steer: "all"},
		{name: "ip6ip6-flowid-sampled", mode: "encap", k: 3, n: 7, traceType: ttIDs, extFlags: 0x80, seqStart: 1, steer: "sampled"},
		{name: "inline-seq-nostrip-judge", mode: "inline", k: 2, n: 5, traceType: ttDemo, extFlags: 0x40, seqStart: 1, steer: "all", noStrip: true},
	}
	// The pair: same traffic and configuration but the steering.
	pair := d4Case{name: "inline-pair", mode: "inline", k: 3, n: 10, traceType: ttIDs, extFlags: 0xc0, seqStart: 0}
	pairAll, pairSampled := pair, pair
	pairAll.name, pairAll.steer = pair.name+"-all", "all"
	pairSampled.name, pairSampled.steer = pair.name+"-sampled", "sampled"
	bare := d4Case{name: "ip6ip6-bare-sampled", mode: "encap", k: 1, n: 4, traceType: ttDemo, extFlags: 0x00, seqStart: 0, steer: "sampled"}
	// Every packet sampled (K = N), judged by host-b's kernel with the
	// Flow ID alone (padding after the option).
	every := d4Case{name: "inline-every-flowid-nostrip-sampled", mode: "inline", k: 1, n: 1, traceType: ttIDs, extFlags: 0x80, seqStart: 0, steer: "sampled", noStrip: true}
	cases = append(cases, bare, every, pairAll, pairSampled)

	results := map[string]*d4Result{}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			res := runDomain4(t, bin, c)
			checkDomain4(t, c, res)
			results[c.name] = res
		})
	}
	t.Run("steer-all-equals-sampled", func(t *testing.T) {
		a, s := results[pairAll.name], results[pairSampled.name]
		if a == nil || s == nil {
			t.Skip("a case of the pair failed to run")
		}
		for l := range a.links {
			if !reflect.DeepEqual(d4WireView(a.links[l], a.linkIDs[l]), d4WireView(s.links[l], s.linkIDs[l])) {
				t.Errorf("link %d: wire output differs between steer all and sampled", l)
			}
		}
		if !reflect.DeepEqual(d4WireView(a.hostB, a.hostBIDs), d4WireView(s.hostB, s.hostBIDs)) {
			t.Error("R4→host-b: wire output differs between steer all and sampled")
		}
		for i := range a.records {
			ra, rs := d4StableRecords(a.records[i]), d4StableRecords(s.records[i])
			if !reflect.DeepEqual(ra, rs) {
				t.Errorf("R%d: records differ between steer all (%d) and sampled (%d); first all: %v, first sampled: %v",
					i+1, len(ra), len(rs), d4First(ra), d4First(rs))
			}
		}
	})
}

// d4Result is what one run of the domain produced.
type d4Result struct {
	cfgs     [4]*config.Config // as written for R1..R4
	links    [3][]decodejson.Packet
	hostB    []decodejson.Packet
	linkIDs  [3][]int // per captured packet: route index from its probe header, or -1
	hostBIDs []int
	records  [4][]map[string]any
	received []hopDatagram
	start    time.Time
	end      time.Time
}

// runDomain4 builds a Domain4Tap testbed, runs the four nodes with c's
// configuration, captures and sends the traffic, stops everything and
// returns the decoded captures and records. Failures to run are fatal;
// checks are left to checkDomain4.
func runDomain4(t *testing.T, bin string, c d4Case) *d4Result {
	tb := testbed.New(t, testbed.Domain4Tap)
	dir := t.TempDir()
	if keep := os.Getenv("DEXPLANE_E2E_KEEP"); keep != "" {
		// Debugging: keep configurations, captures and records.
		dir = filepath.Join(keep, strings.ReplaceAll(t.Name(), "/", "_"))
		if err := os.MkdirAll(dir, 0o755); err != nil {
			t.Fatal(err)
		}
	}
	res := &d4Result{}
	// Readiness traffic goes to a host-b address outside the route.
	tb.HostB.AddAddr(t, plan.HostIf, netip.PrefixFrom(d4ReadyAddr, 128))
	tb.HostA.AddNeigh(t, plan.HostIf, d4ReadyAddr, tb.HostB.Ifaces[plan.HostIf].MAC)
	// Flow label 0: the same traffic gives the same bytes in every run.
	tb.HostA.Sysctl(t, "net.ipv6.auto_flowlabels", "0")

	var recFiles [4]string
	for i := range 4 {
		recFiles[i] = filepath.Join(dir, fmt.Sprintf("r%d-records.json", i+1))
		res.cfgs[i] = writeD4Config(t, c, i+1, recFiles[i], filepath.Join(dir, fmt.Sprintf("r%d.yaml", i+1)))
	}
	var nodes [4]*dexNode
	for i, ns := range tb.Bumps {
		nodes[i] = startDexNode(t, bin, ns, filepath.Join(dir, fmt.Sprintf("r%d.yaml", i+1)))
	}
	for _, n := range nodes {
		if err := n.waitForwarding(20 * time.Second); err != nil {
			t.Fatal(err)
		}
	}
	var caps [4]*testbed.Capture
	for l := range 3 {
		ns, ifname := tb.TapPoint(t, l, true)
		cp, err := ns.StartCapture(t, ifname, "in", filepath.Join(dir, fmt.Sprintf("link-r%d-r%d.pcap", l+1, l+2)))
		if err != nil {
			t.Fatal(err)
		}
		caps[l] = cp
	}
	cp, err := tb.HostB.StartCapture(t, plan.HostIf, "in", filepath.Join(dir, "r4-hostb.pcap"))
	if err != nil {
		t.Fatal(err)
	}
	caps[3] = cp

	// The domain forwards once a ping to host-b's second address crosses
	// all four nodes both ways.
	ready := false
	for try := 0; try < 20 && !ready; try++ {
		_, err := tb.HostA.Run("ping", "-6", "-n", "-q", "-c", "1", "-W", "1", d4ReadyAddr.String())
		ready = err == nil
	}
	if !ready {
		t.Fatalf("host-a cannot ping %v through the domain", d4ReadyAddr)
	}

	rx, err := listenHopOpts(tb.HostB, d4Port)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(rx.close)
	res.start = time.Now()
	out, err := tb.HostA.Run(bin, "probe", "send", "-to", netip.AddrPortFrom(tb.AddrB, d4Port).String(),
		"-flows", fmt.Sprint(d4Flows), "-sport", fmt.Sprint(d4BasePort), "-count", fmt.Sprint(d4Count),
		"-size", fmt.Sprint(d4Size), "-rate", fmt.Sprint(d4Rate))
	if err != nil {
		rx.close()
		t.Fatalf("probe send: %v\n%s", err, out)
	}
	res.received = rx.wait(d4Count, 3*time.Second)
	res.end = time.Now()

	var wg sync.WaitGroup
	errs := make([]error, 4)
	for i, n := range nodes {
		wg.Add(1)
		go func() { defer wg.Done(); errs[i] = n.stop() }()
	}
	wg.Wait()
	for _, err := range errs {
		if err != nil {
			t.Error(err)
		}
	}
	for _, cp := range caps {
		st, err := cp.Stop()
		if err != nil {
			t.Fatal(err)
		}
		if st.Dropped != 0 {
			t.Errorf("capture %s/%s lost packets: %+v", cp.NS.Node, cp.Iface, st)
		}
	}
	var files []string
	for l := range 3 {
		res.links[l] = testutil.DecodePcap(t, bin, caps[l].File)
		res.linkIDs[l] = d4ProbeIndexes(t, caps[l].File)
		files = append(files, caps[l].File)
	}
	res.hostB = testutil.DecodePcap(t, bin, caps[3].File)
	res.hostBIDs = d4ProbeIndexes(t, caps[3].File)
	files = append(files, caps[3].File)
	for i := range 4 {
		res.records[i] = readJSONRecords(t, recFiles[i])
	}
	for _, f := range files {
		if bad := tsharkProblems(t, f); len(bad) > 0 {
			t.Errorf("tshark finds problems in %s: %q", filepath.Base(f), bad[:min(5, len(bad))])
		}
	}
	return res
}

// writeD4Config derives node i's configuration (1..4) from
// config/examples/demo-rI.yaml: c's route, flows, steering and strip
// settings, a wide namespace data value, JSON records to recFile and an
// export rate limit that cannot drop the test's records. It writes the YAML
// to path and returns the configuration as dexplane will read it.
func writeD4Config(t *testing.T, c d4Case, i int, recFile, path string) *config.Config {
	t.Helper()
	cfg, err := config.Load(filepath.Join("..", "config", "examples", fmt.Sprintf("demo-r%d.yaml", i)))
	if err != nil {
		t.Fatal(err)
	}
	if i == 1 {
		if len(cfg.Routes) != 1 {
			t.Fatalf("demo-r1 has %d routes, the test expects 1", len(cfg.Routes))
		}
		r := &cfg.Routes[0]
		r.Mode = c.mode
		if c.mode == "inline" {
			r.TunSrc, r.TunDst = netip.Addr{}, netip.Addr{}
		}
		r.Freq = config.Freq{K: c.k, N: c.n}
		r.DEX.TraceType = config.Hex(c.traceType)
		r.DEX.ExtFlags = config.Hex(c.extFlags)
	}
	wide := config.Hex(0xd4d4_0000_0000_0000 | uint64(i))
	cfg.Namespaces[0].DataWide = &wide
	cfg.Flows.SeqStart = c.seqStart
	cfg.Dataplane.Steer = c.steer
	cfg.Options.Strip = !c.noStrip
	cfg.Export.Outputs = []config.Output{{Format: "json", Path: recFile}}
	cfg.Export.RateLimit = config.RateLimit{RecordsPerSecond: 1_000_000, CapacityFraction: 0}
	return saveConfig(t, path, cfg)
}

// d4SampledPkt is what the wire says about one packet that carries DEX.
type d4SampledPkt struct {
	j      int     // index in the route's packet order (= probe send order)
	flow   int     // probe flow (source port d4BasePort+flow)
	flowID *uint32 // DEX Flow ID, if present
	seq    *uint32 // DEX Sequence Number, if present
}

// checkDomain4 checks res against c and the configurations.
func checkDomain4(t *testing.T, c d4Case, res *d4Result) {
	r1 := res.cfgs[0]
	route := r1.Routes[0]
	ns := r1.Namespaces[0].ID
	hostA, hostB := plan.HostAAddr.String(), plan.HostBAddr.String()

	// Independent expectations from the configuration: the kernel's
	// first-K-of-every-N over the route's packets in send order.
	selected := func(j int) bool { return uint32(j)%route.Freq.N < route.Freq.K }
	nSel := 0
	for j := range d4Count {
		if selected(j) {
			nSel++
		}
	}
	var wire [][]d4SampledPkt
	for l, pkts := range res.links {
		name := fmt.Sprintf("R%d→R%d", l+1, l+2)
		s := d4CheckLink(t, name, c, res.cfgs, pkts, res.linkIDs[l], selected, true)
		if len(s) != nSel {
			t.Errorf("%s: %d packets with DEX, want %d (%d/%d of %d)", name, len(s), nSel, route.Freq.K, route.Freq.N, d4Count)
		}
		wire = append(wire, s)
	}
	for l := 1; l < len(wire); l++ {
		if !reflect.DeepEqual(wire[l], wire[0]) {
			t.Errorf("R%d→R%d carries other DEX (flow id, seq) than R1→R2", l+1, l+2)
		}
	}
	// R4 → host-b: nothing of IOAM leaves the domain, unless told so.
	sB := d4CheckLink(t, "R4→host-b", c, res.cfgs, res.hostB, res.hostBIDs, selected, c.noStrip)
	if c.noStrip && !reflect.DeepEqual(sB, wire[0]) {
		t.Errorf("R4→host-b (strip off) carries other DEX than R1→R2")
	}

	// The receiver: every datagram intact, once.
	rcv := probe.NewReceiver()
	var hopErrs []string
	for _, d := range res.received {
		rcv.Add(d.payload)
		f, s, err := probe.Verify(d.payload)
		if err != nil {
			continue
		}
		j := int(s)*d4Flows + int(f)
		want := []byte(nil)
		if c.noStrip && c.mode == "inline" && selected(j) {
			want = d4ExpectedHbH(c, ns, wire[0], j)
		}
		if !bytes.Equal(d.hbh, want) && len(hopErrs) < 5 {
			hopErrs = append(hopErrs, fmt.Sprintf("datagram flow %d seq %d (route packet %d): HbH % x, want % x", f, s, j, d.hbh, want))
		}
	}
	rep := rcv.Report()
	t.Logf("%d/%d route packets with DEX on each link; records R1..R4: %d %d %d %d; host-b: %s",
		len(wire[0]), d4Count, len(res.records[0]), len(res.records[1]), len(res.records[2]), len(res.records[3]), rep)
	if rep.Received != d4Count || rep.Corrupt != 0 || rep.Duplicates != 0 || rep.Flows != d4Flows {
		t.Errorf("host-b received %+v, want %d intact datagrams over %d flows (%d missing)", rep, d4Count, d4Flows, d4Count-rep.Received)
	}
	for _, e := range hopErrs {
		t.Error("IPV6_RECVHOPOPTS: " + e)
	}

	// Records: one per DEX packet on every node, in wire order, agreeing
	// with the wire and with each node's configuration.
	roles := [4]string{"encap", "transit", "transit", "decap"}
	for i, recs := range res.records {
		d4CheckRecords(t, fmt.Sprintf("R%d", i+1), roles[i], c, res.cfgs[i], ns, recs, wire[0], res.start, res.end, hostA, hostB)
	}
}

// d4CheckLink checks the packets captured on one link in one direction and
// returns the DEX packets it carries, in route order. ids gives each
// packet's index in the route's order (from its probe header): with steer
// sampled, frames the XDP program forwards overtake those that visit
// userspace, so capture order is not send order. withDEX false means no
// packet may carry IOAM (R4→host-b with stripping on).
func d4CheckLink(t *testing.T, name string, c d4Case, cfgs [4]*config.Config, pkts []decodejson.Packet, ids []int,
	selected func(int) bool, withDEX bool) []d4SampledPkt {
	t.Helper()
	r1 := cfgs[0]
	route := r1.Routes[0]
	hostA, hostB := plan.HostAAddr.String(), plan.HostBAddr.String()
	var errs []string
	errorf := func(format string, args ...any) {
		if len(errs) < 8 {
			errs = append(errs, fmt.Sprintf(format, args...))
		}
	}
	var out []d4SampledPkt
	nextSeq := make([]uint32, d4Flows)
	for f := range nextSeq {
		nextSeq[f] = c.seqStart
	}
	flowIDs := map[int]uint32{}
	if len(ids) != len(pkts) {
		t.Fatalf("%s: %d packets decoded, %d read from the pcap", name, len(pkts), len(ids))
	}
	byJ := make([]*decodejson.Packet, d4Count)
	for i := range pkts {
		p := &pkts[i]
		if !p.OK {
			errorf("packet %d malformed: %s", p.Index, p.Error)
			continue
		}
		if p.Dst == d4ReadyAddr.String() && p.Encap == "none" && len(p.IOAM) == 0 {
			continue // readiness ping
		}
		toB := (p.Encap == "ip6ip6" && p.InnerDst == hostB) || (p.Encap != "ip6ip6" && p.Dst == hostB)
		switch {
		case !toB:
			errorf("packet %d is neither the test's traffic nor a readiness ping: %+v", p.Index, p)
		case ids[i] < 0 || ids[i] >= d4Count:
			errorf("packet %d: no intact probe datagram for host-b in it (%d)", p.Index, ids[i])
		case byJ[ids[i]] != nil:
			errorf("packet %d: route packet %d seen twice", p.Index, ids[i])
		default:
			byJ[ids[i]] = p
		}
	}
	missing := 0
	for j, p := range byJ {
		if p == nil {
			missing++
			if missing <= 3 {
				errorf("route packet %d (probe flow %d seq %d) never crossed", j, j%d4Flows, j/d4Flows)
			}
			continue
		}
		sel := withDEX && selected(j)
		f := j % d4Flows
		switch {
		case !sel:
			if p.Encap != "none" || p.Src != hostA || p.Dst != hostB || len(p.IOAM) != 0 {
				errorf("route packet %d (capture %d): %s %s > %s with %d IOAM options, want plain %s > %s",
					j, p.Index, p.Encap, p.Src, p.Dst, len(p.IOAM), hostA, hostB)
			}
		case c.mode == "encap":
			if p.Encap != "ip6ip6" || p.Src != r1.Node.Address.String() || p.Dst != route.TunDst.String() ||
				p.InnerSrc != hostA || p.InnerDst != hostB {
				errorf("route packet %d (capture %d): %s %s > %s [%s > %s], want ip6ip6 %v > %v [%s > %s]", j, p.Index,
					p.Encap, p.Src, p.Dst, p.InnerSrc, p.InnerDst, r1.Node.Address, route.TunDst, hostA, hostB)
			}
		default:
			if p.Encap != "inline" || p.Src != hostA || p.Dst != hostB {
				errorf("route packet %d (capture %d): %s %s > %s, want inline %s > %s", j, p.Index, p.Encap, p.Src, p.Dst, hostA, hostB)
			}
		}
		if sel {
			if len(p.IOAM) != 1 {
				errorf("route packet %d (capture %d): %d IOAM options, want 1 DEX", j, p.Index, len(p.IOAM))
				continue
			}
			o := p.IOAM[0]
			if o.OptionType != 0x31 || o.IOAMType != 4 || o.NS == nil || *o.NS != route.DEX.Namespace ||
				*o.Flags != 0 || uint64(*o.ExtFlags) != uint64(route.DEX.ExtFlags) || uint64(*o.TraceType) != uint64(route.DEX.TraceType) {
				errorf("route packet %d (capture %d): IOAM %s, want option 0x31 type 4 DEX ns %d flags 0 ext 0x%02x trace 0x%06x",
					j, p.Index, d4JsonString(o), route.DEX.Namespace, uint64(route.DEX.ExtFlags), uint64(route.DEX.TraceType))
			}
			if (o.FlowID != nil) != (c.extFlags&0x80 != 0) || (o.Seq != nil) != (c.extFlags&0x40 != 0) {
				errorf("route packet %d: flow id present %v, seq present %v, want ext flags 0x%02x", j, o.FlowID != nil, o.Seq != nil, c.extFlags)
			}
			if o.Seq != nil {
				if *o.Seq != nextSeq[f] {
					errorf("route packet %d (flow %d): seq %d, want %d", j, f, *o.Seq, nextSeq[f])
				}
				nextSeq[f] = *o.Seq + 1
			}
			if o.FlowID != nil {
				if id, ok := flowIDs[f]; ok && id != *o.FlowID {
					errorf("flow %d: flow id 0x%08x, earlier 0x%08x", f, *o.FlowID, id)
				}
				flowIDs[f] = *o.FlowID
			}
			out = append(out, d4SampledPkt{j: j, flow: f, flowID: o.FlowID, seq: o.Seq})
		}
	}
	if missing > 0 {
		errorf("%d of the %d probe datagrams missing", missing, d4Count)
	}
	seen := map[uint32]int{}
	for f, id := range flowIDs {
		if g, dup := seen[id]; dup {
			errorf("flows %d and %d share flow id 0x%08x", g, f, id)
		}
		seen[id] = f
	}
	for _, e := range errs {
		t.Errorf("%s: %s", name, e)
	}
	return out
}

// d4ExpectedHbH builds, from RFC 9326 / RFC 9486 and the kernel's inline
// layout (PadN of 0 octets, the IOAM option, padding to 8n), the Hop-by-Hop
// header host-b's kernel must hand to the socket for route packet j. The
// Flow ID comes from the wire (it is a hash); everything else from c.
func d4ExpectedHbH(c d4Case, ns uint16, wire []d4SampledPkt, j int) []byte {
	var sp *d4SampledPkt
	for i := range wire {
		if wire[i].j == j {
			sp = &wire[i]
		}
	}
	dex := binary.BigEndian.AppendUint16(nil, ns)
	dex = append(dex, 0, c.extFlags)
	dex = binary.BigEndian.AppendUint32(dex, c.traceType<<8)
	if c.extFlags&0x80 != 0 {
		id := uint32(0xdeadbeef) // no wire packet: cannot match
		if sp != nil && sp.flowID != nil {
			id = *sp.flowID
		}
		dex = binary.BigEndian.AppendUint32(dex, id)
	}
	if c.extFlags&0x40 != 0 {
		// The flow's n-th DEX packet carries seq_start + n.
		f, nth := j%d4Flows, 0
		for i := 0; i < j; i++ {
			if i%d4Flows == f && uint32(i)%c.n < c.k {
				nth++
			}
		}
		dex = binary.BigEndian.AppendUint32(dex, c.seqStart+uint32(nth))
	}
	opt := append([]byte{0x31, byte(2 + len(dex)), 0, 4}, dex...)
	h := append([]byte{17, 0, 1, 0}, opt...) // next header UDP, len later, PadN(0)
	switch pad := (8 - len(h)%8) % 8; pad {
	case 0:
	case 1:
		h = append(h, 0) // Pad1
	default:
		h = append(h, 1, byte(pad-2))
		h = append(h, make([]byte, pad-2)...)
	}
	h[1] = byte(len(h)/8 - 1)
	return h
}

// d4CheckRecords checks one node's exported records against the wire's DEX
// packets (the same multiset of probe flow, Flow ID and Sequence Number) and,
// record by record, against the node's configuration.
func d4CheckRecords(t *testing.T, node, role string, c d4Case, cfg *config.Config, ns uint16, recs []map[string]any,
	wire []d4SampledPkt, start, end time.Time, hostA, hostB string) {
	t.Helper()
	if len(recs) != len(wire) {
		t.Errorf("%s: %d records, the wire carried %d DEX packets", node, len(recs), len(wire))
	}
	// The (probe flow, flow id, seq) of the records and of the wire's DEX
	// packets are the same multiset.
	key := func(flow int, id, seq *uint32) string {
		k := fmt.Sprintf("flow %d", flow)
		if id != nil {
			k += fmt.Sprintf(" id 0x%08x", *id)
		}
		if seq != nil {
			k += fmt.Sprintf(" seq %d", *seq)
		}
		return k
	}
	num := func(r map[string]any, k string) *uint32 {
		n, ok := r[k].(json.Number)
		if !ok {
			return nil
		}
		v, err := d4ParseUint(string(n))
		if err != nil {
			return nil
		}
		u := uint32(v)
		return &u
	}
	var wantKeys, gotKeys []string
	for _, w := range wire {
		wantKeys = append(wantKeys, key(w.flow, w.flowID, w.seq))
	}
	for _, r := range recs {
		sp := num(r, "src_port")
		flow := -1
		if sp != nil {
			flow = int(*sp) - d4BasePort
		}
		gotKeys = append(gotKeys, key(flow, num(r, "flow_id"), num(r, "seq")))
	}
	sort.Strings(wantKeys)
	sort.Strings(gotKeys)
	for i := range max(len(wantKeys), len(gotKeys)) {
		if i >= len(wantKeys) || i >= len(gotKeys) || wantKeys[i] != gotKeys[i] {
			t.Errorf("%s: records (probe flow, flow id, seq) differ from the wire's DEX packets at sorted index %d: record %q, wire %q",
				node, i, d4At(gotKeys, i), d4At(wantKeys, i))
			break
		}
	}
	var errs []string
	errorf := func(format string, args ...any) {
		if len(errs) < 8 {
			errs = append(errs, fmt.Sprintf(format, args...))
		}
	}
	var nsData, nsWide uint64
	for _, n := range cfg.Namespaces {
		if n.ID == ns {
			if n.Data != nil {
				nsData = uint64(*n.Data)
			}
			if n.DataWide != nil {
				nsWide = uint64(*n.DataWide)
			}
		}
	}
	for k, r := range recs {
		want := map[string]uint64{
			"namespace": uint64(ns), "flags": 0, "ext_flags": uint64(c.extFlags), "trace_type": uint64(c.traceType),
			"proto": 17, "dst_port": d4Port, "in_port": 0, "out_port": 1,
		}
		tt := c.traceType
		if tt&0x800000 != 0 {
			want["node_id"] = uint64(cfg.Node.ID)
		}
		if tt&0x400000 != 0 {
			want["ingress_if_id"] = uint64(cfg.Ports[0].IfID)
			want["egress_if_id"] = uint64(cfg.Ports[1].IfID)
		}
		if tt&0x040000 != 0 {
			want["namespace_data"] = nsData
		}
		if tt&0x008000 != 0 {
			want["node_id_wide"] = uint64(cfg.Node.IDWide)
		}
		if tt&0x002000 != 0 {
			want["namespace_data_wide"] = nsWide
		}
		for key, v := range want {
			got, ok := r[key].(json.Number)
			if !ok {
				errorf("record %d: %s = %v, want %d", k, key, r[key], v)
				continue
			}
			if g, err := got.Int64(); err != nil || uint64(g) != v {
				if u, err2 := d4ParseUint(string(got)); err2 != nil || u != v {
					errorf("record %d: %s = %s, want %d", k, key, got, v)
				}
			}
		}
		if (r["flow_id"] != nil) != (c.extFlags&0x80 != 0) || (r["seq"] != nil) != (c.extFlags&0x40 != 0) {
			errorf("record %d: flow_id %v seq %v, want exactly what ext flags 0x%02x announce", k, r["flow_id"], r["seq"], c.extFlags)
		}
		if r["role"] != role || r["src"] != hostA || r["dst"] != hostB {
			errorf("record %d: role %v %v > %v, want %s %s > %s", k, r["role"], r["src"], r["dst"], role, hostA, hostB)
		}
		if ts, err := time.Parse(time.RFC3339Nano, fmt.Sprint(r["time"])); err != nil ||
			ts.Before(start.Add(-time.Second)) || ts.After(end.Add(time.Second)) {
			errorf("record %d: time %v outside the run [%v, %v]", k, r["time"], start.UTC(), end.UTC())
		}
		if tt&0x200000 != 0 {
			sec, _ := d4ParseUint(fmt.Sprint(r["ts_sec"]))
			if int64(sec) < start.Unix()-1 || int64(sec) > end.Unix()+1 {
				errorf("record %d: ts_sec %d outside the run [%d, %d]", k, sec, start.Unix(), end.Unix())
			}
		}
		if tt&0x100000 != 0 {
			if us, err := d4ParseUint(fmt.Sprint(r["ts_frac_us"])); err != nil || us >= 1_000_000 {
				errorf("record %d: ts_frac_us %v is not a microsecond count", k, r["ts_frac_us"])
			}
		}
	}
	for _, e := range errs {
		t.Errorf("%s records: %s", node, e)
	}
}

// d4At returns s[i], or "(none)" past its end.
func d4At(s []string, i int) string {
	if i < len(s) {
		return s[i]
	}
	return "(none)"
}

// d4ParseUint parses a decimal unsigned integer.
func d4ParseUint(s string) (uint64, error) {
	var v uint64
	_, err := fmt.Sscan(s, &v)
	return v, err
}

// d4JsonString renders v as JSON, for messages and comparisons.
func d4JsonString(v any) string {
	b, _ := json.Marshal(v)
	return string(b)
}

// d4First returns the first element of s, or nil, for messages.
func d4First[T any](s []T) any {
	if len(s) == 0 {
		return nil
	}
	return s[0]
}

// d4WireView reduces decoded packets to what must not depend on steering:
// each packet's decoded headers, in route order (ids from d4ProbeIndexes;
// packets without a probe header, the readiness pings, come first in
// capture order).
func d4WireView(pkts []decodejson.Packet, ids []int) []string {
	type e struct {
		j int
		s string
	}
	var es []e
	for i, p := range pkts {
		p.Index = 0
		es = append(es, e{ids[i], d4JsonString(p)})
	}
	sort.SliceStable(es, func(a, b int) bool { return es[a].j < es[b].j })
	out := make([]string, len(es))
	for i := range es {
		out[i] = fmt.Sprintf("%d %s", es[i].j, es[i].s)
	}
	return out
}

// d4VolatileKeys are record keys whose values depend on when a packet was
// handled, not on what it was.
var d4VolatileKeys = map[string]bool{"time": true, "ts_sec": true, "ts_frac_us": true,
	"transit_delay_ns": true, "queue_depth": true, "buffer_occupancy": true}

// d4StableRecords renders records without their volatile values (the keys
// stay), one line each, in order.
func d4StableRecords(recs []map[string]any) []string {
	out := make([]string, 0, len(recs))
	for _, r := range recs {
		keys := make([]string, 0, len(r))
		for k := range r {
			keys = append(keys, k)
		}
		sort.Strings(keys)
		var b strings.Builder
		for _, k := range keys {
			v := r[k]
			if d4VolatileKeys[k] {
				v = "*"
			}
			fmt.Fprintf(&b, "%s=%v ", k, v)
		}
		out = append(out, b.String())
	}
	sort.Strings(out) // steering may reorder packets of different flows
	return out
}

// hopDatagram is one datagram host-b's socket received, with the
// Hop-by-Hop header the kernel passed along (nil if none).
type hopDatagram struct {
	payload []byte
	hbh     []byte
}

// hopListener is a UDP socket in host-b's namespace with IPV6_RECVHOPOPTS:
// the kernel parses and validates each Hop-by-Hop header and hands a copy
// to the socket with the datagram.
type hopListener struct {
	fd   int
	mu   sync.Mutex
	got  []hopDatagram
	stop chan struct{}
	done chan struct{}
}

// listenHopOpts opens the socket on [::]:port inside ns and starts reading.
func listenHopOpts(ns *testbed.Netns, port int) (*hopListener, error) {
	l := &hopListener{fd: -1, stop: make(chan struct{}), done: make(chan struct{})}
	err := ns.Do(func() error {
		fd, err := unix.Socket(unix.AF_INET6, unix.SOCK_DGRAM|unix.SOCK_CLOEXEC, unix.IPPROTO_UDP)
		if err != nil {
			return fmt.Errorf("socket: %w", err)
		}
		l.fd = fd
		for _, o := range []struct{ level, opt, v int }{
			{unix.IPPROTO_IPV6, unix.IPV6_RECVHOPOPTS, 1},
			{unix.SOL_SOCKET, unix.SO_RCVBUFFORCE, 8 << 20},
		} {
			if err := unix.SetsockoptInt(fd, o.level, o.opt, o.v); err != nil {
				return fmt.Errorf("setsockopt %d/%d: %w", o.level, o.opt, err)
			}
		}
		tv := unix.NsecToTimeval(int64(50 * time.Millisecond))
		if err := unix.SetsockoptTimeval(fd, unix.SOL_SOCKET, unix.SO_RCVTIMEO, &tv); err != nil {
			return fmt.Errorf("SO_RCVTIMEO: %w", err)
		}
		return unix.Bind(fd, &unix.SockaddrInet6{Port: port})
	})
	if err != nil {
		if l.fd >= 0 {
			unix.Close(l.fd)
		}
		return nil, fmt.Errorf("host-b listener: %w", err)
	}
	go l.loop()
	return l, nil
}

// loop reads datagrams until close.
func (l *hopListener) loop() {
	defer close(l.done)
	buf := make([]byte, 65536)
	oob := make([]byte, 4096)
	for {
		select {
		case <-l.stop:
			return
		default:
		}
		n, oobn, _, _, err := unix.Recvmsg(l.fd, buf, oob, 0)
		if err != nil {
			continue // timeout (EAGAIN) or EINTR: look at stop again
		}
		d := hopDatagram{payload: bytes.Clone(buf[:n])}
		if msgs, err := unix.ParseSocketControlMessage(oob[:oobn]); err == nil {
			for _, m := range msgs {
				if m.Header.Level == unix.IPPROTO_IPV6 && m.Header.Type == unix.IPV6_HOPOPTS {
					d.hbh = bytes.Clone(m.Data)
				}
			}
		}
		l.mu.Lock()
		l.got = append(l.got, d)
		l.mu.Unlock()
	}
}

// wait returns the datagrams once want have arrived or nothing arrived for
// idle, and closes the socket.
func (l *hopListener) wait(want int, idle time.Duration) []hopDatagram {
	last, lastN := time.Now(), -1
	for {
		l.mu.Lock()
		n := len(l.got)
		l.mu.Unlock()
		if n >= want || time.Since(last) > idle {
			break
		}
		if n != lastN {
			last, lastN = time.Now(), n
		}
		time.Sleep(10 * time.Millisecond)
	}
	l.close()
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.got
}

// close stops reading and closes the socket; it may be called again.
func (l *hopListener) close() {
	select {
	case <-l.stop:
		return
	default:
	}
	close(l.stop)
	<-l.done
	unix.Close(l.fd)
}

// d4ProbeIndexes reads a pcap of Ethernet frames and returns, per packet, its
// index in the route's send order, probe seq × d4Flows + probe flow, taken
// from the probe header of a UDP datagram to d4Port (inside Hop-by-Hop and
// IPv6-in-IPv6 headers); -1 for other packets, -2 for a probe datagram that
// fails its checksum.
func d4ProbeIndexes(t *testing.T, file string) []int {
	t.Helper()
	f, err := os.Open(file)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	r, err := pcapgo.NewReader(f)
	if err != nil {
		t.Fatalf("%s: %v", file, err)
	}
	var ids []int
	for {
		data, _, err := r.ReadPacketData()
		if errors.Is(err, io.EOF) {
			return ids
		}
		if err != nil {
			t.Fatalf("%s: %v", file, err)
		}
		ids = append(ids, d4ProbeIndex(data))
	}
}

// d4ProbeIndex is d4ProbeIndexes for one frame.
func d4ProbeIndex(b []byte) int {
	if len(b) < 14+40 || binary.BigEndian.Uint16(b[12:14]) != 0x86dd {
		return -1
	}
	off, nh := 14+40, b[14+6]
	for {
		switch nh {
		case 0: // Hop-by-Hop
			if len(b) < off+8 {
				return -1
			}
			nh, off = b[off], off+8*(int(b[off+1])+1)
		case 41: // IPv6
			if len(b) < off+40 {
				return -1
			}
			nh, off = b[off+6], off+40
		case 17:
			if len(b) < off+8 || binary.BigEndian.Uint16(b[off+2:off+4]) != d4Port {
				return -1
			}
			flow, seq, err := probe.Verify(b[off+8:])
			if err != nil {
				return -2
			}
			return int(seq)*d4Flows + int(flow)
		default:
			return -1
		}
	}
}
