package exporter

import (
	"github.com/dexplane/dexplane/exporter/aggregate"
)

// AggPEN is the Private Enterprise Number of the Information Elements
// dexplane defines for its aggregate records where IANA has none: 32473,
// the number RFC 5612 reserves for documentation. It is a clearly marked
// placeholder until dexplane registers a PEN of its own; collectors must
// not assume the numbers below are stable.
const AggPEN uint32 = 32473

// Element ids under AggPEN (aggregate records).
const (
	AggIEFirstSeq     uint16 = 1 // dexFirstSequenceNumber, unsigned32
	AggIELastSeq      uint16 = 2 // dexLastSequenceNumber, unsigned32
	AggIEGaps         uint16 = 3 // dexSequenceGapDeltaCount, unsigned64
	AggIEDuplicates   uint16 = 4 // dexDuplicateDeltaCount, unsigned64
	AggIEReordered    uint16 = 5 // dexReorderedDeltaCount, unsigned64
	AggIEDelaySamples uint16 = 6 // transitDelaySampleDeltaCount, unsigned64
	AggIEDelayMin     uint16 = 7 // transitDelayMinNanoseconds, unsigned32
	AggIEDelayMax     uint16 = 8 // transitDelayMaxNanoseconds, unsigned32
	AggIEDelaySum     uint16 = 9 // transitDelaySumNanoseconds, unsigned64
	// AggIERoute is dexRouteIndex, unsigned16: the index + 1 of the
	// configured route (the config file's routes, in order) that selected
	// the packets at an encapsulating node; 0 at other roles.
	AggIERoute uint16 = 10
)

// IANA Information Elements used by aggregate records.
const (
	ieOctetDeltaCount       uint16 = 1
	iePacketDeltaCount      uint16 = 2
	ieProtocolIdentifier    uint16 = 4
	ieSourceTransportPort   uint16 = 7
	ieDestTransportPort     uint16 = 11
	ieSourceIPv6Address     uint16 = 27
	ieDestIPv6Address       uint16 = 28
	ieFlowStartMilliseconds uint16 = 152
	ieFlowEndMilliseconds   uint16 = 153
)

// AggregateTemplate is the template of per-flow aggregate records
// (exporter/aggregate). Layout of one data record (133 octets, big-endian):
//
//	10383/0  ioamNamespaceId            2
//	10383/15 ioamDexFlowId              4  (0 when the packets carry none)
//	27       sourceIPv6Address         16
//	28       destinationIPv6Address    16
//	4        protocolIdentifier         1
//	7        sourceTransportPort        2
//	11       destinationTransportPort   2
//	152      flowStartMilliseconds      8
//	153      flowEndMilliseconds        8
//	2        packetDeltaCount           8
//	1        octetDeltaCount            8
//	32473/1  dexFirstSequenceNumber     4
//	32473/2  dexLastSequenceNumber      4
//	32473/3  dexSequenceGapDeltaCount   8
//	32473/4  dexDuplicateDeltaCount     8
//	32473/5  dexReorderedDeltaCount     8
//	32473/6  transitDelaySampleDeltaCount 8
//	32473/7  transitDelayMinNanoseconds 4
//	32473/8  transitDelayMaxNanoseconds 4
//	32473/9  transitDelaySumNanoseconds 8
//	32473/10 dexRouteIndex              2
var AggregateTemplate = aggregateFields.Template()

// aggregateFields are the fields of an aggregate record (AggregateTemplate's
// layout): they encode AggRecord and decode DecodeAggregateField.
var aggregateFields = CustomFields[aggregate.Record]{
	{FieldSpec: FieldSpec{ID: 0, Len: 2, PEN: PEN, Name: "ioamNamespaceId"},
		Get: func(r *aggregate.Record) uint64 { return uint64(r.Namespace) }, Set: func(r *aggregate.Record, x uint64) { r.Namespace = uint16(x) }},
	{FieldSpec: FieldSpec{ID: 15, Len: 4, PEN: PEN, Name: "ioamDexFlowId"},
		Get: func(r *aggregate.Record) uint64 { return uint64(r.FlowID) }, Set: func(r *aggregate.Record, x uint64) { r.FlowID, r.HasFlowID = uint32(x), true }},
	{FieldSpec: FieldSpec{ID: ieSourceIPv6Address, Len: 16, Name: "sourceIPv6Address"},
		Octets: func(r *aggregate.Record) []byte { return r.Src[:] }},
	{FieldSpec: FieldSpec{ID: ieDestIPv6Address, Len: 16, Name: "destinationIPv6Address"},
		Octets: func(r *aggregate.Record) []byte { return r.Dst[:] }},
	{FieldSpec: FieldSpec{ID: ieProtocolIdentifier, Len: 1, Name: "protocolIdentifier"},
		Get: func(r *aggregate.Record) uint64 { return uint64(r.Proto) }, Set: func(r *aggregate.Record, x uint64) { r.Proto = uint8(x) }},
	{FieldSpec: FieldSpec{ID: ieSourceTransportPort, Len: 2, Name: "sourceTransportPort"},
		Get: func(r *aggregate.Record) uint64 { return uint64(r.SrcPort) }, Set: func(r *aggregate.Record, x uint64) { r.SrcPort = uint16(x) }},
	{FieldSpec: FieldSpec{ID: ieDestTransportPort, Len: 2, Name: "destinationTransportPort"},
		Get: func(r *aggregate.Record) uint64 { return uint64(r.DstPort) }, Set: func(r *aggregate.Record, x uint64) { r.DstPort = uint16(x) }},
	{FieldSpec: FieldSpec{ID: ieFlowStartMilliseconds, Len: 8, Name: "flowStartMilliseconds"},
		Get: func(r *aggregate.Record) uint64 { return uint64(r.Start / 1e6) }, Set: func(r *aggregate.Record, x uint64) { r.Start = int64(x) * 1e6 }},
	{FieldSpec: FieldSpec{ID: ieFlowEndMilliseconds, Len: 8, Name: "flowEndMilliseconds"},
		Get: func(r *aggregate.Record) uint64 { return uint64(r.End / 1e6) }, Set: func(r *aggregate.Record, x uint64) { r.End = int64(x) * 1e6 }},
	{FieldSpec: FieldSpec{ID: iePacketDeltaCount, Len: 8, Name: "packetDeltaCount"},
		Get: func(r *aggregate.Record) uint64 { return r.Packets }, Set: func(r *aggregate.Record, x uint64) { r.Packets = x }},
	{FieldSpec: FieldSpec{ID: ieOctetDeltaCount, Len: 8, Name: "octetDeltaCount"},
		Get: func(r *aggregate.Record) uint64 { return r.Octets }, Set: func(r *aggregate.Record, x uint64) { r.Octets = x }},
	{FieldSpec: FieldSpec{ID: AggIEFirstSeq, Len: 4, PEN: AggPEN, Name: "dexFirstSequenceNumber"},
		Get: func(r *aggregate.Record) uint64 { return uint64(r.FirstSeq) }, Set: func(r *aggregate.Record, x uint64) { r.FirstSeq, r.HasSeq = uint32(x), true }},
	{FieldSpec: FieldSpec{ID: AggIELastSeq, Len: 4, PEN: AggPEN, Name: "dexLastSequenceNumber"},
		Get: func(r *aggregate.Record) uint64 { return uint64(r.LastSeq) }, Set: func(r *aggregate.Record, x uint64) { r.LastSeq = uint32(x) }},
	{FieldSpec: FieldSpec{ID: AggIEGaps, Len: 8, PEN: AggPEN, Name: "dexSequenceGapDeltaCount"},
		Get: func(r *aggregate.Record) uint64 { return r.Gaps }, Set: func(r *aggregate.Record, x uint64) { r.Gaps = x }},
	{FieldSpec: FieldSpec{ID: AggIEDuplicates, Len: 8, PEN: AggPEN, Name: "dexDuplicateDeltaCount"},
		Get: func(r *aggregate.Record) uint64 { return r.Duplicates }, Set: func(r *aggregate.Record, x uint64) { r.Duplicates = x }},
	{FieldSpec: FieldSpec{ID: AggIEReordered, Len: 8, PEN: AggPEN, Name: "dexReorderedDeltaCount"},
		Get: func(r *aggregate.Record) uint64 { return r.Reordered }, Set: func(r *aggregate.Record, x uint64) { r.Reordered = x }},
	{FieldSpec: FieldSpec{ID: AggIEDelaySamples, Len: 8, PEN: AggPEN, Name: "transitDelaySampleDeltaCount"},
		Get: func(r *aggregate.Record) uint64 { return r.DelaySamples }, Set: func(r *aggregate.Record, x uint64) { r.DelaySamples = x }},
	{FieldSpec: FieldSpec{ID: AggIEDelayMin, Len: 4, PEN: AggPEN, Name: "transitDelayMinNanoseconds"},
		Get: func(r *aggregate.Record) uint64 { return uint64(r.DelayMin) }, Set: func(r *aggregate.Record, x uint64) { r.DelayMin = uint32(x) }},
	{FieldSpec: FieldSpec{ID: AggIEDelayMax, Len: 4, PEN: AggPEN, Name: "transitDelayMaxNanoseconds"},
		Get: func(r *aggregate.Record) uint64 { return uint64(r.DelayMax) }, Set: func(r *aggregate.Record, x uint64) { r.DelayMax = uint32(x) }},
	{FieldSpec: FieldSpec{ID: AggIEDelaySum, Len: 8, PEN: AggPEN, Name: "transitDelaySumNanoseconds"},
		Get: func(r *aggregate.Record) uint64 { return r.DelaySum }, Set: func(r *aggregate.Record, x uint64) { r.DelaySum = x }},
	{FieldSpec: FieldSpec{ID: AggIERoute, Len: 2, PEN: AggPEN, Name: "dexRouteIndex"},
		Get: func(r *aggregate.Record) uint64 { return uint64(r.Route) }, Set: func(r *aggregate.Record, x uint64) { r.Route = uint16(x) }},
}

// AggRecord adapts an aggregate.Record to CustomRecord under
// AggregateTemplate.
type AggRecord aggregate.Record

// Put writes r in AggregateTemplate's layout.
func (r *AggRecord) Put(d []byte) { aggregateFields.Put((*aggregate.Record)(r), d) }

// IsAggregateField reports whether (pen, id) is an element only aggregate
// records carry (packetDeltaCount or an AggPEN element), so a decoder can
// tell an aggregate record from a per-packet one.
func IsAggregateField(pen uint32, id uint16) bool {
	id &^= 0x8000
	return pen == AggPEN || pen == 0 && (id == iePacketDeltaCount || id == ieOctetDeltaCount)
}

// DecodeAggregateField stores the value v of element (pen, id) into r,
// accepting reduced-size unsigned encodings; it returns false for an
// element that is not part of AggregateTemplate or a bad length.
func DecodeAggregateField(r *aggregate.Record, pen uint32, id uint16, v []byte) bool {
	f := aggregateFields.Field(pen, id&^0x8000)
	switch {
	case f == nil:
		return false
	case f.Octets != nil:
		return len(v) == int(f.Len) && copy(f.Octets(r), v) == len(v)
	}
	// A bad length stores 0 (and reports false), as for any unsigned field.
	var x uint64
	ok := len(v) > 0 && len(v) <= 8
	if ok {
		x = uintBE(v)
	}
	f.Set(r, x)
	return ok
}
