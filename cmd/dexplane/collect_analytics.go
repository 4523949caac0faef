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

	"github.com/dexplane/dexplane/collector"
	"github.com/dexplane/dexplane/exporter/aggregate"
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
		pathTimeout:    fs.Duration("path-timeout", time.Second, "a packet's path is complete `DURATION` after its first record arrived (later records of it form a second path)"),
		maxOpen:        fs.Int("max-open", 1<<20, "packets assembled at once (188 octets each, allocated at start); the oldest complete early beyond"),
		metricsAddr:    fs.String("metrics-address", "", "serve Prometheus /metrics on `ADDR` (host:port)"),
		otlp:           fs.String("otlp", "", "send each packet path as an OpenTelemetry trace (OTLP/HTTP, JSON) to `ENDPOINT`, e.g. http://HOST:4318"),
	}
}

// analytics is the domain view of `collect`: it assembles packet paths,
// accumulates delays and feeds --ipfix-out and --metrics-address. All
// methods run on the collect loop's goroutine except the HTTP server.
type analytics struct {
	f       *analyticsFlags
	delays  *collector.Delays
	out     *collector.IPFIXOut
	otlp    *collector.OTLP
	metrics *collector.Metrics
	srv     *http.Server
	corr    *collector.Correlator
	tick    *time.Ticker
	nextOut time.Time
	records uint64 // per-packet and aggregate records
	stderr  io.Writer
	// aggregate totals by node and flow
	aggs map[aggKey]*collector.AggregateTotals
}

// aggKey is a node, a flow and a route (encapsulating nodes) of the
// aggregate summary.
type aggKey struct {
	domain uint32
	flow   collector.FlowKey
	route  uint16
}

func newAnalytics(f *analyticsFlags, corr *collector.Correlator, stderr io.Writer) (*analytics, error) {
	if *f.exportInterval <= 0 || *f.pathTimeout <= 0 {
		return nil, fmt.Errorf("--export-interval and --path-timeout must be positive")
	}
	a := &analytics{f: f, corr: corr, stderr: stderr, aggs: map[aggKey]*collector.AggregateTotals{}}
	now := time.Now()
	a.delays = collector.NewDelays(now.UnixNano())
	if *f.otlp != "" {
		o, err := collector.NewOTLP(*f.otlp)
		if err != nil {
			return nil, err
		}
		a.otlp = o
		fmt.Fprintf(stderr, "dexplane collect: packet paths as OTLP traces to %s\n", *f.otlp)
	}
	// one correlation structure: the Correlator's packet table completes
	// each path into the flow statistics, the delays and the traces
	corr.MaxPackets, corr.Timeout = *f.maxOpen, *f.pathTimeout
	corr.OnPath = func(p *collector.Path) {
		a.delays.AddPath(p)
		if a.otlp != nil {
			a.otlp.Add(p)
		}
	}
	corr.Expire(time.Now().UnixNano()) // allocates the packet table before any record
	a.nextOut = now.Add(*f.exportInterval)
	if *f.ipfixOut != "" {
		o, err := collector.DialIPFIXOut(*f.ipfixOut, uint32(*f.ipfixOutDomain))
		if err != nil {
			return nil, err
		}
		a.out = o
		fmt.Fprintf(stderr, "dexplane collect: delay records (RFC 9951) to %s every %v\n", *f.ipfixOut, *f.exportInterval)
	}
	if *f.metricsAddr != "" {
		a.metrics = collector.NewMetrics()
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

// aggregate receives an aggregate record of a node.
func (a *analytics) aggregate(domain uint32, rec *aggregate.Record) {
	a.records++
	if a.metrics != nil {
		a.metrics.AddAggregate(domain, rec)
	}
	k := aggKey{domain, collector.FlowKey{Namespace: rec.Namespace, FlowID: rec.FlowID}, rec.Route}
	t := a.aggs[k]
	if t == nil {
		t = &collector.AggregateTotals{}
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
		return cmp.Or(cmp.Compare(x.flow.Namespace, y.flow.Namespace), cmp.Compare(x.flow.FlowID, y.flow.FlowID), cmp.Compare(x.domain, y.domain),
			cmp.Compare(x.route, y.route))
	})
	fmt.Fprintf(w, "--- aggregates (export.aggregate at the node)\n")
	for _, k := range keys {
		t := a.aggs[k]
		route := ""
		if k.route != 0 { // an encapsulating node: the route that selected the packets
			route = fmt.Sprintf(" route %d", k.route)
		}
		fmt.Fprintf(w, "flow ns=%d id=0x%08x node %d%s: %d aggregate record(s) for %d packet(s), %d octets, seq %d..%d, lost %d, duplicates %d, reordered %d\n",
			k.flow.Namespace, k.flow.FlowID, k.domain, route, t.Records, t.Packets, t.Octets, t.FirstSeq, t.LastSeq, t.Lost(), t.Duplicates, t.Reordered)
	}
	perPacket := map[uint32]uint64{}
	for k, t := range a.corr.NodeTotals() {
		perPacket[k.Domain] += t.Received
	}
	doms := slices.Sorted(maps.Keys(recs))
	for _, d := range doms {
		fmt.Fprintf(w, "node %d: %d aggregate record(s) against %d per-packet record(s)\n", d, recs[d], perPacket[d])
	}
}

// onTick completes timed-out paths, exports delays when due and refreshes
// the metrics. It reads the clock itself: a tick read late carries an
// old time.
func (a *analytics) onTick(time.Time) {
	now := time.Now()
	a.corr.Expire(now.UnixNano())
	if a.otlp != nil {
		a.otlp.Flush()
	}
	if !now.Before(a.nextOut) {
		a.flushDelays(now)
		a.nextOut = now.Add(*a.f.exportInterval)
	}
	if a.metrics != nil {
		c := a.corr.PathCounters()
		a.metrics.Update(a.corr.NodeTotals(), a.records, c.Paths, uint64(a.corr.Open()))
	}
}

func (a *analytics) flushDelays(now time.Time) {
	a.delays.Flush(now.UnixNano(), func(r *collector.DelayRecord) {
		if a.out != nil {
			if err := a.out.Write(collector.DelayTemplate, r); err != nil {
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
	a.corr.Flush()
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

// pathSamples keeps the hops of the first n packets seen for `collect
// --paths n`: a debugging aid that costs a map lookup per record.
type pathSamples struct {
	n    int
	keys []collector.PacketKey
	hops map[collector.PacketKey][]collector.Hop
}

// add records ev's hop if its packet is (or becomes) a sample.
func (s *pathSamples) add(ev *collector.Event) {
	r := &ev.Record
	if !r.HasFlowID || !r.HasSeq {
		return
	}
	k := collector.PacketKey{Namespace: r.Namespace, FlowID: r.FlowID, Seq: r.Seq}
	h, ok := s.hops[k]
	if !ok {
		if len(s.keys) >= s.n {
			return
		}
		if s.hops == nil {
			s.hops = map[collector.PacketKey][]collector.Hop{}
		}
		s.keys = append(s.keys, k)
	}
	s.hops[k] = append(h, collector.HopOf(ev))
}

// write prints the path of each sampled packet: every node that exported
// it, in path order, with its IOAM timestamp and the delay from the
// previous node (clocks of nodes on one host agree; across hosts they need
// PTP or NTP to be meaningful).
func (s *pathSamples) write(w io.Writer) {
	if len(s.keys) == 0 {
		return
	}
	fmt.Fprintf(w, "--- paths of %d packet(s)\n", len(s.keys))
	for _, k := range s.keys {
		hops := slices.Clone(s.hops[k])
		collector.SortHops(hops)
		fmt.Fprintf(w, "ns %d flow 0x%08x seq %d:", k.Namespace, k.FlowID, k.Seq)
		for i, h := range hops {
			fmt.Fprintf(w, "\n  node %d", h.Domain)
			if h.HasNodeID {
				fmt.Fprintf(w, " (node_id %d)", h.NodeID)
			}
			if h.Time != 0 {
				fmt.Fprintf(w, " at %s", time.Unix(0, h.Time).UTC().Format("15:04:05.000000"))
				if i > 0 && hops[i-1].Time != 0 {
					fmt.Fprintf(w, "  +%v", time.Duration(h.Time-hops[i-1].Time))
				}
			}
		}
		fmt.Fprintln(w)
	}
}
