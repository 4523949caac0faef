package main

import (
	"bytes"
	"context"
	"encoding/binary"
	"errors"
	"net"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/dexplane/dexplane/dataplane/telemetry"
	"github.com/dexplane/dexplane/exporter"
	"github.com/dexplane/dexplane/internal/ipfixtest"
	"github.com/dexplane/dexplane/internal/testutil"
)

// collectRun is a running collectMain.
type collectRun struct {
	addrs          map[string]string
	stdout, stderr *testutil.LockedBuffer
	cancel         func() int
}

// startCollect runs collectMain with args in the background and waits for
// its listeners: addrs maps "udp", "tcp", "tls" (--listen) and "http"
// (--metrics-address) to the address collect logged. t.Cleanup stops it.
func startCollect(t *testing.T, args ...string) *collectRun {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	r := &collectRun{addrs: map[string]string{}, stdout: &testutil.LockedBuffer{}, stderr: &testutil.LockedBuffer{}}
	done := make(chan int, 1)
	go func() { done <- collectMain(ctx, args, r.stdout, r.stderr) }()
	joined := strings.Join(args, " ")
	want := strings.Count(joined, "--listen") + strings.Count(joined, "--metrics-address")
	re := regexp.MustCompile(`(?:listening on (udp|tcp|tls)://|metrics on (http)://)([^/\s]+)`)
	exited := -1
	started := testutil.Within(5*time.Second, func() bool {
		select {
		case exited = <-done:
			return true
		default:
		}
		for _, m := range re.FindAllStringSubmatch(r.stderr.String(), -1) {
			r.addrs[m[1]+m[2]] = m[3]
		}
		return len(r.addrs) >= want
	})
	if exited >= 0 {
		t.Fatalf("collect exited %d: %s", exited, r.stderr)
	}
	if !started {
		cancel()
		t.Fatalf("collect did not start: %s", r.stderr)
	}
	var code = -1
	r.cancel = func() int {
		if code < 0 {
			cancel()
			code = <-done
		}
		return code
	}
	t.Cleanup(func() { r.cancel() })
	return r
}

// waitOutput waits up to 5 s until ok accepts what collect printed, or
// fails t showing stdout and stderr.
func (r *collectRun) waitOutput(t *testing.T, ok func(stdout string) bool) {
	t.Helper()
	if !testutil.Within(5*time.Second, func() bool { return ok(r.stdout.String()) }) {
		t.Fatalf("collect printed:\n%s\nstderr:\n%s", r.stdout, r.stderr)
	}
}

// expect waits until collect printed at least lines lines, stops it and
// fails t unless its output contains each of want.
func (r *collectRun) expect(t *testing.T, lines int, want ...string) {
	t.Helper()
	r.waitOutput(t, func(out string) bool { return strings.Count(out, "\n") >= lines })
	r.stop(t)
	out := r.stdout.String()
	for _, w := range want {
		if !strings.Contains(out, w) {
			t.Errorf("output lacks %q:\n%s", w, out)
		}
	}
}

// dial connects over network to addr, failing t if it cannot; the
// connection is closed when the test ends.
func dial(t *testing.T, network, addr string) net.Conn {
	t.Helper()
	c, err := net.Dial(network, addr)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	return c
}

// stop cancels collect and fails t unless it exited 0.
func (r *collectRun) stop(t *testing.T) {
	t.Helper()
	if code := r.cancel(); code != 0 {
		t.Fatalf("exit %d: %s", code, r.stderr)
	}
}

func TestParseListen(t *testing.T) {
	for _, tc := range []struct {
		in, network, addr string
		ok                bool
	}{
		{"udp://127.0.0.1:4739", "udp", "127.0.0.1:4739", true},
		{"tcp://[::1]:4739", "tcp", "[::1]:4739", true},
		{"tls://[::1]:4739", "tls", "[::1]:4739", true},
		{"udp://:4739", "udp", ":4739", true},
		{"sctp://:4739", "", "", false},
		{"udp://127.0.0.1", "", "", false},
		{"udp://127.0.0.1:4739/x", "", "", false},
		{"127.0.0.1:4739", "", "", false},
		{"udp://u@h:1", "", "", false},
	} {
		n, a, err := parseListen(tc.in)
		if (err == nil) != tc.ok || n != tc.network || a != tc.addr {
			t.Errorf("parseListen(%q) = %q, %q, %v", tc.in, n, a, err)
		}
		if err != nil && !errors.Is(err, errListen) {
			t.Errorf("parseListen(%q) error %v is not errListen", tc.in, err)
		}
	}
}

func FuzzParseListen(f *testing.F) {
	for _, s := range []string{"udp://127.0.0.1:4739", "tcp://[::1]:0", "udp://%zz", "tcp://:"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		n, a, err := parseListen(s)
		if err == nil && (n != "udp" && n != "tcp" && n != "tls" || a == "") {
			t.Fatalf("parseListen(%q) = %q, %q without error", s, n, a)
		}
	})
}

// sendNode encodes recs as observation domain dom and writes them to conn.
func sendNode(t *testing.T, conn net.Conn, dom uint32, recs []telemetry.Record) {
	t.Helper()
	for _, m := range ipfixtest.Encode(t, dom, exporter.FieldsStandard, recs...) {
		if _, err := conn.Write(m); err != nil {
			t.Errorf("write: %v", err)
		}
	}
}

// TestCollectCorrelates sends the records three nodes would export for
// five packets of one flow (node 3 misses one) over UDP and TCP, then
// checks the printed records and the summary.
func TestCollectCorrelates(t *testing.T) {
	col := startCollect(t, "--paths", "2", "--listen", "udp://127.0.0.1:0", "--listen", "tcp://127.0.0.1:0")
	addrs := col.addrs
	base := time.Unix(1700000000, 0)
	node := func(dom uint32, hop uint8, delay time.Duration, skip uint32) []telemetry.Record {
		var recs []telemetry.Record
		for seq := uint32(0); seq < 5; seq++ {
			if seq == skip {
				continue
			}
			ts := base.Add(time.Duration(seq)*time.Millisecond + delay)
			recs = append(recs, telemetry.Record{Namespace: 123, HasFlowID: true, FlowID: 0xABCD, HasSeq: true, Seq: seq,
				TraceType: telemetry.TraceHopLimNodeID | telemetry.TraceTimestampSec | telemetry.TraceTimestampFrac,
				HopLimit:  hop, NodeID: dom, TimestampSec: uint32(ts.Unix()), TimestampFrac: uint32(ts.Nanosecond() / 1000),
				RxTime: ts.UnixNano()})
		}
		return recs
	}
	udp := dial(t, "udp", addrs["udp"])
	tcp := dial(t, "tcp", addrs["tcp"])
	sendNode(t, udp, 1, node(1, 64, 0, 99))
	sendNode(t, tcp, 2, node(2, 63, 150*time.Microsecond, 99))
	sendNode(t, udp, 3, node(3, 62, 400*time.Microsecond, 2))
	tcp.Close()
	col.expect(t, 14,
		"domain=2 from=127.0.0.1:",
		"ns=123 flow=0x0000abcd seq=4",
		"--- 14 record(s), 0 bad message(s), 0 data set(s) without template",
		"flow ns=123 id=0x0000abcd",
		"node 3: received 4, seq 0..4, lost 1, duplicates 0, reordered 0",
		"path 1 > 2 > 3: 4 packet(s); 1>2 delay avg 150µs min 150µs max 150µs; 2>3 delay avg 250µs",
		"path 1 > 2: 1 packet(s)",
		// --paths 2: the first two packets seen (node 1 sends first), each
		// node's timestamp, and the delays the nodes were given above.
		"--- paths of 2 packet(s)\nns 123 flow 0x0000abcd seq 0:\n"+
			"  node 1 (node_id 1) at 22:13:20.000000\n"+
			"  node 2 (node_id 2) at 22:13:20.000150  +150µs\n"+
			"  node 3 (node_id 3) at 22:13:20.000400  +250µs\n"+
			"ns 123 flow 0x0000abcd seq 1:\n  node 1 (node_id 1) at 22:13:20.001000\n",
	)
}

func TestCollectUsage(t *testing.T) {
	var out, errb bytes.Buffer
	if code := collectMain(context.Background(), []string{"--listen", "sctp://x:1"}, &out, &errb); code != 2 {
		t.Fatalf("bad listen: exit %d", code)
	}
	if code := collectMain(context.Background(), []string{"extra"}, &out, &errb); code != 2 {
		t.Fatalf("extra arg: exit %d", code)
	}
}

// TestCollectTemplateWithdrawal: over TCP, where RFC 7011 §8.1 has the
// exporter withdraw templates, a message holding a withdrawal is accepted
// (not counted bad), and data sent after it no longer decodes (#11 item 8:
// the whole message was refused).
func TestCollectTemplateWithdrawal(t *testing.T) {
	col := startCollect(t, "--listen", "tcp://127.0.0.1:0")
	r := telemetry.Record{Namespace: 123, HasFlowID: true, FlowID: 7, HasSeq: true, Seq: 1, TraceType: telemetry.TraceHopLimNodeID, NodeID: 5}
	m := ipfixtest.Encode(t, 5, exporter.FieldsStandard, r)[0]
	tl := int(binary.BigEndian.Uint16(m[18:]))
	hdr, data := m[:16], m[16+tl:]
	frame := func(sets ...[]byte) []byte {
		b := bytes.Clone(hdr)
		for _, s := range sets {
			b = append(b, s...)
		}
		binary.BigEndian.PutUint16(b[2:], uint16(len(b)))
		return b
	}
	// Set ID 2, Length 8 | Template ID (the encoder's), Field Count 0.
	withdrawal := []byte{0, 2, 0, 8, m[20], m[21], 0, 0}
	conn := dial(t, "tcp", col.addrs["tcp"])
	for _, b := range [][]byte{m, frame(withdrawal), frame(data)} {
		if _, err := conn.Write(b); err != nil {
			t.Fatal(err)
		}
	}
	conn.Close()
	col.waitOutput(t, func(out string) bool { return strings.Contains(out, "seq=1") })
	time.Sleep(200 * time.Millisecond) // the rest of the stream
	col.stop(t)
	if want := "--- 1 record(s), 0 bad message(s), 1 data set(s) without template"; !strings.Contains(col.stdout.String(), want) {
		t.Errorf("summary lacks %q:\n%s\nstderr:\n%s", want, col.stdout, col.stderr)
	}
}
