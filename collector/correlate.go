package collector

import (
	"fmt"
	"io"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/dexplane/dexplane/dataplane/telemetry"
	"github.com/dexplane/dexplane/exporter"
)

// PacketKey identifies one user packet across the nodes of a domain
// (RFC 9326: Flow ID and Sequence Number together identify a packet).
type PacketKey struct {
	// Namespace is the IOAM Namespace-ID.
	Namespace uint16
	// FlowID and Seq are the DEX Flow ID and Sequence Number.
	FlowID uint32
	Seq    uint32
}

// FlowKey identifies one monitored flow.
type FlowKey struct {
	// Namespace is the IOAM Namespace-ID.
	Namespace uint16
	// FlowID is the DEX Flow ID.
	FlowID uint32
}

// Hop is one node's observation of a packet.
type Hop struct {
	// Domain is the Observation Domain ID of the exporting node.
	Domain uint32
	// NodeID is the IOAM node_id (24-bit, or 56-bit wide), valid if
	// HasNodeID.
	NodeID uint64
	// HasNodeID tells whether NodeID was exported.
	HasNodeID bool
	// HopLimit is the exported Hop_Lim, valid if HasHopLimit.
	HopLimit uint8
	// HasHopLimit tells whether HopLimit was exported.
	HasHopLimit bool
	// Time is when the node saw the packet, unix ns: the IOAM timestamp
	// (seconds + microseconds) if exported, else observationTimeNanoseconds;
	// 0 when neither was exported.
	Time int64
}

// seqWindow is the number of recent sequence numbers per (flow, node)
// remembered to tell duplicates from late (reordered) arrivals.
const seqWindow = 4096

// seqTracker keeps the per-(flow, node) sequence statistics.
type seqTracker struct {
	started  bool
	first    uint32 // lowest sequence number seen (wrap-aware)
	max      uint32 // highest sequence number seen
	received uint64 // every record, duplicates included
	dups     uint64
	reorder  uint64                 // arrivals below the highest seen so far
	window   [seqWindow / 64]uint64 // bit (seq % seqWindow) = seen, for seq in (max-seqWindow, max]
}

// less reports a < b in sequence-number space (RFC 1982 style).
func less(a, b uint32) bool { return int32(a-b) < 0 }

func (s *seqTracker) bit(seq uint32) (int, uint64) {
	i := seq % seqWindow
	return int(i / 64), 1 << (i % 64)
}

func (s *seqTracker) add(seq uint32) {
	s.received++
	if !s.started {
		s.started, s.first, s.max = true, seq, seq
		w, m := s.bit(seq)
		s.window[w] |= m
		return
	}
	if less(s.max, seq) {
		// advance: clear the bits of the numbers skipped over
		gap := seq - s.max
		if gap >= seqWindow {
			s.window = [seqWindow / 64]uint64{}
		} else {
			for n := s.max + 1; n != seq; n++ {
				w, m := s.bit(n)
				s.window[w] &^= m
			}
		}
		s.max = seq
		w, m := s.bit(seq)
		s.window[w] |= m
		return
	}
	if less(seq, s.first) {
		s.first = seq
	}
	if s.max-seq >= seqWindow {
		s.reorder++ // too old to tell; count as late
		return
	}
	w, m := s.bit(seq)
	if s.window[w]&m != 0 {
		s.dups++
		return
	}
	s.window[w] |= m
	s.reorder++
}

// NodeFlowStats are the sequence statistics of one flow at one node.
type NodeFlowStats struct {
	// Domain is the Observation Domain ID of the node.
	Domain uint32
	// Received records, duplicates included.
	Received uint64
	// Expected is the span of sequence numbers seen (max - first + 1).
	Expected uint64
	// Lost is Expected minus the distinct sequence numbers received
	// (negative values are clamped to 0).
	Lost uint64
	// Duplicates and Reordered (arrived after a higher number) records.
	Duplicates, Reordered uint64
	// First and Last are the lowest and highest sequence numbers seen.
	First, Last uint32
}

// PathStats aggregates the packets of a flow that took the same path.
type PathStats struct {
	// Nodes is the path as Observation Domain IDs, in the order the
	// packets visited them.
	Nodes []uint32
	// Packets is the number of packets seen on this path.
	Packets uint64
	// DelayNs[i] sums the delays in nanoseconds between Nodes[i] and
	// Nodes[i+1] over DelaySamples[i] packets (those with a time at both).
	DelayNs, DelaySamples []uint64
	// DelayMin[i] and DelayMax[i] are the extreme delays of hop i, in
	// nanoseconds (negative when the nodes' clocks disagree).
	DelayMin, DelayMax []int64
}

// FlowSummary is the correlation result for one flow.
type FlowSummary struct {
	// Key identifies the flow.
	Key   FlowKey
	Nodes []NodeFlowStats // by Domain
	Paths []PathStats     // most used first
}

// Correlator correlates the per-packet records of a domain's nodes in one
// structure: the packets being assembled live in a Paths table (a fixed
// slab, see Paths) and each (flow, node) keeps its sequence statistics. A
// packet completes Timeout after its first record arrived (the collector
// clock Expire was last given), when MaxPackets are open (oldest first) or
// on Flush; its path is then folded into its flow's per-path statistics and
// handed to OnPath. Add allocates nothing in steady state: only the first
// record of a new (flow, node) and the first packet of a new path of a flow
// allocate. Memory: 188 octets per packet the table holds (Paths), about 600 per
// (flow, node) and one PathStats per distinct path of a flow. Not safe for
// concurrent use.
type Correlator struct {
	// MaxPackets bounds the packets being assembled; 0 means 65536. It is
	// read when the first record is added.
	MaxPackets int
	// Timeout completes a packet that long after its first record arrived,
	// by the clock given to Expire; 0 completes packets only by MaxPackets
	// and Flush.
	Timeout time.Duration
	// OnPath, when set, receives every completed path after it was folded
	// into the flow statistics; the Path is valid during the call only.
	OnPath func(p *Path)

	paths *Paths
	now   int64
	// nodes holds the (flow, node) statistics by namespace, then Flow ID
	// << 32 | Observation Domain ID (a 64-bit key: Go's fast map path);
	// last caches the namespace seen last.
	nodes   map[uint16]map[uint64]*seqTracker
	last    map[uint64]*seqTracker
	lastNS  uint16
	hasLast bool
	flows   map[FlowKey]*flowState
}

type flowState struct {
	paths map[string]*PathStats // completed packets, by path
}

// NewCorrelator returns an empty Correlator; set MaxPackets, Timeout and
// OnPath before the first Add or Expire.
func NewCorrelator() *Correlator {
	return &Correlator{nodes: make(map[uint16]map[uint64]*seqTracker), flows: make(map[FlowKey]*flowState)}
}

func (c *Correlator) init() {
	limit := c.MaxPackets
	if limit <= 0 {
		limit = 65536
	}
	c.paths = NewPaths(limit, c.Timeout, c.complete)
}

// Add records one event. Events without a Flow ID cannot be correlated and
// are ignored (false); events without a Sequence Number only count towards
// their flow's received totals. A packet's first record is stamped with the
// clock last given to Expire.
func (c *Correlator) Add(ev *Event) bool {
	r := &ev.Record
	if !r.HasFlowID {
		return false
	}
	if c.paths == nil {
		c.init()
	}
	if !c.hasLast || c.lastNS != r.Namespace {
		c.last = c.nodes[r.Namespace]
		if c.last == nil {
			c.last = make(map[uint64]*seqTracker)
			c.nodes[r.Namespace] = c.last
		}
		c.lastNS, c.hasLast = r.Namespace, true
	}
	nk := uint64(r.FlowID)<<32 | uint64(ev.Domain)
	st := c.last[nk]
	if st == nil {
		st = &seqTracker{}
		c.last[nk] = st
		if fk := (FlowKey{r.Namespace, r.FlowID}); c.flows[fk] == nil {
			c.flows[fk] = &flowState{paths: make(map[string]*PathStats)}
		}
	}
	if !r.HasSeq {
		st.received++
		return true
	}
	st.add(r.Seq)
	h := PathHop{Domain: ev.Domain, Time: eventTime(ev)}
	if ev.Present&bitHopLim != 0 {
		h.HopLimit, h.HasHopLimit = r.HopLimit, true
	}
	c.paths.AddHop(PacketKey{r.Namespace, r.FlowID, r.Seq}, h, c.now)
	return true
}

// Presence bits of Event.Present used per record.
var (
	bitHopLim  = fieldBit("ioamHopLim")
	bitObsTime = fieldBit("observationTimeNanoseconds")
)

func fieldBit(name string) uint32 {
	for i := range exporter.Fields {
		if exporter.Fields[i].Name == name {
			return 1 << i
		}
	}
	panic("collect: no field " + name)
}

// eventTime returns when the node saw the packet, unix ns: the IOAM
// timestamp (seconds + microseconds) if exported, else
// observationTimeNanoseconds; 0 when neither was exported.
func eventTime(ev *Event) int64 {
	r := &ev.Record
	switch {
	case r.TraceType&telemetry.TraceTimestampSec != 0 && r.TraceType&telemetry.TraceTimestampFrac != 0 &&
		r.TimestampSec != telemetry.Unavailable32 && r.TimestampFrac != telemetry.Unavailable32:
		return int64(r.TimestampSec)*1e9 + int64(r.TimestampFrac)*1e3
	case ev.Present&bitObsTime != 0:
		return r.RxTime
	}
	return 0
}

// HopOf returns node ev.Domain's observation of the packet of ev, with the
// node id when exported.
func HopOf(ev *Event) Hop {
	r := &ev.Record
	h := Hop{Domain: ev.Domain, Time: eventTime(ev)}
	switch {
	case r.TraceType&telemetry.TraceHopLimNodeID != 0:
		h.NodeID, h.HasNodeID = uint64(r.NodeID), true
	case r.TraceType&telemetry.TraceHopLimNodeIDWide != 0:
		h.NodeID, h.HasNodeID = r.NodeIDWide, true
	}
	if ev.Present&bitHopLim != 0 {
		h.HopLimit, h.HasHopLimit = r.HopLimit, true
	}
	return h
}

// Expire advances the collector clock to now (unix ns; a clock that went
// back is ignored) and completes every packet whose first record arrived
// Timeout or longer before it.
//
// The first call of Add or Expire allocates the packet table (MaxPackets
// slab entries, about 0.5 s for 2²⁰ of them): a collector calls Expire
// once before its first record so that the records of the first packets
// are not stamped before that pause.
func (c *Correlator) Expire(now int64) {
	c.now = max(c.now, now)
	if c.paths == nil {
		c.init()
	}
	c.paths.Expire(now)
}

// Flush completes every open packet.
func (c *Correlator) Flush() {
	if c.paths != nil {
		c.paths.Flush()
	}
}

// Open returns the number of packets being assembled.
func (c *Correlator) Open() int {
	if c.paths == nil {
		return 0
	}
	return c.paths.Open()
}

// PacketOctets returns the memory the packet table holds per packet it
// can track (see Paths.PacketOctets); 0 before the first Add.
func (c *Correlator) PacketOctets() float64 {
	if c.paths == nil {
		return 0
	}
	return c.paths.PacketOctets()
}

// PathCounters returns the counters of the packet table.
func (c *Correlator) PathCounters() PathCounters {
	if c.paths == nil {
		return PathCounters{}
	}
	return c.paths.Counters()
}

// eachNode calls fn for the statistics of every (flow, node).
func (c *Correlator) eachNode(fn func(fk FlowKey, domain uint32, st *seqTracker)) {
	for ns, m := range c.nodes {
		for k, st := range m {
			fn(FlowKey{ns, uint32(k >> 32)}, uint32(k), st)
		}
	}
}

// complete folds a completed path into its flow's statistics.
func (c *Correlator) complete(p *Path) {
	if fl := c.flows[FlowKey{p.Key.Namespace, p.Key.FlowID}]; fl != nil {
		foldPath(fl.paths, p.Hops)
	}
	if c.OnPath != nil {
		c.OnPath(p)
	}
}

// SortHops sorts hops in place into path order: by time when both hops
// have one, else by decreasing hop limit, else by domain.
func SortHops(h []Hop) {
	slices.SortStableFunc(h, func(a, b Hop) int {
		if a.Time != 0 && b.Time != 0 && a.Time != b.Time {
			if a.Time < b.Time {
				return -1
			}
			return 1
		}
		if a.HasHopLimit && b.HasHopLimit && a.HopLimit != b.HopLimit {
			return int(b.HopLimit) - int(a.HopLimit)
		}
		return int(int64(a.Domain) - int64(b.Domain))
	})
}

func pathKey(h []Hop) string {
	var b strings.Builder
	for i, x := range h {
		if i > 0 {
			b.WriteByte('>')
		}
		b.WriteString(strconv.FormatUint(uint64(x.Domain), 10))
	}
	return b.String()
}

// foldPath adds one packet's hops, in path order, to the per-path
// statistics.
func foldPath(paths map[string]*PathStats, h []PathHop) {
	var kb [96]byte
	kbuf := kb[:0]
	for i, x := range h {
		if i > 0 {
			kbuf = append(kbuf, '>')
		}
		kbuf = strconv.AppendUint(kbuf, uint64(x.Domain), 10)
	}
	p := paths[string(kbuf)] // no allocation for the lookup
	if p == nil {
		k := string(kbuf)
		n := len(h)
		p = &PathStats{DelayNs: make([]uint64, max(n-1, 0)), DelaySamples: make([]uint64, max(n-1, 0)),
			DelayMin: make([]int64, max(n-1, 0)), DelayMax: make([]int64, max(n-1, 0))}
		for _, x := range h {
			p.Nodes = append(p.Nodes, x.Domain)
		}
		paths[k] = p
	}
	p.Packets++
	for i := 0; i+1 < len(h); i++ {
		if h[i].Time == 0 || h[i+1].Time == 0 {
			continue
		}
		d := h[i+1].Time - h[i].Time
		if p.DelaySamples[i] == 0 || d < p.DelayMin[i] {
			p.DelayMin[i] = d
		}
		if p.DelaySamples[i] == 0 || d > p.DelayMax[i] {
			p.DelayMax[i] = d
		}
		p.DelayNs[i] += uint64(max(d, 0))
		p.DelaySamples[i]++
	}
}

// Path returns the hops recorded so far for an open packet, in path order,
// or nil once it completed (or was never seen).
func (c *Correlator) Path(k PacketKey) []PathHop {
	if c.paths == nil {
		return nil
	}
	return c.paths.Get(k)
}

// Summary returns the statistics of every flow, sorted by key. It does not
// change the Correlator (packets still open are included).
func (c *Correlator) Summary() []FlowSummary {
	var out []FlowSummary
	live := make(map[FlowKey]map[string]*PathStats)
	if c.paths != nil {
		c.paths.EachOpen(func(pa *Path) {
			fk := FlowKey{pa.Key.Namespace, pa.Key.FlowID}
			m := live[fk]
			if m == nil {
				m = make(map[string]*PathStats)
				live[fk] = m
			}
			foldPath(m, pa.Hops)
		})
	}
	byFlow := make(map[FlowKey][]NodeFlowStats)
	c.eachNode(func(fk FlowKey, domain uint32, st *seqTracker) {
		n := NodeFlowStats{Domain: domain, Received: st.received, Duplicates: st.dups, Reordered: st.reorder, First: st.first, Last: st.max}
		if st.started {
			n.Expected = uint64(st.max-st.first) + 1
			if distinct := st.received - st.dups; n.Expected > distinct {
				n.Lost = n.Expected - distinct
			}
		}
		byFlow[fk] = append(byFlow[fk], n)
	})
	for fk, fl := range c.flows {
		s := FlowSummary{Key: fk, Nodes: byFlow[fk]}
		slices.SortFunc(s.Nodes, func(a, b NodeFlowStats) int { return int(int64(a.Domain) - int64(b.Domain)) })
		merged := make(map[string]*PathStats)
		for _, src := range []map[string]*PathStats{fl.paths, live[fk]} {
			for k, p := range src {
				m := merged[k]
				if m == nil {
					cp := *p
					cp.Nodes = slices.Clone(p.Nodes)
					cp.DelayNs, cp.DelaySamples = slices.Clone(p.DelayNs), slices.Clone(p.DelaySamples)
					cp.DelayMin, cp.DelayMax = slices.Clone(p.DelayMin), slices.Clone(p.DelayMax)
					merged[k] = &cp
					continue
				}
				m.Packets += p.Packets
				for i := range m.DelayNs {
					if p.DelaySamples[i] == 0 {
						continue
					}
					if m.DelaySamples[i] == 0 || p.DelayMin[i] < m.DelayMin[i] {
						m.DelayMin[i] = p.DelayMin[i]
					}
					if m.DelaySamples[i] == 0 || p.DelayMax[i] > m.DelayMax[i] {
						m.DelayMax[i] = p.DelayMax[i]
					}
					m.DelayNs[i] += p.DelayNs[i]
					m.DelaySamples[i] += p.DelaySamples[i]
				}
			}
		}
		for _, p := range merged {
			s.Paths = append(s.Paths, *p)
		}
		slices.SortFunc(s.Paths, func(a, b PathStats) int {
			if a.Packets != b.Packets {
				if a.Packets > b.Packets {
					return -1
				}
				return 1
			}
			return strings.Compare(fmt.Sprint(a.Nodes), fmt.Sprint(b.Nodes))
		})
		out = append(out, s)
	}
	slices.SortFunc(out, func(a, b FlowSummary) int {
		if a.Key.Namespace != b.Key.Namespace {
			return int(a.Key.Namespace) - int(b.Key.Namespace)
		}
		return int(int64(a.Key.FlowID) - int64(b.Key.FlowID))
	})
	return out
}

// WriteSummary prints s in a human-readable form.
func WriteSummary(w io.Writer, s []FlowSummary) error {
	var b strings.Builder
	fmt.Fprintf(&b, "%d flow(s)\n", len(s))
	for _, f := range s {
		fmt.Fprintf(&b, "flow ns=%d id=0x%08x\n", f.Key.Namespace, f.Key.FlowID)
		for _, n := range f.Nodes {
			fmt.Fprintf(&b, "  node %d: received %d, seq %d..%d, lost %d, duplicates %d, reordered %d\n",
				n.Domain, n.Received, n.First, n.Last, n.Lost, n.Duplicates, n.Reordered)
		}
		for _, p := range f.Paths {
			fmt.Fprintf(&b, "  path %s: %d packet(s)", pathString(p.Nodes), p.Packets)
			for i := range p.DelayNs {
				if p.DelaySamples[i] == 0 {
					fmt.Fprintf(&b, "; %d>%d delay n/a", p.Nodes[i], p.Nodes[i+1])
					continue
				}
				avg := time.Duration(p.DelayNs[i] / p.DelaySamples[i])
				fmt.Fprintf(&b, "; %d>%d delay avg %v min %v max %v", p.Nodes[i], p.Nodes[i+1],
					avg, time.Duration(p.DelayMin[i]), time.Duration(p.DelayMax[i]))
			}
			b.WriteByte('\n')
		}
	}
	_, err := io.WriteString(w, b.String())
	return err
}

func pathString(nodes []uint32) string {
	s := make([]string, len(nodes))
	for i, n := range nodes {
		s[i] = strconv.FormatUint(uint64(n), 10)
	}
	return strings.Join(s, " > ")
}

// AppendEvent appends a one-line text (or, with asJSON, a JSON object)
// rendering of ev, newline-terminated: exporter and domain, then the
// record as exporter.AppendText/AppendJSON print it (without the role,
// which IPFIX does not carry).
func AppendEvent(b []byte, ev *Event, asJSON bool) []byte {
	if asJSON {
		b = append(b, `{"exporter":"`...)
		b = ev.Exporter.AppendTo(b)
		b = append(b, `","domain":`...)
		b = strconv.AppendUint(b, uint64(ev.Domain), 10)
		b = append(b, `,"template":`...)
		b = strconv.AppendUint(b, uint64(ev.Template), 10)
		rec := exporter.AppendJSON(nil, &ev.Record)
		rec = stripRole(rec, true)
		return append(append(b, ','), rec[1:]...)
	}
	b = append(b, "domain="...)
	b = strconv.AppendUint(b, uint64(ev.Domain), 10)
	b = append(b, " from="...)
	b = ev.Exporter.AppendTo(b)
	b = append(b, ' ')
	return append(b, stripRole(exporter.AppendText(nil, &ev.Record), false)...)
}

// stripRole removes the role the formatters print (the zero Role would
// read "encap", which IPFIX records do not say).
func stripRole(b []byte, asJSON bool) []byte {
	old := " encap "
	if asJSON {
		old = `,"role":"encap"`
	}
	s := strings.Replace(string(b), old, map[bool]string{true: "", false: " "}[asJSON], 1)
	return []byte(s)
}
