package exporter

import (
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"net"
	"os"
	"sync/atomic"

	"github.com/dexplane/dexplane/dataplane/policy"
)

// ErrTLSFiles is wrapped by the errors of unreadable or unusable TLS
// certificate, key or CA files.
var ErrTLSFiles = errors.New("exporter: TLS files")

// tlsClient holds the client configuration of a TransportTLS collector,
// rebuilt from its files by load (New, and Reopen on SIGHUP). The writer
// goroutine reads it at every connection attempt.
type tlsClient struct {
	files policy.TLSFiles
	addr  string
	cfg   atomic.Pointer[tls.Config]
}

func newTLSClient(files policy.TLSFiles, addr string) (*tlsClient, error) {
	t := &tlsClient{files: files, addr: addr}
	if err := t.load(); err != nil {
		return nil, err
	}
	return t, nil
}

// load reads the files; on error the previous configuration stays.
func (t *tlsClient) load() error {
	cfg, err := ClientTLSConfig(t.files, t.addr)
	if err != nil {
		return err
	}
	t.cfg.Store(cfg)
	return nil
}

// ClientTLSConfig returns the configuration of an exporter's TLS session
// towards the collector at addr ("host:port"): TLS 1.2 at least (1.3
// preferred, Go negotiates the highest both sides have), the exporter's
// certificate for mutual authentication, the collector verified against
// files.CA (system roots if "") under files.ServerName (the host of addr
// if ""). Errors wrap ErrTLSFiles and name the file.
func ClientTLSConfig(files policy.TLSFiles, addr string) (*tls.Config, error) {
	cert, err := tls.LoadX509KeyPair(files.Cert, files.Key)
	if err != nil {
		return nil, fmt.Errorf("%w: certificate %s, key %s: %v", ErrTLSFiles, files.Cert, files.Key, err)
	}
	cfg := &tls.Config{
		MinVersion:   tls.VersionTLS12,
		Certificates: []tls.Certificate{cert},
		ServerName:   files.ServerName,
	}
	if cfg.ServerName == "" {
		host, _, err := net.SplitHostPort(addr)
		if err != nil {
			return nil, fmt.Errorf("exporter: collector address %q: %w", addr, err)
		}
		cfg.ServerName = host
	}
	if files.CA != "" {
		pool, err := LoadCertPool(files.CA)
		if err != nil {
			return nil, err
		}
		cfg.RootCAs = pool
	}
	return cfg, nil
}

// LoadCertPool reads the PEM certificates of file into a new pool; the
// error wraps ErrTLSFiles when the file holds no certificate.
func LoadCertPool(file string) (*x509.CertPool, error) {
	pem, err := os.ReadFile(file)
	if err != nil {
		return nil, fmt.Errorf("%w: CA: %v", ErrTLSFiles, err)
	}
	pool := x509.NewCertPool()
	if !pool.AppendCertsFromPEM(pem) {
		return nil, fmt.Errorf("%w: CA %s: no PEM certificate in it", ErrTLSFiles, file)
	}
	return pool, nil
}

// isTLSRejection reports whether err is the peer refusing the TLS session
// (an alert such as bad_certificate or unknown_ca), which with TLS 1.3 the
// client only learns after its handshake returned, on the first read.
func isTLSRejection(err error) bool {
	var op *net.OpError
	return errors.As(err, &op) && op.Op == "remote error"
}
