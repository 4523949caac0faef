package config_test

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/dexplane/dexplane/config"
	"github.com/dexplane/dexplane/dataplane/policy"
	"github.com/dexplane/dexplane/internal/testpki"
)

const tlsBase = `
node: {id: 1}
ports:
  - {name: a, domain: inside}
  - {name: b, domain: inside}
export:
  collectors:
`

// TestCollectorTLS parses export.collectors[].tls: relative paths resolve
// against the file's directory, the files must load, and every mistake is
// reported with file, line and field.
func TestCollectorTLS(t *testing.T) {
	dir := t.TempDir()
	ca := testpki.NewCA(t, dir, "ca")
	ca.Issue(t, dir, testpki.Leaf{Name: "node"})
	os.WriteFile(filepath.Join(dir, "junk.pem"), []byte("not pem"), 0o600)
	for _, tc := range []struct {
		name, collector, err string
	}{
		{"good", `    - {transport: tls, address: "c.example:4739", tls: {ca: ca.pem, cert: node.crt, key: node.key, server_name: collector}}`, ""},
		{"system roots", `    - {transport: tls, address: "c.example:4739", tls: {cert: node.crt, key: node.key}}`, ""},
		{"no tls section", `    - {transport: tls, address: "c.example:4739"}`, "x.yaml:8:19: export.collectors[0].transport: tls needs a tls section"},
		{"tls without transport", `    - {address: "c.example:4739", tls: {cert: node.crt, key: node.key}}`, "x.yaml:8:40: export.collectors[0].tls: needs transport: tls (transport is udp)"},
		{"missing key", `    - {transport: tls, address: "c.example:4739", tls: {cert: node.crt}}`, "export.collectors[0].tls: missing"},
		{"missing file", `    - {transport: tls, address: "c.example:4739", tls: {cert: nope.crt, key: node.key}}`, "export.collectors[0].tls.cert: " + filepath.Join(dir, "nope.crt")},
		{"CA without certificate", `    - {transport: tls, address: "c.example:4739", tls: {ca: junk.pem, cert: node.crt, key: node.key}}`, "export.collectors[0].tls.ca: " + filepath.Join(dir, "junk.pem") + ": no PEM certificate"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			c, err := config.Parse(filepath.Join(dir, "x.yaml"), []byte(tlsBase+tc.collector+"\n"))
			if tc.err != "" {
				if err == nil || !strings.Contains(err.Error(), tc.err) {
					t.Fatalf("error %v, want one containing %q", err, tc.err)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			s, err := c.Compile(nil)
			if err != nil {
				t.Fatal(err)
			}
			got := s.Export.Collectors[0]
			if got.Transport != policy.TransportTLS || got.TLS.Cert != filepath.Join(dir, "node.crt") || got.TLS.Key != filepath.Join(dir, "node.key") {
				t.Errorf("collector %+v", got)
			}
		})
	}
}

// TestMetricsWebConfig: dataplane.metrics_web_config must be an
// exporter-toolkit web configuration that loads; errors name the line.
func TestMetricsWebConfig(t *testing.T) {
	dir := t.TempDir()
	os.WriteFile(filepath.Join(dir, "web.yml"), []byte("basic_auth_users:\n  prometheus: $2y$10$abcdefghijklmnopqrstuvABCDEFGHIJKLMNOPQRSTUVWXYZ01234\n"), 0o600)
	os.WriteFile(filepath.Join(dir, "bad.yml"), []byte("tls_server_config:\n  cert_file: /nonexistent.crt\n"), 0o600)
	base := "node: {id: 1}\nports:\n  - {name: a, domain: inside}\n  - {name: b, domain: inside}\ndataplane:\n  metrics_address: \":9102\"\n  metrics_web_config: "
	c, err := config.Parse(filepath.Join(dir, "x.yaml"), []byte(base+"web.yml\n"))
	if err != nil {
		t.Fatal(err)
	}
	s, err := c.Compile(nil)
	if err != nil {
		t.Fatal(err)
	}
	if s.Dataplane.MetricsWebConfig != filepath.Join(dir, "web.yml") {
		t.Errorf("MetricsWebConfig = %q", s.Dataplane.MetricsWebConfig)
	}
	if _, err := config.Parse(filepath.Join(dir, "x.yaml"), []byte(base+"bad.yml\n")); err == nil || !strings.Contains(err.Error(), "x.yaml:7:23: dataplane.metrics_web_config: "+filepath.Join(dir, "bad.yml")) {
		t.Errorf("bad web config: %v", err)
	}
}
