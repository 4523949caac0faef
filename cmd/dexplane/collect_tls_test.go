package main

import (
	"bufio"
	"bytes"
	"context"
	"crypto/tls"
	"fmt"
	"io"
	"net"
	"net/netip"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/dexplane/dexplane/collector"
	"github.com/dexplane/dexplane/dataplane/policy"
	"github.com/dexplane/dexplane/dataplane/telemetry"
	"github.com/dexplane/dexplane/exporter"
	"github.com/dexplane/dexplane/internal/testpki"
	"github.com/dexplane/dexplane/internal/testutil"
)

// pki is the set of certificates of the TLS tests: a good CA that signs
// the collector and the good and expired exporters, and a second CA the
// collector does not trust.
type pki struct {
	dir                   string
	ca, otherCA           *testpki.CA
	srvCert, srvKey       string
	goodCert, goodKey     string
	expiredCert, expKey   string
	wrongCACert, wrongKey string
}

func newPKI(t *testing.T) *pki {
	dir := t.TempDir()
	p := &pki{dir: dir, ca: testpki.NewCA(t, dir, "ca"), otherCA: testpki.NewCA(t, dir, "other-ca")}
	p.srvCert, p.srvKey = p.ca.Issue(t, dir, testpki.Leaf{Name: "collector", Server: true})
	p.goodCert, p.goodKey = p.ca.Issue(t, dir, testpki.Leaf{Name: "exporter"})
	p.expiredCert, p.expKey = p.ca.Issue(t, dir, testpki.Leaf{Name: "expired", Expired: true})
	p.wrongCACert, p.wrongKey = p.otherCA.Issue(t, dir, testpki.Leaf{Name: "stranger"})
	return p
}

// records returns how many records of observation domain dom (one flow)
// the latest summary of collect counted (run it with --interval).
func (r *collectRun) records(dom uint32) int {
	re := regexp.MustCompile(fmt.Sprintf(`(?m)^\s*node %d: received (\d+),`, dom))
	n := 0
	for _, m := range re.FindAllStringSubmatch(r.stdout.String(), -1) {
		v, _ := strconv.Atoi(m[1])
		n = max(n, v)
	}
	return n
}

// testExporter is a real Exporter fed through its ring.
type testExporter struct {
	x    *exporter.Exporter
	ring *telemetry.Ring
	errc chan error
}

func startExporter(t *testing.T, c policy.Collector) *testExporter {
	t.Helper()
	ring, _ := telemetry.NewRing(8192)
	x, err := exporter.New(exporter.Options{Export: policy.Export{
		RateLimit:  policy.RateLimit{RecordsPerSecond: 1e7},
		Collectors: []policy.Collector{c},
	}, MinBackoff: 50 * time.Millisecond, MaxBackoff: 2 * time.Second}, []*telemetry.Ring{ring})
	if err != nil {
		t.Fatal(err)
	}
	e := &testExporter{x: x, ring: ring, errc: make(chan error, 1)}
	go func() { e.errc <- x.Run(context.Background()) }()
	t.Cleanup(e.stop)
	return e
}

func (e *testExporter) stop() {
	if e.x != nil {
		e.x.Stop()
		<-e.errc
		e.x = nil
	}
}

func (e *testExporter) counters() exporter.CollectorCounters { return e.x.Counters().Collectors[0] }

// push offers n records of one flow (sequence numbers from seq0), in
// chunks the writer can keep up with.
func (e *testExporter) push(t *testing.T, seq0, n int) {
	t.Helper()
	for i := range n {
		if i%50 == 0 {
			deadline := time.Now().Add(5 * time.Second)
			for c := e.counters(); (e.ring.Len() > 0 || c.Up && c.Records+c.Dropped < uint64(seq0+i)) && time.Now().Before(deadline); c = e.counters() {
				time.Sleep(time.Millisecond)
			}
		}
		r := telemetry.Record{Namespace: 123, HasFlowID: true, FlowID: 0xBEEF, HasSeq: true, Seq: uint32(seq0 + i),
			TraceType: telemetry.TraceHopLimNodeID, HopLimit: 64, NodeID: 9, RxTime: time.Now().UnixNano()}
		for !e.ring.TryPush(&r) {
			time.Sleep(time.Millisecond)
		}
	}
}

func tlsArgs(p *pki, clientCA string) []string {
	return []string{"--tls-cert", p.srvCert, "--tls-key", p.srvKey, "--tls-client-ca", clientCA}
}

// TestCollectTLSCountsEqualTCP sends the same records through IPFIX over
// TLS and over TCP from real exporters to one collect and checks that
// both arrive complete.
func TestCollectTLSCountsEqualTCP(t *testing.T) {
	p := newPKI(t)
	col := startCollect(t, append([]string{"--quiet", "--interval", "100ms", "--listen", "tls://127.0.0.1:0", "--listen", "tcp://127.0.0.1:0"}, tlsArgs(p, p.ca.File)...)...)
	const n = 3000
	viaTLS := startExporter(t, policy.Collector{Transport: policy.TransportTLS, Address: col.addrs["tls"], ObservationDomainID: 7,
		TLS: policy.TLSFiles{CA: p.ca.File, Cert: p.goodCert, Key: p.goodKey, ServerName: "collector"}})
	viaTCP := startExporter(t, policy.Collector{Transport: policy.TransportTCP, Address: col.addrs["tcp"], ObservationDomainID: 8})
	for _, e := range []*testExporter{viaTLS, viaTCP} {
		testutil.Eventually(t, "session up", 5*time.Second, func() bool { return e.counters().Up })
		e.push(t, 0, n)
	}
	testutil.Eventually(t, "records at collect", 20*time.Second, func() bool { return col.records(7) >= n && col.records(8) >= n })
	time.Sleep(300 * time.Millisecond) // anything beyond n would show now
	tlsN, tcpN := col.records(7), col.records(8)
	if tlsN != n || tcpN != n {
		t.Errorf("collect received %d records over TLS and %d over TCP, want %d each", tlsN, tcpN, n)
	}
	c := viaTLS.counters()
	if c.Records != n || c.Dropped != 0 || c.TLSErrors != 0 || c.Connects != 1 {
		t.Errorf("TLS exporter counters %+v", c)
	}
	viaTLS.stop()
	viaTCP.stop()
	if code := col.cancel(); code != 0 {
		t.Fatalf("collect exit %d: %s", code, col.stderr)
	}
	if out := col.stdout.String(); !strings.Contains(out, fmt.Sprintf("--- %d record(s), 0 bad message(s)", 2*n)) {
		t.Errorf("final summary lacks %d records: %s", 2*n, out[max(0, len(out)-600):])
	}
}

// TestCollectTLSRefusesBadCertificates points exporters with an expired
// certificate and one from an unknown CA, and a client without any, at a
// TLS collect: none gets a record through, the exporters keep draining
// their rings (forwarding never waits for export) and retry with backoff.
func TestCollectTLSRefusesBadCertificates(t *testing.T) {
	p := newPKI(t)
	col := startCollect(t, append([]string{"--quiet", "--interval", "100ms", "--listen", "tls://127.0.0.1:0"}, tlsArgs(p, p.ca.File)...)...)
	for i, tc := range []struct{ name, ca, cert, key, serverName string }{
		{"expired", p.ca.File, p.expiredCert, p.expKey, ""},
		{"wrong CA", p.ca.File, p.wrongCACert, p.wrongKey, ""},
		// The exporter refuses the collector: its CA is not the one that
		// signed the collector, or the name does not match.
		{"untrusted collector", p.otherCA.File, p.goodCert, p.goodKey, ""},
		{"wrong server name", p.ca.File, p.goodCert, p.goodKey, "elsewhere.example"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			dom := uint32(20 + i)
			e := startExporter(t, policy.Collector{Transport: policy.TransportTLS, Address: col.addrs["tls"], ObservationDomainID: dom,
				TLS: policy.TLSFiles{CA: tc.ca, Cert: tc.cert, Key: tc.key, ServerName: tc.serverName}})
			start := time.Now()
			const n = 2000
			e.push(t, 0, n)
			testutil.Eventually(t, "ring drained", 5*time.Second, func() bool { return e.ring.Len() == 0 })
			testutil.Eventually(t, "three refusals", 10*time.Second, func() bool { return e.counters().TLSErrors >= 3 })
			for time.Since(start) < 1500*time.Millisecond {
				time.Sleep(50 * time.Millisecond)
			}
			x := e.x
			elapsed := time.Since(start)
			e.stop()
			c := x.Counters().Collectors[0]
			if got := col.records(dom); got != 0 {
				t.Errorf("collect accepted %d records from a certificate it must refuse", got)
			}
			if x := x.Counters(); x.Offered != n || x.Exported+x.RateLimited != n || c.Records+c.Dropped != x.Exported {
				t.Errorf("records neither sent nor counted as dropped: %+v", x)
			}
			// 50 ms doubling to 2 s: at most ~log2(elapsed/50ms)+1 attempts;
			// without backoff there would be one every 50 ms.
			if limit := uint64(elapsed/(50*time.Millisecond)) / 3; c.TLSErrors > limit {
				t.Errorf("%d refused sessions in %v: no backoff", c.TLSErrors, elapsed)
			}
		})
	}
	t.Run("none", func(t *testing.T) {
		conn, err := tls.Dial("tcp", col.addrs["tls"], &tls.Config{ServerName: "collector", RootCAs: p.ca.Pool()})
		if err == nil {
			// TLS 1.3: the refusal arrives after the client's handshake.
			conn.SetReadDeadline(time.Now().Add(5 * time.Second))
			_, err = conn.Read(make([]byte, 1))
			conn.Close()
		}
		if err == nil || !strings.Contains(err.Error(), "certificate required") {
			t.Errorf("a client without certificate got %v, want the collector's certificate_required alert", err)
		}
	})
	testutil.Eventually(t, "refusals logged", 5*time.Second, func() bool {
		return strings.Count(col.stderr.String(), "session from") >= 5
	})
}

// TestCollectTLSReloadOnSIGHUP rotates certificates on both sides without
// a restart. Collect: it trusts only the other CA, so the exporter is
// refused; after the client CA file is replaced and SIGHUP is sent, the
// exporter's next attempt gets through. Exporter: its files hold a
// certificate of the untrusted CA, so it is refused; after they are
// replaced and the exporter reopened (what SIGHUP does in dexplane run),
// its next attempt gets through. A broken file keeps the previous one.
func TestCollectTLSReloadOnSIGHUP(t *testing.T) {
	p := newPKI(t)
	clientCA := filepath.Join(p.dir, "client-ca.pem")
	copyFile(t, p.otherCA.File, clientCA)
	col := startCollect(t, append([]string{"--quiet", "--interval", "100ms", "--listen", "tls://127.0.0.1:0"}, tlsArgs(p, clientCA)...)...)
	feedUntil := func(e *testExporter, dom uint32) {
		t.Helper()
		seq := 0
		testutil.Eventually(t, fmt.Sprintf("records of domain %d", dom), 15*time.Second, func() bool {
			e.push(t, seq, 10)
			seq += 10
			return col.records(dom) > 0
		})
	}

	a := startExporter(t, policy.Collector{Transport: policy.TransportTLS, Address: col.addrs["tls"], ObservationDomainID: 30,
		TLS: policy.TLSFiles{CA: p.ca.File, Cert: p.goodCert, Key: p.goodKey}})
	testutil.Eventually(t, "refusal by the collect", 5*time.Second, func() bool { return a.counters().TLSErrors >= 1 })
	copyFile(t, p.ca.File, clientCA)
	if err := syscall.Kill(os.Getpid(), syscall.SIGHUP); err != nil {
		t.Fatal(err)
	}
	testutil.Eventually(t, "collect reload", 5*time.Second, func() bool { return strings.Contains(col.stderr.String(), "certificates reloaded") })
	feedUntil(a, 30)
	a.stop()

	cert, key := filepath.Join(p.dir, "mine.crt"), filepath.Join(p.dir, "mine.key")
	copyFile(t, p.wrongCACert, cert)
	copyFile(t, p.wrongKey, key)
	b := startExporter(t, policy.Collector{Transport: policy.TransportTLS, Address: col.addrs["tls"], ObservationDomainID: 31,
		TLS: policy.TLSFiles{CA: p.ca.File, Cert: cert, Key: key}})
	testutil.Eventually(t, "refusal of the exporter's certificate", 5*time.Second, func() bool { return b.counters().TLSErrors >= 1 })
	copyFile(t, p.goodCert, cert)
	copyFile(t, p.goodKey, key)
	if err := b.x.Reopen(); err != nil {
		t.Fatal(err)
	}
	feedUntil(b, 31)

	os.WriteFile(key, []byte("garbage"), 0o600)
	if err := b.x.Reopen(); err == nil || !strings.Contains(err.Error(), key) {
		t.Errorf("Reopen with a broken key file: %v, want an error naming %s", err, key)
	}
}

func copyFile(t *testing.T, from, to string) {
	t.Helper()
	b, err := os.ReadFile(from)
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(to+".tmp", b, 0o600); err != nil {
		t.Fatal(err)
	}
	if err := os.Rename(to+".tmp", to); err != nil {
		t.Fatal(err)
	}
}

// startOpenSSL starts openssl with args and stops it (by PID) at cleanup.
func startOpenSSL(t *testing.T, stdin io.Reader, args ...string) (*exec.Cmd, *testutil.LockedBuffer, *testutil.LockedBuffer) {
	t.Helper()
	path := testutil.NeedTool(t, "openssl", "scripts/install-deps.sh installs it")
	var stdout, stderr testutil.LockedBuffer
	cmd := exec.Command(path, args...)
	cmd.Stdin, cmd.Stdout, cmd.Stderr = stdin, &stdout, &stderr
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		cmd.Process.Kill()
		if c, ok := stdin.(io.Closer); ok {
			c.Close() // else Wait waits for the stdin copier
		}
		cmd.Wait()
	})
	return cmd, &stdout, &stderr
}

// countIPFIX decodes a byte stream of IPFIX messages and counts the data
// records of observation domain dom.
func countIPFIX(t *testing.T, b []byte, dom uint32) int {
	t.Helper()
	dec := collector.NewDecoder()
	r := bufio.NewReader(bytes.NewReader(b))
	buf := make([]byte, collector.MaxMessageSize)
	n := 0
	for {
		m, err := collector.ReadMessage(r, buf)
		if err != nil {
			return n
		}
		if err := dec.Decode(netip.AddrPort{}, m, func(ev *collector.Event) {
			if ev.Domain == dom {
				n++
			}
		}); err != nil {
			t.Errorf("decode: %v", err)
		}
	}
}

// TestExporterTLSToOpenSSL uses openssl s_server, requiring a client
// certificate, as an independent TLS collector: once restricted to TLS
// 1.3 and once to TLS 1.2, every record the exporter sent arrives; with a
// certificate of an unknown CA none does.
func TestExporterTLSToOpenSSL(t *testing.T) {
	p := newPKI(t)
	for _, tc := range []struct {
		name, version, cert, key string
		want                     int
	}{
		{"TLS1.3", "-tls1_3", p.goodCert, p.goodKey, 500},
		{"TLS1.2", "-tls1_2", p.goodCert, p.goodKey, 500},
		{"wrong CA", "-tls1_3", p.wrongCACert, p.wrongKey, 0},
	} {
		t.Run(tc.name, func(t *testing.T) {
			addr := testutil.FreeAddr(t, "tcp").String()
			// s_server ends a session when its stdin ends: give it one that
			// stays open.
			stdin, keep := io.Pipe()
			defer keep.Close()
			_, out, errb := startOpenSSL(t, stdin, "s_server", "-accept", addr, tc.version, "-quiet",
				"-cert", p.srvCert, "-key", p.srvKey, "-CAfile", p.ca.File, "-Verify", "1", "-verify_return_error")
			e := startExporter(t, policy.Collector{Transport: policy.TransportTLS, Address: addr, ObservationDomainID: 41,
				TLS: policy.TLSFiles{CA: p.ca.File, Cert: tc.cert, Key: tc.key, ServerName: "collector"}})
			if tc.want == 0 {
				testutil.Eventually(t, "refusal", 10*time.Second, func() bool { return e.counters().TLSErrors >= 2 })
				e.push(t, 0, 100)
			} else {
				testutil.Eventually(t, "session up", 10*time.Second, func() bool { return e.counters().Up })
				e.push(t, 0, tc.want)
				testutil.Eventually(t, "records sent", 10*time.Second, func() bool { return e.counters().Records == uint64(tc.want) })
				testutil.Eventually(t, "records at s_server", 10*time.Second, func() bool { return countIPFIX(t, []byte(out.String()), 41) >= tc.want })
			}
			time.Sleep(200 * time.Millisecond)
			if c := e.counters(); tc.want > 0 && (c.Connects != 1 || c.TLSErrors != 0) {
				t.Errorf("exporter counters %+v, want one session", c)
			}
			if got := countIPFIX(t, []byte(out.String()), 41); got != tc.want {
				t.Errorf("s_server received %d records, want %d; s_server said: %s", got, tc.want, errb)
			}
		})
	}
}

// TestCollectTLSFromOpenSSL uses openssl s_client as an independent TLS
// exporter: with the good certificate (TLS 1.3 and 1.2) collect counts
// every record of the IPFIX stream it sends; without a certificate none.
func TestCollectTLSFromOpenSSL(t *testing.T) {
	p := newPKI(t)
	col := startCollect(t, append([]string{"--quiet", "--interval", "100ms", "--listen", "tls://127.0.0.1:0"}, tlsArgs(p, p.ca.File)...)...)
	for i, tc := range []struct {
		name string
		args []string
		want int
	}{
		{"TLS1.3", []string{"-tls1_3", "-cert", p.goodCert, "-key", p.goodKey}, 300},
		{"TLS1.2", []string{"-tls1_2", "-cert", p.goodCert, "-key", p.goodKey}, 300},
		{"no certificate", nil, 0},
		{"expired", []string{"-cert", p.expiredCert, "-key", p.expKey}, 0},
	} {
		t.Run(tc.name, func(t *testing.T) {
			dom := uint32(50 + i)
			var stream bytes.Buffer
			recs := make([]telemetry.Record, 300)
			for j := range recs {
				recs[j] = telemetry.Record{Namespace: 123, HasFlowID: true, FlowID: 0xF00D, HasSeq: true, Seq: uint32(j),
					TraceType: telemetry.TraceHopLimNodeID, HopLimit: 64, NodeID: dom}
			}
			sendNode(t, writerConn{&stream}, dom, recs)
			// s_client sends stdin, then closes the session at EOF.
			pr, pw := io.Pipe()
			cmd, _, errb := startOpenSSL(t, pr, append([]string{"s_client", "-connect", col.addrs["tls"], "-brief",
				"-servername", "collector", "-CAfile", p.ca.File}, tc.args...)...)
			go func() {
				pw.Write(stream.Bytes())
				time.Sleep(500 * time.Millisecond) // let a refusal arrive before EOF
				pw.Close()
			}()
			done := make(chan error, 1)
			go func() { done <- cmd.Wait() }()
			select {
			case <-done:
			case <-time.After(10 * time.Second):
				t.Fatalf("s_client did not finish: %s", errb)
			}
			if tc.want > 0 {
				testutil.Eventually(t, "records at collect", 10*time.Second, func() bool { return col.records(dom) >= tc.want })
			}
			time.Sleep(300 * time.Millisecond)
			if got := col.records(dom); got != tc.want {
				t.Errorf("collect counted %d records, want %d; s_client said: %s", got, tc.want, errb)
			}
		})
	}
}

// writerConn adapts a buffer to the net.Conn sendNode writes to.
type writerConn struct{ w io.Writer }

func (c writerConn) Write(b []byte) (int, error)    { return c.w.Write(b) }
func (writerConn) Read([]byte) (int, error)         { return 0, io.EOF }
func (writerConn) Close() error                     { return nil }
func (writerConn) LocalAddr() net.Addr              { return nil }
func (writerConn) RemoteAddr() net.Addr             { return nil }
func (writerConn) SetDeadline(time.Time) error      { return nil }
func (writerConn) SetReadDeadline(time.Time) error  { return nil }
func (writerConn) SetWriteDeadline(time.Time) error { return nil }
