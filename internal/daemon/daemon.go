// Package daemon assembles one running dexplane node: the AF_XDP engine
// (package dataplane) with the IOAM roles (dataplane/node) as its per-worker
// handlers, the exporter draining their record rings, the metrics endpoint,
// and configuration reload. cmd/dexplane's `run` is a thin shell around it.
//
// Data flows one way: frames port → worker → peer port, records worker →
// ring → exporter. Nothing here sits on the packet path; a reload swaps the
// policy snapshot atomically and, when the export section changed, replaces
// the exporter between two drains of the rings.
package daemon

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"os"
	"path/filepath"
	"reflect"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/prometheus/exporter-toolkit/web"
	"github.com/vishvananda/netlink"

	"github.com/dexplane/dexplane/config"
	"github.com/dexplane/dexplane/dataplane"
	"github.com/dexplane/dexplane/dataplane/handle"
	"github.com/dexplane/dexplane/dataplane/node"
	"github.com/dexplane/dexplane/dataplane/policy"
	"github.com/dexplane/dexplane/dataplane/telemetry"
	"github.com/dexplane/dexplane/dataplane/xsk"
	"github.com/dexplane/dexplane/exporter"
	"github.com/dexplane/dexplane/internal/metrics"
)

// Options configures a Daemon.
type Options struct {
	// Engine are the engine options, usually dataplane.OptionsFromSnapshot
	// with command-line overrides applied. Its Handler is replaced.
	Engine dataplane.Options
	// Snapshot is the compiled configuration; required.
	Snapshot *policy.Snapshot
	// ConfigFile is reread by Reload; "" makes Reload fail.
	ConfigFile string
	// MetricsAddress overrides the snapshot's dataplane.metrics_address.
	// An address without host (":9102") binds the loopback interface.
	MetricsAddress string
	// MetricsWebConfig overrides dataplane.metrics_web_config (an
	// exporter-toolkit web configuration file: TLS, basic auth).
	MetricsWebConfig string
	// PlainForwarding runs the engine without the IOAM roles: every frame
	// crosses unmodified and nothing is exported.
	PlainForwarding bool
	// Logger receives lifecycle messages; nil means slog.Default().
	Logger *slog.Logger
}

// Daemon is one running node. Its methods are safe for concurrent use.
type Daemon struct {
	opts    Options
	log     *slog.Logger
	eng     *dataplane.Engine
	nodes   []*node.Handler
	rings   []*telemetry.Ring
	coll    *metrics.Scraper
	reloads metrics.Reloads

	mu       sync.Mutex // guards exp, expStop, expDone, export
	exp      *exporter.Exporter
	expStop  context.CancelFunc
	expDone  chan struct{}
	export   policy.Export
	expBase  exporter.Counters // totals of exporters replaced by reloads
	cancel   context.CancelFunc
	servDone chan struct{}
	capacity uint64 // bits/s of the slower port, base of the export rate limit

	polMu  sync.Mutex // serialises policy swaps (reload, MTU changes)
	cfgMTU [2]int     // ports[].mtu as configured (0: follow the interface)
}

// New validates opts and builds the engine and the per-worker nodes; nothing
// touches the system until Start.
func New(opts Options) (*Daemon, error) {
	if opts.Snapshot == nil {
		return nil, errors.New("daemon: no configuration snapshot")
	}
	d := &Daemon{opts: opts, log: opts.Logger, coll: metrics.NewScraper()}
	if d.log == nil {
		d.log = slog.Default()
	}
	eo := opts.Engine
	d.cfgMTU = [2]int{opts.Snapshot.Ports[0].MTU, opts.Snapshot.Ports[1].MTU}
	eo.Policy = withLinkMTU(opts.Snapshot, d.cfgMTU, [2]int{interfaceMTU(eo.Ports[0]), interfaceMTU(eo.Ports[1])})
	eo.Logger = d.log
	workers := eo.Queues
	if workers <= 0 {
		workers = 1
	}
	eo.Handler = func(w int) handle.Handler {
		if w < len(d.nodes) && !opts.PlainForwarding {
			return d.nodes[w]
		}
		return handle.Identity{}
	}
	eng, err := dataplane.New(eo)
	if err != nil {
		return nil, err
	}
	d.eng = eng
	mtus := [2]int{interfaceMTU(eo.Ports[0]), interfaceMTU(eo.Ports[1])}
	d.capacity = min(linkSpeed(eo.Ports[0]), linkSpeed(eo.Ports[1]))
	for w := 0; w < workers; w++ {
		nc := node.Config{Policy: eng.Policy(), PortMTU: mtus, RawSection: node.RawForJSON}
		if eo.Steer == policy.SteerSampled {
			nc.Presampled = dataplane.Presampled
		}
		n, err := node.New(nc)
		if err != nil {
			return nil, fmt.Errorf("daemon: worker %d: %w", w, err)
		}
		d.nodes = append(d.nodes, n)
		d.rings = append(d.rings, n.Ring())
	}
	return d, nil
}

// interfaceMTU returns the MTU of the named interface in the current network
// namespace, or 0 (not checked) if it cannot be read.
func interfaceMTU(name string) int {
	ifi, err := net.InterfaceByName(name)
	if err != nil {
		return 0
	}
	return ifi.MTU
}

// withLinkMTU returns s with the interface MTU (live) filled in for every
// port whose configuration (cfg) leaves the MTU to the interface (ports[].mtu: 0), so the
// roles check against the MTU in force; s itself is never modified (a
// snapshot is immutable once published).
func withLinkMTU(s *policy.Snapshot, cfg, live [2]int) *policy.Snapshot {
	c := *s
	changed := false
	for i := range c.Ports {
		if cfg[i] == 0 && live[i] > 0 && c.Ports[i].MTU != live[i] {
			c.Ports[i].MTU = live[i]
			changed = true
		}
	}
	if !changed {
		return s
	}
	return &c
}

// liveMTU reads both ports' interface MTUs (0 where unreadable).
func (d *Daemon) liveMTU() [2]int {
	p := d.opts.Engine.Ports
	return [2]int{interfaceMTU(p[0]), interfaceMTU(p[1])}
}

// watchLinks follows the ports' link changes over rtnetlink and, when an
// MTU changes, swaps in the running snapshot with the new MTU, so an
// encapsulation that no longer fits is skipped (and counted) instead of
// producing frames the port cannot send. It returns when ctx ends.
func (d *Daemon) watchLinks(ctx context.Context) {
	ch := make(chan netlink.LinkUpdate, 16)
	done := make(chan struct{})
	defer close(done)
	err := netlink.LinkSubscribeWithOptions(ch, done, netlink.LinkSubscribeOptions{
		ErrorCallback: func(err error) { d.log.Warn("link watch", "err", err) },
	})
	if err != nil {
		d.log.Warn("cannot follow link changes; MTU changes need a reload", "err", err)
		return
	}
	ports := d.opts.Engine.Ports
	// A channel change (ethtool -L) raises no link notification: poll.
	queues := time.NewTicker(queueCheckInterval)
	defer queues.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-queues.C:
			d.eng.CheckQueues()
		case u, ok := <-ch:
			if !ok {
				return
			}
			name := u.Attrs().Name
			if name != ports[0] && name != ports[1] {
				continue
			}
			d.polMu.Lock()
			cur := d.eng.Policy().Load()
			if next := withLinkMTU(cur, d.cfgMTU, d.liveMTU()); next != cur {
				if err := d.eng.SetPolicy(next); err != nil {
					d.log.Error("MTU change", "port", name, "err", err)
				} else {
					d.log.Info("port MTU changed", "port", name, "mtu", u.Attrs().MTU)
				}
			}
			d.polMu.Unlock()
		}
	}
}

// queueCheckInterval is how often the daemon reads the ports' RX queue
// counts (dataplane.Engine.CheckQueues).
const queueCheckInterval = 2 * time.Second

// linkSpeed returns the speed of the named interface in bits per second as
// the kernel reports it (/sys/class/net/IF/speed, Mb/s), or 0 (unknown: the
// exporter then assumes its default capacity).
func linkSpeed(name string) uint64 {
	b, err := os.ReadFile(filepath.Join("/sys/class/net", name, "speed"))
	if err != nil {
		return 0
	}
	mbps, err := strconv.ParseInt(strings.TrimSpace(string(b)), 10, 64)
	if err != nil || mbps <= 0 {
		return 0
	}
	return uint64(mbps) * 1_000_000
}

// Start attaches the data plane, starts the exporter and, if an address is
// configured, the metrics endpoint. It returns once forwarding runs.
func (d *Daemon) Start(ctx context.Context) error {
	ctx, d.cancel = context.WithCancel(ctx)
	if err := d.eng.Start(ctx); err != nil {
		d.cancel()
		return err
	}
	s := d.opts.Snapshot
	if err := d.startExporter(s.Export); err != nil {
		d.eng.Stop()
		d.cancel()
		return err
	}
	d.reloads.Loaded(s.Generation)
	go d.watchLinks(ctx)
	d.coll.SetEngine(d.eng)
	d.coll.SetConfig(d.reloads.State)
	d.coll.SetExporter(d.ExportCounters)
	d.coll.SetRateLimitTokens(func() float64 {
		if x := d.Exporter(); x != nil {
			return x.Tokens()
		}
		return 0
	})
	d.coll.SetHealth(func() error {
		select {
		case <-d.eng.Done():
			return errors.New("data plane stopped")
		default:
			return nil
		}
	})
	addr := d.opts.MetricsAddress
	if addr == "" {
		addr = s.Dataplane.MetricsAddress
	}
	webCfg := d.opts.MetricsWebConfig
	if webCfg == "" {
		webCfg = s.Dataplane.MetricsWebConfig
	}
	if addr != "" {
		addr = loopbackDefault(addr)
		if webCfg != "" {
			if err := web.Validate(webCfg); err != nil {
				d.Stop()
				return fmt.Errorf("metrics web config %s: %w", webCfg, err)
			}
		}
		reg, err := metrics.NewRegistry(d.coll)
		if err != nil {
			d.Stop()
			return err
		}
		ln, err := net.Listen("tcp", addr)
		if err != nil {
			d.Stop()
			return fmt.Errorf("metrics address %s: %w", addr, err)
		}
		d.servDone = make(chan struct{})
		go func() {
			defer close(d.servDone)
			if err := metrics.ServeListenerWeb(ctx, ln, metrics.NewHandler(d.coll, reg), webCfg, d.log.With("component", "metrics")); err != nil {
				d.log.Error("metrics endpoint stopped", "addr", addr, "err", err)
			}
		}()
		d.log.Info("metrics endpoint", "addr", ln.Addr().String(), "web_config", webCfg)
	}
	return nil
}

// startExporter replaces the running exporter (if any) by one for e. The
// rings have a single consumer, so the old drainer is stopped first; records
// produced meanwhile wait in the rings.
func (d *Daemon) startExporter(e policy.Export) error {
	d.mu.Lock()
	defer d.mu.Unlock()
	x, err := exporter.New(exporter.Options{Export: e, PortCapacity: d.capacity}, d.rings)
	if err != nil {
		return fmt.Errorf("exporter: %w", err)
	}
	d.stopExporterLocked()
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() {
		defer close(done)
		if err := x.Run(ctx); err != nil && !errors.Is(err, context.Canceled) {
			d.log.Error("exporter stopped", "err", err)
		}
	}()
	d.exp, d.expStop, d.expDone, d.export = x, cancel, done, e
	for _, c := range e.Collectors {
		d.log.Info("exporting IPFIX", "collector", c.Address, "transport", c.Transport.String(),
			"observation_domain", c.ObservationDomainID)
	}
	return nil
}

// stopExporterLocked stops the running exporter, if any, after its drainer
// has emptied the rings, and keeps its record totals in expBase. d.mu held.
func (d *Daemon) stopExporterLocked() {
	if d.exp == nil {
		return
	}
	d.expStop()
	<-d.expDone
	d.exp.Stop()
	d.expBase = addExportCounters(d.expBase, d.exp.Counters())
	d.exp = nil
}

// Reload rereads the configuration file and applies it atomically: either the
// whole new snapshot is in force afterwards, or the error says why not and the
// old one still is. Changes that need new sockets or programs (ports, the
// dataplane section) are refused with the list of what changed.
func (d *Daemon) Reload() error {
	err := d.reload()
	if err != nil {
		d.reloads.Failed()
	}
	return err
}

func (d *Daemon) reload() error {
	d.polMu.Lock()
	defer d.polMu.Unlock()
	if d.opts.ConfigFile == "" {
		return errors.New("no configuration file to reload (started without -c)")
	}
	c, err := config.Load(d.opts.ConfigFile)
	if err != nil {
		return err
	}
	cur := d.eng.Policy().Load()
	s, err := c.Compile(cur)
	if err != nil {
		return err
	}
	if diff := policy.RestartRequired(cur, s); len(diff) > 0 {
		return fmt.Errorf("%s changed: restart dexplane to apply", strings.Join(diff, ", "))
	}
	cfgMTU := [2]int{s.Ports[0].MTU, s.Ports[1].MTU}
	s = withLinkMTU(s, cfgMTU, d.liveMTU())
	d.mu.Lock()
	exportChanged := !reflect.DeepEqual(d.export, s.Export)
	d.mu.Unlock()
	if exportChanged {
		// Build the new exporter before swapping the policy, so a bad export
		// section fails the reload as a whole.
		if err := d.startExporter(s.Export); err != nil {
			return err
		}
	}
	if err := d.eng.SetPolicy(s); err != nil {
		return err
	}
	d.cfgMTU = cfgMTU
	d.reloads.Loaded(s.Generation)
	d.log.Info("configuration reloaded", "file", d.opts.ConfigFile, "generation", s.Generation,
		"export_changed", exportChanged)
	return nil
}

// Reopen makes the local outputs reopen their files (log rotation) and
// the TLS collectors reread their certificate files (rotation); a TLS file
// that does not load is logged and the previous certificate kept.
func (d *Daemon) Reopen() {
	d.mu.Lock()
	defer d.mu.Unlock()
	if d.exp != nil {
		if err := d.exp.Reopen(); err != nil {
			d.log.Error("SIGHUP: keeping the previous TLS certificates", "err", err)
		}
	}
}

// ExportCounters returns the exporter's counters, including those of the
// exporters that reloads replaced, so totals survive a reload. Collector and
// output details are the running exporter's.
func (d *Daemon) ExportCounters() exporter.Counters {
	d.mu.Lock()
	x, base := d.exp, d.expBase
	d.mu.Unlock()
	if x == nil {
		return base
	}
	return addExportCounters(base, x.Counters())
}

// addExportCounters adds the record totals of base to c; the rate limit,
// ring drops, collectors and outputs are c's.
func addExportCounters(base, c exporter.Counters) exporter.Counters {
	c.Offered += base.Offered
	c.Exported += base.Exported
	c.RateLimited += base.RateLimited
	// RingFull is read from the rings, which outlive exporters.
	c.CollectorDropped += base.CollectorDropped
	c.CollectorBehind += base.CollectorBehind
	c.EncodeErrors += base.EncodeErrors
	c.OutputDropped += base.OutputDropped
	c.Aggregated += base.Aggregated
	c.AggregateRecords += base.AggregateRecords
	c.AggregateOverflow += base.AggregateOverflow
	return c
}

// PortStats are one port's counters as an operator reads them (`dexplane run
// -v`); frames unless noted. Values are monotonic over the node's life.
type PortStats struct {
	// RxFrames and TxFrames are the frames the workers took from the port's
	// RX rings and queued on its TX rings.
	RxFrames, TxFrames uint64
	// Lost are the frames received on the port that the node knowingly did
	// not deliver (dataplane.Counters.Lost).
	Lost uint64
	// Steered and Crossed are what the XDP program did with the frames it
	// received: sent to the workers, or let cross in the kernel
	// (dataplane.Counters.Steered and Crossed).
	Steered, Crossed uint64
	// LinkDown and KickRetry count the workers' transmit wakeups that met a
	// down link or had to be retried; TxRingFull the frames dropped because
	// the port's TX ring was full.
	LinkDown, KickRetry, TxRingFull uint64
}

// PortStats returns both ports' PortStats; after Stop, the values read
// while stopping. Safe from any goroutine.
func (d *Daemon) PortStats() [2]PortStats {
	c := d.eng.Counters()
	var s [2]PortStats
	for p := range s {
		w := &c.Ports[p].Worker
		s[p] = PortStats{
			RxFrames: w[xsk.CtrRxFrames], TxFrames: w[xsk.CtrTxFrames], Lost: c.Lost(p),
			Steered: c.Steered(p), Crossed: c.Crossed(p),
			LinkDown: w[xsk.CtrLinkDown], KickRetry: w[xsk.CtrKickRetry], TxRingFull: w[xsk.CtrTxRingFull],
		}
	}
	return s
}

// Engine returns the data-plane engine.
func (d *Daemon) Engine() *dataplane.Engine { return d.eng }

// Nodes returns the per-worker role handlers.
func (d *Daemon) Nodes() []*node.Handler { return d.nodes }

// Exporter returns the running exporter.
func (d *Daemon) Exporter() *exporter.Exporter {
	d.mu.Lock()
	defer d.mu.Unlock()
	return d.exp
}

// Metrics returns the metrics collector (also served on the metrics address).
func (d *Daemon) Metrics() *metrics.Scraper { return d.coll }

// Done is closed when the data plane has stopped.
func (d *Daemon) Done() <-chan struct{} { return d.eng.Done() }

// Stop stops forwarding (no XDP program stays attached), then lets the
// exporter drain what the workers left in the rings and stops it.
func (d *Daemon) Stop() error {
	err := d.eng.Stop()
	if errors.Is(err, dataplane.ErrNotStarted) {
		err = nil
	}
	d.mu.Lock()
	d.stopExporterLocked()
	d.mu.Unlock()
	if d.cancel != nil {
		d.cancel()
	}
	if d.servDone != nil {
		<-d.servDone
	}
	return err
}

// loopbackDefault gives an address without host (":9102") the loopback
// host, so that the metrics endpoint is never exposed by omission.
func loopbackDefault(addr string) string {
	if host, port, err := net.SplitHostPort(addr); err == nil && host == "" {
		return net.JoinHostPort("localhost", port)
	}
	return addr
}
