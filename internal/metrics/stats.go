package metrics

import (
	"strings"
	"time"

	"github.com/dexplane/dexplane/dataplane"
	"github.com/dexplane/dexplane/dataplane/node"
	"github.com/dexplane/dexplane/dataplane/telemetry"
	"github.com/dexplane/dexplane/dataplane/xsk"
	"github.com/dexplane/dexplane/exporter"
	"github.com/dexplane/dexplane/steering"
)

// Stats is a point-in-time copy of every counter the Scraper exports,
// the JSON body of /stats. Counters are cumulative since the process (or,
// for per-worker values, the engine) started; gauges are noted. Sections
// whose source is not registered are nil or empty.
type Stats struct {
	// Time is when the snapshot was taken.
	Time time.Time `json:"time"`
	// Ports are the two ports' counters summed over workers (nil without
	// an engine source).
	Ports []PortStats `json:"ports,omitempty"`
	// Workers are the per-worker counters, indexed by worker.
	Workers []WorkerStats `json:"workers,omitempty"`
	// Export holds the exporter's counters, if registered.
	Export *ExportStats `json:"export,omitempty"`
	// Config holds the configuration generation and reloads, if registered.
	Config *ConfigStats `json:"config,omitempty"`
}

// PortStats are one port's counters summed over workers. Packets and bytes
// count whole frames from the Ethernet header on.
type PortStats struct {
	// PortFrames are the frames and bytes the workers received from the
	// port and queued for transmission on it.
	PortFrames
	// Drops are frames lost at this port by reason: "handler" (dropped by
	// the IOAM roles), "invalid" (bad handler result), "tx_device_drop"
	// (device dropped a frame sent to this port), "socket_*" (the kernel's
	// AF_XDP socket counters), "xdp_no_peer", "xdp_malformed" and
	// "xdp_redirect_peer"/"xdp_redirect_other" (redirects the kernel
	// refused, counted on the xdp:xdp_redirect_err tracepoint).
	Drops map[string]uint64 `json:"drops"`
	// Events are non-loss conditions by name (ring full, fill ring empty,
	// kick retries, link down, …); a count of occurrences, not frames.
	Events map[string]uint64 `json:"events"`
	// XDP are the steering program's counters by classification reason
	// (see steering.Reason).
	XDP map[string]XDPCount `json:"xdp"`
	// RxQueues is the port's RX queue count as last read (a gauge; absent
	// if unknown). More queues than workers means frames bypass IOAM.
	RxQueues int `json:"rx_queues,omitempty"`
	// ChecksumsCompleted counts frames received on the port whose
	// unfinished transport checksum (TX checksum offload of a virtual
	// sender) was completed; ChecksumsUnfinished those left unfinished
	// because the port's complete_checksums is off.
	ChecksumsCompleted  uint64 `json:"checksums_completed"`
	ChecksumsUnfinished uint64 `json:"checksums_unfinished"`
}

// PortFrames are a port's frame counters, in the JSON of both PortStats
// (summed over workers) and WorkerPortStats (one worker's). Packets and
// bytes count whole frames from the Ethernet header on.
type PortFrames struct {
	// Port is the port index, 0 or 1.
	Port int `json:"port"`
	// RxPackets and RxBytes were received from the port; TxPackets and
	// TxBytes were queued for transmission on it.
	RxPackets uint64 `json:"rx_packets"`
	RxBytes   uint64 `json:"rx_bytes"`
	TxPackets uint64 `json:"tx_packets"`
	TxBytes   uint64 `json:"tx_bytes"`
}

// XDPCount is a frame and byte count of the XDP steering program.
type XDPCount struct {
	Packets uint64 `json:"packets"`
	Bytes   uint64 `json:"bytes"`
}

// WorkerStats are one worker's counters.
type WorkerStats struct {
	// Worker is the worker (RX queue) index.
	Worker int `json:"worker"`
	// Ports are the worker's frame counters of port 0 and 1 (empty without
	// an engine source).
	Ports []WorkerPortStats `json:"ports,omitempty"`
	// Node are the IOAM role counters, if the worker runs a node.
	Node *NodeStats `json:"node,omitempty"`
	// Ring is the worker's record ring occupancy (a gauge), if known.
	Ring *RingStats `json:"ring,omitempty"`
}

// WorkerPortStats are one worker's counters of one port.
type WorkerPortStats struct {
	// PortFrames are this worker's part of PortStats.PortFrames.
	PortFrames
	// TxCompleted frames were returned by the kernel after transmission.
	TxCompleted uint64 `json:"tx_completed"`
	// Drops: "handler", "invalid", "tx_device_drop" as in PortStats.
	Drops map[string]uint64 `json:"drops"`
	// Events: as in PortStats, this worker's part.
	Events map[string]uint64 `json:"events"`
}

// NodeStats are one worker's IOAM role counters (see node.Counters), in
// packets.
type NodeStats struct {
	// Forwarded and Dropped are the verdicts; NotIPv6 were forwarded
	// untouched.
	Forwarded uint64 `json:"forwarded"`
	Dropped   uint64 `json:"dropped"`
	NotIPv6   uint64 `json:"not_ipv6"`
	// Malformed counts parse failures by reason (node.Malformed names).
	Malformed map[string]uint64 `json:"malformed"`
	// DEXInserted by the encapsulating role, by mode: "inline" (new
	// Hop-by-Hop header), "merged" (into an existing one), "encapsulated"
	// (ip6ip6). The modes sum to the total.
	DEXInserted map[string]uint64 `json:"dex_inserted"`
	// DEXSeen arrived on an inside port carrying DEX (transit and
	// decapsulating roles); DEXRemoved left through an outside port with
	// their IOAM removed (decapsulating role).
	DEXSeen    uint64 `json:"dex_seen"`
	DEXRemoved uint64 `json:"dex_removed"`
	// Skipped counts packets not given DEX or not exported, by role
	// ("encap", "transit") and reason.
	Skipped map[string]map[string]uint64 `json:"skipped"`
	// ForeignIOAM counts IOAM arriving on an outside port by the action
	// taken: "dropped", "stripped", "forwarded".
	ForeignIOAM map[string]uint64 `json:"foreign_ioam"`
	// OtherIOAM carried IOAM but no DEX; TunnelsStripped ip6ip6 outer
	// headers were removed; LeakDropped were dropped because their IOAM
	// could not be removed before an outside port.
	OtherIOAM       uint64 `json:"other_ioam"`
	TunnelsStripped uint64 `json:"tunnels_stripped"`
	LeakDropped     uint64 `json:"leak_dropped"`
	// PTBSent were answered with ICMPv6 Packet Too Big (options.packet_too_big);
	// PTBRateLimited would have been but exceeded the reply rate limit.
	PTBSent        uint64 `json:"ptb_sent"`
	PTBRateLimited uint64 `json:"ptb_rate_limited"`
	// RecordsExported were pushed to the ring; RecordsDropped found it full.
	RecordsExported uint64 `json:"records_exported"`
	RecordsDropped  uint64 `json:"records_dropped"`
	// Flows is a gauge: flows in the table. FlowsNew, FlowsEvicted and
	// FlowsExpired count flows started, evicted for room and aged out.
	Flows        uint64 `json:"flows"`
	FlowsNew     uint64 `json:"flows_new"`
	FlowsEvicted uint64 `json:"flows_evicted"`
	FlowsExpired uint64 `json:"flows_expired"`
	// Trace counts the Pre-allocated Trace work by event (node.TraceCounters
	// names without the "trace_" prefix: inserted, filled, overflowed, ...).
	Trace map[string]uint64 `json:"trace"`
}

// RingStats is a record ring's occupancy in records (a gauge).
type RingStats struct {
	Len int `json:"len"`
	Cap int `json:"cap"`
}

// ExportStats are the exporter's counters, in records unless noted.
type ExportStats struct {
	// Offered were taken from the rings; Exported passed the rate limit.
	Offered  uint64 `json:"offered"`
	Exported uint64 `json:"exported"`
	// Drops by reason: "ring_full" (a worker's ring was full),
	// "rate_limited", "encode_error", "collector" (collector down or
	// behind, summed over collectors), "output" (local outputs).
	Drops map[string]uint64 `json:"drops"`
	// RateLimit is the current limit in records per second (a gauge).
	RateLimit uint64 `json:"rate_limit"`
	// Tokens is the rate limiter's available tokens in records (a gauge),
	// if a source is registered.
	Tokens *float64 `json:"tokens,omitempty"`
	// Aggregate are the counters of export.aggregate, when it is on.
	Aggregate *AggregateStats `json:"aggregate,omitempty"`
	// Collectors and Outputs are in configuration order.
	Collectors []CollectorStats `json:"collectors,omitempty"`
	Outputs    []OutputStats    `json:"outputs,omitempty"`
}

// AggregateStats are the counters of aggregation at the node
// (export.aggregate).
type AggregateStats struct {
	// Folded per-packet records went into aggregates; Overflow records
	// were dropped because the table held its max_flows.
	Folded   uint64 `json:"folded"`
	Overflow uint64 `json:"overflow"`
	// Records aggregates and Intervals intervals were exported.
	Records   uint64 `json:"records"`
	Intervals uint64 `json:"intervals"`
	// Flows is the number of flows in the table after the last interval
	// (a gauge).
	Flows uint64 `json:"flows"`
}

// CollectorStats are one IPFIX collector's counters.
type CollectorStats struct {
	// Collector is the configured address, Transport "udp" or "tcp".
	Collector string `json:"collector"`
	Transport string `json:"transport"`
	// Up reports an established session (UDP: socket open).
	Up bool `json:"up"`
	// Records, Messages and Bytes were written to the socket.
	Records  uint64 `json:"records"`
	Messages uint64 `json:"messages"`
	Bytes    uint64 `json:"bytes"`
	// Drops are records lost for this collector; SendErrors failed writes;
	// Connects sessions established.
	Drops uint64 `json:"drops"`
	// Behind is the part of Drops lost because the writer could not keep
	// up while the session may have been fine.
	Behind     uint64 `json:"behind"`
	SendErrors uint64 `json:"send_errors"`
	Connects   uint64 `json:"connects"`
	// TLSErrors counts failed TLS handshakes and refused TLS sessions.
	TLSErrors uint64 `json:"tls_errors"`
	// Templates is the number of templates allocated (a gauge).
	Templates int `json:"templates"`
}

// OutputStats are one local output's counters.
type OutputStats struct {
	// Output is the path ("" or "-" for stdout), Format "text" or "json".
	Output string `json:"output"`
	Format string `json:"format"`
	// Records written, Drops lost, Errors failed writes and reopens.
	Records uint64 `json:"records"`
	Drops   uint64 `json:"drops"`
	Errors  uint64 `json:"errors"`
}

// ConfigStats describe the running configuration.
type ConfigStats struct {
	// Generation is the policy snapshot generation in use (a gauge).
	Generation uint64 `json:"generation"`
	// Loads counts successful loads (the first one included);
	// ReloadFailures rejected reloads.
	Loads          uint64 `json:"loads"`
	ReloadFailures uint64 `json:"reload_failures"`
	// LastLoad is when the running configuration was loaded (zero if
	// unknown).
	LastLoad time.Time `json:"last_load,omitzero"`
}

// sources are the registered functions (Collector.Set*); Collector.sources
// returns a copy taken under the lock.
type sources struct {
	engine   Engine
	counters func() dataplane.Counters
	nodes    func() []*node.Counters
	rings    func() []*telemetry.Ring
	export   func() exporter.Counters
	tokens   func() float64
	config   func() ConfigStats
	health   func() error
}

func (c *Scraper) sources() sources {
	c.mu.RLock()
	defer c.mu.RUnlock()
	return c.src
}

// Snapshot reads every registered source once and returns the values. It
// allocates (maps, slices) and may take a few microseconds per worker; it
// never blocks the data plane.
func (c *Scraper) Snapshot() Stats {
	src := c.sources()
	s := Stats{Time: c.now().UTC()}

	var ec *dataplane.Counters
	if src.counters != nil {
		v := src.counters()
		ec = &v
	}
	nodes, rings := src.workerSources()

	n := max(len(nodes), len(rings))
	if ec != nil {
		n = max(n, len(ec.Workers))
	}
	if n > 0 {
		s.Workers = make([]WorkerStats, n)
	}
	for i := range s.Workers {
		w := &s.Workers[i]
		w.Worker = i
		if ec != nil && i < len(ec.Workers) {
			w.Ports = make([]WorkerPortStats, 2)
			for p := range 2 {
				w.Ports[p] = workerPort(p, &ec.Workers[i][p])
			}
		}
		if i < len(nodes) && nodes[i] != nil {
			w.Node = nodeStats(nodes[i])
		}
		if i < len(rings) && rings[i] != nil {
			w.Ring = &RingStats{Len: rings[i].Len(), Cap: rings[i].Cap()}
		}
	}
	if ec != nil {
		s.Ports = make([]PortStats, 2)
		for p := range 2 {
			s.Ports[p] = portStats(p, ec)
		}
	}
	if src.export != nil {
		s.Export = exportStats(src.export())
		if src.tokens != nil {
			t := src.tokens()
			s.Export.Tokens = &t
		}
	}
	if src.config != nil {
		cs := src.config()
		s.Config = &cs
	}
	return s
}

// workerSources returns the per-worker node counters and rings, from the
// explicit sources or else from the engine's handlers.
func (src *sources) workerSources() ([]*node.Counters, []*telemetry.Ring) {
	var nodes []*node.Counters
	var rings []*telemetry.Ring
	if src.nodes != nil {
		nodes = src.nodes()
	}
	if src.rings != nil {
		rings = src.rings()
	}
	if src.engine == nil || (src.nodes != nil && src.rings != nil) {
		return nodes, rings
	}
	nw := src.engine.Workers()
	for i := range nw {
		h := src.engine.Handler(i)
		if src.nodes == nil {
			var nc *node.Counters
			if x, ok := h.(nodeCounters); ok {
				nc = x.Counters()
			}
			nodes = append(nodes, nc)
		}
		if src.rings == nil {
			var r *telemetry.Ring
			if x, ok := h.(ringOwner); ok {
				r = x.Ring()
			}
			rings = append(rings, r)
		}
	}
	return trimNil(nodes), trimNil(rings)
}

// trimNil returns s without its trailing nil elements (nil if all are).
func trimNil[T any](s []*T) []*T {
	for len(s) > 0 && s[len(s)-1] == nil {
		s = s[:len(s)-1]
	}
	if len(s) == 0 {
		return nil
	}
	return s
}

// Drop reasons a worker counts per port, as xsk counters.
var workerDrops = []struct {
	name string
	ctr  xsk.Counter
}{
	{"handler", xsk.CtrDropped},
	{"invalid", xsk.CtrInvalid},
	{"tx_device_drop", xsk.CtrTxDeviceDrop},
}

// Events a worker counts per port, as xsk counters.
var workerEvents = []xsk.Counter{
	xsk.CtrTxRingFull, xsk.CtrFillEmpty, xsk.CtrKickRetry,
	xsk.CtrLinkDown, xsk.CtrKickError, xsk.CtrPollError, xsk.CtrReflected,
}

func workerPort(p int, pc *xsk.PortCounts) WorkerPortStats {
	w := WorkerPortStats{
		PortFrames: PortFrames{
			Port:      p,
			RxPackets: pc[xsk.CtrRxFrames],
			RxBytes:   pc[xsk.CtrRxBytes],
			TxPackets: pc[xsk.CtrTxFrames],
			TxBytes:   pc[xsk.CtrTxBytes],
		},
		TxCompleted: pc[xsk.CtrTxCompleted],
		Drops:       make(map[string]uint64, len(workerDrops)),
		Events:      make(map[string]uint64, len(workerEvents)),
	}
	for _, d := range workerDrops {
		w.Drops[d.name] = pc[d.ctr]
	}
	for _, e := range workerEvents {
		w.Events[e.String()] = pc[e]
	}
	return w
}

func portStats(p int, ec *dataplane.Counters) PortStats {
	pc := &ec.Ports[p]
	w := workerPort(p, &pc.Worker)
	s := PortStats{
		PortFrames: w.PortFrames,
		Drops:      w.Drops,
		Events:     w.Events,
		XDP:        make(map[string]XDPCount, steering.NumReasons),
		RxQueues:   pc.RxQueues,
	}
	k := &pc.Socket
	s.Drops["socket_rx_dropped"] = k.RxDropped
	s.Drops["socket_rx_ring_full"] = k.RxRingFull
	s.Drops["socket_rx_invalid_descs"] = k.RxInvalidDescs
	s.Drops["socket_tx_invalid_descs"] = k.TxInvalidDescs
	s.Drops["xdp_no_peer"] = pc.XDP[steering.ReasonNoPeer].Packets
	s.Drops["xdp_malformed"] = pc.XDP[steering.ReasonMalformed].Packets
	if pc.RedirectCounted {
		// Refused XDP redirects: to the peer port (a veth without XDP on
		// its peer under native attach) and other targets; refusals by a
		// socket are in socket_rx_* already, so they are an event here.
		s.Drops["xdp_redirect_peer"] = pc.RedirectErrors[steering.TargetPeer]
		s.Drops["xdp_redirect_other"] = pc.RedirectErrors[steering.TargetOther]
		s.Events["xdp_redirect_xsk"] = pc.RedirectErrors[steering.TargetXSK]
	}
	s.ChecksumsCompleted, s.ChecksumsUnfinished = pc.Checksum.Completed, pc.Checksum.Unfinished
	s.Events["socket_rx_fill_ring_empty"] = k.RxFillRingEmpty
	s.Events["socket_tx_ring_empty_descs"] = k.TxRingEmptyDescs
	for r := range steering.NumReasons {
		s.XDP[r.String()] = XDPCount{Packets: pc.XDP[r].Packets, Bytes: pc.XDP[r].Bytes}
	}
	return s
}

func nodeStats(c *node.Counters) *NodeStats {
	s := &NodeStats{
		Forwarded: c.Forwarded.Load(),
		Dropped:   c.Dropped.Load(),
		NotIPv6:   c.NotIPv6.Load(),
		Malformed: make(map[string]uint64, node.NumMalformed),
		DEXSeen:   c.DEXSeen.Load(),

		DEXRemoved:      c.DEXRemoved.Load(),
		OtherIOAM:       c.OtherIOAM.Load(),
		TunnelsStripped: c.TunnelsStripped.Load(),
		LeakDropped:     c.LeakDropped.Load(),
		PTBSent:         c.PTBSent.Load(),
		PTBRateLimited:  c.PTBRateLimited.Load(),
		RecordsExported: c.RecordsExported.Load(),
		RecordsDropped:  c.RecordsDropped.Load(),
		Flows:           c.FlowsActive.Load(),
		FlowsNew:        c.FlowsNew.Load(),
		FlowsEvicted:    c.FlowsEvicted.Load(),
		FlowsExpired:    c.FlowsExpired.Load(),
	}
	for i := range c.Malformed {
		s.Malformed[node.Malformed(i).String()] = c.Malformed[i].Load()
	}
	s.Trace = map[string]uint64{}
	c.Trace.Each(func(name string, v uint64) { s.Trace[strings.TrimPrefix(name, "trace_")] = v })
	ins, merged, encap := c.DEXInserted.Load(), c.DEXMerged.Load(), c.DEXEncapsulated.Load()
	inline := uint64(0)
	if ins > merged+encap { // the three are read one after the other
		inline = ins - merged - encap
	}
	s.DEXInserted = map[string]uint64{"inline": inline, "merged": merged, "encapsulated": encap}
	s.Skipped = map[string]map[string]uint64{
		"encap": {
			"no_route":     c.NoRoute.Load(),
			"not_sampled":  c.NotSampled.Load(),
			"mtu":          c.SkippedMTU.Load(),
			"hbh":          c.SkippedHbH.Load(),
			"no_room":      c.SkippedNoRoom.Load(),
			"export":       c.SkippedExport.Load(),
			"meta_missing": c.MetaMissing.Load(),
		},
		"transit": {
			"ioam_disabled":     c.IOAMDisabled.Load(),
			"unknown_namespace": c.UnknownNamespace.Load(),
		},
	}
	s.ForeignIOAM = map[string]uint64{
		"dropped":   c.ForeignDropped.Load(),
		"stripped":  c.ForeignStripped.Load(),
		"forwarded": c.ForeignForwarded.Load(),
	}
	return s
}

func exportStats(x exporter.Counters) *ExportStats {
	s := &ExportStats{
		Offered:   x.Offered,
		Exported:  x.Exported,
		RateLimit: x.RateLimit,
		Drops: map[string]uint64{
			"ring_full":    x.RingFull,
			"rate_limited": x.RateLimited,
			"encode_error": x.EncodeErrors,
			"collector":    x.CollectorDropped,
			"output":       x.OutputDropped,
		},
	}
	if x.Aggregating {
		s.Aggregate = &AggregateStats{Folded: x.Aggregated, Overflow: x.AggregateOverflow, Records: x.AggregateRecords,
			Intervals: x.AggregateIntervals, Flows: x.AggregateFlows}
	}
	for _, cc := range x.Collectors {
		s.Collectors = append(s.Collectors, CollectorStats{
			Collector: cc.Address, Transport: cc.Transport.String(), Up: cc.Up,
			Records: cc.Records, Messages: cc.Messages, Bytes: cc.Octets,
			Drops: cc.Dropped, Behind: cc.Behind, SendErrors: cc.SendErrors, Connects: cc.Connects, TLSErrors: cc.TLSErrors,
			Templates: cc.Templates,
		})
	}
	for _, oc := range x.Outputs {
		s.Outputs = append(s.Outputs, OutputStats{
			Output: oc.Path, Format: oc.Format.String(),
			Records: oc.Records, Drops: oc.Dropped, Errors: oc.Errors,
		})
	}
	return s
}
