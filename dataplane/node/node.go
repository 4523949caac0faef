package node

import (
	"errors"
	"fmt"
	"net"
	"strconv"
	"sync/atomic"
	"time"

	"github.com/dexplane/dexplane/dataplane/flow"
	"github.com/dexplane/dexplane/dataplane/handle"
	"github.com/dexplane/dexplane/dataplane/packet"
	"github.com/dexplane/dexplane/dataplane/policy"
	"github.com/dexplane/dexplane/dataplane/telemetry"
)

// Defaults used when a Config or a Snapshot leaves a value at zero.
const (
	// DefaultRingSize is the record ring capacity, in records.
	DefaultRingSize = 4096
	// DefaultMaxFlows is the flow-table bound when Flows.MaxFlows is 0.
	DefaultMaxFlows = 65536
)

// IPFIX well-known ports (RFC 7011 §10.3): packets to them are telemetry
// export traffic and never receive DEX.
const (
	portIPFIX    = 4739
	portIPFIXTLS = 4740
)

// maxExportPorts bounds the collector ports remembered per snapshot.
const maxExportPorts = 8

// ErrConfig is wrapped by the errors New returns for an invalid Config.
var ErrConfig = errors.New("node: invalid config")

// Config is what the engine gives New for one worker.
type Config struct {
	// Policy is the engine's current snapshot, shared by all workers and
	// swapped atomically on reload. Required. Each Handle loads it once; a
	// nil snapshot makes the node forward every frame untouched.
	Policy *atomic.Pointer[policy.Snapshot]
	// RingSize is the capacity of the node's record ring, a power of two
	// (0 means DefaultRingSize).
	RingSize int
	// PortMTU is each port's interface MTU in octets of IPv6 packet (the
	// Ethernet header not included), used when the snapshot's Port.MTU is
	// 0. A port whose MTU is 0 in both places is not MTU-checked: only the
	// frame's headroom bounds what the node inserts.
	PortMTU [2]int
	// Clock returns CLOCK_REALTIME in nanoseconds since the Unix epoch, on
	// the same clock as handle.Frame.RxTime; it is read once per exported
	// record whose trace type asks for the transit delay (bit 4). nil means
	// time.Now().UnixNano.
	Clock func() int64
	// Presampled, when not nil, reports for a frame from an outside port
	// what the XDP program's route sampler decided (steer: sampled), so
	// the node never counts the frame in the route's Go Sampler a second
	// time: PresampleSelected and PresampleNotSelected are taken as the
	// decision, PresampleMissing (the frame came without the metadata that
	// carries the decision) is counted in MetaMissing and treated as not
	// selected, PresampleNone makes the node sample the frame itself. A nil
	// Presampled (steer: all, where XDP never samples) is PresampleNone for
	// every frame. dataplane.Presampled implements it by decoding the XDP
	// metadata in front of the frame. Called at most once per frame, from
	// the worker.
	Presampled func(f *handle.Frame) Presample
	// RawSection says when records carry the raw header section (the
	// first octets of the IPv6 packet, telemetry.Record.RawSection).
	// Copying it writes two of a record's cache lines, so a node whose
	// exporter does not use it should not fill it.
	RawSection RawSectionMode
}

// Presample is the XDP program's route-sampler decision for one frame, as
// Config.Presampled reports it.
type Presample uint8

const (
	// PresampleNone: the XDP program did not sample; the node does.
	PresampleNone Presample = iota
	// PresampleSelected: the route's k/n sampler selected the frame.
	PresampleSelected
	// PresampleNotSelected: the frame was counted by the XDP sampler (or
	// went to the worker for another reason: Hop-by-Hop or extension
	// headers, the order window) and not selected.
	PresampleNotSelected
	// PresampleMissing: the XDP program samples, but the frame carries no
	// decision (a driver without metadata room). Policy: counted in
	// Counters.MetaMissing and not selected; never sampled again, which
	// would select about (k/n)² of such frames and miscount the route.
	PresampleMissing
)

// String returns "none", "selected", "not_selected" or "missing".
func (p Presample) String() string {
	switch p {
	case PresampleNone:
		return "none"
	case PresampleSelected:
		return "selected"
	case PresampleNotSelected:
		return "not_selected"
	case PresampleMissing:
		return "missing"
	}
	return "Presample(" + strconv.Itoa(int(p)) + ")"
}

// RawSectionMode says when a node fills telemetry.Record.RawSection.
type RawSectionMode uint8

const (
	// RawAlways fills it in every record (the zero value).
	RawAlways RawSectionMode = iota
	// RawForJSON fills it only while the snapshot has a JSON local output,
	// the only consumer that prints it when the exporter's IPFIX
	// collectors do not export ipHeaderPacketSection (exporter
	// Options.RawSection off, as dexplane run configures them).
	RawForJSON
	// RawNever leaves it empty (RawLen 0).
	RawNever
)

// Handler runs the IOAM roles for one worker. It implements handle.Handler.
//
// A Handler owns its flow table, its record ring (it is the ring's only
// producer) and its counters. It is not safe for concurrent use: one Handler
// per worker, called from that worker's goroutine only. Ring and Counters
// may be handed to other goroutines (the exporter consumes the ring, metrics
// read the counters).
type Handler struct {
	policy  *atomic.Pointer[policy.Snapshot]
	ring    *telemetry.Ring
	ctr     Counters
	clock   func() int64
	portMTU [2]int
	presel  func(f *handle.Frame) Presample
	rawMode RawSectionMode

	// view caches what the node derives from the current snapshot; it is
	// rebuilt when the snapshot pointer changes.
	view view

	routes    routeCache // in front of view.routes
	flows     *flow.Table
	flowCache flowCache  // in front of routes, Flow IDs and flows
	scratch   flowEntry  // the entry of a packet flowCache does not hold
	noRoutes  flowEntry  // the entry of every packet while there are no routes; always zero
	flowStats flow.Stats // last stats mirrored into ctr, once per batch by publish

	pkt packet.Packet // parse scratch

	// hot counts in plain memory during a worker batch (see hotCounters);
	// batching is true between BeginBatch and EndBatch.
	hot      hotCounters
	batching bool
	// sampled is the route sampler selecting every packet (Sampler.Every)
	// whose count is being kept locally during a batch, and that count.
	sampled  *policy.Sampler
	nSampled uint64

	// Pre-allocated Trace scratch (pto.go): what the encapsulating role
	// inserts, this node's data, and the trace the next record carries.
	ins      packet.Insert
	nd       packet.NodeData
	traceOpt []byte

	ptbBucket tokenBucket // Packet Too Big replies of this worker
}

// Packet Too Big rate limit per worker (RFC 4443 §2.4 (f)): a token bucket
// of PTBBurst messages refilled at PTBRate messages per second, on the
// frames' receive clock (handle.Frame.RxTime).
const (
	PTBRate  = 100 // messages per second
	PTBBurst = 10  // messages
)

// ptbInterval is the refill time of one token, in ns.
const ptbInterval = int64(time.Second) / PTBRate

// tokenBucket is an allocation-free token bucket kept as nanoseconds of
// credit; it starts full.
type tokenBucket struct {
	last    int64 // ns, the last refill
	credit  int64 // ns of credit, at most PTBBurst*ptbInterval
	started bool
}

// ready refills the bucket up to now (a clock going backwards adds nothing)
// and reports whether a token is available.
func (b *tokenBucket) ready(now int64) bool {
	const full = PTBBurst * ptbInterval
	switch {
	case !b.started:
		b.started, b.last, b.credit = true, now, full
	case now > b.last:
		b.credit = min(b.credit+(now-b.last), full)
		b.last = now
	}
	return b.credit >= ptbInterval
}

// take consumes one token; call it only after ready reported true.
func (b *tokenBucket) take() { b.credit -= ptbInterval }

// Empty tables stand in for nil ones of a hand-built Snapshot (the zero
// value of each is a valid empty table).
var (
	emptyRoutes     = &policy.RouteTable{}
	emptyNamespaces = &policy.NamespaceTable{}
	emptyAddrs      = &policy.AddrSet{}
)

// view is the per-snapshot derived state of a Handler.
type view struct {
	snap        *policy.Snapshot
	routes      *policy.RouteTable     // never nil
	namespaces  *policy.NamespaceTable // never nil
	decap       *policy.AddrSet        // never nil
	mtu         [2]int                 // egress MTU per port (IPv6 octets), 0 = unchecked
	nodeAddr    [16]byte
	hasNodeAddr bool
	exportPorts [maxExportPorts]uint16
	nExport     int
	raw         bool // records carry the raw header section (Config.RawSection)
}

// New returns a Handler for one worker.
func New(cfg Config) (*Handler, error) {
	if cfg.Policy == nil {
		return nil, fmt.Errorf("%w: nil policy pointer", ErrConfig)
	}
	size := cfg.RingSize
	if size == 0 {
		size = DefaultRingSize
	}
	ring, err := telemetry.NewRing(size)
	if err != nil {
		return nil, fmt.Errorf("%w: record ring: %w", ErrConfig, err)
	}
	for i, m := range cfg.PortMTU {
		if m < 0 {
			return nil, fmt.Errorf("%w: port %d: negative mtu %d", ErrConfig, i, m)
		}
	}
	n := &Handler{policy: cfg.Policy, ring: ring, clock: cfg.Clock, portMTU: cfg.PortMTU, presel: cfg.Presampled, rawMode: cfg.RawSection}
	if n.clock == nil {
		n.clock = wallClock
	}
	if s := cfg.Policy.Load(); s != nil {
		if err := n.refresh(s); err != nil {
			return nil, err
		}
	}
	return n, nil
}

func wallClock() int64 { return time.Now().UnixNano() }

// Ring returns the node's record ring. The node is its only producer; the
// caller (the exporter) must be its only consumer.
func (n *Handler) Ring() *telemetry.Ring { return n.ring }

// Counters returns the node's counters; safe to read from any goroutine.
func (n *Handler) Counters() *Counters { return &n.ctr }

// flowConfig returns the flow-table configuration a snapshot asks for.
func flowConfig(s *policy.Snapshot) flow.Config {
	c := flow.Config{MaxFlows: s.Flows.MaxFlows, IdleTimeout: s.Flows.IdleTimeout, SeqStart: s.Flows.SeqStart}
	if c.MaxFlows <= 0 {
		c.MaxFlows = DefaultMaxFlows
	}
	if c.MaxFlows > flow.MaxFlowsLimit {
		c.MaxFlows = flow.MaxFlowsLimit
	}
	if c.IdleTimeout < 0 {
		c.IdleTimeout = 0
	}
	return c
}

// refresh rebuilds the view for snapshot s. It allocates only when the flow
// table must be replaced (first snapshot, or a reload that changes
// max_flows, idle_timeout or seq_start; the flows are then forgotten and
// restart at seq_start).
func (n *Handler) refresh(s *policy.Snapshot) error {
	v := view{snap: s, routes: s.Routes, namespaces: s.Namespaces, decap: s.DecapEndpoints}
	if v.routes == nil {
		v.routes = emptyRoutes
	}
	if v.namespaces == nil {
		v.namespaces = emptyNamespaces
	}
	if v.decap == nil {
		v.decap = emptyAddrs
	}
	for i := range v.mtu {
		v.mtu[i] = s.Ports[i].MTU
		if v.mtu[i] == 0 {
			v.mtu[i] = n.portMTU[i]
		}
	}
	if s.Node.Address.Is6() {
		v.nodeAddr, v.hasNodeAddr = s.Node.Address.As16(), true
	}
	switch n.rawMode {
	case RawAlways:
		v.raw = true
	case RawForJSON:
		for _, o := range s.Export.Outputs {
			v.raw = v.raw || o.Format == policy.OutputJSON
		}
	}
	v.exportPorts[0], v.exportPorts[1], v.nExport = portIPFIX, portIPFIXTLS, 2
	for _, c := range s.Export.Collectors {
		_, ps, err := net.SplitHostPort(c.Address)
		if err != nil {
			continue // the exporter reports bad addresses
		}
		p, err := strconv.ParseUint(ps, 10, 16)
		if err != nil || v.nExport == maxExportPorts || v.isExportPort(uint16(p)) {
			continue
		}
		v.exportPorts[v.nExport] = uint16(p)
		v.nExport++
	}
	if want := flowConfig(s); n.flows == nil || n.flows.Config() != want {
		t, err := flow.NewTable(want)
		if err != nil {
			return fmt.Errorf("node: flow table: %w", err)
		}
		if n.flows != nil {
			n.syncFlowStats() // keep the old table's counts
		}
		n.flows, n.flowStats = t, flow.Stats{}
		n.ctr.FlowsActive.Store(0)
	}
	n.view = v
	n.routes.reset()
	n.flowCache = flowCache{}
	return nil
}

func (v *view) isExportPort(p uint16) bool {
	for _, q := range v.exportPorts[:v.nExport] {
		if q == p {
			return true
		}
	}
	return false
}

// syncFlowStats adds the flow table's counter deltas to the node counters.
func (n *Handler) syncFlowStats() {
	st := n.flows.Stats()
	old := &n.flowStats
	if st.New != old.New {
		n.ctr.FlowsNew.Add(st.New - old.New)
	}
	if st.Evicted != old.Evicted {
		n.ctr.FlowsEvicted.Add(st.Evicted - old.Evicted)
	}
	if st.Expired != old.Expired {
		n.ctr.FlowsExpired.Add(st.Expired - old.Expired)
	}
	if st.Flows != old.Flows {
		n.ctr.FlowsActive.Store(uint64(st.Flows))
	}
	*old = st
}

// ExpireFlows removes up to budget idle flows from the node's flow table
// and returns how many it removed. Call it from the worker's goroutine only,
// for example when the RX ring is empty; now is CLOCK_REALTIME in ns.
func (n *Handler) ExpireFlows(now int64, budget int) int {
	if n.flows == nil {
		return 0
	}
	r := n.flows.Expire(now, budget)
	if r > 0 {
		n.syncFlowStats()
	}
	return r
}

// BeginBatch tells the node that the worker starts a batch of frames: until
// EndBatch, the counters most frames move are kept in plain memory, so is
// the packet count of a route that selects every packet, and the batch's
// records reach the exporter at EndBatch (one publication of the ring's
// tail per batch). It implements handle.BatchHandler.
func (n *Handler) BeginBatch() { n.batching = true }

// EndBatch publishes what the node counted during the batch to Counters
// and the route samplers. It implements handle.BatchHandler.
func (n *Handler) EndBatch() {
	n.batching = false
	n.publish()
}

// publish adds the locally kept counts to Counters and the samplers, and
// makes the batch's records visible to the ring's consumer.
func (n *Handler) publish() {
	n.ring.PublishCommits()
	n.hot.publish(&n.ctr)
	if n.flows != nil {
		n.syncFlowStats()
	}
	if n.sampled != nil {
		n.sampled.AddCount(n.nSampled)
		n.sampled, n.nSampled = nil, 0
	}
}

// Handle runs the role the frame's direction selects (see the package
// documentation) and returns the verdict. It never panics and, once the
// snapshot has been seen, never allocates. Called outside a batch
// (BeginBatch, EndBatch), it publishes its counts and records before it returns.
func (n *Handler) Handle(f *handle.Frame) handle.Verdict {
	v := n.handle(f)
	if !n.batching {
		n.publish()
	}
	return v
}

func (n *Handler) handle(f *handle.Frame) handle.Verdict {
	s := n.policy.Load()
	if s == nil {
		return n.forward()
	}
	if s != n.view.snap {
		if err := n.refresh(s); err != nil {
			// Unreachable: flowConfig always yields a valid table config.
			// Keep running on the previous view rather than fail frames.
			n.view.snap = s
		}
	}
	if f.Off < 0 || f.Len <= 0 || f.Off > len(f.Buf) || f.Len > len(f.Buf)-f.Off {
		n.ctr.Malformed[MalformedShortFrame].Add(1)
		return n.drop()
	}
	in := f.Ingress & 1
	out := 1 - in
	p := &n.pkt
	if err := packet.Parse(f.Buf[f.Off:f.Off+f.Len], p); err != nil {
		if s.Ports[in].Domain == policy.Outside && s.Ports[out].Domain == policy.Inside {
			sound, selected := n.sampleRejected(f, err)
			if sound && !selected && s.Ports[in].ForeignIOAM == policy.ForeignForward {
				// What steer.c does with it in steer: sampled (see the
				// malformed-packet table): crosses untouched.
				n.ctr.Malformed[malformedOf(err)].Add(1)
				return n.forward()
			}
		}
		return n.parseError(s, in, out, err)
	}
	inside := s.Ports[in].Domain == policy.Inside
	outside := s.Ports[out].Domain == policy.Outside
	switch {
	case !inside && !outside:
		return n.encap(s, f, in, out)
	case inside && !outside:
		return n.transit(s, f, in, out)
	case inside && outside:
		return n.decap(s, f, in, out)
	default:
		return n.passOutside(s, f, in)
	}
}

// parseError applies the malformed-packet policy of the package
// documentation.
func (n *Handler) parseError(s *policy.Snapshot, in, out int, err error) handle.Verdict {
	if err == packet.ErrNotIPv6 {
		n.ctr.NotIPv6.Add(1)
		return n.forward()
	}
	m := malformedOf(err)
	n.ctr.Malformed[m].Add(1)
	switch m {
	case MalformedIOAMShort, MalformedDEXShort, MalformedDEXExtTruncated, MalformedPTOShort, MalformedPTORemLen, MalformedPTONodeLen:
		// Linux checks IOAM lengths only when ioam6_enabled is set on the
		// ingress device, and forwards the packet untouched otherwise. We do
		// the same inside the domain; such a packet must not leave it.
		if s.Ports[in].Domain == policy.Inside && !s.Ports[in].IOAMEnabled && s.Ports[out].Domain == policy.Inside {
			return n.forward()
		}
	}
	return n.drop()
}

func (n *Handler) forward() handle.Verdict {
	n.hot.forwarded++
	return handle.Forward
}

func (n *Handler) drop() handle.Verdict {
	n.ctr.Dropped.Add(1)
	return handle.Drop
}

// reparse parses the frame again after an edit. An error here means an
// editor produced something the parser rejects, which must never reach the
// wire: the caller drops the frame.
func (n *Handler) reparse(f *handle.Frame) error {
	return packet.Parse(f.Buf[f.Off:f.Off+f.Len], &n.pkt)
}
