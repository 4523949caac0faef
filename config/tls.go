package config

import (
	"crypto/tls"
	"crypto/x509"
	"os"
	"path/filepath"

	"github.com/prometheus/exporter-toolkit/web"
	"gopkg.in/yaml.v3"
)

// collectorTLS decodes "export.collectors[i].tls" into out, resolving
// relative paths against the configuration file's directory.
func (d *decoder) collectorTLS(n *yaml.Node, path string, out *CollectorTLS) {
	file := func(dst *string) func(*yaml.Node, string) {
		return func(n *yaml.Node, p string) {
			s, ok := d.text(n, p)
			if !ok || s == "" {
				return
			}
			if !filepath.IsAbs(s) && d.file != "" {
				// Absolute, so that the normalised form means the same.
				if a, err := filepath.Abs(filepath.Join(filepath.Dir(d.file), s)); err == nil {
					s = a
				}
			}
			*dst = s
		}
	}
	d.mapping(n, path, []field{
		{"ca", false, file(&out.CA)},
		{"cert", true, file(&out.Cert)},
		{"key", true, file(&out.Key)},
		{"server_name", false, func(n *yaml.Node, p string) {
			if s, ok := d.text(n, p); ok {
				out.ServerName = s
			}
		}},
	})
}

// checkCollectorTLS reports a tls section without transport tls (or the
// reverse) and certificate files that do not load; false if c is unusable.
func (d *decoder) checkCollectorTLS(path string, transportNode, tlsNode *yaml.Node, c *Collector) bool {
	switch {
	case c.Transport != "tls" && tlsNode != nil:
		d.errorf(tlsNode, join(path, "tls"), "needs transport: tls (transport is %s)", c.Transport)
		return false
	case c.Transport != "tls":
		return true
	case tlsNode == nil:
		d.errorf(transportNode, join(path, "transport"), "tls needs a tls section with cert and key (mutual authentication)")
		return false
	case c.TLS.Cert == "" || c.TLS.Key == "":
		return false // the missing field was reported by mapping
	}
	ok := true
	if _, err := tls.LoadX509KeyPair(c.TLS.Cert, c.TLS.Key); err != nil {
		d.errorf(tlsNode, join(path, "tls.cert"), "%s / %s: %v", c.TLS.Cert, c.TLS.Key, err)
		ok = false
	}
	if c.TLS.CA != "" {
		pem, err := os.ReadFile(c.TLS.CA)
		if err != nil {
			d.errorf(tlsNode, join(path, "tls.ca"), "%v", err)
			ok = false
		} else if !x509.NewCertPool().AppendCertsFromPEM(pem) {
			d.errorf(tlsNode, join(path, "tls.ca"), "%s: no PEM certificate in it", c.TLS.CA)
			ok = false
		}
	}
	return ok
}

// webConfig decodes the path of an exporter-toolkit web configuration
// file, relative to the configuration file, and checks that it loads.
func (d *decoder) webConfig(n *yaml.Node, path string) string {
	s, ok := d.text(n, path)
	if !ok || s == "" {
		return ""
	}
	if !filepath.IsAbs(s) && d.file != "" {
		if a, err := filepath.Abs(filepath.Join(filepath.Dir(d.file), s)); err == nil {
			s = a
		}
	}
	if err := web.Validate(s); err != nil {
		d.errorf(n, path, "%s: %v", s, err)
		return ""
	}
	return s
}
