package exporter

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"sync"
	"sync/atomic"
	"time"

	"github.com/dexplane/dexplane/dataplane/policy"
	"github.com/dexplane/dexplane/dataplane/telemetry"
	"github.com/dexplane/dexplane/exporter/aggregate"
)

// Defaults applied by New to zero Options fields.
const (
	// DefaultTemplateRefresh is the UDP template refresh interval when the
	// collector's TemplateRefresh is 0.
	DefaultTemplateRefresh = 30 * time.Second
	// DefaultCapacityFraction is the share of port capacity export may use
	// when no rate limit is configured at all (RFC 9326 recommends ≤ 1/100).
	DefaultCapacityFraction = 0.01
	// DefaultPortCapacity is the port speed assumed for CapacityFraction when
	// Options.PortCapacity is 0, in bits per second (1 Gb/s).
	DefaultPortCapacity = 1_000_000_000
	// DefaultRecordOctets is the on-the-wire size assumed per exported record
	// (IPv6 + UDP + IPFIX overhead shared by a message, plus the record)
	// until measured, in octets.
	DefaultRecordOctets = 100
	// DefaultQueueDepth is the number of message buffers per output.
	DefaultQueueDepth = 64
	// DefaultBatch is the number of records taken from one ring per pass.
	DefaultBatch = 256
)

// Options configures an Exporter. The embedded policy.Export comes from the
// configuration; the other fields are tuning knobs with safe defaults.
type Options struct {
	policy.Export

	// PortCapacity is the speed of the slowest data-plane port in bits per
	// second, the base of RateLimit.CapacityFraction; 0 means
	// DefaultPortCapacity.
	PortCapacity uint64
	// MessageSize is the IPFIX message budget in octets (header included);
	// 0 means DefaultMessageSize (1400).
	MessageSize int
	// LiegeOnly exports only the ULiège enterprise IEs, without the IANA
	// flow keys and observation time.
	LiegeOnly bool
	// RawSection adds ipHeaderPacketSection (313) and sectionExportedOctets
	// (410) to records that carry a raw header section.
	RawSection bool
	// TemplateIDBase is the first Template ID (≥ 256; 0 means 256).
	TemplateIDBase uint16
	// MaxTemplates bounds the templates per collector (0: DefaultMaxTemplates).
	MaxTemplates int
	// QueueDepth is the number of messages (IPFIX) or 64 KiB chunks (local
	// outputs) that may wait for a slow writer before records are dropped;
	// 0 means DefaultQueueDepth.
	QueueDepth int
	// WriteTimeout bounds one socket write; 0 means 1 s.
	WriteTimeout time.Duration
	// DialTimeout bounds one TCP connection attempt; 0 means 2 s.
	DialTimeout time.Duration
	// MinBackoff and MaxBackoff bound the delay between reconnection
	// attempts, doubled after each failure; 0 means 100 ms and 5 s.
	MinBackoff, MaxBackoff time.Duration
	// PollInterval is the longest the drainer sleeps when every ring is
	// empty (it backs off from 20 µs up to this); 0 means 1 ms.
	PollInterval time.Duration
	// Now is the clock (Export Time, template refresh, rate limit); nil
	// means time.Now.
	Now func() time.Time
	// Stdout receives outputs whose Path is "" or "-"; nil means os.Stdout.
	Stdout io.Writer
}

// ErrRunning is returned by Run when the Exporter is already running or
// has been stopped.
var ErrRunning = errors.New("exporter: Run called twice")

// Exporter drains per-worker telemetry rings in one goroutine (Run), applies
// the export rate limit, and fans the admitted records out to IPFIX
// collectors (each with its own encoder and writer goroutine) and local
// text/JSON outputs. The drainer never blocks on I/O: a slow or unreachable
// collector or output makes records drop (and be counted) instead.
//
// Methods other than Run may be called from any goroutine.
type Exporter struct {
	opts       Options
	rings      []*telemetry.Ring
	bucket     *TokenBucket
	collectors []*exportSession
	outputs    []*output

	// rate-limit inputs
	limitRPS uint64  // absolute limit (records/s), 0 = none
	fraction float64 // share of PortCapacity, 0 = none
	burst    uint64
	avgOct   uint64 // current estimate of octets per record

	offered, admitted, rateLimited, encodeErrors atomic.Uint64
	rate                                         atomic.Uint64
	tokens                                       atomic.Uint64 // nano-records in the bucket after the last drain

	// aggs holds one aggregator per distinct interval in use (node and
	// route settings); routeAgg maps telemetry.Record.Route to its
	// aggregator (nil: per-packet export), index 0 and routes beyond its
	// end being the node's setting. Both are fixed for the exporter's
	// life: a reload that changes export settings replaces the exporter.
	aggs                                []aggSlot
	routeAgg                            []*aggregate.Aggregator
	aggregated, aggRecords, aggOverflow atomic.Uint64
	aggIntervals, aggFlows              atomic.Uint64

	running  atomic.Bool
	stopOnce sync.Once
	stop     chan struct{}
	finished chan struct{}
}

// New returns an Exporter that will drain rings (one per worker; the
// exporter is their only consumer) once Run is called. Files of local
// outputs are opened here, so that a bad path fails early; collectors are
// contacted only by Run.
func New(opts Options, rings []*telemetry.Ring) (*Exporter, error) {
	if opts.QueueDepth <= 0 {
		opts.QueueDepth = DefaultQueueDepth
	}
	if opts.WriteTimeout <= 0 {
		opts.WriteTimeout = time.Second
	}
	if opts.DialTimeout <= 0 {
		opts.DialTimeout = 2 * time.Second
	}
	if opts.MinBackoff <= 0 {
		opts.MinBackoff = 100 * time.Millisecond
	}
	if opts.MaxBackoff < opts.MinBackoff {
		opts.MaxBackoff = max(5*time.Second, opts.MinBackoff)
	}
	if opts.PollInterval <= 0 {
		opts.PollInterval = time.Millisecond
	}
	if opts.Now == nil {
		opts.Now = time.Now
	}
	if opts.Stdout == nil {
		opts.Stdout = os.Stdout
	}
	if opts.PortCapacity == 0 {
		opts.PortCapacity = DefaultPortCapacity
	}
	rl := opts.RateLimit
	if rl.CapacityFraction < 0 || rl.CapacityFraction > 1 {
		return nil, fmt.Errorf("exporter: rate limit capacity fraction %v outside [0, 1]", rl.CapacityFraction)
	}
	x := &Exporter{
		opts:     opts,
		rings:    append([]*telemetry.Ring(nil), rings...),
		limitRPS: rl.RecordsPerSecond,
		fraction: rl.CapacityFraction,
		burst:    rl.Burst,
		avgOct:   DefaultRecordOctets,
		stop:     make(chan struct{}),
		finished: make(chan struct{}),
	}
	if x.limitRPS == 0 && x.fraction == 0 {
		x.fraction = DefaultCapacityFraction // RFC 9326: the limit is not optional
	}
	x.buildAggregators()
	x.bucket = NewTokenBucket(1, 1)
	x.updateRate()
	for i, c := range opts.Collectors {
		if c.Transport > policy.TransportTLS {
			return nil, fmt.Errorf("exporter: collector %d (%s): unknown transport %v", i, c.Address, c.Transport)
		}
		col, err := newExportSession(c, &x.opts)
		if err != nil {
			return nil, fmt.Errorf("exporter: collector %d (%s): %w", i, c.Address, err)
		}
		x.collectors = append(x.collectors, col)
	}
	for _, oc := range opts.Outputs {
		o, err := newOutput(oc, &x.opts)
		if err != nil {
			x.closeOutputs()
			return nil, err
		}
		x.outputs = append(x.outputs, o)
	}
	return x, nil
}

func (x *Exporter) closeOutputs() {
	for _, o := range x.outputs {
		if o.f != nil {
			o.f.Close()
		}
	}
}

// updateRate recomputes the token-bucket rate: the lower of the absolute
// limit and PortCapacity × fraction / (8 × octets per record), the latter
// measured from what the collectors sent.
func (x *Exporter) updateRate() {
	var recs, oct uint64
	for _, c := range x.collectors {
		recs += c.records.Load()
		// count the IPv6 + UDP/TCP headers of every message too
		oct += c.octets.Load() + 48*c.messages.Load()
	}
	if recs >= 100 {
		x.avgOct = max(oct/recs, 16)
	}
	rate := x.limitRPS
	if x.fraction > 0 {
		byCap := uint64(float64(x.opts.PortCapacity) * x.fraction / float64(8*x.avgOct))
		if rate == 0 || byCap < rate {
			rate = byCap
		}
	}
	rate = max(rate, 1)
	burst := x.burst
	if burst == 0 {
		burst = rate // one second's worth, as policy.RateLimit documents
	}
	x.bucket.SetRate(rate, burst)
	x.rate.Store(rate)
}

// Run drains the rings until ctx is cancelled or Stop is called, then
// exports what the rings still hold, flushes every output and waits (at
// most WriteTimeout) for the writers. It returns nil after Stop, ctx.Err()
// after cancellation, or ErrRunning if called more than once.
func (x *Exporter) Run(ctx context.Context) error {
	if !x.running.CompareAndSwap(false, true) {
		return ErrRunning
	}
	defer close(x.finished)
	writersDone := make(chan struct{})
	var wg sync.WaitGroup
	for _, c := range x.collectors {
		wg.Add(1)
		go func() { defer wg.Done(); c.run(writersDone) }()
	}
	for _, o := range x.outputs {
		wg.Add(1)
		go func() { defer wg.Done(); o.run(writersDone) }()
	}

	t0 := x.opts.Now()
	x.bucket.Reset(t0.UnixNano())
	idle := time.Duration(0)
	nextRate := t0.Add(time.Second)
	for i := range x.aggs {
		x.aggs[i].next = t0.Add(x.aggs[i].interval)
	}
	var err error
loop:
	for {
		n := x.drain()
		x.aggTick(false)
		if now := x.opts.Now(); now.After(nextRate) {
			x.updateRate() // also under sustained load
			nextRate = now.Add(time.Second)
		}
		if n > 0 {
			idle = 0
			continue
		}
		x.flush()
		idle = min(max(2*idle, 20*time.Microsecond), x.opts.PollInterval)
		t := time.NewTimer(idle)
		select {
		case <-ctx.Done():
			t.Stop()
			err = ctx.Err()
			break loop
		case <-x.stop:
			t.Stop()
			break loop
		case <-t.C:
		}
	}
	// Final pass: what the workers pushed before stopping.
	for x.drain() > 0 {
	}
	x.aggTick(true)
	x.flush()
	for _, c := range x.collectors {
		if !c.up.Load() {
			// Encoded while a session was briefly up (e.g. a TLS 1.3
			// session the collector refused after the handshake) and never
			// flushed: count them, so sent + dropped = exported.
			c.dropped.Add(uint64(c.enc.ResetSession()))
		}
	}
	close(writersDone)
	wg.Wait()
	return err
}

// Stop makes Run return and waits until it has; safe to call more than
// once and before Run (Run then returns at once).
func (x *Exporter) Stop() {
	x.stopOnce.Do(func() { close(x.stop) })
	if x.running.Load() {
		<-x.finished
	}
}

// Reopen makes every file output reopen its path (after log rotation); the
// files are reopened by their writer goroutines shortly after. It also
// rereads the certificate, key and CA files of TLS collectors, used from
// the next connection on; a collector whose files do not load keeps its
// previous ones, and the errors are returned joined. Safe from any
// goroutine, e.g. a SIGHUP handler.
func (x *Exporter) Reopen() error {
	var errs []error
	for i, c := range x.collectors {
		if c.tls != nil {
			if err := c.tls.load(); err != nil {
				errs = append(errs, fmt.Errorf("collector %d (%s): %w", i, c.cfg.Address, err))
			}
		}
	}
	defer x.reopenOutputs()
	return errors.Join(errs...)
}

func (x *Exporter) reopenOutputs() {
	for _, o := range x.outputs {
		select {
		case o.reopen <- struct{}{}:
		default:
		}
	}
}

// Tokens returns how many records the rate limiter would have let through
// back to back when it last admitted or refused one (the bucket refills
// between drains, so this is a lower bound). Safe from any goroutine.
func (x *Exporter) Tokens() float64 {
	return float64(x.tokens.Load()) / nanoRecord
}

// drain takes up to DefaultBatch records from each ring and exports them;
// it returns the number of records taken. Drainer goroutine only.
func (x *Exporter) drain() int {
	now := x.opts.Now().UnixNano()
	total, admitted, limited := 0, 0, 0
	for _, q := range x.rings {
		for taken := 0; taken < DefaultBatch; {
			rs := q.PeekRun(DefaultBatch - taken)
			if len(rs) == 0 {
				break
			}
			a, l := x.drainRun(rs, now)
			admitted, limited, taken = admitted+a, limited+l, taken+len(rs)
			total += len(rs)
			q.ReleaseBatchedN(len(rs))
		}
		q.PublishReleases() // one store per ring and drain, not per record
	}
	if total > 0 {
		x.tokens.Store(x.bucket.tokens)
		x.offered.Add(uint64(total))
		x.admitted.Add(uint64(admitted))
		x.rateLimited.Add(uint64(limited))
	}
	return total
}

// drainRun exports a run of records taken from a ring, or aggregates
// them as their routes' settings say, and returns how many the rate
// limiter admitted and refused. Without aggregation it asks the rate
// limiter once for the run (TokenBucket.AllowN, exactly what a call per
// record at the same instant would admit). Drainer goroutine only.
func (x *Exporter) drainRun(rs []telemetry.Record, now int64) (admitted, limited int) {
	if len(x.aggs) == 0 {
		k := x.bucket.AllowN(now, len(rs))
		x.exportRun(rs[:k], now)
		return k, len(rs) - k
	}
	for i := range rs {
		r := &rs[i]
		if a := x.aggFor(r.Route); a != nil {
			a.Add(r) // rate limited when the aggregates leave
			if !x.opts.Aggregate.KeepPerPacket {
				continue
			}
		}
		if x.bucket.Allow(now) {
			admitted++
			x.exportRun(rs[i:i+1], now)
		} else {
			limited++
		}
	}
	return admitted, limited
}

// exportRun hands the admitted records rs to every collector (or, with
// flow partitioning, each record to its flow's collector) and output; now
// is the drain's clock reading (unix ns), the Export Time of a message
// they open.
func (x *Exporter) exportRun(rs []telemetry.Record, now int64) {
	if len(rs) == 0 {
		return
	}
	if x.opts.Partition == policy.PartitionFlow && len(x.collectors) > 0 {
		for i := range rs {
			r := &rs[i]
			if x.collectors[PartitionIndex(r.Namespace, r.FlowID, len(x.collectors))].offer(rs[i:i+1], now) > 0 {
				x.encodeErrors.Add(1)
			}
		}
	} else {
		for _, c := range x.collectors {
			if failed := c.offer(rs, now); failed > 0 {
				x.encodeErrors.Add(uint64(failed))
			}
		}
	}
	for _, o := range x.outputs {
		for i := range rs {
			o.offer(&rs[i])
		}
	}
}

// flush finishes partial messages and output chunks (drainer goroutine).
func (x *Exporter) flush() {
	for _, c := range x.collectors {
		if c.up.Load() {
			c.enc.Flush()
		}
	}
	for _, o := range x.outputs {
		o.flush()
	}
}

// Sockets returns the current transport endpoints of the collector
// sessions (one per collector with an open socket). The data plane must
// treat packets between these endpoints as export traffic and never add
// DEX to them (RFC 9326 §5: no export loops); for TCP the local port
// changes on each reconnection, so match on the collector (Remote) as well.
func (x *Exporter) Sockets() []Socket {
	var s []Socket
	for _, c := range x.collectors {
		if p := c.socket.Load(); p != nil {
			s = append(s, *p)
		}
	}
	return s
}

// CollectorCounters are the counters of one collector.
type CollectorCounters struct {
	// Address and Transport identify the collector (as configured).
	Address   string
	Transport policy.Transport
	// Up reports an established session (UDP: socket open).
	Up bool
	// Records, Messages and Octets were written to the socket.
	Records, Messages, Octets uint64
	// Dropped records: collector down or unreachable, writer behind,
	// send errors, or encoded for a session that was lost.
	Dropped uint64
	// Behind is the part of Dropped lost because every message buffer was
	// queued: the writer goroutine could not keep up (CPU starved or a
	// slow socket), although the collector may be up.
	Behind uint64
	// SendErrors counts failed socket writes.
	SendErrors uint64
	// Connects counts established sessions (TCP: connections).
	Connects uint64
	// TLSErrors counts failed TLS handshakes and TLS sessions the
	// collector refused with an alert (TransportTLS only).
	TLSErrors uint64
	// Templates is the number of templates allocated.
	Templates int
}

// OutputCounters are the counters of one local output.
type OutputCounters struct {
	// Path ("" or "-" = stdout) and Format identify the output.
	Path   string
	Format policy.OutputFormat
	// Records written; Dropped because the writer was behind or a write
	// failed; Errors counts failed writes and reopens.
	Records, Dropped, Errors uint64
}

// Counters is a snapshot of the exporter's counters (records unless noted).
// Every value is read atomically; the snapshot as a whole is not atomic.
type Counters struct {
	// Offered records were taken from the rings.
	Offered uint64
	// Aggregated per-packet records were folded into per-flow aggregates
	// (export.aggregate); AggregateRecords aggregates were exported
	// (also counted in Exported); AggregateOverflow records were dropped
	// because the aggregation table was full.
	Aggregated, AggregateRecords, AggregateOverflow uint64
	// Aggregating is set when export.aggregate is on for the node or any
	// route; AggregateIntervals counts the intervals exported (summed over
	// the aggregators, one per distinct interval) and AggregateFlows is
	// the number of flows the aggregation tables held after the last one
	// (a gauge).
	Aggregating        bool
	AggregateIntervals uint64
	AggregateFlows     uint64
	// Exported records passed the rate limit and went to the outputs.
	Exported uint64
	// RateLimited records were dropped by the export rate limit.
	RateLimited uint64
	// RingFull records were dropped by workers because their ring was full.
	RingFull uint64
	// CollectorDropped is the sum of the collectors' Dropped.
	CollectorDropped uint64
	// CollectorBehind is the sum of the collectors' Behind (a part of
	// CollectorDropped).
	CollectorBehind uint64
	// EncodeErrors records could not be encoded (template limit).
	EncodeErrors uint64
	// OutputDropped is the sum of the local outputs' Dropped.
	OutputDropped uint64
	// RateLimit is the current limit in records per second.
	RateLimit uint64
	// Collectors are the per-collector counters, in configuration order.
	Collectors []CollectorCounters
	// Outputs are the per-output counters, in configuration order.
	Outputs []OutputCounters
}

// Counters returns a snapshot of the counters; safe from any goroutine.
func (x *Exporter) Counters() Counters {
	c := Counters{
		Offered:    x.offered.Load(),
		Aggregated: x.aggregated.Load(), AggregateRecords: x.aggRecords.Load(), AggregateOverflow: x.aggOverflow.Load(),
		Aggregating: len(x.aggs) > 0, AggregateIntervals: x.aggIntervals.Load(), AggregateFlows: x.aggFlows.Load(),
		Exported:     x.admitted.Load(),
		RateLimited:  x.rateLimited.Load(),
		EncodeErrors: x.encodeErrors.Load(),
		RateLimit:    x.rate.Load(),
	}
	for _, q := range x.rings {
		c.RingFull += q.Full()
	}
	for _, col := range x.collectors {
		cc := CollectorCounters{
			Address: col.cfg.Address, Transport: col.cfg.Transport, Up: col.up.Load(),
			Records: col.records.Load(), Messages: col.messages.Load(), Octets: col.octets.Load(),
			Dropped: col.dropped.Load(), SendErrors: col.sendErrors.Load(), Connects: col.connects.Load(),
			Behind: col.behind.Load(), TLSErrors: col.tlsErrors.Load(),
			Templates: int(col.templates.Load()),
		}
		c.CollectorDropped += cc.Dropped
		c.CollectorBehind += cc.Behind
		c.Collectors = append(c.Collectors, cc)
	}
	for _, o := range x.outputs {
		oc := OutputCounters{Path: o.cfg.Path, Format: o.cfg.Format, Records: o.records.Load(), Dropped: o.dropped.Load(), Errors: o.errors.Load()}
		c.OutputDropped += oc.Dropped
		c.Outputs = append(c.Outputs, oc)
	}
	return c
}
