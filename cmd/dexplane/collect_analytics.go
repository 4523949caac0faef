package main

import (
	"cmp"
	"context"
	"flag"
	"fmt"
	"io"
	"maps"
	"net"
	"net/http"
	"slices"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promhttp"

	"github.com/dexplane/dexplane/dataplane/telemetry"
	"github.com/dexplane/dexplane/exporter"
	"github.com/dexplane/dexplane/exporter/aggregate"
	"github.com/dexplane/dexplane/exporter/collect"
)

// analyticsFlags are the `collect` flags of the domain view: path
// assembly, RFC 9951 delay re-export, Prometheus metrics, aggregates.
type analyticsFlags struct {
	ipfixOut       *string
	ipfixOutDomain *uint
	exportInterval *time.Duration
	pathTimeout    *time.Duration
	maxOpen        *int
	metricsAddr    *string
	otlp           *string
}

func addAnalyticsFlags(fs *flag.FlagSet) *analyticsFlags {
	return &analyticsFlags{
		ipfixOut:       fs.String("ipfix-out", "", "re-export per-segment and per-path delay (RFC 9951 elements) as IPFIX to `URL` (udp://HOST:PORT or tcp://HOST:PORT)"),
		ipfixOutDomain: fs.Uint("ipfix-out-domain", 0, "observation domain `ID` of the --ipfix-out messages"),
		exportInterval: fs.Duration("export-interval", 10*time.Second, "delay statistics interval of --ipfix-out (`DURATION`)"),
		pathTimeout:    fs.Duration("path-timeout", time.Second, "a packet's path is complete `DURATION` after its first record arrived"),
		maxOpen:        fs.Int("max-open", 1<<20, "packets assembled at once (about 180 octets each); the oldest complete early beyond"),
		metricsAddr:    fs.String("metrics-address", "", "serve Prometheus /metrics on `ADDR` (host:port)"),
		otlp:           fs.String("otlp", "", "send each packet path as an OpenTelemetry trace (OTLP/HTTP, JSON) to `ENDPOINT`, e.g. http://HOST:4318"),
	}
}

// analytics is the domain view of `collect`: it assembles packet paths,
// accumulates delays and feeds --ipfix-out and --metrics-address. All
// methods run on the collect loop's goroutine except the HTTP server.
type analytics struct {
	f       *analyticsFlags
	paths   *collect.Paths
	delays  *collect.Delays
	out     *collect.IPFIXOut
	otlp    *collect.OTLP
	metrics *collect.Metrics
	srv     *http.Server
	corr    *collect.Correlator
	tick    *time.Ticker
	nextOut time.Time
	records uint64
	stderr  io.Writer
	// per node: per-packet records, and aggregate totals by flow
	perPacket map[uint32]uint64
	aggs      map[aggKey]*collect.AggregateTotals
}

// aggKey is a node and a flow of the aggregate summary.
type aggKey struct {
	domain uint32
	flow   collect.FlowKey
}

func newAnalytics(f *analyticsFlags, corr *collect.Correlator, stderr io.Writer) (*analytics, error) {
	if *f.exportInterval <= 0 || *f.pathTimeout <= 0 {
		return nil, fmt.Errorf("--export-interval and --path-timeout must be positive")
	}
	a := &analytics{f: f, corr: corr, stderr: stderr, perPacket: map[uint32]uint64{}, aggs: map[aggKey]*collect.AggregateTotals{}}
	now := time.Now()
	a.delays = collect.NewDelays(now.UnixNano())
	if *f.otlp != "" {
		o, err := collect.NewOTLP(*f.otlp)
		if err != nil {
			return nil, err
		}
		a.otlp = o
		fmt.Fprintf(stderr, "dexplane collect: packet paths as OTLP traces to %s\n", *f.otlp)
	}
	a.paths = collect.NewPaths(*f.maxOpen, *f.pathTimeout, func(p *collect.Path) {
		a.delays.AddPath(p)
		if a.otlp != nil {
			a.otlp.Add(p)
		}
	})
	a.nextOut = now.Add(*f.exportInterval)
	if *f.ipfixOut != "" {
		o, err := collect.DialIPFIXOut(*f.ipfixOut, uint32(*f.ipfixOutDomain))
		if err != nil {
			return nil, err
		}
		a.out = o
		fmt.Fprintf(stderr, "dexplane collect: delay records (RFC 9951) to %s every %v\n", *f.ipfixOut, *f.exportInterval)
	}
	if *f.metricsAddr != "" {
		a.metrics = collect.NewMetrics()
		reg := prometheus.NewRegistry()
		if err := a.metrics.Register(reg); err != nil {
			return nil, err
		}
		a.delays.OnSegment = a.metrics.ObserveSegment
		ln, err := net.Listen("tcp", *f.metricsAddr)
		if err != nil {
			a.close()
			return nil, fmt.Errorf("--metrics-address %q: %w", *f.metricsAddr, err)
		}
		mux := http.NewServeMux()
		mux.Handle("GET /metrics", promhttp.HandlerFor(reg, promhttp.HandlerOpts{ErrorHandling: promhttp.ContinueOnError}))
		a.srv = &http.Server{Handler: mux, ReadHeaderTimeout: 5 * time.Second}
		go a.srv.Serve(ln)
		fmt.Fprintf(stderr, "dexplane collect: metrics on http://%s/metrics\n", ln.Addr())
	}
	a.tick = time.NewTicker(min(*f.pathTimeout/4, time.Second))
	return a, nil
}

// event adds one per-packet record.
func (a *analytics) event(ev *collect.Event) {
	a.records++
	a.perPacket[ev.Domain]++
	r := &ev.Record
	if !r.HasFlowID || !r.HasSeq {
		return
	}
	var t int64
	switch {
	case r.TraceType&telemetry.TraceTimestampSec != 0 && r.TraceType&telemetry.TraceTimestampFrac != 0 &&
		r.TimestampSec != telemetry.Unavailable32 && r.TimestampFrac != telemetry.Unavailable32:
		t = int64(r.TimestampSec)*1e9 + int64(r.TimestampFrac)*1e3
	case ev.Present&(1<<fieldObservationTime) != 0:
		t = r.RxTime
	}
	a.paths.Add(collect.PacketKey{Namespace: r.Namespace, FlowID: r.FlowID, Seq: r.Seq}, ev.Domain, t, time.Now().UnixNano())
}

// fieldObservationTime is the index of observationTimeNanoseconds in
// exporter.Fields.
var fieldObservationTime = func() int {
	for i := range exporter.Fields {
		if exporter.Fields[i].Name == "observationTimeNanoseconds" {
			return i
		}
	}
	panic("no observationTimeNanoseconds field")
}()

// aggregate receives an aggregate record of a node.
func (a *analytics) aggregate(domain uint32, rec *aggregate.Record) {
	a.records++
	if a.metrics != nil {
		a.metrics.AddAggregate(domain, rec)
	}
	k := aggKey{domain, collect.FlowKey{Namespace: rec.Namespace, FlowID: rec.FlowID}}
	t := a.aggs[k]
	if t == nil {
		t = &collect.AggregateTotals{}
		a.aggs[k] = t
	}
	t.Add(rec)
}

// writeSummary prints the aggregates nodes sent (export.aggregate), flow
// by flow, beside the per-packet records the same nodes sent.
func (a *analytics) writeSummary(w io.Writer) {
	if len(a.aggs) == 0 {
		return
	}
	keys := make([]aggKey, 0, len(a.aggs))
	recs := map[uint32]uint64{}
	for k, t := range a.aggs {
		keys = append(keys, k)
		recs[k.domain] += t.Records
	}
	slices.SortFunc(keys, func(x, y aggKey) int {
		return cmp.Or(cmp.Compare(x.flow.Namespace, y.flow.Namespace), cmp.Compare(x.flow.FlowID, y.flow.FlowID), cmp.Compare(x.domain, y.domain))
	})
	fmt.Fprintf(w, "--- aggregates (export.aggregate at the node)\n")
	for _, k := range keys {
		t := a.aggs[k]
		fmt.Fprintf(w, "flow ns=%d id=0x%08x node %d: %d aggregate record(s) for %d packet(s), %d octets, seq %d..%d, lost %d, duplicates %d, reordered %d\n",
			k.flow.Namespace, k.flow.FlowID, k.domain, t.Records, t.Packets, t.Octets, t.FirstSeq, t.LastSeq, t.Lost(), t.Duplicates, t.Reordered)
	}
	doms := slices.Sorted(maps.Keys(recs))
	for _, d := range doms {
		fmt.Fprintf(w, "node %d: %d aggregate record(s) against %d per-packet record(s)\n", d, recs[d], a.perPacket[d])
	}
}

// onTick completes timed-out paths, exports delays when due and refreshes
// the metrics.
func (a *analytics) onTick(now time.Time) {
	a.paths.Expire(now.UnixNano())
	if a.otlp != nil {
		a.otlp.Flush()
	}
	if !now.Before(a.nextOut) {
		a.flushDelays(now)
		a.nextOut = now.Add(*a.f.exportInterval)
	}
	if a.metrics != nil {
		c := a.paths.Counters()
		a.metrics.Update(a.corr.NodeTotals(), a.records, c.Paths, uint64(a.paths.Open()))
	}
}

func (a *analytics) flushDelays(now time.Time) {
	a.delays.Flush(now.UnixNano(), func(r *collect.DelayRecord) {
		if a.out != nil {
			if err := a.out.Write(collect.DelayTemplate, r); err != nil {
				fmt.Fprintf(a.stderr, "dexplane collect: ipfix-out: %v\n", err)
			}
		}
	})
	if a.out != nil {
		a.out.Flush()
	}
}

// close completes every open path, exports the last delays and stops the
// metrics server.
func (a *analytics) close() {
	if a.tick != nil {
		a.tick.Stop()
	}
	a.paths.Flush()
	if a.otlp != nil {
		a.otlp.Close()
	}
	a.flushDelays(time.Now())
	if a.out != nil {
		a.out.Close()
	}
	if a.srv != nil {
		ctx, cancel := context.WithTimeout(context.Background(), time.Second)
		a.srv.Shutdown(ctx)
		cancel()
	}
}
