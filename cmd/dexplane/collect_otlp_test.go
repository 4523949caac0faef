package main

import (
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/dexplane/dexplane/collector"
	"github.com/dexplane/dexplane/internal/testutil"
)

// otelcolBinary returns the OpenTelemetry Collector built from e2e/otelcol
// (otelcol v0.165.0 with the v1.71.0 modules: OTLP receiver, OTLP/HTTP
// exporter), building it into GOPATH/bin when it is not there yet
// (scripts/install-deps.sh builds it too). The binary's name carries the
// first 12 hex digits of the SHA-256 of main.go, go.mod and go.sum in that
// order, as install-deps.sh names it, so a fresh clone (new mtimes) reuses
// it and a changed source gets a new one.
func otelcolBinary(t *testing.T) string {
	t.Helper()
	gopath, err := exec.Command("go", "env", "GOPATH").Output()
	if err != nil {
		t.Fatal(err)
	}
	src := filepath.Join("..", "..", "e2e", "otelcol")
	h := sha256.New()
	for _, f := range []string{"main.go", "go.mod", "go.sum"} {
		b, err := os.ReadFile(filepath.Join(src, f))
		if err != nil {
			t.Fatal(err)
		}
		h.Write(b)
	}
	bin := filepath.Join(strings.TrimSpace(string(gopath)), "bin", "otelcol-dexplane-test-"+hex.EncodeToString(h.Sum(nil))[:12])
	if _, err := os.Stat(bin); err == nil {
		return bin
	}
	if testing.Short() {
		t.Skipf("-short: the OpenTelemetry Collector %s is not built (scripts/install-deps.sh builds it)", bin)
	}
	t.Logf("building the OpenTelemetry Collector from e2e/otelcol into %s (minutes the first time)", bin)
	cmd := exec.Command("go", "build", "-o", bin, ".")
	cmd.Dir = src
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("build the OpenTelemetry Collector (e2e/otelcol): %v\n%s", err, out)
	}
	return bin
}

// otlpSpan is a span as the collector's OTLP/HTTP exporter writes it (JSON).
type otlpSpan struct {
	TraceID      string `json:"traceId"`
	SpanID       string `json:"spanId"`
	ParentSpanID string `json:"parentSpanId"`
	Name         string `json:"name"`
	Start        string `json:"startTimeUnixNano"`
	End          string `json:"endTimeUnixNano"`
	Attributes   []struct {
		Key   string `json:"key"`
		Value struct {
			Int string `json:"intValue"`
		} `json:"value"`
	} `json:"attributes"`
}

func (s *otlpSpan) attr(k string) string {
	for _, a := range s.Attributes {
		if a.Key == k {
			return a.Value.Int
		}
	}
	return ""
}

func (s *otlpSpan) duration() int64 {
	a, _ := strconv.ParseInt(s.Start, 10, 64)
	b, _ := strconv.ParseInt(s.End, 10, 64)
	return b - a
}

// TestCollectOTLP sends the correlated paths of `collect --otlp` through a
// real OpenTelemetry Collector (OTLP receiver → OTLP/HTTP exporter, JSON)
// to this test, and checks every trace: the trace id derived from the
// packet, a root span and one span per hop under it, and the hop delays.
func TestCollectOTLP(t *testing.T) {
	bin := otelcolBinary(t)
	// the collector's exporter delivers here
	var mu sync.Mutex
	var spans []otlpSpan
	sink := &http.Server{Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		body, _ := io.ReadAll(r.Body)
		var req struct {
			ResourceSpans []struct {
				ScopeSpans []struct {
					Spans []otlpSpan `json:"spans"`
				} `json:"scopeSpans"`
			} `json:"resourceSpans"`
		}
		if r.URL.Path != "/v1/traces" || json.Unmarshal(body, &req) != nil {
			w.WriteHeader(http.StatusBadRequest)
			return
		}
		mu.Lock()
		for _, rs := range req.ResourceSpans {
			for _, ss := range rs.ScopeSpans {
				spans = append(spans, ss.Spans...)
			}
		}
		mu.Unlock()
		w.Header().Set("Content-Type", "application/json")
		w.Write([]byte("{}"))
	})}
	sl, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	go sink.Serve(sl)
	defer sink.Close()

	recv := testutil.FreeAddr(t, "tcp").String()
	dir := t.TempDir()
	cfg := fmt.Sprintf(`receivers:
  otlp:
    protocols:
      http:
        endpoint: %s
exporters:
  otlphttp:
    endpoint: http://%s
    encoding: json
    compression: none
service:
  telemetry:
    metrics:
      level: none
  pipelines:
    traces:
      receivers: [otlp]
      exporters: [otlphttp]
`, recv, sl.Addr())
	if err := os.WriteFile(filepath.Join(dir, "otelcol.yaml"), []byte(cfg), 0o644); err != nil {
		t.Fatal(err)
	}
	var log testutil.LockedBuffer
	cmd := exec.Command(bin, "--config=file:"+filepath.Join(dir, "otelcol.yaml"))
	cmd.Stdout, cmd.Stderr = &log, &log
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	exited := make(chan struct{})
	go func() { cmd.Wait(); close(exited) }()
	t.Cleanup(func() { cmd.Process.Kill(); <-exited })
	gone := false
	if !testutil.Within(20*time.Second, func() bool {
		if c, err := net.Dial("tcp", recv); err == nil {
			c.Close()
			return true
		}
		select {
		case <-exited:
			gone = true
			return true
		default:
			return false
		}
	}) || gone {
		if gone {
			t.Fatalf("the OpenTelemetry Collector exited:\n%s", log.String())
		}
		t.Fatalf("the OpenTelemetry Collector did not listen on %s:\n%s", recv, log.String())
	}

	addrs, _, stderr, stop := startAnalyticsCollect(t, "--quiet", "--listen", "udp://127.0.0.1:0", "--path-timeout", "100ms", "--otlp", "http://"+recv)
	conn := dial(t, "udp", addrs["udp"])
	const packets = 5
	nodes := threeNodes(packets)
	for dom, recs := range nodes {
		sendNode(t, conn, uint32(dom+1), recs)
	}
	var n int
	if !testutil.Within(20*time.Second, func() bool {
		mu.Lock()
		defer mu.Unlock()
		n = len(spans)
		return n >= packets*4
	}) {
		t.Fatalf("%d spans arrived, want %d\notelcol:\n%s\ncollect:\n%s", n, packets*4, log.String(), stderr.String())
	}
	if code := stop(); code != 0 {
		t.Fatalf("collect exit %d: %s", code, stderr.String())
	}
	mu.Lock()
	defer mu.Unlock()
	byTrace := map[string][]otlpSpan{}
	for _, s := range spans {
		byTrace[s.TraceID] = append(byTrace[s.TraceID], s)
	}
	if len(byTrace) != packets || len(spans) != packets*4 {
		t.Fatalf("%d traces, %d spans; want %d and %d", len(byTrace), len(spans), packets, packets*4)
	}
	for seq := range uint32(packets) {
		k := collector.PacketKey{Namespace: 123, FlowID: 0xABCD, Seq: seq}
		tid := collector.TraceID(k)
		ss := byTrace[hex.EncodeToString(tid[:])]
		root := collector.SpanID(k, -1)
		rootHex := hex.EncodeToString(root[:])
		hops := map[string]otlpSpan{}
		for _, s := range ss {
			if s.SpanID == rootHex {
				if s.ParentSpanID != "" || s.duration() != 400_000 || s.attr("dex.sequence") != fmt.Sprint(seq) {
					t.Errorf("seq %d root span %+v (want no parent, 400 µs)", seq, s)
				}
				continue
			}
			if s.ParentSpanID != rootHex {
				t.Errorf("seq %d span %q: parent %q, want the root %s", seq, s.Name, s.ParentSpanID, rootHex)
			}
			hops[s.Name] = s
		}
		for name, want := range map[string]int64{"node 1": 0, "node 2": 150_000, "node 3": 250_000} {
			s, ok := hops[name]
			if !ok || s.duration() != want || s.attr("dexplane.delay_ns") != fmt.Sprint(want) {
				t.Errorf("seq %d span %q: %+v, want duration and delay %d ns", seq, name, s, want)
			}
		}
	}
	t.Logf("OpenTelemetry Collector v0.165.0 delivered %d traces, %d spans: ids, parents and hop delays as correlated", len(byTrace), len(spans))
}
