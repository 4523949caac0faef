package exporter_test

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"net"
	"net/netip"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/dexplane/dexplane/collector"
	"github.com/dexplane/dexplane/dataplane/policy"
	"github.com/dexplane/dexplane/dataplane/telemetry"
	"github.com/dexplane/dexplane/exporter"
	"github.com/dexplane/dexplane/exporter/aggregate"
	"github.com/dexplane/dexplane/internal/testutil"
)

// rec returns a record of flow 0x1234 with the given sequence number.
func rec(seq uint32) telemetry.Record {
	r := telemetry.Record{
		RxTime: time.Now().UnixNano(), Role: telemetry.RoleTransit, Namespace: 123,
		TraceType: telemetry.TraceHopLimNodeID | telemetry.TraceTimestampSec | telemetry.TraceTimestampFrac,
		ExtFlags:  0xC0, HasFlowID: true, FlowID: 0x1234, HasSeq: true, Seq: seq,
		NextHeader: 17, SrcPort: 40000, DstPort: 5001, HopLimit: 63, NodeID: 7, EgressPort: 1,
		TimestampSec: 1700000000, TimestampFrac: seq % 1000000,
	}
	r.Src = netip.MustParseAddr("2001:db8::1").As16()
	r.Dst = netip.MustParseAddr("2001:db8::2").As16()
	return r
}

// start runs x in the background; the returned func stops it and reports
// Run's error.
func start(t *testing.T, x *exporter.Exporter) func() {
	t.Helper()
	errc := make(chan error, 1)
	go func() { errc <- x.Run(context.Background()) }()
	time.Sleep(10 * time.Millisecond) // the rate limiter starts empty
	return func() {
		t.Helper()
		x.Stop()
		if err := <-errc; err != nil {
			t.Errorf("Run: %v", err)
		}
	}
}

func push(t *testing.T, q *telemetry.Ring, from, n uint32) {
	t.Helper()
	for i := from; i < from+n; i++ {
		r := rec(i)
		for !q.TryPush(&r) {
			time.Sleep(50 * time.Microsecond)
		}
	}
}

func TestLocalOutputsAndReopen(t *testing.T) {
	dir := t.TempDir()
	txt, js := filepath.Join(dir, "dex.log"), filepath.Join(dir, "dex.json")
	q, _ := telemetry.NewRing(64)
	x, err := exporter.New(exporter.Options{Export: policy.Export{
		RateLimit: policy.RateLimit{RecordsPerSecond: 1e6},
		Outputs:   []policy.LocalOutput{{Format: policy.OutputText, Path: txt}, {Format: policy.OutputJSON, Path: js}},
	}}, []*telemetry.Ring{q})
	if err != nil {
		t.Fatal(err)
	}
	stop := start(t, x)
	time.Sleep(5 * time.Millisecond) // let the bucket fill a little
	push(t, q, 0, 3)
	testutil.Eventually(t, "3 lines", 2*time.Second, func() bool { return x.Counters().Outputs[1].Records == 3 })
	if err := os.Rename(txt, txt+".1"); err != nil {
		t.Fatal(err)
	}
	x.Reopen()
	testutil.Eventually(t, "reopened file", 2*time.Second, func() bool { _, err := os.Stat(txt); return err == nil })
	push(t, q, 3, 1)
	testutil.Eventually(t, "4 lines", 2*time.Second, func() bool { return x.Counters().Outputs[0].Records == 4 })
	stop()

	old, _ := os.ReadFile(txt + ".1")
	cur, _ := os.ReadFile(txt)
	if n := strings.Count(string(old), "\n"); n != 3 || strings.Count(string(cur), "\n") != 1 {
		t.Fatalf("rotated file has %d lines, new file:\n%s", n, cur)
	}
	if !strings.Contains(string(old), " transit ns=123 flow=0x00001234 seq=0 [2001:db8::1]:40000 > [2001:db8::2]:5001 proto=17") {
		t.Errorf("text line: %s", old)
	}
	f, _ := os.Open(js)
	defer f.Close()
	sc := bufio.NewScanner(f)
	n := 0
	for sc.Scan() {
		var m map[string]any
		if err := json.Unmarshal(sc.Bytes(), &m); err != nil {
			t.Fatalf("line %d not JSON: %v: %s", n, err, sc.Bytes())
		}
		if m["role"] != "transit" || m["seq"] != float64(n) || m["node_id"] != float64(7) || m["src"] != "2001:db8::1" {
			t.Errorf("json line %d: %v", n, m)
		}
		n++
	}
	if n != 4 {
		t.Fatalf("%d JSON lines", n)
	}
}

// udpCollector receives and decodes IPFIX datagrams on 127.0.0.1.
type udpCollector struct {
	conn *net.UDPConn
	mu   sync.Mutex
	evs  []collector.Event
	msgs int
	errs []error
	done chan struct{}
	// onAggregate receives aggregate records (set before the first one
	// arrives; called with mu held).
	onAggregate func(rec *aggregate.Record)
}

func listenUDP(t *testing.T, addr string) *udpCollector {
	t.Helper()
	pc, err := net.ListenPacket("udp", addr)
	if err != nil {
		t.Fatal(err)
	}
	c := &udpCollector{conn: pc.(*net.UDPConn), done: make(chan struct{})}
	c.conn.SetReadBuffer(4 << 20)
	go func() {
		defer close(c.done)
		d := collector.NewDecoder()
		buf := make([]byte, 65535)
		for {
			n, src, err := c.conn.ReadFromUDPAddrPort(buf)
			if err != nil {
				return
			}
			c.mu.Lock()
			c.msgs++
			if n > exporter.DefaultMessageSize {
				c.errs = append(c.errs, errors.New("message above the MTU budget"))
			}
			d.OnAggregate = func(_ netip.AddrPort, _ uint32, rec *aggregate.Record) {
				if c.onAggregate != nil {
					c.onAggregate(rec)
				}
			}
			if err := d.Decode(src, buf[:n], func(ev *collector.Event) { c.evs = append(c.evs, *ev) }); err != nil {
				c.errs = append(c.errs, err)
			}
			c.mu.Unlock()
		}
	}()
	t.Cleanup(c.close)
	return c
}

func (c *udpCollector) close() { c.conn.Close(); <-c.done }

func (c *udpCollector) count() int {
	c.mu.Lock()
	defer c.mu.Unlock()
	return len(c.evs)
}

func TestUDPExport(t *testing.T) {
	col := listenUDP(t, "127.0.0.1:0")
	q, _ := telemetry.NewRing(1024)
	x, err := exporter.New(exporter.Options{Export: policy.Export{
		RateLimit:  policy.RateLimit{RecordsPerSecond: 1e6, Burst: 1e6},
		Collectors: []policy.Collector{{Transport: policy.TransportUDP, Address: col.conn.LocalAddr().String(), ObservationDomainID: 5}},
	}}, []*telemetry.Ring{q})
	if err != nil {
		t.Fatal(err)
	}
	stop := start(t, x)
	time.Sleep(20 * time.Millisecond)
	const n = 500
	push(t, q, 0, n)
	testutil.Eventually(t, "500 records", 5*time.Second, func() bool { return col.count() == n })
	stop()
	col.mu.Lock()
	defer col.mu.Unlock()
	if len(col.errs) > 0 {
		t.Fatal(col.errs)
	}
	for i, ev := range col.evs {
		if ev.Record.Seq != uint32(i) || ev.Domain != 5 || ev.Record.NodeID != 7 || ev.Record.SrcPort != 40000 {
			t.Fatalf("event %d: %+v", i, ev)
		}
	}
	c := x.Counters()
	if c.Collectors[0].Records != n || c.Collectors[0].Dropped != 0 || col.msgs < n/20 || col.msgs > n/5 {
		t.Fatalf("counters %+v, %d messages", c.Collectors[0], col.msgs)
	}
	if s := x.Sockets(); len(s) != 1 || !s[0].Local.IsValid() || s[0].Remote.String() != col.conn.LocalAddr().String() {
		t.Fatalf("sockets %+v", s)
	}
}

// pushPaced pushes n records at about rate/s (retrying when the ring is
// full: on a loaded machine the drainer may be descheduled for a while).
func pushPaced(t *testing.T, q *telemetry.Ring, from, n uint32, rate int) {
	t.Helper()
	t0 := time.Now()
	for i := uint32(0); i < n; i++ {
		r := rec(from + i)
		for !q.TryPush(&r) {
			time.Sleep(100 * time.Microsecond)
		}
		if i%100 == 99 {
			if ahead := time.Duration(i+1)*time.Second/time.Duration(rate) - time.Since(t0); ahead > 0 {
				time.Sleep(ahead)
			}
		}
	}
}

func TestCollectorDroppedUDP(t *testing.T) {
	addr := testutil.FreeAddr(t, "udp").String()
	q, _ := telemetry.NewRing(4096)
	x, err := exporter.New(exporter.Options{Export: policy.Export{
		RateLimit: policy.RateLimit{RecordsPerSecond: 1e6, Burst: 1e6},
		Collectors: []policy.Collector{{Transport: policy.TransportUDP, Address: addr, ObservationDomainID: 1,
			TemplateRefresh: time.Second}},
	}}, []*telemetry.Ring{q})
	if err != nil {
		t.Fatal(err)
	}
	stop := start(t, x)
	defer stop()
	pushPaced(t, q, 0, 5000, 50000) // 100 ms with nobody listening
	testutil.Eventually(t, "drained", 2*time.Second, func() bool { return q.Len() == 0 })
	c := x.Counters()
	if c.Offered != 5000 || c.CollectorDropped == 0 || c.Collectors[0].SendErrors == 0 {
		t.Fatalf("while down: %+v %+v", c, c.Collectors[0])
	}
	col := listenUDP(t, addr)
	pushPaced(t, q, 5000, 5000, 20000)
	testutil.Eventually(t, "records after the collector returned", 3*time.Second, func() bool { return col.count() > 0 })
	// once templates are re-sent everything decodes
	pushPaced(t, q, 10000, 2000, 20000)
	defer func() {
		col.mu.Lock()
		defer col.mu.Unlock()
		c := x.Counters()
		t.Logf("received %d events, %d msgs, errs %v; counters %+v %+v", len(col.evs), col.msgs, col.errs, c, c.Collectors[0])
		if len(col.evs) > 0 {
			t.Logf("first %d last %d", col.evs[0].Record.Seq, col.evs[len(col.evs)-1].Record.Seq)
		}
	}()
	testutil.Eventually(t, "records of the last batch", 3*time.Second, func() bool {
		col.mu.Lock()
		defer col.mu.Unlock()
		return len(col.evs) > 0 && col.evs[len(col.evs)-1].Record.Seq >= 10000
	})
}

func TestCollectorDroppedTCP(t *testing.T) {
	addr := testutil.FreeAddr(t, "tcp").String()
	q, _ := telemetry.NewRing(4096)
	x, err := exporter.New(exporter.Options{Export: policy.Export{
		RateLimit:  policy.RateLimit{RecordsPerSecond: 1e6, Burst: 1e6},
		Collectors: []policy.Collector{{Transport: policy.TransportTCP, Address: addr, ObservationDomainID: 3}},
	}, MinBackoff: 10 * time.Millisecond, MaxBackoff: 50 * time.Millisecond}, []*telemetry.Ring{q})
	if err != nil {
		t.Fatal(err)
	}
	stop := start(t, x)
	defer stop()
	pushPaced(t, q, 0, 3000, 50000) // refused: every record dropped, none queued
	testutil.Eventually(t, "drained", 2*time.Second, func() bool { return q.Len() == 0 })
	if c := x.Counters(); c.CollectorDropped != 3000 || c.CollectorBehind != 0 || c.Collectors[0].Up {
		t.Fatalf("while refused (all dropped as down, none as behind): %+v", c)
	}

	l, err := net.Listen("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	type session struct {
		evs  []collector.Event
		seqs []uint32 // message sequence numbers
	}
	sessions := make(chan session, 4)
	accept := func() net.Conn {
		conn, err := l.Accept()
		if err != nil {
			t.Fatal(err)
		}
		return conn
	}
	read := func(conn net.Conn, want int) {
		var s session
		d := collector.NewDecoder()
		buf := make([]byte, collector.MaxMessageSize)
		src := netip.MustParseAddrPort(conn.RemoteAddr().String())
		for len(s.evs) < want {
			conn.SetReadDeadline(time.Now().Add(5 * time.Second))
			m, err := collector.ReadMessage(conn, buf)
			if err != nil {
				t.Errorf("read: %v", err)
				break
			}
			s.seqs = append(s.seqs, uint32(m[8])<<24|uint32(m[9])<<16|uint32(m[10])<<8|uint32(m[11]))
			if err := d.Decode(src, m, func(ev *collector.Event) { s.evs = append(s.evs, *ev) }); err != nil {
				t.Errorf("decode: %v", err)
			}
		}
		sessions <- s
	}
	conn := accept()
	testutil.Eventually(t, "session up", 2*time.Second, func() bool { return x.Counters().Collectors[0].Up })
	go read(conn, 1000)
	pushPaced(t, q, 3000, 1000, 50000)
	s1 := <-sessions
	if len(s1.evs) != 1000 || s1.seqs[0] != 0 || s1.evs[0].Record.Seq != 3000 {
		t.Fatalf("first session: %d events, first message seq %v", len(s1.evs), s1.seqs[:1])
	}
	// Collector restarts: the exporter reconnects, re-sends its templates
	// and restarts the message sequence numbers.
	conn.Close()
	// (the listen backlog completes the new handshake before Accept)
	testutil.Eventually(t, "second session", 2*time.Second, func() bool { return x.Counters().Collectors[0].Connects == 2 })
	conn = accept()
	go read(conn, 500)
	pushPaced(t, q, 4000, 500, 50000)
	s2 := <-sessions
	if len(s2.evs) != 500 || s2.seqs[0] != 0 || s2.evs[499].Record.Seq != 4499 {
		t.Fatalf("second session: %d events, message seqs %v", len(s2.evs), s2.seqs[:1])
	}
	if c := x.Counters().Collectors[0]; c.Connects != 2 {
		t.Fatalf("connects %d", c.Connects)
	}
	// Collector crashes mid-stream: the connection is reset (RST, not
	// FIN). The exporter must notice, reconnect and start a clean session.
	if err := conn.(*net.TCPConn).SetLinger(0); err != nil {
		t.Fatal(err)
	}
	conn.Close()
	testutil.Eventually(t, "third session after a reset", 2*time.Second, func() bool { return x.Counters().Collectors[0].Connects == 3 })
	conn = accept()
	defer conn.Close()
	go read(conn, 200)
	pushPaced(t, q, 5000, 200, 50000)
	s3 := <-sessions
	if len(s3.evs) != 200 || s3.seqs[0] != 0 || s3.evs[0].Record.Seq != 5000 || s3.evs[199].Record.Seq != 5199 {
		t.Fatalf("session after reset: %d events, message seqs %v", len(s3.evs), s3.seqs[:1])
	}
}

// TestSlowCollectorDoesNotStall: a TCP collector that accepts and never
// reads. The drainer must keep emptying the ring (drops counted).
func TestSlowCollectorDoesNotStall(t *testing.T) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	go func() {
		c, err := l.Accept()
		if err == nil {
			defer c.Close()
			time.Sleep(3 * time.Second)
		}
	}()
	q, _ := telemetry.NewRing(8192)
	x, err := exporter.New(exporter.Options{Export: policy.Export{
		RateLimit:  policy.RateLimit{RecordsPerSecond: 1e7, Burst: 1e7},
		Collectors: []policy.Collector{{Transport: policy.TransportTCP, Address: l.Addr().String()}},
	}, QueueDepth: 4, WriteTimeout: 2 * time.Second}, []*telemetry.Ring{q})
	if err != nil {
		t.Fatal(err)
	}
	stop := start(t, x)
	defer stop()
	testutil.Eventually(t, "session up", 2*time.Second, func() bool { return x.Counters().Collectors[0].Up })
	// 100,000 records (~8 MB of IPFIX, far above the socket buffers) while
	// the writer is blocked: the drainer keeps emptying the ring.
	pushPaced(t, q, 0, 100000, 500000)
	testutil.Eventually(t, "drained", time.Second, func() bool { return q.Len() == 0 })
	c := x.Counters()
	if c.Offered != 100000 || c.CollectorDropped == 0 || c.CollectorBehind == 0 || !c.Collectors[0].Up {
		t.Fatalf("want drops counted as writer behind on an established session: %+v %+v", c, c.Collectors[0])
	}
}
