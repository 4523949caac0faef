package exporter

import (
	"strconv"
	"time"

	"github.com/dexplane/dexplane/dataplane/policy"
	"github.com/dexplane/dexplane/exporter/aggregate"
)

// PartitionIndex returns the collector, in [0, m), that receives the
// records of flow (namespace, flowID) under export.partition: flow:
// FNV-1a over the namespace (2 octets, big-endian) and the Flow ID
// (4 octets, big-endian), modulo m. Every node computes the same index, so
// all of a flow's records meet at one collector when the nodes list the
// same collectors in the same order.
func PartitionIndex(namespace uint16, flowID uint32, m int) int {
	if m <= 1 {
		return 0
	}
	const offset, prime = 2166136261, 16777619
	h := uint32(offset)
	for _, b := range [6]byte{byte(namespace >> 8), byte(namespace), byte(flowID >> 24), byte(flowID >> 16), byte(flowID >> 8), byte(flowID)} {
		h ^= uint32(b)
		h *= prime
	}
	return int(h % uint32(m))
}

// aggSlot is one aggregator and the interval it exports at.
type aggSlot struct {
	interval time.Duration
	agg      *aggregate.Aggregator
	next     time.Time // drainer goroutine only
}

// buildAggregators creates one aggregator per distinct interval of the
// node's and the routes' settings and the route → aggregator table (New).
// Each aggregator holds at most Aggregate.MaxFlows flows.
func (x *Exporter) buildAggregators() {
	a := &x.opts.Aggregate
	get := func(iv time.Duration) *aggregate.Aggregator {
		if iv <= 0 {
			return nil
		}
		for _, s := range x.aggs {
			if s.interval == iv {
				return s.agg
			}
		}
		ag := aggregate.New(aggregate.Config{Interval: iv, MaxFlows: a.MaxFlows})
		x.aggs = append(x.aggs, aggSlot{interval: iv, agg: ag})
		return ag
	}
	x.routeAgg = make([]*aggregate.Aggregator, 1+len(a.Routes))
	x.routeAgg[0] = get(a.Interval)
	for i := range a.Routes {
		x.routeAgg[i+1] = get(a.IntervalFor(uint16(i + 1)))
	}
}

// aggFor returns the aggregator for records of route (telemetry.Record.Route),
// nil for per-packet export. One bounds-checked index, no allocation.
func (x *Exporter) aggFor(route uint16) *aggregate.Aggregator {
	if int(route) < len(x.routeAgg) {
		return x.routeAgg[route]
	}
	return x.routeAgg[0]
}

// aggTick exports each aggregator's aggregates when its interval has
// elapsed (or all of them when final); drainer goroutine only.
func (x *Exporter) aggTick(final bool) {
	if len(x.aggs) == 0 {
		return
	}
	now := x.opts.Now()
	for i := range x.aggs {
		s := &x.aggs[i]
		if !final && now.Before(s.next) {
			continue
		}
		s.next = now.Add(s.interval)
		x.aggFlush(s.agg, now)
	}
	var flows uint64
	for _, s := range x.aggs {
		flows += uint64(s.agg.Flows())
	}
	x.aggFlows.Store(flows)
}

// aggFlush exports the aggregates of one aggregator (drainer goroutine).
func (x *Exporter) aggFlush(agg *aggregate.Aggregator, now time.Time) {
	ns := now.UnixNano()
	folded := agg.Added
	agg.Added = 0
	x.aggregated.Add(folded)
	if o := agg.Overflow; o > 0 {
		x.aggOverflow.Add(o)
		agg.Overflow = 0
	}
	var admitted, limited uint64
	agg.Flush(func(rec *aggregate.Record) {
		if !x.bucket.Allow(ns) {
			limited++
			return
		}
		admitted++
		x.exportAggregate(rec)
	})
	x.aggIntervals.Add(1)
	x.admitted.Add(admitted)
	x.aggRecords.Add(admitted)
	x.rateLimited.Add(limited)
	if admitted > 0 {
		x.flush()
	}
}

func (x *Exporter) exportAggregate(rec *aggregate.Record) {
	ar := (*AggRecord)(rec)
	if x.opts.Partition == policy.PartitionFlow && len(x.collectors) > 0 {
		if err := x.collectors[PartitionIndex(rec.Namespace, rec.FlowID, len(x.collectors))].offerCustom(AggregateTemplate, ar); err != nil {
			x.encodeErrors.Add(1)
		}
	} else {
		for _, c := range x.collectors {
			if err := c.offerCustom(AggregateTemplate, ar); err != nil {
				x.encodeErrors.Add(1)
			}
		}
	}
	for _, o := range x.outputs {
		o.offerLine(rec)
	}
}

// offerCustom is offer for a custom-template record (drainer goroutine).
func (c *exportSession) offerCustom(t *CustomTemplate, r CustomRecord) error {
	if !c.prepare(1) {
		return nil
	}
	err := c.enc.EncodeCustom(t, r)
	c.noteTemplates()
	return err
}

// offerLine writes an aggregate as one text or JSON line (drainer).
func (o *output) offerLine(rec *aggregate.Record) {
	if o.cur == nil {
		if o.cur = o.q.get(); o.cur == nil {
			o.dropped.Add(1)
			return
		}
	}
	o.cur.b = AppendAggregate(o.cur.b, rec, o.cfg.Format == policy.OutputJSON)
	o.cur.records++
	if len(o.cur.b) > outputChunk-outputSlack {
		o.flush()
	}
}

// AppendAggregate appends a one-line text (or JSON object) rendering of an
// aggregate record, newline-terminated.
func AppendAggregate(b []byte, r *aggregate.Record, asJSON bool) []byte {
	type kv struct {
		k string
		v uint64
	}
	kvs := [...]kv{{"ns", uint64(r.Namespace)}, {"flow_id", uint64(r.FlowID)}, {"route", uint64(r.Route)}, {"packets", r.Packets}, {"octets", r.Octets},
		{"first_seq", uint64(r.FirstSeq)}, {"last_seq", uint64(r.LastSeq)}, {"gaps", r.Gaps}, {"duplicates", r.Duplicates},
		{"reordered", r.Reordered}, {"lost", r.Lost()}, {"delay_samples", r.DelaySamples}, {"delay_min_ns", uint64(r.DelayMin)},
		{"delay_max_ns", uint64(r.DelayMax)}, {"delay_sum_ns", r.DelaySum}}
	if asJSON {
		b = append(b, `{"aggregate":true,"start":"`...)
		b = time.Unix(0, r.Start).UTC().AppendFormat(b, time.RFC3339Nano)
		b = append(b, `","end":"`...)
		b = time.Unix(0, r.End).UTC().AppendFormat(b, time.RFC3339Nano)
		b = append(b, '"')
		for _, e := range kvs {
			b = append(b, `,"`...)
			b = append(b, e.k...)
			b = append(b, `":`...)
			b = strconv.AppendUint(b, e.v, 10)
		}
		return append(b, "}\n"...)
	}
	b = append(b, "aggregate "...)
	b = time.Unix(0, r.Start).UTC().AppendFormat(b, "15:04:05.000")
	b = append(b, ".."...)
	b = time.Unix(0, r.End).UTC().AppendFormat(b, "15:04:05.000")
	for _, e := range kvs {
		b = append(b, ' ')
		b = append(b, e.k...)
		b = append(b, '=')
		if e.k == "flow_id" {
			b = append(b, "0x"...)
			b = strconv.AppendUint(b, e.v, 16)
			continue
		}
		b = strconv.AppendUint(b, e.v, 10)
	}
	return append(b, '\n')
}
