package metrics

import (
	"sync"
	"sync/atomic"
	"time"

	"github.com/dexplane/dexplane/dataplane"
	"github.com/dexplane/dexplane/dataplane/handle"
	"github.com/dexplane/dexplane/dataplane/node"
	"github.com/dexplane/dexplane/dataplane/telemetry"
	"github.com/dexplane/dexplane/exporter"
)

// Engine is what the Scraper reads from the data-plane engine;
// *dataplane.Engine implements it. Workers and Handler are used to find
// each worker's role counters and record ring: a handler that has a
// Counters() *node.Counters method (as *node.Handler does) contributes its
// counters, one with a Ring() *telemetry.Ring method its ring occupancy.
type Engine interface {
	// Counters returns the port, worker and XDP counters.
	Counters() dataplane.Counters
	// Workers returns the number of workers.
	Workers() int
	// Handler returns worker i's frame handler, or nil.
	Handler(i int) handle.Handler
}

// nodeCounters is implemented by *node.Handler.
type nodeCounters interface{ Counters() *node.Counters }

// ringOwner is implemented by *node.Handler.
type ringOwner interface{ Ring() *telemetry.Ring }

// The engine and node types the Scraper is written for.
var (
	_ Engine       = (*dataplane.Engine)(nil)
	_ nodeCounters = (*node.Handler)(nil)
	_ ringOwner    = (*node.Handler)(nil)
)

// Scraper reads dexplane's counters from registered sources at scrape
// time. It implements prometheus.Collector and produces the JSON Stats of
// /stats from the same reads. The zero value is not usable; call
// NewCollector. All methods are safe for concurrent use.
type Scraper struct {
	now func() time.Time

	mu  sync.RWMutex
	src sources // guarded by mu
}

// NewScraper returns a Collector with no sources: it exports nothing but
// the dexplane_workers gauge until sources are set.
func NewScraper() *Scraper {
	return &Scraper{now: time.Now}
}

// SetEngine reads port, worker and XDP counters from e, and each worker's
// role counters and record ring from e's handlers (unless SetNodes or
// SetRings override them). A nil e removes the source.
func (c *Scraper) SetEngine(e Engine) {
	c.set(func(s *sources) {
		s.engine, s.counters = e, nil
		if e != nil {
			s.counters = e.Counters
		}
	})
}

// SetEngineCounters reads port, worker and XDP counters from fn (for
// example (*dataplane.Engine).Counters) without looking for handlers. It
// replaces the counters part of SetEngine; nil removes it.
func (c *Scraper) SetEngineCounters(fn func() dataplane.Counters) {
	c.set(func(s *sources) { s.counters = fn })
}

// SetNodes reads the role counters of each worker from fn; element i is
// worker i's counters (nil elements are skipped). It takes precedence over
// the handlers of SetEngine; nil restores them.
func (c *Scraper) SetNodes(fn func() []*node.Counters) {
	c.set(func(s *sources) { s.nodes = fn })
}

// SetRings reads the record ring of each worker from fn; element i is
// worker i's ring (nil elements are skipped). Only Len and Cap are called.
// It takes precedence over the handlers of SetEngine; nil restores them.
func (c *Scraper) SetRings(fn func() []*telemetry.Ring) {
	c.set(func(s *sources) { s.rings = fn })
}

// SetExporter reads the exporter's counters from fn, typically
// (*exporter.Exporter).Counters; nil removes the source.
func (c *Scraper) SetExporter(fn func() exporter.Counters) {
	c.set(func(s *sources) { s.export = fn })
}

// SetRateLimitTokens reads the export rate limiter's available tokens
// (records that may be exported back to back now) from fn, which must be
// safe to call from any goroutine; nil removes the gauge.
func (c *Scraper) SetRateLimitTokens(fn func() float64) {
	c.set(func(s *sources) { s.tokens = fn })
}

// SetConfig reads the configuration generation and reload counts from fn,
// typically (*Reloads).State; nil removes the source.
func (c *Scraper) SetConfig(fn func() ConfigStats) {
	c.set(func(s *sources) { s.config = fn })
}

// SetHealth makes /healthz answer 503 with the error's text while fn
// returns an error (for example after the engine stopped); nil means
// always healthy.
func (c *Scraper) SetHealth(fn func() error) {
	c.set(func(s *sources) { s.health = fn })
}

// set changes the sources under the lock.
func (c *Scraper) set(change func(s *sources)) {
	c.mu.Lock()
	defer c.mu.Unlock()
	change(&c.src)
}

// Healthy returns the error of the SetHealth function, or nil.
func (c *Scraper) Healthy() error {
	fn := c.sources().health
	if fn == nil {
		return nil
	}
	return fn()
}

// Reloads counts configuration loads and failed reloads for the config
// metrics. The zero value is ready; methods are safe for concurrent use.
type Reloads struct {
	generation atomic.Uint64
	loads      atomic.Uint64
	failures   atomic.Uint64
	last       atomic.Int64 // unix ns of the last successful load
}

// Loaded records a successful (re)load that installed the policy snapshot
// of the given generation.
func (r *Reloads) Loaded(generation uint64) {
	r.generation.Store(generation)
	r.loads.Add(1)
	r.last.Store(time.Now().UnixNano())
}

// Failed records a reload that was rejected (the old configuration keeps
// running).
func (r *Reloads) Failed() { r.failures.Add(1) }

// State returns the current values, for SetConfig.
func (r *Reloads) State() ConfigStats {
	s := ConfigStats{
		Generation:     r.generation.Load(),
		Loads:          r.loads.Load(),
		ReloadFailures: r.failures.Load(),
	}
	if ns := r.last.Load(); ns != 0 {
		s.LastLoad = time.Unix(0, ns).UTC()
	}
	return s
}
