package main

import (
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/dexplane/dexplane/dataplane/telemetry"
	"github.com/dexplane/dexplane/exporter/collect"
	"github.com/dexplane/dexplane/internal/testutil"
)

// startAnalyticsCollect runs collectMain with args in the background and returns
// the address of every "listening on"/"metrics on" line, the output
// buffers and a stop function returning the exit code.
func startAnalyticsCollect(t *testing.T, args ...string) (map[string]string, *testutil.LockedBuffer, *testutil.LockedBuffer, func() int) {
	t.Helper()
	r := startCollect(t, args...)
	return r.addrs, r.stdout, r.stderr, r.cancel
}

// threeNodes returns the records nodes 1, 2 and 3 export for n packets of
// flow 0xABCD: node 2 sees each packet 150 µs after node 1, node 3 250 µs
// after node 2.
func threeNodes(n uint32) [3][]telemetry.Record {
	base := time.Now().Add(-time.Second)
	var out [3][]telemetry.Record
	for i, delay := range []time.Duration{0, 150 * time.Microsecond, 400 * time.Microsecond} {
		for seq := range n {
			ts := base.Add(time.Duration(seq)*time.Millisecond + delay)
			out[i] = append(out[i], telemetry.Record{Namespace: 123, HasFlowID: true, FlowID: 0xABCD, HasSeq: true, Seq: seq,
				TraceType: telemetry.TraceHopLimNodeID | telemetry.TraceTimestampSec | telemetry.TraceTimestampFrac,
				HopLimit:  uint8(64 - i), NodeID: uint32(i + 1), TimestampSec: uint32(ts.Unix()), TimestampFrac: uint32(ts.Nanosecond() / 1000),
				RxTime: ts.UnixNano()})
		}
	}
	return out
}

// TestCollectDelayExport checks --ipfix-out: the segment and path delays of
// the correlated packets arrive at a downstream IPFIX socket as RFC 9951
// delay records, decoded by package collect (goflow2's decoder).
func TestCollectDelayExport(t *testing.T) {
	down, err := net.ListenPacket("udp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer down.Close()
	addrs, _, stderr, stop := startAnalyticsCollect(t, "--quiet", "--listen", "udp://127.0.0.1:0", "--path-timeout", "100ms",
		"--export-interval", "300ms", "--ipfix-out", "udp://"+down.LocalAddr().String(), "--ipfix-out-domain", "77")
	conn, err := net.Dial("udp", addrs["udp"])
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	for dom, recs := range threeNodes(20) {
		sendNode(t, conn, uint32(dom+1), recs)
	}
	dec := collect.NewDecoder()
	got := map[[3]uint32]collect.DelayRecord{}
	var domains []uint32
	dec.OnDelay = func(domain uint32, r *collect.DelayRecord) {
		domains = append(domains, domain)
		k := [3]uint32{r.PathID, r.From, r.To}
		g := got[k]
		g.Packets += r.Packets
		g.SumUs += r.SumUs
		g.MinUs, g.MaxUs, g.Hops = r.MinUs, r.MaxUs, r.Hops
		got[k] = g
	}
	buf := make([]byte, 65535)
	deadline := time.Now().Add(5 * time.Second)
	complete := func() bool {
		n := 0
		for _, g := range got {
			if g.Packets == 20 {
				n++
			}
		}
		return n >= 4
	}
	for !complete() && time.Now().Before(deadline) {
		down.SetReadDeadline(time.Now().Add(500 * time.Millisecond))
		n, src, err := down.(*net.UDPConn).ReadFromUDPAddrPort(buf)
		if err != nil {
			continue
		}
		if err := dec.Decode(src, buf[:n], func(*collect.Event) { t.Error("a per-packet record on --ipfix-out") }); err != nil {
			t.Fatal(err)
		}
	}
	if code := stop(); code != 0 {
		t.Fatalf("exit %d: %s", code, stderr.String())
	}
	pid := collect.PathID([]collect.PathHop{{Domain: 1}, {Domain: 2}, {Domain: 3}})
	want := map[[3]uint32]collect.DelayRecord{
		{0, 1, 2}:   {Packets: 20, SumUs: 20 * 150, MinUs: 150, MaxUs: 150, Hops: 2},
		{0, 2, 3}:   {Packets: 20, SumUs: 20 * 250, MinUs: 250, MaxUs: 250, Hops: 2},
		{pid, 1, 2}: {Packets: 20, SumUs: 20 * 150, MinUs: 150, MaxUs: 150, Hops: 3},
		{pid, 1, 3}: {Packets: 20, SumUs: 20 * 400, MinUs: 400, MaxUs: 400, Hops: 3},
	}
	for k, w := range want {
		if g := got[k]; g != w {
			t.Errorf("%v: got %+v, want %+v", k, g, w)
		}
	}
	if len(got) != len(want) || dec.BadRecords != 0 || len(domains) == 0 || domains[0] != 77 {
		t.Fatalf("records %v, bad %d, domains %v", got, dec.BadRecords, domains)
	}
}

// TestCollectPrometheus has Debian's Prometheus (2.42) scrape `collect
// --metrics-address` and answers PromQL: the mean delay of segment 2→3 and
// the packets node 3 lost.
func TestCollectPrometheus(t *testing.T) {
	prom, err := exec.LookPath("prometheus")
	if err != nil {
		t.Skip("prometheus not installed (Debian package prometheus; scripts/install-deps.sh installs it)")
	}
	addrs, _, stderr, stop := startAnalyticsCollect(t, "--quiet", "--listen", "udp://127.0.0.1:0", "--path-timeout", "100ms",
		"--metrics-address", "127.0.0.1:0")
	conn, err := net.Dial("udp", addrs["udp"])
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	nodes := threeNodes(50)
	nodes[2] = append(nodes[2][:10], nodes[2][12:]...) // node 3 misses seq 10 and 11
	for dom, recs := range nodes {
		sendNode(t, conn, uint32(dom+1), recs)
	}

	dir := t.TempDir()
	cfg := fmt.Sprintf("global: {scrape_interval: 1s}\nscrape_configs:\n  - job_name: dexplane-collect\n    static_configs: [{targets: ['%s']}]\n", addrs["http"])
	if err := os.WriteFile(filepath.Join(dir, "prometheus.yml"), []byte(cfg), 0o644); err != nil {
		t.Fatal(err)
	}
	web := testutil.FreeTCPAddr(t)
	var log testutil.LockedBuffer
	cmd := exec.Command(prom, "--config.file="+filepath.Join(dir, "prometheus.yml"), "--storage.tsdb.path="+filepath.Join(dir, "data"),
		"--web.listen-address="+web)
	cmd.Stdout, cmd.Stderr = &log, &log
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	var waitOnce sync.Once
	wait := func() { waitOnce.Do(func() { cmd.Process.Kill(); cmd.Wait() }) }
	t.Cleanup(wait)

	query := func(q string) (float64, bool) {
		resp, err := http.Get("http://" + web + "/api/v1/query?query=" + url.QueryEscape(q))
		if err != nil {
			return 0, false
		}
		defer resp.Body.Close()
		body, _ := io.ReadAll(resp.Body)
		var r struct {
			Status string `json:"status"`
			Data   struct {
				Result []struct {
					Value [2]any `json:"value"`
				} `json:"result"`
			} `json:"data"`
		}
		if json.Unmarshal(body, &r) != nil || r.Status != "success" || len(r.Data.Result) != 1 {
			return 0, false
		}
		s, _ := r.Data.Result[0].Value[1].(string)
		v, err := strconv.ParseFloat(s, 64)
		return v, err == nil
	}
	const meanQ = `dexplane_collect_segment_delay_seconds_sum{namespace="123",from="2",to="3"} / dexplane_collect_segment_delay_seconds_count{namespace="123",from="2",to="3"}`
	const lostQ = `dexplane_collect_node_lost_packets{node="3",namespace="123"}`
	var mean, lost float64
	var ok1, ok2 bool
	if !testutil.Within(30*time.Second, func() bool {
		mean, ok1 = query(meanQ)
		lost, ok2 = query(lostQ)
		return ok1 && ok2 && lost == 2
	}) {
		t.Fatalf("prometheus never answered (mean %v %v, lost %v %v)\nprometheus log:\n%s\ncollect:\n%s", mean, ok1, lost, ok2, log.String(), stderr.String())
	}
	if mean < 249e-6 || mean > 251e-6 {
		t.Errorf("PromQL mean delay of segment 2→3 = %v s, want 250 µs", mean)
	}
	// the histogram places the 250 µs samples in one bucket: the median is
	// inside that bucket's bounds (1 µs × 2.5^k: 244 µs .. 610 µs)
	p50, ok := query(`histogram_quantile(0.5, sum by (le) (dexplane_collect_segment_delay_seconds_bucket{from="2",to="3"}))`)
	if !ok || p50 < 244e-6 || p50 > 611e-6 {
		t.Errorf("PromQL median of segment 2→3 = %v (%v)", p50, ok)
	}
	// every expression of the domain dashboard is valid PromQL for this
	// Prometheus and returns data for the segments and nodes above
	raw, err := os.ReadFile(filepath.Join("..", "..", "deploy", "grafana-domain-dashboard.json"))
	if err != nil {
		t.Fatal(err)
	}
	var dash struct {
		Panels []struct {
			Title   string `json:"title"`
			Targets []struct {
				Expr string `json:"expr"`
			} `json:"targets"`
		} `json:"panels"`
	}
	if err := json.Unmarshal(raw, &dash); err != nil {
		t.Fatal(err)
	}
	vars := strings.NewReplacer("$namespace", ".*", "$instance", ".*", "$from", ".*", "$to", ".*", "$__rate_interval", "1m")
	exprs := 0
	for _, p := range dash.Panels {
		for _, tg := range p.Targets {
			q := vars.Replace(tg.Expr)
			resp, err := http.Get("http://" + web + "/api/v1/query?query=" + url.QueryEscape(q))
			if err != nil {
				t.Fatal(err)
			}
			body, _ := io.ReadAll(resp.Body)
			resp.Body.Close()
			if !strings.Contains(string(body), `"status":"success"`) {
				t.Errorf("dashboard panel %q: %s: %s", p.Title, q, body)
			}
			exprs++
		}
	}
	wait()
	if code := stop(); code != 0 {
		t.Fatalf("exit %d: %s", code, stderr.String())
	}
	t.Logf("Prometheus 2.42 accepted the domain dashboard's %d expressions", exprs)
	t.Logf("Prometheus 2.42: segment 2→3 mean delay %.1f µs, median bucket ≤ %.0f µs; node 3 lost %v packets", mean*1e6, p50*1e6, lost)
}
