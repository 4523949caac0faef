package main

import (
	"bufio"
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"net"
	"net/url"
	"os"
	"os/signal"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/dexplane/dexplane/collector"
	"github.com/dexplane/dexplane/exporter"
	"github.com/dexplane/dexplane/exporter/aggregate"
)

func runCollect(args []string) int {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	return collectMain(ctx, args, os.Stdout, os.Stderr)
}

// listenList is a repeatable --listen flag.
type listenList []string

func (l *listenList) String() string     { return strings.Join(*l, ",") }
func (l *listenList) Set(s string) error { *l = append(*l, s); return nil }

// errListen is returned by parseListen for an unusable --listen value.
var errListen = errors.New("listen address must be udp://HOST:PORT, tcp://HOST:PORT or tls://HOST:PORT")

// parseListen splits "udp://127.0.0.1:4739" into network and address.
func parseListen(s string) (network, address string, err error) {
	u, err := url.Parse(s)
	if err != nil {
		return "", "", fmt.Errorf("%w: %q: %v", errListen, s, err)
	}
	if (u.Scheme != "udp" && u.Scheme != "tcp" && u.Scheme != "tls") || u.Host == "" || u.Path != "" || u.RawQuery != "" || u.User != nil {
		return "", "", fmt.Errorf("%w: %q", errListen, s)
	}
	if _, _, err := net.SplitHostPort(u.Host); err != nil {
		return "", "", fmt.Errorf("%w: %q: %v", errListen, s, err)
	}
	return u.Scheme, u.Host, nil
}

// collectMain runs `dexplane collect` until ctx is cancelled; it returns
// the exit code.
func collectMain(ctx context.Context, args []string, stdout, stderr io.Writer) int {
	fs := flag.NewFlagSet("collect", flag.ContinueOnError)
	fs.SetOutput(stderr)
	var listens listenList
	fs.Var(&listens, "listen", "`URL` to receive IPFIX on: udp://HOST:PORT, tcp://HOST:PORT or tls://HOST:PORT (repeatable; default udp://:4739)")
	var tlsFiles collectTLS
	fs.StringVar(&tlsFiles.cert, "tls-cert", "", "PEM `FILE` of the collector's certificate (tls:// listeners; reread on SIGHUP)")
	fs.StringVar(&tlsFiles.key, "tls-key", "", "PEM `FILE` of the collector's private key (tls://)")
	fs.StringVar(&tlsFiles.clientCA, "tls-client-ca", "", "PEM `FILE` of the CAs exporters' certificates must chain to; exporters without one are refused (tls://)")
	asJSON := fs.Bool("json", false, "print records as JSON objects, one per line")
	quiet := fs.Bool("quiet", false, "do not print records, only the correlation summary")
	interval := fs.Duration("interval", 0, "also print the summary every `DURATION` (0: only on exit)")
	paths := fs.Int("paths", 0, "with the summary, print the hop-by-hop path of the first `N` packets seen (node, time, delay)")
	maxPackets := fs.Int("max-packets", 65536, "packets kept for path assembly before the oldest are folded into statistics")
	af := addAnalyticsFlags(fs)
	fs.Usage = func() {
		fmt.Fprintln(fs.Output(), "usage: dexplane collect [--listen URL]... [--tls-cert F --tls-key F --tls-client-ca F] [--json] [--quiet] [--interval D]")
		fmt.Fprintln(fs.Output(), "Receives IPFIX from dexplane exporters, prints each DEX record and, on exit (SIGINT/SIGTERM)")
		fmt.Fprintln(fs.Output(), "or every --interval, correlates records by (namespace, flow id, sequence) across nodes")
		fmt.Fprintln(fs.Output(), "(observation domain = node): paths with per-hop delay, per-node loss/duplicates/reordering.")
		fs.PrintDefaults()
	}
	if code, ok := parseFlags(fs, args); !ok {
		return code
	}
	if fs.NArg() != 0 || *interval < 0 {
		fs.Usage()
		return 2
	}
	if len(listens) == 0 {
		listens = listenList{"udp://:4739"}
	}

	proc := collector.NewCollectingProcess(collector.ProcessConfig{TLS: tlsFiles.config()})
	closeAll := proc.Stop
	for _, l := range listens {
		network, address, err := parseListen(l)
		if err != nil {
			fmt.Fprintf(stderr, "dexplane collect: %v\n", err)
			closeAll()
			return 2
		}
		if network == "tls" && tlsFiles.cfg.Load() == nil {
			if err := tlsFiles.load(); err != nil {
				fmt.Fprintf(stderr, "dexplane collect: %v\n", err)
				closeAll()
				return 2
			}
			tlsFiles.reloadOnHUP(ctx, stderr)
		}
		addr, err := proc.Listen(network, address)
		if err != nil {
			fmt.Fprintf(stderr, "dexplane collect: %v\n", err)
			closeAll()
			return 1
		}
		fmt.Fprintf(stderr, "dexplane collect: listening on %s://%s\n", network, addr)
	}

	out := bufio.NewWriter(stdout)
	if *maxPackets > 0 {
		*af.maxOpen = *maxPackets
	}
	corr := collector.NewCorrelator()
	an, err := newAnalytics(af, corr, stderr)
	if err != nil {
		fmt.Fprintf(stderr, "dexplane collect: %v\n", err)
		closeAll()
		return 2
	}
	var tick <-chan time.Time
	if *interval > 0 {
		t := time.NewTicker(*interval)
		defer t.Stop()
		tick = t.C
	}
	var line []byte
	var domain uint32 // of the message being handled
	onAggregate := func(rec *aggregate.Record) {
		an.aggregate(domain, rec)
		if !*quiet {
			line = exporter.AppendAggregate(append(append(line[:0], "domain="...), strconv.Itoa(int(domain))+" "...), rec, false)
			out.Write(line)
		}
	}
	var records, bad, missingTemplate uint64
	var traces []traceSample
	samples := pathSamples{n: *paths}
	handle := func(m *collector.Message) {
		defer m.Release()
		corr.Expire(time.Now().UnixNano())
		domain = m.Domain
		missingTemplate += m.MissingTemplate
		m.Walk(func(ev *collector.Event) {
			records++
			an.records++
			corr.Add(ev)
			if r := &ev.Record; r.Trace.Has && len(traces) < *paths {
				traces = append(traces, traceSample{domain: ev.Domain, rec: *r}) // collect_pto.go
			}
			if *paths > 0 {
				samples.add(ev) // collect_analytics.go
			}
			if !*quiet {
				line = collector.AppendEvent(line[:0], ev, *asJSON)
				out.Write(line)
			}
		}, onAggregate, nil)
		if m.Err != nil {
			if _, ok := errors.AsType[*collector.SessionError](m.Err); !ok {
				bad++
			}
			fmt.Fprintf(stderr, "dexplane collect: %v\n", m.Err)
		}
	}
	summary := func() {
		fmt.Fprintf(out, "--- %d record(s), %d bad message(s), %d data set(s) without template\n", records, bad, missingTemplate)
		collector.WriteSummary(out, corr.Summary())
		an.writeSummary(out)
		samples.write(out)
		writeTraces(out, traces)
		out.Flush()
	}
	msgs := proc.Messages()
loop:
	for {
		select {
		case m := <-msgs:
			handle(m)
			for len(msgs) > 0 { // drain a burst before flushing
				handle(<-msgs)
			}
			out.Flush()
		case <-tick:
			summary()
		case now := <-an.tick.C:
			an.onTick(now)
		case <-ctx.Done():
			break loop
		}
	}
	closeAll()
	for m := range msgs { // what the sessions read before they stopped
		handle(m)
	}
	an.close()
	summary()
	return 0
}
