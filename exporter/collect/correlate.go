package collect

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

// Correlator accumulates Events and correlates them. It is not safe for
// concurrent use. Memory is bounded by MaxPackets packet entries (oldest
// folded into the per-flow statistics first).
type Correlator struct {
	// MaxPackets bounds the packets kept for path assembly; 0 means 65536.
	MaxPackets int

	packets map[PacketKey][]Hop
	order   []PacketKey // insertion order, for eviction
	head    int
	flows   map[FlowKey]*flowState
}

type flowState struct {
	nodes map[uint32]*seqTracker
	paths map[string]*PathStats // folded (evicted) packets
}

// NewCorrelator returns an empty Correlator.
func NewCorrelator() *Correlator {
	return &Correlator{packets: make(map[PacketKey][]Hop), flows: make(map[FlowKey]*flowState)}
}

// Add records one event. Events without a Flow ID cannot be correlated and
// are ignored (false); events without a Sequence Number only count towards
// their flow's received totals.
func (c *Correlator) Add(ev *Event) bool {
	r := &ev.Record
	if !r.HasFlowID {
		return false
	}
	fk := FlowKey{r.Namespace, r.FlowID}
	fl := c.flows[fk]
	if fl == nil {
		fl = &flowState{nodes: make(map[uint32]*seqTracker), paths: make(map[string]*PathStats)}
		c.flows[fk] = fl
	}
	st := fl.nodes[ev.Domain]
	if st == nil {
		st = &seqTracker{}
		fl.nodes[ev.Domain] = st
	}
	if !r.HasSeq {
		st.received++
		return true
	}
	st.add(r.Seq)
	pk := PacketKey{r.Namespace, r.FlowID, r.Seq}
	hops, seen := c.packets[pk]
	if !seen {
		c.evict()
		c.order = append(c.order, pk)
		hops = make([]Hop, 0, 4) // a domain's path, usually: one allocation
	}
	c.packets[pk] = append(hops, hopOf(ev))
	return true
}

func hopOf(ev *Event) Hop {
	r := &ev.Record
	h := Hop{Domain: ev.Domain}
	switch {
	case r.TraceType&telemetry.TraceHopLimNodeID != 0:
		h.NodeID, h.HasNodeID = uint64(r.NodeID), true
	case r.TraceType&telemetry.TraceHopLimNodeIDWide != 0:
		h.NodeID, h.HasNodeID = r.NodeIDWide, true
	}
	if ev.Has("ioamHopLim") {
		h.HopLimit, h.HasHopLimit = r.HopLimit, true
	}
	switch {
	case r.TraceType&telemetry.TraceTimestampSec != 0 && r.TraceType&telemetry.TraceTimestampFrac != 0 &&
		r.TimestampSec != telemetry.Unavailable32 && r.TimestampFrac != telemetry.Unavailable32:
		h.Time = int64(r.TimestampSec)*1e9 + int64(r.TimestampFrac)*1e3
	case ev.Has("observationTimeNanoseconds"):
		h.Time = r.RxTime
	}
	return h
}

func (c *Correlator) evict() {
	limit := c.MaxPackets
	if limit <= 0 {
		limit = 65536
	}
	for len(c.packets) >= limit && c.head < len(c.order) {
		pk := c.order[c.head]
		c.head++
		if hops, ok := c.packets[pk]; ok {
			fl := c.flows[FlowKey{pk.Namespace, pk.FlowID}]
			foldPath(fl.paths, hops)
			delete(c.packets, pk)
		}
	}
	if c.head > len(c.order)/2 && c.head > 1024 { // compact the queue
		c.order = append(c.order[:0], c.order[c.head:]...)
		c.head = 0
	}
}

// orderHops returns a packet's hops sorted into path order (see sortHops).
func orderHops(hops []Hop) []Hop {
	h := slices.Clone(hops)
	sortHops(h)
	return h
}

// sortHops sorts hops in place into path order: by time when both hops
// have one, else by decreasing hop limit, else by domain.
func sortHops(h []Hop) {
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

// foldPath adds one packet's hops to the per-path statistics; it sorts
// hops in place (their order carries no meaning before sorting).
func foldPath(paths map[string]*PathStats, hops []Hop) {
	h := hops
	sortHops(h)
	var kb [64]byte
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

// Path returns the hops recorded for one packet, in path order, or nil.
func (c *Correlator) Path(k PacketKey) []Hop {
	if h, ok := c.packets[k]; ok {
		return orderHops(h)
	}
	return nil
}

// Summary returns the statistics of every flow, sorted by key. It does not
// change the Correlator (packets still open are included).
func (c *Correlator) Summary() []FlowSummary {
	var out []FlowSummary
	live := make(map[FlowKey]map[string]*PathStats)
	for pk, hops := range c.packets {
		fk := FlowKey{pk.Namespace, pk.FlowID}
		m := live[fk]
		if m == nil {
			m = make(map[string]*PathStats)
			live[fk] = m
		}
		foldPath(m, hops)
	}
	for fk, fl := range c.flows {
		s := FlowSummary{Key: fk}
		for d, st := range fl.nodes {
			n := NodeFlowStats{Domain: d, Received: st.received, Duplicates: st.dups, Reordered: st.reorder, First: st.first, Last: st.max}
			if st.started {
				n.Expected = uint64(st.max-st.first) + 1
				if distinct := st.received - st.dups; n.Expected > distinct {
					n.Lost = n.Expected - distinct
				}
			}
			s.Nodes = append(s.Nodes, n)
		}
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
