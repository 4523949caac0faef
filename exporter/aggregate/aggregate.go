// Package aggregate folds a node's per-packet DEX telemetry records into one
// record per flow and interval (RFC 9326 allows the exporting node to
// aggregate): packets and octets, the first and last sequence number, the
// sequence numbers skipped (gaps), duplicates and late (reordered) arrivals
// as this node saw them, and transit-delay statistics when the packets ask
// for IOAM trace bit 4.
//
// Loss from aggregates: over any run of intervals, lost = Σ Gaps − Σ
// Reordered, the same figure a collector computes from every per-packet
// record (highest − lowest sequence number + 1 − distinct numbers seen),
// as long as the flow stays in the table and late packets arrive within
// Window sequence numbers of the highest seen.
//
// An Aggregator is owned by one goroutine (the exporter's drainer); it is
// not safe for concurrent use. Add allocates only when a flow is first
// seen and no freed flow state can be reused.
package aggregate

import (
	"encoding/binary"
	"time"

	"github.com/dexplane/dexplane/dataplane/telemetry"
)

// Window is the number of sequence numbers below the highest one seen that
// a flow remembers, to tell a duplicate from a late arrival.
const Window = 1024

// DefaultMaxFlows bounds the flows an Aggregator tracks when
// Config.MaxFlows is 0.
const DefaultMaxFlows = 65536

// Key identifies an aggregated flow: the DEX namespace and Flow ID (when
// the packets carry one), the inner 5-tuple and, at an encapsulating node,
// the route that selected the packets (so aggregates sum per route).
type Key struct {
	// Src and Dst are the IPv6 addresses, network order.
	Src, Dst [16]byte
	// FlowID is the DEX Flow ID (0 when HasFlowID is false).
	FlowID uint32
	// Namespace is the IOAM Namespace-ID.
	Namespace uint16
	// SrcPort and DstPort are the transport ports (0 if none).
	SrcPort, DstPort uint16
	// Route is the index + 1 of the configured route that selected the
	// packets at an encapsulating node, 0 elsewhere (telemetry.Record.Route).
	Route uint16
	// Proto is the transport protocol number.
	Proto uint8
	// HasFlowID tells whether the packets carried a Flow ID.
	HasFlowID bool
}

// Record is one flow's aggregate over one interval. Times are unix
// nanoseconds; delays nanoseconds.
type Record struct {
	Key
	// Start and End are the receive times of the first and last packet of
	// the interval.
	Start, End int64
	// Packets and Octets count the packets (IPv6 packets as this node saw
	// them, outer header included) of the interval.
	Packets, Octets uint64
	// HasSeq tells whether any packet of the interval carried a Sequence
	// Number; FirstSeq is the first one received in the interval and
	// LastSeq the highest one seen so far (RFC 1982 order).
	HasSeq            bool
	FirstSeq, LastSeq uint32
	// Gaps counts sequence numbers skipped over when a packet advanced the
	// highest number seen; Duplicates numbers seen before; Reordered
	// packets older than the highest number seen and not seen before (they
	// fill a gap counted earlier, possibly in an earlier interval).
	Gaps, Duplicates, Reordered uint64
	// DelaySamples packets carried a valid transit delay (trace bit 4,
	// overflow bit clear); DelayMin/Max/Sum are over those, in ns.
	DelaySamples       uint64
	DelayMin, DelayMax uint32
	DelaySum           uint64
}

// Lost returns Gaps − Reordered clamped at 0: the loss this interval adds
// (a negative difference means late packets filled earlier gaps).
func (r *Record) Lost() uint64 {
	if r.Gaps > r.Reordered {
		return r.Gaps - r.Reordered
	}
	return 0
}

type flowState struct {
	rec     Record
	started bool
	max     uint32
	lowest  uint32 // lowest sequence number seen (RFC 1982 order)
	idle    int    // flushes without a packet
	window  [Window / 64]uint64
	inTable bool
}

// Config parameterises an Aggregator.
type Config struct {
	// Interval is the aggregation interval (informational: the caller
	// calls Flush at this period).
	Interval time.Duration
	// MaxFlows bounds the tracked flows; 0 means DefaultMaxFlows. Packets
	// of a new flow beyond the bound are counted in Overflow and dropped.
	MaxFlows int
	// IdleFlushes is the number of consecutive intervals without a packet
	// after which a flow's state is forgotten; 0 means 3.
	IdleFlushes int
}

// Aggregator folds telemetry Records into per-flow Records.
type Aggregator struct {
	cfg   Config
	flows map[Key]*flowState
	free  []*flowState
	// Overflow counts records dropped because MaxFlows flows were tracked.
	Overflow uint64
	// Added counts records folded in.
	Added uint64
}

// New returns an empty Aggregator.
func New(cfg Config) *Aggregator {
	if cfg.MaxFlows <= 0 {
		cfg.MaxFlows = DefaultMaxFlows
	}
	if cfg.IdleFlushes <= 0 {
		cfg.IdleFlushes = 3
	}
	return &Aggregator{cfg: cfg, flows: make(map[Key]*flowState)}
}

// Flows returns the number of flows tracked.
func (a *Aggregator) Flows() int { return len(a.flows) }

// KeyOf returns the aggregation key of r.
func KeyOf(r *telemetry.Record) Key {
	k := Key{Src: r.Src, Dst: r.Dst, Namespace: r.Namespace, SrcPort: r.SrcPort, DstPort: r.DstPort, Proto: r.NextHeader, HasFlowID: r.HasFlowID,
		Route: r.Route}
	if r.HasFlowID {
		k.FlowID = r.FlowID
	}
	return k
}

// PacketOctets returns the length of the IPv6 packet r was exported for,
// from the payload length in its raw header section (40 + payload length),
// or 0 when the record carries no raw section.
func PacketOctets(r *telemetry.Record) uint64 {
	if r.RawLen < 6 {
		return 0
	}
	return 40 + uint64(binary.BigEndian.Uint16(r.RawSection[4:6]))
}

func less(a, b uint32) bool { return int32(a-b) < 0 }

func bit(seq uint32) (int, uint64) {
	i := seq % Window
	return int(i / 64), 1 << (i % 64)
}

// Add folds one record into its flow's aggregate.
func (a *Aggregator) Add(r *telemetry.Record) {
	k := KeyOf(r)
	f := a.flows[k]
	if f == nil {
		if len(a.flows) >= a.cfg.MaxFlows {
			a.Overflow++
			return
		}
		if n := len(a.free); n > 0 {
			f = a.free[n-1]
			a.free = a.free[:n-1]
			*f = flowState{}
		} else {
			f = new(flowState)
		}
		f.rec.Key = k
		f.inTable = true
		a.flows[k] = f
	}
	a.Added++
	rec := &f.rec
	t := r.RxTime
	if rec.Packets == 0 || t < rec.Start {
		rec.Start = t
	}
	if t > rec.End {
		rec.End = t
	}
	rec.Packets++
	rec.Octets += PacketOctets(r)
	if r.TraceType&telemetry.TraceTransitDelay != 0 && r.TransitDelay&0x80000000 == 0 {
		d := r.TransitDelay
		if rec.DelaySamples == 0 || d < rec.DelayMin {
			rec.DelayMin = d
		}
		if d > rec.DelayMax {
			rec.DelayMax = d
		}
		rec.DelaySum += uint64(d)
		rec.DelaySamples++
	}
	if !r.HasSeq {
		return
	}
	seq := r.Seq
	if !rec.HasSeq {
		rec.HasSeq = true
		rec.FirstSeq = seq
	}
	if !f.started {
		f.started, f.max, f.lowest = true, seq, seq
		w, m := bit(seq)
		f.window[w] |= m
		rec.LastSeq = seq
		return
	}
	if less(f.max, seq) {
		gap := seq - f.max
		rec.Gaps += uint64(gap - 1)
		if gap >= Window {
			f.window = [Window / 64]uint64{}
		} else {
			for n := f.max + 1; n != seq; n++ {
				w, m := bit(n)
				f.window[w] &^= m
			}
		}
		f.max = seq
		w, m := bit(seq)
		f.window[w] |= m
		rec.LastSeq = seq
		return
	}
	rec.LastSeq = f.max
	if less(seq, f.lowest) {
		// below the flow's first number: it widens the range the loss is
		// counted over (as collect does), so the numbers in between count
		// as gaps and this one as late
		rec.Gaps += uint64(f.lowest - seq)
		f.lowest = seq
	}
	if f.max-seq >= Window {
		rec.Reordered++ // too old to tell; counted as late, as collect does
		return
	}
	w, m := bit(seq)
	if f.window[w]&m != 0 {
		rec.Duplicates++
		return
	}
	f.window[w] |= m
	rec.Reordered++
}

// Flush calls emit with the aggregate of every flow that saw packets since
// the previous Flush (rec is only valid during the call), starts a new
// interval and forgets flows idle for Config.IdleFlushes intervals. It
// returns the number of records emitted.
func (a *Aggregator) Flush(emit func(rec *Record)) int {
	n := 0
	for k, f := range a.flows {
		if f.rec.Packets == 0 {
			f.idle++
			if f.idle >= a.cfg.IdleFlushes {
				delete(a.flows, k)
				f.inTable = false
				a.free = append(a.free, f)
			}
			continue
		}
		f.idle = 0
		emit(&f.rec)
		n++
		key := f.rec.Key
		f.rec = Record{Key: key, LastSeq: f.max}
	}
	return n
}
