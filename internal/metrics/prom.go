package metrics

import (
	"strconv"

	"github.com/prometheus/client_golang/prometheus"
)

// namespace prefixes every metric name.
const namespace = "dexplane"

// descs lists every metric the Scraper exports, in Describe order.
var descs []*prometheus.Desc

func newDesc(name, help string, labels ...string) *prometheus.Desc {
	d := prometheus.NewDesc(namespace+"_"+name, help, labels, nil)
	descs = append(descs, d)
	metricNames = append(metricNames, namespace+"_"+name)
	return d
}

var metricNames []string

// MetricNames returns the names of every metric the Scraper may export
// (without the Go runtime and process metrics), for dashboards and tests.
func MetricNames() []string { return append([]string(nil), metricNames...) }

// Metric descriptions. Counters end in _total; bytes are whole frames
// from the Ethernet header on.
var (
	descWorkers = newDesc("workers", "Number of data-plane workers (RX queues) reporting.")

	descRxPackets   = newDesc("rx_packets_total", "Frames received from the port by the worker.", "port", "worker")
	descRxBytes     = newDesc("rx_bytes_total", "Bytes of frames received from the port by the worker.", "port", "worker")
	descTxPackets   = newDesc("tx_packets_total", "Frames queued for transmission on the port by the worker.", "port", "worker")
	descTxBytes     = newDesc("tx_bytes_total", "Bytes of frames queued for transmission on the port by the worker.", "port", "worker")
	descTxCompleted = newDesc("tx_completed_total", "Frames the kernel reported transmitted on the port for the worker.", "port", "worker")
	descDrops       = newDesc("drops_total", "Frames lost at the port, by reason (handler, invalid, tx_device_drop, socket_*, xdp_no_peer, xdp_malformed, xdp_redirect_peer, xdp_redirect_other).", "port", "reason")
	descCsumDone    = newDesc("checksums_completed_total", "Frames received on the port whose unfinished TCP/UDP/ICMPv6 checksum (TX checksum offload of a virtual sender) was completed.", "port")
	descCsumLeft    = newDesc("checksums_unfinished_total", "Frames received on the port with an unfinished transport checksum that were not completed (complete_checksums off); the receiver drops them.", "port")
	descEvents      = newDesc("port_events_total", "Non-loss port conditions by reason (ring full, fill ring empty, kick retries, link down, errors).", "port", "reason")
	descRxQueues    = newDesc("port_rx_queues", "RX queues of the port as last read (ethtool -l); more than workers means frames bypass IOAM (xdp xsk_miss).", "port")
	descXDPPackets  = newDesc("xdp_packets_total", "Frames classified by the XDP steering program, by reason.", "port", "reason")
	descXDPBytes    = newDesc("xdp_bytes_total", "Bytes of frames classified by the XDP steering program, by reason.", "port", "reason")

	descNodeForwarded = newDesc("node_forwarded_total", "Frames the IOAM roles forwarded.", "worker")
	descNodeDropped   = newDesc("node_dropped_total", "Frames the IOAM roles dropped.", "worker")
	descNotIPv6       = newDesc("node_not_ipv6_total", "Frames forwarded untouched because they are not IPv6.", "worker")
	descMalformed     = newDesc("malformed_total", "Frames that failed to parse, by reason.", "worker", "reason")
	descDEXInserted   = newDesc("dex_inserted_total", "Packets given a DEX option by the encapsulating role, by mode (inline, merged, encapsulated).", "worker", "mode")
	descDEXSeen       = newDesc("dex_seen_total", "Packets arriving on an inside port with a DEX option (transit and decapsulating roles).", "worker")
	descDEXRemoved    = newDesc("dex_removed_total", "Packets whose IOAM was removed before an outside port (decapsulating role).", "worker")
	descDEXSkipped    = newDesc("dex_skipped_total", "Packets not given DEX (role encap) or not exported (role transit), by reason.", "worker", "role", "reason")
	descForeign       = newDesc("foreign_ioam_total", "IOAM packets arriving on an outside port, by the action taken.", "worker", "action")
	descOtherIOAM     = newDesc("other_ioam_total", "Packets carrying IOAM options but no DEX.", "worker")
	descTunnels       = newDesc("tunnels_stripped_total", "ip6ip6 outer headers removed.", "worker")
	descLeakDropped   = newDesc("leak_dropped_total", "Packets dropped because their IOAM could not be removed before an outside port.", "worker")
	descPTBSent       = newDesc("ptb_sent_total", "Packets answered with ICMPv6 Packet Too Big at the tunnel entry (options.packet_too_big).", "worker")
	descPTBLimited    = newDesc("ptb_rate_limited_total", "Packet Too Big replies suppressed by the per-worker rate limit (the packet was forwarded without DEX).", "worker")
	descTrace         = newDesc("trace_total", "Pre-allocated Trace events: inserted, filled, overflowed, skipped_overflow, malformed, ioam_disabled, unknown_namespace, exported.", "worker", "event")

	descRingRecords = newDesc("ring_records_total", "Telemetry records the worker pushed to its ring.", "worker")
	descRingDropped = newDesc("ring_dropped_total", "Telemetry records the worker lost because its ring was full.", "worker")
	descRingLen     = newDesc("ring_occupancy_records", "Telemetry records waiting in the worker's ring.", "worker")
	descRingCap     = newDesc("ring_capacity_records", "Capacity of the worker's telemetry ring in records.", "worker")

	descFlows        = newDesc("flows", "Flows held in the worker's flow table.", "worker")
	descFlowsNew     = newDesc("flows_new_total", "Flows started in the worker's flow table.", "worker")
	descFlowsEvicted = newDesc("flows_evicted_total", "Live flows evicted from the worker's full flow table.", "worker")
	descFlowsExpired = newDesc("flows_expired_total", "Flows aged out of the worker's flow table.", "worker")

	descExportOffered   = newDesc("export_offered_records_total", "Telemetry records the exporter took from the rings.")
	descExportRecords   = newDesc("export_records_total", "Telemetry records that passed the export rate limit.")
	descExportDrops     = newDesc("export_drops_total", "Telemetry records lost on the export path, by reason (ring_full, rate_limited, encode_error, collector, output).", "reason")
	descExportRate      = newDesc("export_rate_limit_records_per_second", "Current export rate limit.")
	descExportTokens    = newDesc("export_rate_limit_tokens", "Records the export rate limiter would admit back to back now.")
	descAggFolded       = newDesc("export_aggregate_folded_records_total", "Per-packet records folded into per-flow aggregates (export.aggregate).")
	descAggOverflow     = newDesc("export_aggregate_overflow_records_total", "Records dropped because the aggregation table held max_flows flows.")
	descAggRecords      = newDesc("export_aggregate_records_total", "Aggregate records exported (also in export_records_total).")
	descAggIntervals    = newDesc("export_aggregate_intervals_total", "Aggregation intervals exported.")
	descAggFlows        = newDesc("export_aggregate_flows", "Flows in the aggregation table after the last interval.")
	descCollectorUp     = newDesc("export_collector_up", "1 if the collector session is established (UDP: socket open).", "collector", "transport")
	descCollectorRecs   = newDesc("export_collector_records_total", "Records written to the collector.", "collector", "transport")
	descCollectorMsgs   = newDesc("export_collector_messages_total", "IPFIX messages written to the collector.", "collector", "transport")
	descCollectorBytes  = newDesc("export_collector_bytes_total", "IPFIX bytes written to the collector.", "collector", "transport")
	descCollectorDrops  = newDesc("export_collector_drops_total", "Records lost for the collector (down, behind, send errors).", "collector", "transport")
	descCollectorBehind = newDesc("export_collector_behind_total", "Records lost for the collector because its writer could not keep up (part of drops).", "collector", "transport")
	descCollectorErrs   = newDesc("export_collector_send_errors_total", "Failed socket writes to the collector.", "collector", "transport")
	descCollectorConns  = newDesc("export_collector_connects_total", "Sessions established with the collector.", "collector", "transport")
	descCollectorTLS    = newDesc("export_collector_tls_errors_total", "Failed TLS handshakes with the collector and TLS sessions it refused (transport tls).", "collector", "transport")
	descCollectorTmpls  = newDesc("export_collector_templates", "Templates allocated for the collector.", "collector", "transport")
	descOutputRecords   = newDesc("export_output_records_total", "Records written to the local output.", "output", "format")
	descOutputDrops     = newDesc("export_output_drops_total", "Records lost by the local output.", "output", "format")
	descOutputErrors    = newDesc("export_output_errors_total", "Failed writes and reopens of the local output.", "output", "format")
	descConfigGen       = newDesc("config_generation", "Generation of the policy snapshot in use.")
	descConfigLoads     = newDesc("config_loads_total", "Successful configuration loads, the first one included.")
	descConfigFailures  = newDesc("config_reload_failures_total", "Configuration reloads rejected (the old configuration kept running).")
	descConfigLastLoad  = newDesc("config_last_load_timestamp_seconds", "Unix time of the last successful configuration load.")
)

// Describe sends the descriptions of every metric the Scraper may
// export. It implements prometheus.Collector.
func (c *Scraper) Describe(ch chan<- *prometheus.Desc) {
	for _, d := range descs {
		ch <- d
	}
}

// Collect reads every registered source once (see Snapshot) and sends the
// values. It implements prometheus.Collector.
func (c *Scraper) Collect(ch chan<- prometheus.Metric) {
	s := c.Snapshot()
	e := emitter{ch}
	e.gauge(descWorkers, float64(len(s.Workers)))
	for i := range s.Ports {
		p := &s.Ports[i]
		port := strconv.Itoa(p.Port)
		if p.RxQueues > 0 {
			e.gauge(descRxQueues, float64(p.RxQueues), port)
		}
		for r, v := range p.Drops {
			e.counter(descDrops, v, port, r)
		}
		e.counter(descCsumDone, p.ChecksumsCompleted, port)
		e.counter(descCsumLeft, p.ChecksumsUnfinished, port)
		for r, v := range p.Events {
			e.counter(descEvents, v, port, r)
		}
		for r, v := range p.XDP {
			e.counter(descXDPPackets, v.Packets, port, r)
			e.counter(descXDPBytes, v.Bytes, port, r)
		}
	}
	for i := range s.Workers {
		w := &s.Workers[i]
		worker := strconv.Itoa(w.Worker)
		for j := range w.Ports {
			p := &w.Ports[j]
			port := strconv.Itoa(p.Port)
			e.counter(descRxPackets, p.RxPackets, port, worker)
			e.counter(descRxBytes, p.RxBytes, port, worker)
			e.counter(descTxPackets, p.TxPackets, port, worker)
			e.counter(descTxBytes, p.TxBytes, port, worker)
			e.counter(descTxCompleted, p.TxCompleted, port, worker)
		}
		if n := w.Node; n != nil {
			e.node(n, worker)
		}
		if r := w.Ring; r != nil {
			e.gauge(descRingLen, float64(r.Len), worker)
			e.gauge(descRingCap, float64(r.Cap), worker)
		}
	}
	if x := s.Export; x != nil {
		e.export(x)
	}
	if cf := s.Config; cf != nil {
		e.gauge(descConfigGen, float64(cf.Generation))
		e.counter(descConfigLoads, cf.Loads)
		e.counter(descConfigFailures, cf.ReloadFailures)
		if !cf.LastLoad.IsZero() {
			e.gauge(descConfigLastLoad, float64(cf.LastLoad.UnixNano())/1e9)
		}
	}
}

// emitter sends const metrics; values come from atomics read by Snapshot.
type emitter struct{ ch chan<- prometheus.Metric }

func (e emitter) counter(d *prometheus.Desc, v uint64, labels ...string) {
	e.send(d, prometheus.CounterValue, float64(v), labels)
}

func (e emitter) gauge(d *prometheus.Desc, v float64, labels ...string) {
	e.send(d, prometheus.GaugeValue, v, labels)
}

// send emits one sample; a label mismatch (a bug here) becomes a scrape
// error for that series instead of a panic.
func (e emitter) send(d *prometheus.Desc, t prometheus.ValueType, v float64, labels []string) {
	m, err := prometheus.NewConstMetric(d, t, v, labels...)
	if err != nil {
		m = prometheus.NewInvalidMetric(d, err)
	}
	e.ch <- m
}

func (e emitter) node(n *NodeStats, worker string) {
	e.counter(descNodeForwarded, n.Forwarded, worker)
	e.counter(descNodeDropped, n.Dropped, worker)
	e.counter(descNotIPv6, n.NotIPv6, worker)
	for r, v := range n.Malformed {
		e.counter(descMalformed, v, worker, r)
	}
	for m, v := range n.DEXInserted {
		e.counter(descDEXInserted, v, worker, m)
	}
	e.counter(descDEXSeen, n.DEXSeen, worker)
	e.counter(descDEXRemoved, n.DEXRemoved, worker)
	for role, reasons := range n.Skipped {
		for r, v := range reasons {
			e.counter(descDEXSkipped, v, worker, role, r)
		}
	}
	for a, v := range n.ForeignIOAM {
		e.counter(descForeign, v, worker, a)
	}
	e.counter(descOtherIOAM, n.OtherIOAM, worker)
	e.counter(descTunnels, n.TunnelsStripped, worker)
	e.counter(descLeakDropped, n.LeakDropped, worker)
	e.counter(descPTBSent, n.PTBSent, worker)
	e.counter(descPTBLimited, n.PTBRateLimited, worker)
	for ev, v := range n.Trace {
		e.counter(descTrace, v, worker, ev)
	}
	e.counter(descRingRecords, n.RecordsExported, worker)
	e.counter(descRingDropped, n.RecordsDropped, worker)
	e.gauge(descFlows, float64(n.Flows), worker)
	e.counter(descFlowsNew, n.FlowsNew, worker)
	e.counter(descFlowsEvicted, n.FlowsEvicted, worker)
	e.counter(descFlowsExpired, n.FlowsExpired, worker)
}

func (e emitter) export(x *ExportStats) {
	e.counter(descExportOffered, x.Offered)
	e.counter(descExportRecords, x.Exported)
	for r, v := range x.Drops {
		e.counter(descExportDrops, v, r)
	}
	e.gauge(descExportRate, float64(x.RateLimit))
	if x.Tokens != nil {
		e.gauge(descExportTokens, *x.Tokens)
	}
	if a := x.Aggregate; a != nil {
		e.counter(descAggFolded, a.Folded)
		e.counter(descAggOverflow, a.Overflow)
		e.counter(descAggRecords, a.Records)
		e.counter(descAggIntervals, a.Intervals)
		e.gauge(descAggFlows, float64(a.Flows))
	}
	// Two collectors with the same address and transport would make
	// duplicate series: later ones get a "#n" suffix.
	seen := make(map[[2]string]int, len(x.Collectors))
	for i := range x.Collectors {
		c := &x.Collectors[i]
		l := seriesLabels(seen, c.Collector, c.Transport)
		up := 0.0
		if c.Up {
			up = 1
		}
		e.gauge(descCollectorUp, up, l...)
		e.counter(descCollectorRecs, c.Records, l...)
		e.counter(descCollectorMsgs, c.Messages, l...)
		e.counter(descCollectorBytes, c.Bytes, l...)
		e.counter(descCollectorDrops, c.Drops, l...)
		e.counter(descCollectorBehind, c.Behind, l...)
		e.counter(descCollectorErrs, c.SendErrors, l...)
		e.counter(descCollectorConns, c.Connects, l...)
		e.counter(descCollectorTLS, c.TLSErrors, l...)
		e.gauge(descCollectorTmpls, float64(c.Templates), l...)
	}
	outs := make(map[[2]string]int, len(x.Outputs))
	for i := range x.Outputs {
		o := &x.Outputs[i]
		l := seriesLabels(outs, o.Output, o.Format)
		e.counter(descOutputRecords, o.Records, l...)
		e.counter(descOutputDrops, o.Drops, l...)
		e.counter(descOutputErrors, o.Errors, l...)
	}
}

// seriesLabels returns the label values name, kind of a collector's or an
// output's series, counting the pair in seen: the nth time it repeats, name
// gets the suffix "#n", so two with the same labels stay two series.
func seriesLabels(seen map[[2]string]int, name, kind string) []string {
	k := [2]string{name, kind}
	if seen[k]++; seen[k] > 1 {
		name += "#" + strconv.Itoa(seen[k])
	}
	return []string{name, kind}
}
