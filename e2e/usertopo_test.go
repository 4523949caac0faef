package e2e

// TestUserTopology is the proof of issue 11 ("correct wherever it is
// plugged in"): a topology built the way a user builds one, with `ip`
// commands only and kernel defaults everywhere (TX checksum offload and
// TSO on, DAD and ND on, link-local addresses, no static neighbours, no XDP
// program on any neighbour):
//
//	host-a ── [e1 encap] ── router ── [tr transit] ── [dc decap] ── host-b
//	2001:db8:a::a        2001:db8:a::1 | 2001:db8:b::1            2001:db8:b::b, ::c
//
// Each dexplane node is a `dexplane run` process with a minimal
// configuration and the default attach_mode. Kernel TCP (8 MiB each way,
// checked by SHA-256), kernel UDP both ways, ping, and a tenant's own
// ip6ip6 tunnel between the hosts must arrive intact; the DEX records of
// the UDP stream to 2001:db8:b::c follow the kernel's k/n rule, and goflow2
// decodes the same number of records from every node.

import (
	"bytes"
	"crypto/rand"
	"crypto/sha256"
	"encoding/binary"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"golang.org/x/sys/unix"

	"github.com/dexplane/dexplane/internal/testbed"
	"github.com/dexplane/dexplane/internal/testutil"
)

// Route of the k/n check: UDP to host-b's second address.
const (
	utK, utN   = 3, 7
	utUDPCount = 700
	utTCPBytes = 8 << 20
	utMetrics  = "[::1]:9102"
	utIPFIX    = "[::1]:4739"
)

type userTopo struct {
	ha, e1, rt, tr, dc, hb *testbed.Netns
}

// buildUserTopo builds the topology with plain `ip` commands.
func buildUserTopo(t *testing.T) *userTopo {
	t.Helper()
	u := &userTopo{
		ha: testbed.NewNetns(t, "ha"), e1: testbed.NewNetns(t, "e1"), rt: testbed.NewNetns(t, "rt"),
		tr: testbed.NewNetns(t, "tr"), dc: testbed.NewNetns(t, "dc"), hb: testbed.NewNetns(t, "hb"),
	}
	ip := func(n *testbed.Netns, args ...string) {
		t.Helper()
		if err := n.IP(args...); err != nil {
			t.Fatal(err)
		}
	}
	link := func(a *testbed.Netns, an string, b *testbed.Netns, bn string) {
		t.Helper()
		ip(a, "link", "add", an, "type", "veth", "peer", "name", bn, "netns", b.Name)
		ip(a, "link", "set", an, "up")
		ip(b, "link", "set", bn, "up")
	}
	link(u.ha, "eth0", u.e1, "west")
	link(u.e1, "east", u.rt, "eth0")
	link(u.rt, "eth1", u.tr, "west")
	link(u.tr, "east", u.dc, "west")
	link(u.dc, "east", u.hb, "eth0")
	ip(u.ha, "addr", "add", "2001:db8:a::a/64", "dev", "eth0")
	ip(u.ha, "route", "add", "default", "via", "2001:db8:a::1")
	ip(u.rt, "addr", "add", "2001:db8:a::1/64", "dev", "eth0")
	ip(u.rt, "addr", "add", "2001:db8:b::1/64", "dev", "eth1")
	u.rt.MustRun(t, "sysctl", "-qw", "net.ipv6.conf.all.forwarding=1")
	// The decap node has no address: its tunnel endpoint is reached
	// through host-b's link, like any tunnel endpoint behind a router.
	ip(u.rt, "route", "add", "2001:db8:ffff::4/128", "via", "2001:db8:b::b")
	ip(u.hb, "addr", "add", "2001:db8:b::b/64", "dev", "eth0")
	ip(u.hb, "addr", "add", "2001:db8:b::c/64", "dev", "eth0")
	ip(u.hb, "route", "add", "default", "via", "2001:db8:b::1")
	return u
}

// utConfigs returns the minimal configurations of e1, tr and dc.
func utConfigs(mode, steer, dir string) [3]string {
	if mode == "encap" {
		mode += " tundst 2001:db8:ffff::4"
	}
	encap := func(dst string, k, n int) string {
		return fmt.Sprintf(`"%s/128 encap ioam6 freq %d/%d mode %s dex ns 123 trace-type 0x800000 ext-flags 0xc0"`, dst, k, n, mode)
	}
	route, routeC := encap("2001:db8:b::b", 1, 2), encap("2001:db8:b::c", utK, utN)
	common := func(name string) string {
		return fmt.Sprintf(`export:
  collectors: [{address: "%s"}]
  outputs: [{format: json, path: %s}]
  rate_limit: {records_per_second: 1000000, capacity_fraction: 1}
dataplane: {steer: %s, metrics_address: "%s"}
`, utIPFIX, filepath.Join(dir, name+".json"), steer, utMetrics)
	}
	// The nodes differ in identity, in which port faces the outside and in
	// their role's lines.
	node := func(id, west, east, role, name string) string {
		return fmt.Sprintf(`node: %s
ports:
  - {name: west, domain: %s}
  - {name: east, domain: %s}
namespaces: [{id: 123}]
%s`, id, west, east, role) + common(name)
	}
	return [3]string{
		node(`{id: 1, address: "2001:db8:ffff::1"}`, "outside", "inside",
			"routes:\n  - "+route+"\n  - "+routeC+"\noptions: {packet_too_big: true}\n", "e1"),
		node("{id: 2}", "inside", "inside", "", "tr"),
		node("{id: 3}", "inside", "outside", `decap: {endpoints: ["2001:db8:ffff::4"]}`+"\n", "dc"),
	}
}

func TestUserTopology(t *testing.T) {
	testbed.SkipIfNotRoot(t)
	for _, tool := range []string{"go", "ping"} {
		testutil.NeedTool(t, tool, "scripts/install-deps.sh")
	}
	gf := testutil.GoBin(t, "goflow2", "run scripts/install-deps.sh")
	bin := testutil.BuildDexplane(t)
	for _, steer := range []string{"all", "sampled"} {
		for _, mode := range []string{"inline", "encap"} {
			t.Run(steer+"/"+mode, func(t *testing.T) { runUserTopo(t, bin, gf, steer, mode) })
		}
	}
}

func runUserTopo(t *testing.T, bin, gf, steer, mode string) {
	u := buildUserTopo(t)
	dir := t.TempDir()
	cfgs := utConfigs(mode, steer, dir)
	nodes := []*testbed.Netns{u.e1, u.tr, u.dc}
	names := []string{"e1", "tr", "dc"}
	var gfOut [3]string
	var rcvbufErrs [3]uint64 // each collector's namespace, before it starts
	for i, n := range nodes {
		rcvbufErrs[i] = n.Snmp6(t)["Udp6RcvbufErrors"]
		gfOut[i] = filepath.Join(dir, names[i]+".goflow2")
		testutil.StartCmd(t, n.Command(gf, "-listen", "netflow://"+utIPFIX+"?count=1&workers=1", "-produce", "raw", "-format", "json",
			"-transport", "file", "-transport.file", gfOut[i], "-addr", ""))
	}
	var dex [3]*dexNode
	for i, n := range nodes {
		dex[i] = startDexNode(t, bin, n, testutil.WriteFile(t, filepath.Join(dir, names[i]+".yaml"), []byte(cfgs[i])))
	}
	for _, d := range dex {
		if err := d.waitForwarding(30 * time.Second); err != nil {
			t.Fatal(err)
		}
	}
	// Kernel defaults: DAD runs on the hosts' and router's addresses.
	testbed.WaitDAD(t, u.ha, u.rt, u.hb)
	lossBefore := utPathLoss(t, bin, u)

	t.Run("ping", func(t *testing.T) {
		for _, c := range []struct {
			from *testbed.Netns
			to   string
		}{{u.ha, "2001:db8:b::b"}, {u.hb, "2001:db8:a::a"}} {
			if out, err := c.from.Run("ping", "-6", "-c", "5", "-i", "0.2", "-W", "2", c.to); err != nil || !strings.Contains(out, " 0% packet loss") {
				t.Errorf("ping %s from %s: %v\n%s", c.to, c.from.Node, err, out)
			}
		}
	})
	t.Run("tcp", func(t *testing.T) {
		utTCP(t, u.ha, u.hb, "2001:db8:b::b")
		utTCP(t, u.hb, u.ha, "2001:db8:a::a")
	})
	t.Run("udp", func(t *testing.T) {
		if got := utUDP(t, u.ha, u.hb, "2001:db8:b::c", utUDPCount); got != utUDPCount {
			t.Errorf("UDP host-a → host-b: %d of %d datagrams arrived intact", got, utUDPCount)
		}
		if got := utUDP(t, u.hb, u.ha, "2001:db8:a::a", 200); got != 200 {
			t.Errorf("UDP host-b → host-a: %d of 200 datagrams arrived intact", got)
		}
	})
	t.Run("tenant-ip6ip6", func(t *testing.T) {
		// A tenant's own IPv6-in-IPv6 tunnel between the hosts; its outer
		// destination matches e1's route to host-b. With the kernel's
		// ip6_tunnel the hosts run `ip -6 tunnel`; a kernel without it
		// (CONFIG_IPV6_TUNNEL unset) gets the same packets from a raw
		// socket (protocol 41), and host-b checks the inner packet arrives
		// byte for byte.
		if err := u.ha.IP("-6", "tunnel", "add", "tnl0", "mode", "ip6ip6", "local", "2001:db8:a::a", "remote", "2001:db8:b::b"); err != nil {
			t.Logf("no kernel ip6ip6 tunnel (%v): the tenant sends from a raw socket", err)
			utTenantRaw(t, u.ha, u.hb, 100)
			return
		}
		for _, c := range []struct {
			n                  *testbed.Netns
			local, remote, adr string
		}{{u.ha, "", "", "2001:db8:77::a/64"}, {u.hb, "2001:db8:b::b", "2001:db8:a::a", "2001:db8:77::b/64"}} {
			var cmds [][]string
			if c.local != "" {
				cmds = append(cmds, []string{"-6", "tunnel", "add", "tnl0", "mode", "ip6ip6", "local", c.local, "remote", c.remote})
			}
			cmds = append(cmds, []string{"link", "set", "tnl0", "up"}, []string{"-6", "addr", "add", c.adr, "dev", "tnl0"})
			for _, args := range cmds {
				if err := c.n.IP(args...); err != nil {
					t.Fatal(err)
				}
			}
		}
		testbed.WaitDAD(t, u.ha, u.hb)
		if out, err := u.ha.Run("ping", "-6", "-c", "5", "-i", "0.2", "-W", "2", "2001:db8:77::b"); err != nil || !strings.Contains(out, " 0% packet loss") {
			t.Errorf("ping through the tenant's tunnel: %v\n%s", err, out)
		}
		if got := utUDP(t, u.ha, u.hb, "2001:db8:77::b", 100); got != 100 {
			t.Errorf("UDP through the tenant's tunnel: %d of 100 datagrams arrived intact", got)
		}
	})

	// What was counted lost on the path from e1 to dc while the traffic
	// ran, read before the nodes stop (see utPathLoss).
	lossAfter := utPathLoss(t, bin, u)
	var lost uint64
	var moved []string
	for name, v := range lossAfter {
		if d := v - lossBefore[name]; d > 0 {
			lost += d
			moved = append(moved, fmt.Sprintf("%s +%d", name, d))
		}
	}
	slices.Sort(moved)

	// Stop the nodes: they flush their outputs.
	for _, d := range dex {
		if err := d.stop(); err != nil {
			t.Error(err)
		}
	}
	var recs [3][]map[string]any
	for i, name := range names {
		recs[i] = readJSONRecords(t, filepath.Join(dir, name+".json"))
	}
	toC := func(rs []map[string]any) (n int) {
		for _, r := range rs {
			if fmt.Sprint(r["dst"]) == "2001:db8:b::c" && fmt.Sprint(r["proto"]) == "17" {
				n++
			}
		}
		return n
	}
	want := utK*(utUDPCount/utN) + min(utUDPCount%utN, utK)
	for i, name := range names {
		if got := toC(recs[i]); got != want {
			t.Logf("%s records by role/dst/proto: %v", name, utHistogram(recs[i]))
			t.Errorf("%s exported %d records of the UDP stream to 2001:db8:b::c, want %d (first %d of every %d of %d datagrams)",
				name, got, want, utK, utN, utUDPCount)
		}
	}
	// Every DEX packet is exported once by each node it reaches; a node
	// may export fewer than the one before it only by frames counted lost.
	switch short := len(recs[0]) - len(recs[2]); {
	case len(recs[0]) == 0 || len(recs[1]) > len(recs[0]) || len(recs[2]) > len(recs[1]):
		t.Errorf("records: e1 %d, tr %d, dc %d; every DEX packet should be exported once by each node", len(recs[0]), len(recs[1]), len(recs[2]))
	case uint64(short) > lost:
		t.Errorf("records: e1 %d, tr %d, dc %d: %d short, but only %d frames or records were counted lost on the path %v",
			len(recs[0]), len(recs[1]), len(recs[2]), short, lost, moved)
	case short > 0:
		t.Logf("records: e1 %d, tr %d, dc %d: %d short, within the %d frames or records counted lost on the path %v",
			len(recs[0]), len(recs[1]), len(recs[2]), short, lost, moved)
	}
	for i, name := range names {
		var got, perMsg int
		testutil.Within(10*time.Second, func() bool { got, perMsg = goflow2Records(t, gfOut[i]); return got >= len(recs[i]) })
		if got == len(recs[i]) {
			continue
		}
		// UDP export to a collector that cannot keep up loses datagrams in
		// the collector's socket buffer, where dexplane cannot see them;
		// the kernel counts them. Only such a loss, proven by the counter,
		// excuses a shortfall, and only as many records as the lost
		// datagrams can have held (seen under -race on 2 CPUs).
		overflows := nodes[i].Snmp6(t)["Udp6RcvbufErrors"] - rcvbufErrs[i]
		if missing := len(recs[i]) - got; missing > 0 && uint64(missing) <= overflows*uint64(perMsg) {
			t.Logf("goflow2 decoded %d of %s's %d records: its socket buffer overflowed %d times (Udp6RcvbufErrors), at most %d records a message",
				got, name, len(recs[i]), overflows, perMsg)
			continue
		}
		t.Errorf("goflow2 decoded %d records from %s, want %d (the node's own output; %d socket buffer overflows)", got, name, len(recs[i]), overflows)
	}
	t.Logf("records per node: %d (k/n stream: %d); frames or records counted lost: %d", len(recs[0]), want, lost)
}

// utTCP sends utTCPBytes of random data over a kernel TCP connection from
// src to dst (listening in dstNS) and checks length and SHA-256.
func utTCP(t *testing.T, src, dstNS *testbed.Netns, dst string) {
	t.Helper()
	var ln net.Listener
	if err := dstNS.Do(func() (err error) { ln, err = net.Listen("tcp6", "[::]:7000"); return }); err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	type result struct {
		n   int64
		sum [32]byte
		err error
	}
	done := make(chan result, 1)
	go func() {
		c, err := ln.Accept()
		if err != nil {
			done <- result{err: err}
			return
		}
		defer c.Close()
		_ = c.SetDeadline(time.Now().Add(60 * time.Second))
		h := sha256.New()
		n, err := io.Copy(h, c)
		var r result
		r.n, r.err = n, err
		copy(r.sum[:], h.Sum(nil))
		done <- r
	}()
	data := make([]byte, utTCPBytes)
	_, _ = rand.Read(data)
	var c net.Conn
	if err := src.Do(func() (err error) { c, err = net.DialTimeout("tcp6", "["+dst+"]:7000", 10*time.Second); return }); err != nil {
		t.Fatalf("TCP %s → %s: connect: %v", src.Node, dst, err)
	}
	_ = c.SetDeadline(time.Now().Add(60 * time.Second))
	if _, err := c.Write(data); err != nil {
		t.Errorf("TCP %s → %s: write: %v", src.Node, dst, err)
	}
	c.Close()
	r := <-done
	if r.err != nil || r.n != utTCPBytes || r.sum != sha256.Sum256(data) {
		t.Errorf("TCP %s → %s: received %d of %d bytes (err %v), hash match %v", src.Node, dst, r.n, utTCPBytes, r.err, r.sum == sha256.Sum256(data))
	}
}

// utUDP sends count datagrams (each carrying its index and a check
// pattern) from src to dst:5001, received in dstNS, and returns how many
// distinct intact ones arrived.
func utUDP(t *testing.T, src, dstNS *testbed.Netns, dst string, count int) int {
	t.Helper()
	var rc *net.UDPConn
	if err := dstNS.Do(func() (err error) {
		rc, err = net.ListenUDP("udp6", &net.UDPAddr{Port: 5001})
		return
	}); err != nil {
		t.Fatal(err)
	}
	defer rc.Close()
	var (
		mu   sync.Mutex
		seen = map[int]bool{}
	)
	go func() {
		buf := make([]byte, 2048)
		for {
			n, err := rc.Read(buf)
			if err != nil {
				return
			}
			var i int
			if _, err := fmt.Sscanf(string(buf[:n]), "dgram %d ", &i); err == nil && bytes.Equal(buf[:n], utPayload(i)) {
				mu.Lock()
				seen[i] = true
				mu.Unlock()
			}
		}
	}()
	var sc *net.UDPConn
	if err := src.Do(func() (err error) {
		sc, err = net.DialUDP("udp6", nil, &net.UDPAddr{IP: net.ParseIP(dst), Port: 5001})
		return
	}); err != nil {
		t.Fatal(err)
	}
	defer sc.Close()
	for i := range count {
		if _, err := sc.Write(utPayload(i)); err != nil {
			t.Errorf("UDP write %d: %v", i, err)
		}
		if i%20 == 19 {
			time.Sleep(10 * time.Millisecond)
		}
	}
	testutil.Within(5*time.Second, func() bool {
		mu.Lock()
		defer mu.Unlock()
		return len(seen) == count
	})
	time.Sleep(200 * time.Millisecond)
	mu.Lock()
	defer mu.Unlock()
	return len(seen)
}

// utPayload is datagram i: its index and a pattern up to 300 octets.
func utPayload(i int) []byte {
	b := []byte(fmt.Sprintf("dgram %d ", i))
	for len(b) < 300 {
		b = append(b, byte(len(b)*31+i))
	}
	return b
}

// goflow2Records counts the data records in a goflow2 JSON output file.
func goflow2Records(t *testing.T, file string) (records, perMessage int) {
	t.Helper()
	for _, l := range testutil.Lines(file) {
		var m struct {
			Message struct {
				FlowSets []struct {
					ID      uint16            `json:"id"`
					Records []json.RawMessage `json:"records"`
				} `json:"flow-sets"`
			} `json:"message"`
		}
		if json.Unmarshal([]byte(l), &m) != nil {
			continue
		}
		n := 0
		for _, s := range m.Message.FlowSets {
			if s.ID >= 256 {
				n += len(s.Records)
			}
		}
		records, perMessage = records+n, max(perMessage, n)
	}
	return records, perMessage
}

// utHistogram counts records by role, destination and protocol (for
// failure messages).
func utHistogram(rs []map[string]any) map[string]int {
	h := map[string]int{}
	for _, r := range rs {
		h[fmt.Sprintf("%v %v %v", r["role"], r["dst"], r["proto"])]++
	}
	return h
}

// utTenantRaw sends count IPv6-in-IPv6 packets from a raw socket on src
// to host-b (2001:db8:b::b) and checks that a raw protocol-41 socket on
// dstNS receives each inner packet byte for byte.
func utTenantRaw(t *testing.T, src, dstNS *testbed.Netns, count int) {
	t.Helper()
	var rfd, sfd int
	if err := dstNS.Do(func() (err error) { rfd, err = unix.Socket(unix.AF_INET6, unix.SOCK_RAW, unix.IPPROTO_IPV6); return }); err != nil {
		t.Fatal(err)
	}
	defer unix.Close(rfd)
	// Each packet may take up to 2 s on a loaded machine (CI runs packages
	// side by side); it must still arrive, byte for byte.
	_ = unix.SetsockoptTimeval(rfd, unix.SOL_SOCKET, unix.SO_RCVTIMEO, &unix.Timeval{Sec: 2})
	if err := src.Do(func() (err error) { sfd, err = unix.Socket(unix.AF_INET6, unix.SOCK_RAW, unix.IPPROTO_IPV6); return }); err != nil {
		t.Fatal(err)
	}
	defer unix.Close(sfd)
	inner := func(i int) []byte {
		p := utPayload(i)[:100]
		b := make([]byte, 40+8+len(p))
		b[0] = 0x60
		binary.BigEndian.PutUint16(b[4:], uint16(8+len(p)))
		b[6], b[7] = 17, 64
		copy(b[8:], net.ParseIP("2001:db8:77::a"))
		copy(b[24:], net.ParseIP("2001:db8:77::b"))
		binary.BigEndian.PutUint16(b[40:], 40000)
		binary.BigEndian.PutUint16(b[42:], 5001)
		binary.BigEndian.PutUint16(b[44:], uint16(8+len(p)))
		copy(b[48:], p)
		return b
	}
	to := &unix.SockaddrInet6{}
	copy(to.Addr[:], net.ParseIP("2001:db8:b::b"))
	got := map[int]bool{}
	buf := make([]byte, 2048)
	for i := range count {
		want := inner(i)
		if err := unix.Sendto(sfd, want, 0, to); err != nil {
			t.Fatalf("raw send %d: %v", i, err)
		}
		for {
			n, _, err := unix.Recvfrom(rfd, buf, 0)
			if err == unix.EINTR {
				// The Go runtime's preemption signal (SIGURG) interrupts
				// a blocking recvfrom; that is no timeout, wait on.
				continue
			}
			if err != nil {
				break
			}
			if bytes.Equal(buf[:n], want) {
				got[i] = true
				break
			}
		}
	}
	if len(got) != count {
		var missing []int
		for i := range count {
			if !got[i] {
				missing = append(missing, i)
			}
		}
		t.Errorf("tenant ip6ip6: %d of %d inner packets arrived at host-b byte for byte; missing %v", len(got), count, missing)
	}
}

// utPathLoss returns, by name, the counters of what can be lost between e1
// exporting a DEX packet's record and dc exporting its own: the nodes'
// port drops other than their handlers' deliberate ones (a full AF_XDP
// ring, a refused redirect, a device drop), tr's and dc's export drops
// (their record ring, rate limit, encoder, local output), the kernel's
// rx/tx_dropped on every interface of e1, rt, tr and dc, rt's IPv6
// discards, and the machine's backlog drops (softnet_stat, not per
// namespace). Callers subtract two readings.
func utPathLoss(t *testing.T, bin string, u *userTopo) map[string]uint64 {
	t.Helper()
	m := map[string]uint64{}
	for _, n := range []*testbed.Netns{u.e1, u.tr, u.dc} {
		st := nodeStats(t, bin, n, utMetrics)
		for p, ps := range st.Ports {
			for reason, v := range ps.Drops {
				if reason != "handler" {
					m[fmt.Sprintf("%s/port%d/%s", n.Node, p, reason)] = v
				}
			}
		}
		if st.Export != nil && n != u.e1 {
			for _, reason := range []string{"ring_full", "rate_limited", "encode_error", "output"} {
				m[n.Node+"/export/"+reason] = st.Export.Drops[reason]
			}
		}
	}
	for _, n := range []*testbed.Netns{u.e1, u.rt, u.tr, u.dc} {
		out := n.MustRun(t, "sh", "-c", "for f in /sys/class/net/*/statistics/[rt]x_dropped; do echo $f $(cat $f); done")
		for _, line := range strings.Split(strings.TrimSpace(out), "\n") {
			f := strings.Fields(line)
			if len(f) != 2 {
				t.Fatalf("%s interface drop counters: %q", n.Node, line)
			}
			v, err := strconv.ParseUint(f[1], 10, 64)
			if err != nil {
				t.Fatalf("%s interface drop counters: %q: %v", n.Node, line, err)
			}
			m[n.Node+strings.TrimPrefix(f[0], "/sys/class/net")] = v
		}
	}
	for name, v := range u.rt.Snmp6(t) {
		if name == "Ip6InDiscards" || name == "Ip6OutDiscards" {
			m["rt/"+name] = v
		}
	}
	out := u.rt.MustRun(t, "cat", "/proc/net/softnet_stat")
	for _, line := range strings.Split(strings.TrimSpace(out), "\n") {
		if f := strings.Fields(line); len(f) > 1 {
			v, err := strconv.ParseUint(f[1], 16, 64)
			if err != nil {
				t.Fatalf("softnet_stat: %q: %v", line, err)
			}
			m["softnet/dropped"] += v
		}
	}
	return m
}
