package main

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"io"
	"os"
	"os/signal"
	"sync/atomic"
	"syscall"

	"github.com/dexplane/dexplane/exporter"
)

// errTLSFlags is returned when a tls:// listener lacks its certificate flags.
var errTLSFlags = errors.New("tls:// listeners need --tls-cert, --tls-key and --tls-client-ca")

// collectTLS is the server side of IPFIX over TLS: the collector's
// certificate and the CAs its exporters' certificates must chain to, reread
// on SIGHUP. Every exporter must present a valid client certificate.
type collectTLS struct {
	cert, key, clientCA string
	cfg                 atomic.Pointer[tls.Config]
}

// load reads the files; on error the previous configuration stays.
func (t *collectTLS) load() error {
	if t.cert == "" || t.key == "" || t.clientCA == "" {
		return errTLSFlags
	}
	cert, err := tls.LoadX509KeyPair(t.cert, t.key)
	if err != nil {
		return fmt.Errorf("--tls-cert %s, --tls-key %s: %w", t.cert, t.key, err)
	}
	pool, err := exporter.LoadCertPool(t.clientCA)
	if err != nil {
		return fmt.Errorf("--tls-client-ca: %w", err)
	}
	t.cfg.Store(&tls.Config{
		MinVersion:   tls.VersionTLS12,
		Certificates: []tls.Certificate{cert},
		ClientAuth:   tls.RequireAndVerifyClientCert,
		ClientCAs:    pool,
	})
	return nil
}

// config returns the listener configuration; each handshake takes the
// files loaded last.
func (t *collectTLS) config() *tls.Config {
	return &tls.Config{
		MinVersion: tls.VersionTLS12,
		GetConfigForClient: func(*tls.ClientHelloInfo) (*tls.Config, error) {
			return t.cfg.Load(), nil
		},
	}
}

// reloadOnHUP rereads the files on every SIGHUP until ctx is done; new
// sessions use them, established ones continue.
func (t *collectTLS) reloadOnHUP(ctx context.Context, stderr io.Writer) {
	hup := make(chan os.Signal, 1)
	signal.Notify(hup, syscall.SIGHUP)
	go func() {
		defer signal.Stop(hup)
		for {
			select {
			case <-ctx.Done():
				return
			case <-hup:
				if err := t.load(); err != nil {
					fmt.Fprintf(stderr, "dexplane collect: SIGHUP: keeping the previous certificates: %v\n", err)
				} else {
					fmt.Fprintln(stderr, "dexplane collect: SIGHUP: certificates reloaded")
				}
			}
		}
	}()
}
