package main

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/dexplane/dexplane/dataplane/xsk"
	"github.com/dexplane/dexplane/internal/metrics"
	"github.com/dexplane/dexplane/internal/metrics/metricstest"
)

// fakeNode returns a collector over fake sources (two workers, exporter,
// config) and its engine.
func fakeNode() (*metrics.Scraper, *metricstest.Engine) {
	c := metrics.NewScraper()
	e := metricstest.NewEngine(2)
	c.SetEngine(e)
	c.SetExporter(metricstest.ExporterCounters)
	var r metrics.Reloads
	r.Loaded(4)
	r.Failed()
	c.SetConfig(r.State)
	return c, e
}

// row returns the fields of the first line of out whose first field is
// key, after the line containing header.
func row(t *testing.T, out, header, key string) []string {
	t.Helper()
	i := strings.Index(out, header)
	if i < 0 {
		t.Fatalf("no %q in output:\n%s", header, out)
	}
	for _, line := range strings.Split(out[i:], "\n")[1:] {
		f := strings.Fields(line)
		if len(f) > 0 && f[0] == key {
			return f
		}
	}
	t.Fatalf("no row %q under %q in output:\n%s", key, header, out)
	return nil
}

// metricsServer serves c's metrics (the node's /metrics and /stats
// handler) until the test ends.
func metricsServer(t *testing.T, c *metrics.Scraper) *httptest.Server {
	t.Helper()
	reg, err := metrics.NewRegistry(c)
	if err != nil {
		t.Fatal(err)
	}
	srv := httptest.NewServer(metrics.NewHandler(c, reg))
	t.Cleanup(srv.Close)
	return srv
}

func TestStatsOnce(t *testing.T) {
	c, e := fakeNode()
	srv := metricsServer(t, c)

	var out, errb bytes.Buffer
	if code := stats(context.Background(), []string{"--url", srv.URL}, &out, &errb); code != 0 {
		t.Fatalf("exit %d: %s", code, errb.String())
	}
	s := out.String()
	if strings.Contains(s, clearScreen) {
		t.Error("once mode cleared the screen")
	}

	for p := range 2 {
		pc := &e.C.Ports[p].Worker
		f := row(t, s, "PORT", fmt.Sprint(p))
		want := []string{fmt.Sprint(p), fmt.Sprint(pc[xsk.CtrRxFrames]), "-", fmt.Sprint(pc[xsk.CtrRxBytes]),
			fmt.Sprint(pc[xsk.CtrTxFrames]), "-", fmt.Sprint(pc[xsk.CtrTxBytes])}
		if strings.Join(f[:len(want)], " ") != strings.Join(want, " ") {
			t.Errorf("port %d row %v, want prefix %v", p, f, want)
		}
	}

	var ins, seen, removed, fwd uint64
	for i, h := range e.Handlers {
		n := h.(*metricstest.Worker).Counters()
		ins += n.DEXInserted.Load()
		seen += n.DEXSeen.Load()
		removed += n.DEXRemoved.Load()
		fwd += n.Forwarded.Load()
		f := row(t, s, "WORKER", fmt.Sprint(i))
		if f[1] != fmt.Sprint(n.Forwarded.Load()) || f[3] != fmt.Sprint(n.DEXInserted.Load()) ||
			f[4] != fmt.Sprint(n.DEXSeen.Load()) || f[5] != fmt.Sprint(n.DEXRemoved.Load()) ||
			f[10] != fmt.Sprintf("%d/8", i+1) {
			t.Errorf("worker %d row %v", i, f)
		}
	}
	f := row(t, s, "WORKER", "all")
	if want := []string{"all", fmt.Sprint(fwd)}; f[0] != want[0] || f[1] != want[1] ||
		f[3] != fmt.Sprint(ins) || f[4] != fmt.Sprint(seen) || f[5] != fmt.Sprint(removed) {
		t.Errorf("total row %v, want forwarded %d inserted %d seen %d removed %d", f, fwd, ins, seen, removed)
	}

	x := metricstest.ExporterCounters()
	for _, want := range []string{
		fmt.Sprintf("offered %d  exported %d  rate limit %d/s", x.Offered, x.Exported, x.RateLimit),
		fmt.Sprintf("rate_limited=%d", x.RateLimited),
		fmt.Sprintf("socket_rx_ring_full=%d", e.C.Ports[0].Socket.RxRingFull),
		"config generation 4, reload failures 1",
	} {
		if !strings.Contains(s, want) {
			t.Errorf("output lacks %q:\n%s", want, s)
		}
	}
	col := row(t, s, "COLLECTOR/OUTPUT", "udp")
	if col[1] != x.Collectors[0].Address || col[2] != "up" || col[3] != fmt.Sprint(x.Collectors[0].Records) {
		t.Errorf("collector row %v", col)
	}
}

func TestStatsWatchRates(t *testing.T) {
	c, e := fakeNode()
	base := time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)
	var mu sync.Mutex
	k := 0
	// Each request: 2 s later, 5000 more frames received on port 0 and
	// 3000 more sent on port 1.
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
		mu.Lock()
		defer mu.Unlock()
		s := c.Snapshot()
		s.Time = base.Add(time.Duration(k) * 2 * time.Second)
		k++
		e.C.Ports[0].Worker[xsk.CtrRxFrames] += 10000
		e.C.Ports[1].Worker[xsk.CtrTxFrames] += 6000
		json.NewEncoder(w).Encode(s)
	}))
	defer srv.Close()

	var out, errb bytes.Buffer
	args := []string{"--url", srv.URL + "/stats", "--watch", "5ms", "-n", "2"}
	if code := stats(context.Background(), args, &out, &errb); code != 0 {
		t.Fatalf("exit %d: %s", code, errb.String())
	}
	frames := strings.Split(out.String(), clearScreen)
	if len(frames) != 3 || frames[0] != "" {
		t.Fatalf("want 2 screens, got %d:\n%q", len(frames)-1, out.String())
	}
	if f := row(t, frames[1], "PORT", "0"); f[2] != "-" {
		t.Errorf("first screen rx pps %q, want -", f[2])
	}
	if f := row(t, frames[2], "PORT", "0"); f[2] != "5000" {
		t.Errorf("second screen port 0 rx pps %q, want 5000 (row %v)", f[2], f)
	}
	if f := row(t, frames[2], "PORT", "1"); f[5] != "3000" || f[2] != "0" {
		t.Errorf("second screen port 1 rx/tx pps %q/%q, want 0/3000 (row %v)", f[2], f[5], f)
	}
}

func TestStatsJSON(t *testing.T) {
	c, _ := fakeNode()
	srv := metricsServer(t, c)
	addr := strings.TrimPrefix(srv.URL, "http://")

	var out, errb bytes.Buffer
	if code := stats(context.Background(), []string{"--addr", addr, "--json", "--watch", "1ms", "-n", "2"}, &out, &errb); code != 0 {
		t.Fatalf("exit %d: %s", code, errb.String())
	}
	lines := strings.Split(strings.TrimSpace(out.String()), "\n")
	if len(lines) != 2 {
		t.Fatalf("want 2 JSON lines, got %d:\n%s", len(lines), out.String())
	}
	var s metrics.Stats
	if err := json.Unmarshal([]byte(lines[1]), &s); err != nil {
		t.Fatal(err)
	}
	if s.Export == nil || s.Export.Exported != metricstest.ExporterCounters().Exported || len(s.Workers) != 2 {
		t.Errorf("decoded %+v", s)
	}
}

func TestStatsErrors(t *testing.T) {
	dead := httptest.NewServer(http.NotFoundHandler())
	deadURL := dead.URL
	dead.Close()
	notStats := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) { fmt.Fprintln(w, "hello") }))
	defer notStats.Close()

	for _, tc := range []struct {
		args []string
		code int
		msg  string
	}{
		{[]string{"--url", deadURL}, 1, "metrics_address"},
		{[]string{"--url", notStats.URL}, 1, "not a dexplane stats snapshot"},
		{[]string{"--url", "ftp://x"}, 2, "want http"},
		{[]string{"--addr", ""}, 2, "empty --addr"},
		{[]string{"extra"}, 2, "usage"},
		{[]string{"--watch", "-1s"}, 2, "usage"},
	} {
		var out, errb bytes.Buffer
		if code := stats(context.Background(), tc.args, &out, &errb); code != tc.code || !strings.Contains(errb.String(), tc.msg) {
			t.Errorf("%v: exit %d, stderr %q; want %d and %q", tc.args, code, errb.String(), tc.code, tc.msg)
		}
	}
}

func TestStatsURL(t *testing.T) {
	for _, tc := range []struct{ addr, url, want string }{
		{"[::1]:9102", "", "http://[::1]:9102/stats"},
		{"x", "http://h:1", "http://h:1/stats"},
		{"x", "http://h:1/", "http://h:1/stats"},
		{"x", "https://h/custom/stats", "https://h/custom/stats"},
	} {
		if got, err := statsURL(tc.addr, tc.url); err != nil || got != tc.want {
			t.Errorf("statsURL(%q, %q) = %q, %v; want %q", tc.addr, tc.url, got, err, tc.want)
		}
	}
}
