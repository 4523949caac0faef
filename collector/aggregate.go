package collector

import (
	"net/netip"

	"github.com/netsampler/goflow2/v2/decoders/netflow"

	"github.com/dexplane/dexplane/exporter"
	"github.com/dexplane/dexplane/exporter/aggregate"
)

// aggregate decodes values as an aggregate record when they carry an
// element only aggregates have, hands it to OnAggregate and returns true;
// it returns false for a per-packet record.
func (d *Decoder) aggregate(src netip.AddrPort, domain uint32, values []netflow.DataField) bool {
	isAgg := false
	for _, v := range values {
		pen := fieldPEN(&v)
		if exporter.IsAggregateField(pen, v.Type) {
			isAgg = true
			break
		}
	}
	if !isAgg {
		return false
	}
	if d.delay(domain, values) {
		return true
	}
	var rec aggregate.Record
	for _, v := range values {
		b, ok := v.Value.([]byte)
		if !ok {
			continue
		}
		pen := fieldPEN(&v)
		if !exporter.DecodeAggregateField(&rec, pen, v.Type, b) && exporter.IsAggregateField(pen, v.Type) {
			d.BadRecords++
			return true
		}
	}
	d.Aggregates++
	if d.OnAggregate != nil {
		d.OnAggregate(src, domain, &rec)
	}
	return true
}

// AggregateTotals sums the aggregate records of one (node, flow): loss is
// Gaps − Reordered over the whole run (see package exporter/aggregate).
type AggregateTotals struct {
	// Records is the number of aggregate records summed.
	Records uint64
	// Packets, Octets, Gaps, Duplicates and Reordered are sums.
	Packets, Octets, Gaps, Duplicates, Reordered uint64
	// FirstSeq is the first record's FirstSeq; LastSeq the last record's.
	FirstSeq, LastSeq uint32
}

// Add folds rec into t.
func (t *AggregateTotals) Add(rec *aggregate.Record) {
	if t.Records == 0 {
		t.FirstSeq = rec.FirstSeq
	}
	t.Records++
	t.Packets += rec.Packets
	t.Octets += rec.Octets
	t.Gaps += rec.Gaps
	t.Duplicates += rec.Duplicates
	t.Reordered += rec.Reordered
	t.LastSeq = rec.LastSeq
}

// Lost returns Gaps − Reordered, clamped at 0.
func (t *AggregateTotals) Lost() uint64 {
	if t.Gaps > t.Reordered {
		return t.Gaps - t.Reordered
	}
	return 0
}

// delay decodes values as an RFC 9951 delay record (DelayTemplate) when
// they carry pathDelayMeanDeltaMicroseconds, hands it to OnDelay and
// returns true.
func (d *Decoder) delay(domain uint32, values []netflow.DataField) bool {
	isDelay := false
	for _, v := range values {
		if !v.PenProvided && v.Type == IEPathDelayMean {
			isDelay = true
		}
	}
	if !isDelay {
		return false
	}
	var r DelayRecord
	for _, v := range values {
		b, ok := v.Value.([]byte)
		if !ok || len(b) == 0 || len(b) > 8 {
			d.BadRecords++
			return true
		}
		var x uint64
		for _, c := range b {
			x = x<<8 | uint64(c)
		}
		// Elements with an enterprise number are matched without the
		// enterprise bit; IANA ones as they are.
		pen, id := fieldPEN(&v), v.Type
		if pen != 0 {
			id &^= 0x8000
		}
		if f := delayFields.Field(pen, id); f != nil {
			f.Set(&r, x)
		}
	}
	d.Delays++
	if d.OnDelay != nil {
		d.OnDelay(domain, &r)
	}
	return true
}
