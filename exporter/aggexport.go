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

// aggTick exports the aggregates when the interval has elapsed (or when
// final); drainer goroutine only.
func (x *Exporter) aggTick(final bool) {
	now := x.opts.Now()
	if !final && now.Before(x.aggNext) {
		return
	}
	x.aggNext = now.Add(x.opts.Aggregate.Interval)
	ns := now.UnixNano()
	folded := x.agg.Added
	x.agg.Added = 0
	x.aggregated.Add(folded)
	if o := x.agg.Overflow; o > 0 {
		x.aggOverflow.Add(o)
		x.agg.Overflow = 0
	}
	var admitted, limited uint64
	x.agg.Flush(func(rec *aggregate.Record) {
		if !x.bucket.Allow(ns) {
			limited++
			return
		}
		admitted++
		x.exportAggregate(rec)
	})
	x.aggIntervals.Add(1)
	x.aggFlows.Store(uint64(x.agg.Flows()))
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
	if !c.prepare() {
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
