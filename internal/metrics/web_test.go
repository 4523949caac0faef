package metrics_test

import (
	"context"
	"crypto/tls"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"golang.org/x/crypto/bcrypt"

	"github.com/dexplane/dexplane/internal/metrics"
	"github.com/dexplane/dexplane/internal/testpki"
)

// TestServeWebConfig serves the metrics endpoint with an exporter-toolkit
// web configuration file (TLS and basic auth) and checks, with a real
// HTTPS client, that only the configured user gets the metrics and that
// plain HTTP is refused.
func TestServeWebConfig(t *testing.T) {
	dir := t.TempDir()
	ca := testpki.NewCA(t, dir, "ca")
	cert, key := ca.Issue(t, dir, testpki.Leaf{Name: "node", Server: true})
	hash, err := bcrypt.GenerateFromPassword([]byte("s3cret"), bcrypt.MinCost)
	if err != nil {
		t.Fatal(err)
	}
	webCfg := filepath.Join(dir, "web.yml")
	os.WriteFile(webCfg, []byte(fmt.Sprintf("tls_server_config:\n  cert_file: %s\n  key_file: %s\nbasic_auth_users:\n  prometheus: %s\n", cert, key, hash)), 0o600)

	c, _, _ := fullCollector(t)
	reg, err := metrics.NewRegistry(c)
	if err != nil {
		t.Fatal(err)
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- metrics.ServeListenerWeb(ctx, ln, metrics.NewHandler(c, reg), webCfg, nil) }()
	defer func() {
		cancel()
		if err := <-done; err != nil {
			t.Error(err)
		}
	}()
	client := &http.Client{Timeout: 5 * time.Second, Transport: &http.Transport{TLSClientConfig: &tls.Config{RootCAs: ca.Pool()}}}
	url := "https://" + ln.Addr().String() + "/metrics"
	get := func(user, pass string) (int, string) {
		t.Helper()
		req, _ := http.NewRequest("GET", url, nil)
		if user != "" {
			req.SetBasicAuth(user, pass)
		}
		resp, err := client.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		return resp.StatusCode, string(b)
	}
	if code, _ := get("", ""); code != http.StatusUnauthorized {
		t.Errorf("no credentials: HTTP %d, want 401", code)
	}
	if code, _ := get("prometheus", "wrong"); code != http.StatusUnauthorized {
		t.Errorf("wrong password: HTTP %d, want 401", code)
	}
	if code, body := get("prometheus", "s3cret"); code != http.StatusOK || !strings.Contains(body, "dexplane_") {
		t.Errorf("good credentials: HTTP %d, body %.200q", code, body)
	}
	resp, err := (&http.Client{Timeout: 5 * time.Second}).Get("http://" + ln.Addr().String() + "/metrics")
	if err == nil {
		resp.Body.Close()
		if resp.StatusCode == http.StatusOK {
			t.Error("plain HTTP got the metrics")
		}
	}
}

// TestServeWebConfigInvalid: a web configuration that does not load makes
// ServeListenerWeb fail instead of serving without protection.
func TestServeWebConfigInvalid(t *testing.T) {
	webCfg := filepath.Join(t.TempDir(), "web.yml")
	os.WriteFile(webCfg, []byte("tls_server_config:\n  cert_file: /nonexistent.crt\n  key_file: /nonexistent.key\n"), 0o600)
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	c, _, _ := fullCollector(t)
	errc := make(chan error, 1)
	go func() {
		errc <- metrics.ServeListenerWeb(context.Background(), ln, metrics.NewHandler(c, nil), webCfg, nil)
	}()
	select {
	case err := <-errc:
		if err == nil || !strings.Contains(err.Error(), "nonexistent") {
			t.Errorf("error %v, want one naming the missing file", err)
		}
	case <-time.After(5 * time.Second):
		ln.Close()
		t.Fatal("served with an unusable web configuration")
	}
}
