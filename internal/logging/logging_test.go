package logging

import (
	"bytes"
	"encoding/json"
	"log/slog"
	"net/netip"
	"strings"
	"sync"
	"testing"
	"time"
)

func TestNew(t *testing.T) {
	for _, tc := range []struct {
		format Format
		want   []string
	}{
		{FormatText, []string{"level=WARN", `msg="ring full"`, "port=1", "worker=3", "route=2001:db8::/32"}},
		{FormatJSON, []string{`"level":"WARN"`, `"msg":"ring full"`, `"port":1`, `"worker":3`, `"route":"2001:db8::/32"`}},
		{"bogus", []string{"level=WARN"}},
	} {
		var b bytes.Buffer
		log := New(tc.format, slog.LevelWarn, &b)
		log.Info("not shown")
		log.Warn("ring full", Port(1), Worker(3), Route(netip.MustParsePrefix("2001:db8::/32")))
		out := b.String()
		if strings.Contains(out, "not shown") {
			t.Errorf("%s: info logged at warn level: %s", tc.format, out)
		}
		for _, w := range tc.want {
			if !strings.Contains(out, w) {
				t.Errorf("%s: %q lacks %q", tc.format, out, w)
			}
		}
		if tc.format == FormatJSON {
			var m map[string]any
			if err := json.Unmarshal(b.Bytes(), &m); err != nil {
				t.Errorf("json output %q: %v", out, err)
			}
		}
	}
}

func TestParse(t *testing.T) {
	for _, tc := range []struct {
		in   string
		want Format
		ok   bool
	}{{"", FormatText, true}, {"text", FormatText, true}, {"JSON", FormatJSON, true}, {"xml", "", false}} {
		got, err := ParseFormat(tc.in)
		if got != tc.want || (err == nil) != tc.ok {
			t.Errorf("ParseFormat(%q) = %q, %v", tc.in, got, err)
		}
	}
	for _, tc := range []struct {
		in   string
		want slog.Level
		ok   bool
	}{{"", slog.LevelInfo, true}, {"debug", slog.LevelDebug, true}, {"WARN", slog.LevelWarn, true}, {"error", slog.LevelError, true}, {"loud", 0, false}} {
		got, err := ParseLevel(tc.in)
		if got != tc.want || (err == nil) != tc.ok {
			t.Errorf("ParseLevel(%q) = %v, %v", tc.in, got, err)
		}
	}
}

// fakeClock is a settable clock for Limiter tests.
type fakeClock struct {
	mu sync.Mutex
	t  time.Time
}

func (c *fakeClock) now() time.Time { c.mu.Lock(); defer c.mu.Unlock(); return c.t }
func (c *fakeClock) add(d time.Duration) {
	c.mu.Lock()
	c.t = c.t.Add(d)
	c.mu.Unlock()
}

func newTestLimiter(maxKeys int) (*Limiter, *fakeClock, *bytes.Buffer) {
	var b bytes.Buffer
	clk := &fakeClock{t: time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)}
	l := NewLimiter(New(FormatJSON, slog.LevelDebug, &b), time.Second, maxKeys)
	l.now = clk.now
	return l, clk, &b
}

// lines decodes the JSON lines written so far and resets b.
func lines(t *testing.T, b *bytes.Buffer) []map[string]any {
	t.Helper()
	var out []map[string]any
	for _, ln := range strings.Split(strings.TrimSpace(b.String()), "\n") {
		if ln == "" {
			continue
		}
		var m map[string]any
		if err := json.Unmarshal([]byte(ln), &m); err != nil {
			t.Fatalf("line %q: %v", ln, err)
		}
		out = append(out, m)
	}
	b.Reset()
	return out
}

func TestLimiterWarn(t *testing.T) {
	l, clk, b := newTestLimiter(0)
	for range 5 {
		l.Warn("malformed/1", "malformed packets", Port(1))
		clk.add(100 * time.Millisecond)
	}
	l.Warn("ring/0", "ring full", Worker(0)) // another key is independent
	got := lines(t, b)
	if len(got) != 2 || got[0]["msg"] != "malformed packets" || got[1]["msg"] != "ring full" {
		t.Fatalf("first interval: %v", got)
	}
	if _, ok := got[0][KeySuppressed]; ok {
		t.Errorf("first line has a suppressed count: %v", got[0])
	}

	clk.add(600 * time.Millisecond) // 1.1 s after the first line
	if !l.Warn("malformed/1", "malformed packets", Port(1)) {
		t.Fatal("not logged after the interval")
	}
	got = lines(t, b)
	if len(got) != 1 || got[0][KeySuppressed] != float64(4) || got[0]["level"] != "WARN" || got[0][KeyPort] != float64(1) {
		t.Errorf("second interval: %v", got)
	}

	// A burst that stops is reported by Flush.
	l.Warn("malformed/1", "malformed packets")
	l.Warn("malformed/1", "malformed packets")
	l.Flush()
	got = lines(t, b)
	if len(got) != 1 || got[0]["key"] != "malformed/1" || got[0][KeySuppressed] != float64(2) {
		t.Errorf("flush: %v", got)
	}
	l.Flush()
	if got = lines(t, b); len(got) != 0 {
		t.Errorf("second flush logged %v", got)
	}
}

func TestLimiterMaxKeys(t *testing.T) {
	l, clk, b := newTestLimiter(2)
	for _, k := range []string{"a", "b", "c", "c"} {
		l.Warn(k, "w", "key", k)
	}
	if got := lines(t, b); len(got) != 2 {
		t.Fatalf("logged %d lines with 2 keys max, want 2: %v", len(got), got)
	}
	l.Flush()
	got := lines(t, b)
	if len(got) != 1 || got[0]["key"] != OverflowKey || got[0][KeySuppressed] != float64(2) {
		t.Errorf("overflow flush: %v", got)
	}
	clk.add(2 * time.Second) // a and b idle: c gets a slot
	if !l.Warn("c", "w") {
		t.Error("new key suppressed after idle keys expired")
	}
}

func TestLimiterAllowNoAlloc(t *testing.T) {
	l, _, _ := newTestLimiter(0)
	l.Allow("hot")
	if n := testing.AllocsPerRun(1000, func() { l.Allow("hot") }); n != 0 {
		t.Errorf("Allow allocates %v times per call", n)
	}
}

func TestLimiterConcurrent(t *testing.T) {
	l, _, b := newTestLimiter(0)
	var wg sync.WaitGroup
	for w := range 4 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for range 200 {
				l.Warn("k", "w", Worker(w))
			}
		}()
	}
	wg.Wait()
	l.Flush()
	got := lines(t, b)
	if len(got) != 2 || got[1][KeySuppressed] != float64(799) {
		t.Errorf("800 concurrent warnings in one interval: %v", got)
	}
}
