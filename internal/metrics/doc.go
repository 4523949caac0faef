// Package metrics exposes dexplane's counters to Prometheus and as JSON.
//
// The data plane keeps its own per-worker atomic counters (dataplane/xsk,
// dataplane/node, the XDP program's per-CPU map, the exporter); nothing on
// the packet path knows about this package. A Collector holds functions
// that read those counters and calls them only when /metrics or /stats is
// requested, so a scrape costs the hot path nothing but the cache misses of
// its atomic loads.
//
// # Wiring
//
//	c := metrics.NewScraper()
//	c.SetEngine(engine)                 // ports, workers, XDP, per-worker nodes and rings
//	c.SetExporter(exp.Counters)         // export records, messages, drops
//	var reloads metrics.Reloads         // reloads.Loaded(gen) / reloads.Failed() on SIGHUP
//	c.SetConfig(reloads.State)
//	reg, _ := metrics.NewRegistry(c)    // c + Go runtime + process collectors
//	go metrics.Serve(ctx, addr, metrics.NewHandler(c, reg))
//
// Every setter may be called at any time, before or after serving starts;
// a source that is not set simply contributes no series.
//
// # Metrics
//
// Every metric is named dexplane_*; see the Desc variables in prom.go (and
// [MetricNames]) for the list with help texts. Labels: port ("0", "1"),
// worker (RX queue index), role ("encap", "transit"), reason, mode, action,
// collector, transport, output.
//
// # Consistency
//
// Each value is read atomically, but a scrape is not one atomic snapshot of
// the data plane: counters keep moving while they are read.
package metrics
