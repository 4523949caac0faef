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
