// Package dataplane is dexplane's forwarding engine: it attaches the XDP
// steering program (package steering) to the two ports of a bump in the wire,
// runs one AF_XDP worker (package dataplane/xsk) per RX queue, hands every
// steered frame to a per-worker handler (the IOAM roles of dataplane/node,
// or plain forwarding), swaps the policy snapshot atomically, exposes
// counters, and stops cleanly.
//
// # Lifecycle
//
//	e, err := dataplane.New(opts)   // validates, no system calls
//	err = e.Start(ctx)              // load + attach XDP, open sockets, run workers
//	...                             // e.Counters(), e.SetPolicy(s)
//	err = e.Stop()                  // unregister sockets, drain, close, detach XDP
//
// Start must run in the network namespace of the ports (interface indexes,
// AF_XDP binds and XDP attachments are resolved in the calling thread's
// namespace). Cancelling Start's context stops the engine like Stop.
//
// # Transparency during start and stop
//
// The steering program sends a frame meant for a worker whose queue has no
// socket in the XSKMAP to the peer port in the kernel. Start registers the
// sockets before workers run and Stop unregisters them before the workers
// drain, so the bump forwards throughout, only without the roles while it
// starts or stops.
//
// # Requirements
//
// Linux ≥ 5.12 and root (CAP_BPF, CAP_NET_ADMIN, CAP_NET_RAW); see packages
// steering and dataplane/xsk.
//
// # NIC setup
//
// Worker q binds RX/TX queue q of both ports, so Options.Queues must match
// the ports' combined channel count (ethtool -L IF combined N) and RSS must
// spread flows over exactly those queues (ethtool -X IF equal N); a flow
// stays on one queue, so per-flow sequence numbers need no lock. Pin each
// queue's IRQ (/proc/irq/*/smp_affinity_list) to the CPU its worker is
// pinned to (Options.CPUs) or to its SMT sibling. Zero-copy needs driver
// support (ice, i40e, mlx5, ixgbe, …) and native attach; veths have one
// queue pair each and run in copy mode. With AttachAuto a port whose
// frames leave through a veth is attached natively with the crossing frames
// moved by TC (steering.AttachPortPeerViaTC), since a veth refuses native
// redirects unless its neighbour runs XDP; an explicit AttachNative toward
// a veth is logged as a warning. Frames from a virtual device with TX
// checksum offload arrive with unfinished transport checksums; each worker
// completes them on ports whose Options.Checksums allows it (package
// dataplane/checksum), counted in PortCounters.Checksum; a port on a
// known physical device skips that stage (its frames come from the wire).
package dataplane

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/netip"
	"sync"
	"sync/atomic"
	"time"

	"github.com/dexplane/dexplane/steering"

	"github.com/dexplane/dexplane/dataplane/checksum"
	"github.com/dexplane/dexplane/dataplane/handle"
	"github.com/dexplane/dexplane/dataplane/policy"
	"github.com/dexplane/dexplane/dataplane/xsk"
)

// Sentinel errors.
var (
	// ErrStarted: Start was called on an engine that already started.
	ErrStarted = errors.New("dataplane: engine already started")
	// ErrNotStarted: the engine is not running.
	ErrNotStarted = errors.New("dataplane: engine not running")
	// ErrOptions wraps every validation error of New.
	ErrOptions = errors.New("dataplane: invalid options")
)

// Options configures an Engine. Zero values take the defaults noted.
type Options struct {
	// Ports are the interface names of port 0 and port 1.
	Ports [2]string
	// Roles place each port inside or outside the IOAM domain; they decide
	// what the XDP program steers in SteerSampled. Default inside.
	Roles [2]policy.Domain
	// Queues is the number of RX queues per port, one worker each;
	// default 1. Worker q binds queue q on both ports.
	Queues int

	// FrameSize is the UMEM chunk size in bytes, 2048 or 4096; default 2048.
	FrameSize int
	// Frames is the number of UMEM chunks per worker; default
	// 2×(FillSize+TxSize).
	Frames int
	// Headroom is the UMEM headroom in bytes the kernel leaves before each
	// received frame on top of its own 256; default xsk.DefaultHeadroom.
	Headroom int
	// Ring sizes in descriptors (powers of two); default xsk.DefaultRingSize,
	// xsk.DefaultFillSize for the fill ring.
	RxSize, TxSize, FillSize, CompletionSize uint32
	// BatchSize is the most frames a worker takes from one RX ring per
	// iteration; default xsk.DefaultBatchSize.
	BatchSize int
	// BusyPoll and BusyPollBudget turn on preferred busy polling of the
	// workers' sockets (xsk.WorkerConfig.BusyPoll); 0 is off.
	BusyPoll       time.Duration
	BusyPollBudget int
	// Bind is the AF_XDP bind mode; default xsk.ModeAuto (zero-copy if the
	// driver has it, else copy, logged).
	Bind xsk.BindMode
	// Attach is the XDP attach mode; default policy.AttachAuto.
	Attach policy.AttachMode
	// Steer selects what reaches the workers; default policy.SteerAll.
	Steer policy.Steer
	// Checksums says, per port, whether frames received there get an
	// unfinished transport checksum completed (package dataplane/checksum);
	// default policy.ChecksumAuto: on for virtual devices.
	Checksums [2]policy.ChecksumMode
	// PassForeignHbH: see steering.Options.
	PassForeignHbH bool
	// OrderWindow: see steering.Options; needs SteerSampled.
	OrderWindow time.Duration
	// MaxRoutes sizes the XDP route tables; default steering.DefaultMaxRoutes.
	MaxRoutes int
	// CPUs pins worker i to CPUs[i%len(CPUs)]; empty means no pinning.
	CPUs []int

	// Handler returns the handler of worker i; called once per worker by
	// Start. nil means handle.Identity (plain forwarding).
	Handler func(worker int) handle.Handler
	// Policy is the initial snapshot stored in Engine.Policy() (may be nil).
	Policy *policy.Snapshot
	// Logger receives lifecycle messages; nil means slog.Default().
	Logger *slog.Logger
}

// Engine runs the data plane of one node. Its methods are safe for
// concurrent use.
type Engine struct {
	opts Options
	log  *slog.Logger

	policy atomic.Pointer[policy.Snapshot]

	mu       sync.Mutex
	state    int // stateNew, stateRunning, stateStopped
	ifindex  [2]int
	xdp      *steering.Objects
	atts     [2]*steering.Attachment
	workers  []*xsk.Worker
	handlers []handle.Handler
	csum     []*checksum.Handler
	devices  [2]Device
	fixCsum  [2]bool
	offCsum  [2]bool        // neither completed nor checked (skipChecksums)
	warned   [2]atomic.Bool // unfinished checksums on a port without completion
	runErrs  chan error
	stopCtx  context.CancelFunc
	done     chan struct{}
	final    Counters // kept after Stop

	rxQueues [2]atomic.Int32 // ports' RX queue counts as last read; 0 unknown
}

const (
	stateNew = iota
	stateRunning
	stateStopped
)

// New validates opts and returns an engine that has not started.
func New(opts Options) (*Engine, error) {
	if opts.Queues == 0 {
		opts.Queues = 1
	}
	if opts.FrameSize == 0 {
		opts.FrameSize = xsk.FrameSize2K
	}
	if opts.Headroom == 0 {
		opts.Headroom = xsk.DefaultHeadroom
	}
	if opts.FillSize == 0 {
		opts.FillSize = xsk.DefaultFillSize
	}
	for _, p := range []*uint32{&opts.RxSize, &opts.TxSize, &opts.FillSize, &opts.CompletionSize} {
		if *p == 0 {
			*p = xsk.DefaultRingSize
		}
	}
	if opts.Frames == 0 {
		opts.Frames = 2 * int(opts.FillSize+opts.TxSize)
	}
	if opts.BatchSize == 0 {
		opts.BatchSize = xsk.DefaultBatchSize
	}
	if opts.Handler == nil {
		opts.Handler = func(int) handle.Handler { return handle.Identity{} }
	}
	if opts.Logger == nil {
		opts.Logger = slog.Default()
	}
	var errs []error
	for i, p := range opts.Ports {
		if p == "" {
			errs = append(errs, fmt.Errorf("port %d: no interface name", i))
		}
	}
	if opts.Ports[0] != "" && opts.Ports[0] == opts.Ports[1] {
		errs = append(errs, fmt.Errorf("ports: both are %q", opts.Ports[0]))
	}
	if opts.Queues < 1 || opts.Queues > steering.MaxQueues {
		errs = append(errs, fmt.Errorf("queues %d: want 1..%d", opts.Queues, steering.MaxQueues))
	}
	if opts.FrameSize != xsk.FrameSize2K && opts.FrameSize != xsk.FrameSize4K {
		errs = append(errs, fmt.Errorf("frame size %d: want 2048 or 4096", opts.FrameSize))
	}
	for _, r := range []struct {
		name string
		v    uint32
	}{{"rx ring", opts.RxSize}, {"tx ring", opts.TxSize}, {"fill ring", opts.FillSize}, {"completion ring", opts.CompletionSize}} {
		if r.v&(r.v-1) != 0 || r.v > 1<<16 {
			errs = append(errs, fmt.Errorf("%s size %d: want a power of two ≤ 65536", r.name, r.v))
		}
	}
	if opts.BatchSize < 1 || opts.BatchSize > int(opts.RxSize) || opts.BatchSize > int(opts.TxSize) {
		errs = append(errs, fmt.Errorf("batch size %d: want 1..min(rx %d, tx %d)", opts.BatchSize, opts.RxSize, opts.TxSize))
	}
	if opts.Frames < int(opts.FillSize)+opts.BatchSize {
		errs = append(errs, fmt.Errorf("frames %d: fewer than fill ring %d + batch %d", opts.Frames, opts.FillSize, opts.BatchSize))
	}
	if err := errors.Join(errs...); err != nil {
		return nil, fmt.Errorf("%w: %w", ErrOptions, err)
	}
	e := &Engine{opts: opts, log: opts.Logger, done: make(chan struct{})}
	e.policy.Store(opts.Policy)
	return e, nil
}

// Policy returns the atomic pointer every worker's handler reads the current
// snapshot from (node.Config.Policy). Swap it with SetPolicy, which also
// updates the XDP program's maps.
func (e *Engine) Policy() *atomic.Pointer[policy.Snapshot] { return &e.policy }

// Start loads and attaches the XDP program, opens the AF_XDP sockets of
// every worker, registers them in the XSKMAP and runs the workers. It
// returns once forwarding runs. When ctx is cancelled the engine stops as
// if Stop were called. On error everything Start created is released.
func (e *Engine) Start(ctx context.Context) (err error) {
	e.mu.Lock()
	defer e.mu.Unlock()
	if e.state != stateNew {
		return ErrStarted
	}
	defer func() {
		if err != nil {
			e.release()
			e.state = stateStopped
			close(e.done)
		}
	}()
	for p, name := range e.opts.Ports {
		ifc, err := net.InterfaceByName(name)
		if err != nil {
			return fmt.Errorf("dataplane: port %d %q: %w", p, name, err)
		}
		e.ifindex[p] = ifc.Index
		d, err := DeviceInfo(name)
		if err != nil {
			e.log.Debug("dataplane: cannot read the port's driver", "port", name, "err", err)
		}
		e.devices[p] = d
		e.fixCsum[p] = fixChecksums(e.opts.Checksums[p], d, err == nil)
		e.offCsum[p] = skipChecksums(e.opts.Checksums[p], d, err == nil)
		if e.fixCsum[p] {
			e.log.Info("dataplane: completing unfinished transport checksums of frames received on the port",
				"port", name, "driver", d.Driver, "complete_checksums", e.opts.Checksums[p])
		}
	}
	for p, n := range e.CheckQueues() {
		if n > 0 && n < e.opts.Queues {
			return fmt.Errorf("dataplane: port %d %q has %d RX queues, fewer than queues %d: lower queues or raise the device's channels (ethtool -L %s combined %d; on a veth: rx %d tx %d)",
				p, e.opts.Ports[p], n, e.opts.Queues, e.opts.Ports[p], e.opts.Queues, e.opts.Queues, e.opts.Queues)
		}
	}
	e.xdp, err = steering.Load(steering.Options{
		Steer: e.opts.Steer, MaxRoutes: e.opts.MaxRoutes,
		PassForeignHbH: e.opts.PassForeignHbH, OrderWindow: e.opts.OrderWindow, Logger: e.log,
	})
	if err != nil {
		return fmt.Errorf("dataplane: %w", err)
	}
	if err := e.pushPolicy(e.policy.Load()); err != nil {
		return err
	}
	for q := 0; q < e.opts.Queues; q++ {
		h := e.opts.Handler(q)
		if h == nil {
			return fmt.Errorf("dataplane: handler factory returned nil for worker %d", q)
		}
		ch := &checksum.Handler{Next: h, Fix: e.fixCsum, Off: e.offCsum, OnUnfinished: e.warnUnfinished}
		var wh handle.Handler = ch
		if ch.Off == [2]bool{true, true} {
			wh = h // two physical ports: no checksum stage at all (its counters stay 0)
		}
		cfg := xsk.WorkerConfig{
			ID: q, Ifindex: e.ifindex,
			Umem:   xsk.UmemConfig{FrameSize: e.opts.FrameSize, NumFrames: e.opts.Frames, Headroom: e.opts.Headroom},
			RxSize: e.opts.RxSize, TxSize: e.opts.TxSize, FillSize: e.opts.FillSize, CompletionSize: e.opts.CompletionSize,
			Mode: e.opts.Bind, BatchSize: e.opts.BatchSize, Handler: wh, Logger: e.log,
			BusyPoll: e.opts.BusyPoll, BusyPollBudget: e.opts.BusyPollBudget,
		}
		if len(e.opts.CPUs) > 0 {
			cfg.PinCPU, cfg.CPU = true, e.opts.CPUs[q%len(e.opts.CPUs)]
		}
		w, err := xsk.NewWorker(cfg)
		if err != nil {
			return fmt.Errorf("dataplane: worker %d on %s/%s queue %d: %w", q, e.opts.Ports[0], e.opts.Ports[1], q, err)
		}
		e.workers = append(e.workers, w)
		e.handlers = append(e.handlers, h)
		e.csum = append(e.csum, ch)
		for p := range 2 {
			if err := e.xdp.RegisterXSK(p, q, w.Socket(p).FD()); err != nil {
				return fmt.Errorf("dataplane: %w", err)
			}
		}
	}
	for p := range 2 {
		plan := chooseAttach(e.opts.Attach, e.devices[1-p])
		if plan.warn != "" {
			e.log.Warn("dataplane: attach_mode native may drop the frames XDP forwards in the kernel (neighbour discovery, IPv4, unsampled frames); refused redirects are counted as drops_total{reason=\"xdp_redirect_peer\"}",
				"port", e.opts.Ports[p], "egress", e.opts.Ports[1-p], "egress_driver", e.devices[1-p].Driver, "why", plan.warn,
				"fix", "set dataplane.attach_mode: auto (native, crossing frames moved by TC), or give the peer of "+e.opts.Ports[1-p]+" an XDP program or GRO (ethtool -K PEER gro on)")
		}
		var a *steering.Attachment
		if plan.viaTC {
			a, err = e.xdp.AttachPortPeerViaTC(e.ifindex[p], p, e.ifindex[1-p], e.opts.Roles[p])
			if err != nil {
				e.log.Warn("dataplane: attach_mode auto: native attach with TC crossing failed; falling back to generic (the neighbour's GSO frames larger than a UMEM chunk will be dropped: turn its TSO off or use a kernel with tcx, Linux ≥ 6.6)",
					"port", e.opts.Ports[p], "err", err)
				plan = attachPlan{mode: policy.AttachGeneric}
			} else {
				e.log.Info("dataplane: attach_mode auto: native, frames that cross the bump leave through TC (the egress is a veth, which refuses native redirects unless its neighbour runs XDP)",
					"port", e.opts.Ports[p], "egress", e.opts.Ports[1-p])
			}
		}
		if a == nil {
			a, err = e.xdp.AttachPort(e.ifindex[p], p, e.ifindex[1-p], plan.mode, e.opts.Roles[p])
		}
		if err != nil {
			return fmt.Errorf("dataplane: port %d %q: %w", p, e.opts.Ports[p], err)
		}
		e.atts[p] = a
	}
	if len(e.opts.CPUs) > 0 {
		// Only the workers' threads are pinned; the rest of the runtime
		// (GC, exporter, metrics) stays off their CPUs.
		if msg, err := confineRuntime(e.opts.CPUs); err != nil {
			e.log.Warn("dataplane: cannot keep the runtime off the worker CPUs", "cpus", e.opts.CPUs, "err", err)
		} else if msg != "" {
			e.log.Info("dataplane: "+msg, "worker_cpus", e.opts.CPUs)
		}
	}
	e.runErrs = make(chan error, len(e.workers))
	for _, w := range e.workers {
		go func() { e.runErrs <- w.Run() }()
	}
	e.state = stateRunning
	wctx, cancel := context.WithCancel(ctx)
	e.stopCtx = cancel
	go func() {
		<-wctx.Done()
		if ctx.Err() != nil {
			if err := e.Stop(); err != nil && !errors.Is(err, ErrNotStarted) {
				e.log.Error("dataplane: stop on context cancel", "err", err)
			}
		}
	}()
	e.log.Info("dataplane: started", "ports", e.opts.Ports, "ifindex", e.ifindex, "queues", e.opts.Queues,
		"attach", [2]policy.AttachMode{e.atts[0].Mode, e.atts[1].Mode}, "steer", e.opts.Steer,
		"zerocopy", e.workers[0].ZeroCopy(), "frames", e.opts.Frames, "frame_size", e.opts.FrameSize)
	return nil
}

// warnUnfinished is called by a worker the first time a frame with an
// unfinished checksum arrives on port p, where completion is off.
func (e *Engine) warnUnfinished(p int) {
	if e.warned[p].Swap(true) {
		return
	}
	e.log.Warn("dataplane: frames with an unfinished transport checksum (TX checksum offload of a virtual sender) arrive on a port that does not complete them; they leave with a wrong checksum and the receiver drops them (counted as checksums_unfinished_total)",
		"port", e.opts.Ports[p], "driver", e.devices[p].Driver,
		"fix", "set ports[].complete_checksums: on (or auto) for "+e.opts.Ports[p]+", or turn the sender's offload off (ethtool -K IF tx off)")
}

// CheckQueues reads both ports' RX queue counts (RxQueues, in the calling
// thread's network namespace), keeps them for Counters, logs a warning when
// a port has more queues than the engine has workers (frames on the extra
// queues cross unmodified, counted as xsk_miss) and a line when a count
// changes, and returns them (0 where unknown). Safe from any goroutine;
// the daemon calls it at start and periodically, since a channel change
// (ethtool -L) raises no link notification.
func (e *Engine) CheckQueues() [2]int {
	var got [2]int
	for p, name := range e.opts.Ports {
		n, err := RxQueues(name)
		if err != nil {
			if !errors.Is(err, ErrNoChannels) {
				e.log.Debug("dataplane: cannot read RX queue count", "port", name, "err", err)
			}
			n = 0
		}
		got[p] = n
		old := int(e.rxQueues[p].Swap(int32(n)))
		if n == old || n == 0 {
			continue
		}
		if n > e.opts.Queues {
			e.log.Warn("dataplane: port has more RX queues than workers; frames on the others cross without IOAM (counted as xdp xsk_miss)",
				"port", name, "rx_queues", n, "workers", e.opts.Queues, "fix", fmt.Sprintf("ethtool -L %s combined %d, or queues: %d", name, e.opts.Queues, n))
		} else if old != 0 {
			e.log.Info("dataplane: port RX queue count changed", "port", name, "rx_queues", n, "was", old, "workers", e.opts.Queues)
		}
	}
	return got
}

// SetPolicy makes s the snapshot handlers see from their next frame on and,
// in SteerSampled, loads its routes and decap endpoints into the XDP
// program. The previous snapshot keeps serving until the pointer swap; an
// error updating the XDP maps is returned after the swap (the maps may then
// hold a mix, as steering.SetRoutes documents).
func (e *Engine) SetPolicy(s *policy.Snapshot) error {
	e.policy.Store(s)
	e.mu.Lock()
	defer e.mu.Unlock()
	if e.state != stateRunning {
		return nil
	}
	return e.pushPolicy(s)
}

// pushPolicy loads the snapshot's routes into the XDP maps (SteerSampled).
func (e *Engine) pushPolicy(s *policy.Snapshot) error {
	if s == nil || e.opts.Steer != policy.SteerSampled || e.xdp == nil {
		return nil
	}
	var routes []steering.SteerRoute
	if s.Routes != nil {
		for _, r := range s.Routes.Routes() {
			routes = append(routes, steering.SteerRoute{Prefix: r.Prefix, RouteID: uint32(r.ID), K: r.K, N: r.N})
		}
	}
	if err := e.xdp.SetRoutes(routes); err != nil {
		return fmt.Errorf("dataplane: policy generation %d: %w", s.Generation, err)
	}
	var decap []netip.Addr
	if s.DecapEndpoints != nil {
		decap = s.DecapEndpoints.All()
	}
	if err := e.xdp.SetDecapEndpoints(decap); err != nil {
		return fmt.Errorf("dataplane: policy generation %d: %w", s.Generation, err)
	}
	return nil
}

// Handler returns worker i's handler (for example to reach a node's record
// ring), or nil.
func (e *Engine) Handler(i int) handle.Handler {
	e.mu.Lock()
	defer e.mu.Unlock()
	if i < 0 || i >= len(e.handlers) {
		return nil
	}
	return e.handlers[i]
}

// Workers returns the number of workers (Options.Queues once started).
func (e *Engine) Workers() int {
	e.mu.Lock()
	defer e.mu.Unlock()
	return len(e.workers)
}

// Ifindex returns the interface index of port p, resolved by Start.
func (e *Engine) Ifindex(p int) int { return e.ifindex[p&1] }

// XDP returns the loaded XDP objects (for example to read their counters
// or routes); nil before Start and after Stop.
func (e *Engine) XDP() *steering.Objects {
	e.mu.Lock()
	defer e.mu.Unlock()
	return e.xdp
}

// Done returns a channel closed when the engine has stopped.
func (e *Engine) Done() <-chan struct{} { return e.done }

// StopTimeout bounds how long Stop waits for the workers to drain.
const StopTimeout = 5 * time.Second

// Stop takes the sockets out of the XSKMAP (frames then cross in the
// kernel), lets the workers drain their rings, closes the sockets, detaches
// the XDP programs and frees the maps, so no program stays attached. It
// returns ErrNotStarted if the engine is not running; it is safe to call
// from any goroutine and more than once.
func (e *Engine) Stop() error {
	e.mu.Lock()
	defer e.mu.Unlock()
	if e.state != stateRunning {
		return ErrNotStarted
	}
	e.state = stateStopped
	e.stopCtx()
	var errs []error
	for q := range e.workers {
		for p := range 2 {
			if err := e.xdp.UnregisterXSK(p, q); err != nil {
				errs = append(errs, err)
			}
		}
	}
	for _, w := range e.workers {
		w.Stop()
	}
	timeout := time.After(StopTimeout)
	for range e.workers {
		select {
		case err := <-e.runErrs:
			if err != nil {
				errs = append(errs, err)
			}
		case <-timeout:
			errs = append(errs, fmt.Errorf("dataplane: workers did not stop within %v", StopTimeout))
		}
	}
	e.final = e.countersLocked()
	errs = append(errs, e.release())
	close(e.done)
	e.log.Info("dataplane: stopped", "ports", e.opts.Ports)
	return errors.Join(errs...)
}

// release closes the workers (sockets, UMEMs) and the XDP objects (detach).
func (e *Engine) release() error {
	var errs []error
	for _, w := range e.workers {
		if err := w.Close(); err != nil {
			errs = append(errs, err)
		}
	}
	if e.xdp != nil {
		if err := e.xdp.Close(); err != nil {
			errs = append(errs, fmt.Errorf("dataplane: %w", err))
		}
		e.xdp = nil
	}
	e.atts = [2]*steering.Attachment{}
	return errors.Join(errs...)
}
