package metrics

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"time"

	"github.com/prometheus/exporter-toolkit/web"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/prometheus/client_golang/prometheus/promhttp"
)

// NewRegistry returns a registry holding c and the standard Go runtime and
// process collectors (go_*, process_*).
func NewRegistry(c *Scraper) (*prometheus.Registry, error) {
	reg := prometheus.NewRegistry()
	for _, col := range []prometheus.Collector{
		c,
		collectors.NewGoCollector(),
		collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}),
	} {
		if err := reg.Register(col); err != nil {
			return nil, fmt.Errorf("metrics: register %T: %w", col, err)
		}
	}
	return reg, nil
}

// NewHandler returns the HTTP handler of the metrics endpoint:
//
//	/metrics  Prometheus text (or protobuf) exposition of g
//	/stats    c.Snapshot() as JSON (Stats), for `dexplane stats`
//	/healthz  200 "ok", or 503 with the error of c's health function
//
// g is usually the registry from NewRegistry(c).
func NewHandler(c *Scraper, g prometheus.Gatherer) http.Handler {
	mux := http.NewServeMux()
	mux.Handle("GET /metrics", promhttp.HandlerFor(g, promhttp.HandlerOpts{
		ErrorHandling: promhttp.ContinueOnError,
	}))
	mux.HandleFunc("GET /stats", func(w http.ResponseWriter, _ *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		w.Header().Set("Cache-Control", "no-store")
		enc := json.NewEncoder(w)
		enc.SetIndent("", " ")
		_ = enc.Encode(c.Snapshot()) // a write error means the client left
	})
	mux.HandleFunc("GET /healthz", func(w http.ResponseWriter, _ *http.Request) {
		w.Header().Set("Content-Type", "text/plain; charset=utf-8")
		if err := c.Healthy(); err != nil {
			w.WriteHeader(http.StatusServiceUnavailable)
			fmt.Fprintln(w, err)
			return
		}
		fmt.Fprintln(w, "ok")
	})
	mux.HandleFunc("GET /{$}", func(w http.ResponseWriter, _ *http.Request) {
		w.Header().Set("Content-Type", "text/plain; charset=utf-8")
		fmt.Fprintln(w, "dexplane: /metrics /stats /healthz")
	})
	return mux
}

// Serve listens on addr ("host:port") and serves h until ctx is done, then
// shuts the server down (waiting up to 2 s for requests in flight). It
// returns nil after a shutdown caused by ctx, or the listen or serve
// error. Callers usually run it in a goroutine and log its error.
func Serve(ctx context.Context, addr string, h http.Handler) error {
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		return fmt.Errorf("metrics: listen %q: %w", addr, err)
	}
	return ServeListener(ctx, ln, h)
}

// ServeListener is Serve on an open listener, which it closes.
func ServeListener(ctx context.Context, ln net.Listener, h http.Handler) error {
	return ServeListenerWeb(ctx, ln, h, "", nil)
}

// ServeListenerWeb is ServeListener with a Prometheus exporter-toolkit web
// configuration file (TLS with optional client certificates, basic auth,
// rate limit; the convention of Prometheus exporters, see
// https://github.com/prometheus/exporter-toolkit/blob/master/docs/web-configuration.md);
// "" serves plain HTTP. The TLS files are reread for every connection and
// the users for every request, so they change without a restart. log
// receives the toolkit's messages (nil: slog.Default()).
func ServeListenerWeb(ctx context.Context, ln net.Listener, h http.Handler, webConfigFile string, log *slog.Logger) error {
	if log == nil {
		log = slog.Default()
	}
	srv := &http.Server{
		Handler:           h,
		ReadHeaderTimeout: 5 * time.Second,
		WriteTimeout:      30 * time.Second,
		IdleTimeout:       2 * time.Minute,
	}
	done := make(chan error, 1)
	go func() {
		done <- web.Serve(ln, srv, &web.FlagConfig{WebConfigFile: &webConfigFile}, log)
	}()
	select {
	case err := <-done:
		return fmt.Errorf("metrics: serve %s: %w", ln.Addr(), err)
	case <-ctx.Done():
		sctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
		defer cancel()
		err := srv.Shutdown(sctx)
		if serr := <-done; !errors.Is(serr, http.ErrServerClosed) && err == nil {
			err = serr
		}
		if err != nil {
			return fmt.Errorf("metrics: shutdown %s: %w", ln.Addr(), err)
		}
		return nil
	}
}
