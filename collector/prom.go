package collector

import (
	"strconv"
	"sync"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/dexplane/dexplane/exporter/aggregate"
)

// Defaults of the metric cardinality bounds.
const (
	// DefaultMaxSegments bounds the (namespace, from, to) label sets of
	// the segment delay histogram.
	DefaultMaxSegments = 1024
	// DefaultMaxNodeClasses bounds the (node, namespace) label sets of the
	// per-node counters.
	DefaultMaxNodeClasses = 1024
)

// NodeClass is a node and a flow class (the IOAM namespace) of the
// per-node metrics.
type NodeClass struct {
	// Domain is the node's Observation Domain ID.
	Domain uint32
	// Namespace is the IOAM Namespace-ID (the flow class).
	Namespace uint16
}

// NodeTotals are the sequence statistics of a node and class, summed over
// its flows.
type NodeTotals struct {
	// Received records (duplicates included), Lost (gaps not filled),
	// Duplicates and Reordered packets.
	Received, Lost, Duplicates, Reordered uint64
}

// add adds every count of v to t.
func (t *NodeTotals) add(v NodeTotals) {
	t.Received += v.Received
	t.Lost += v.Lost
	t.Duplicates += v.Duplicates
	t.Reordered += v.Reordered
}

// NodeTotals sums the per-flow, per-node sequence statistics by node and
// namespace (cost: one pass over the flows and their nodes).
func (c *Correlator) NodeTotals() map[NodeClass]NodeTotals {
	out := make(map[NodeClass]NodeTotals)
	c.eachNode(func(fk FlowKey, domain uint32, st *seqTracker) {
		k := NodeClass{domain, fk.Namespace}
		t := out[k]
		t.Received += st.received
		t.Duplicates += st.dups
		t.Reordered += st.reorder
		if st.started {
			exp := uint64(st.max-st.first) + 1
			if distinct := st.received - st.dups; exp > distinct {
				t.Lost += exp - distinct
			}
		}
		out[k] = t
	})
	return out
}

// Metrics are the Prometheus metrics of `dexplane collect`:
//
//	dexplane_collect_segment_delay_seconds{namespace,from,to}    histogram
//	dexplane_collect_node_packets_total{node,namespace}          counter
//	dexplane_collect_node_lost_packets{node,namespace}           gauge
//	dexplane_collect_node_duplicate_packets_total{node,namespace} counter
//	dexplane_collect_node_reordered_packets_total{node,namespace} counter
//	dexplane_collect_records_total, dexplane_collect_paths_total  counters
//	dexplane_collect_open_paths                                  gauge
//	dexplane_collect_series_overflow_total                       counter
//
// Nodes are Observation Domain IDs, flow classes IOAM namespaces. The
// cardinality is bounded: at most MaxSegments segment label sets (each a
// histogram of 16 buckets) and MaxNodeClasses node label sets; samples of
// further ones go to the label value "other" and are counted in
// dexplane_collect_series_overflow_total. Per-node counters combine the
// per-packet records (correlated at this collector) and the aggregate
// records of nodes with export.aggregate. Methods are safe for concurrent
// use.
type Metrics struct {
	// MaxSegments and MaxNodeClasses bound the label sets (0: defaults).
	MaxSegments, MaxNodeClasses int

	segDelay                       *prometheus.HistogramVec
	mu                             sync.Mutex
	segs                           map[[3]uint32]prometheus.Observer // nil: beyond the bound
	otherSeg                       prometheus.Observer
	corr                           map[NodeClass]NodeTotals
	agg                            map[NodeClass]*NodeTotals
	records, paths, open, overflow uint64

	descPackets, descLost, descDups, descReorder, descRecords, descPaths, descOpen, descOverflow *prometheus.Desc
}

// NewMetrics returns empty Metrics; register them with Register.
func NewMetrics() *Metrics {
	m := &Metrics{
		segDelay: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Name:    "dexplane_collect_segment_delay_seconds",
			Help:    "One-way delay between consecutive nodes of correlated packet paths (node clocks must agree).",
			Buckets: prometheus.ExponentialBuckets(1e-6, 2.5, 16), // 1 µs .. ~0.9 s
		}, []string{"namespace", "from", "to"}),
		segs: make(map[[3]uint32]prometheus.Observer), corr: make(map[NodeClass]NodeTotals), agg: make(map[NodeClass]*NodeTotals),
	}
	lbl := []string{"node", "namespace"}
	m.descPackets = prometheus.NewDesc("dexplane_collect_node_packets_total", "Packets a node exported (per-packet records and aggregates), duplicates included.", lbl, nil)
	m.descLost = prometheus.NewDesc("dexplane_collect_node_lost_packets", "Sequence numbers a node never saw within the span it saw (may fall when late packets fill gaps).", lbl, nil)
	m.descDups = prometheus.NewDesc("dexplane_collect_node_duplicate_packets_total", "Packets a node saw twice.", lbl, nil)
	m.descReorder = prometheus.NewDesc("dexplane_collect_node_reordered_packets_total", "Packets a node saw after a higher sequence number.", lbl, nil)
	m.descRecords = prometheus.NewDesc("dexplane_collect_records_total", "DEX records received.", nil, nil)
	m.descPaths = prometheus.NewDesc("dexplane_collect_paths_total", "Packet paths completed.", nil, nil)
	m.descOpen = prometheus.NewDesc("dexplane_collect_open_paths", "Packets being assembled.", nil, nil)
	m.descOverflow = prometheus.NewDesc("dexplane_collect_series_overflow_total", "Samples counted under the label value other because a cardinality bound was reached.", nil, nil)
	return m
}

// Register adds the metrics to reg.
func (m *Metrics) Register(reg prometheus.Registerer) error {
	if err := reg.Register(m.segDelay); err != nil {
		return err
	}
	return reg.Register(m)
}

// ObserveSegment records one segment delay sample (ns); negative delays
// (clocks that disagree) are observed as 0. A segment seen before costs a
// map lookup and allocates nothing.
func (m *Metrics) ObserveSegment(ns uint16, from, to uint32, delayNs int64) {
	k := [3]uint32{uint32(ns), from, to}
	m.mu.Lock()
	o, ok := m.segs[k]
	if !ok {
		limit := m.MaxSegments
		if limit <= 0 {
			limit = DefaultMaxSegments
		}
		if len(m.segs) < limit {
			o = m.segDelay.WithLabelValues(strconv.Itoa(int(ns)), strconv.FormatUint(uint64(from), 10), strconv.FormatUint(uint64(to), 10))
			m.segs[k] = o
		}
	}
	if o == nil {
		m.overflow++
		if m.otherSeg == nil {
			m.otherSeg = m.segDelay.WithLabelValues("other", "other", "other")
		}
		o = m.otherSeg
	}
	m.mu.Unlock()
	o.Observe(float64(max(delayNs, 0)) / 1e9)
}

// AddAggregate folds an aggregate record of node domain into the per-node
// counters.
func (m *Metrics) AddAggregate(domain uint32, rec *aggregate.Record) {
	m.mu.Lock()
	defer m.mu.Unlock()
	k := NodeClass{domain, rec.Namespace}
	t := m.agg[k]
	if t == nil {
		t = &NodeTotals{}
		m.agg[k] = t
	}
	t.Received += rec.Packets
	t.Duplicates += rec.Duplicates
	t.Reordered += rec.Reordered
	t.Lost += rec.Gaps
	t.Lost -= min(t.Lost, rec.Reordered)
}

// Update replaces the correlated per-node totals and the counters.
func (m *Metrics) Update(nodes map[NodeClass]NodeTotals, records, paths, open uint64) {
	m.mu.Lock()
	defer m.mu.Unlock()
	m.corr = nodes
	m.records, m.paths, m.open = records, paths, open
}

// Describe implements prometheus.Collector.
func (m *Metrics) Describe(ch chan<- *prometheus.Desc) {
	for _, d := range []*prometheus.Desc{m.descPackets, m.descLost, m.descDups, m.descReorder, m.descRecords, m.descPaths, m.descOpen, m.descOverflow} {
		ch <- d
	}
}

// Collect implements prometheus.Collector.
func (m *Metrics) Collect(ch chan<- prometheus.Metric) {
	m.mu.Lock()
	all := make(map[NodeClass]NodeTotals, len(m.corr)+len(m.agg))
	for k, v := range m.corr {
		all[k] = v
	}
	for k, v := range m.agg {
		t := all[k]
		t.add(*v)
		all[k] = t
	}
	records, paths, open, overflow := m.records, m.paths, m.open, m.overflow
	m.mu.Unlock()

	limit := m.MaxNodeClasses
	if limit <= 0 {
		limit = DefaultMaxNodeClasses
	}
	out := make(map[[2]string]NodeTotals)
	n := 0
	for k, v := range all {
		key := [2]string{strconv.FormatUint(uint64(k.Domain), 10), strconv.Itoa(int(k.Namespace))}
		if n >= limit {
			key = [2]string{"other", "other"}
			overflow++
		}
		n++
		t := out[key]
		t.add(v)
		out[key] = t
	}
	for k, v := range out {
		ch <- prometheus.MustNewConstMetric(m.descPackets, prometheus.CounterValue, float64(v.Received), k[0], k[1])
		ch <- prometheus.MustNewConstMetric(m.descLost, prometheus.GaugeValue, float64(v.Lost), k[0], k[1])
		ch <- prometheus.MustNewConstMetric(m.descDups, prometheus.CounterValue, float64(v.Duplicates), k[0], k[1])
		ch <- prometheus.MustNewConstMetric(m.descReorder, prometheus.CounterValue, float64(v.Reordered), k[0], k[1])
	}
	ch <- prometheus.MustNewConstMetric(m.descRecords, prometheus.CounterValue, float64(records))
	ch <- prometheus.MustNewConstMetric(m.descPaths, prometheus.CounterValue, float64(paths))
	ch <- prometheus.MustNewConstMetric(m.descOpen, prometheus.GaugeValue, float64(open))
	ch <- prometheus.MustNewConstMetric(m.descOverflow, prometheus.CounterValue, float64(overflow))
}
