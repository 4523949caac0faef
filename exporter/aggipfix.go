package exporter

import (
	"encoding/binary"

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
var AggregateTemplate = NewCustomTemplate([]FieldSpec{
	{ID: 0, Len: 2, PEN: PEN, Name: "ioamNamespaceId"},
	{ID: 15, Len: 4, PEN: PEN, Name: "ioamDexFlowId"},
	{ID: ieSourceIPv6Address, Len: 16, Name: "sourceIPv6Address"},
	{ID: ieDestIPv6Address, Len: 16, Name: "destinationIPv6Address"},
	{ID: ieProtocolIdentifier, Len: 1, Name: "protocolIdentifier"},
	{ID: ieSourceTransportPort, Len: 2, Name: "sourceTransportPort"},
	{ID: ieDestTransportPort, Len: 2, Name: "destinationTransportPort"},
	{ID: ieFlowStartMilliseconds, Len: 8, Name: "flowStartMilliseconds"},
	{ID: ieFlowEndMilliseconds, Len: 8, Name: "flowEndMilliseconds"},
	{ID: iePacketDeltaCount, Len: 8, Name: "packetDeltaCount"},
	{ID: ieOctetDeltaCount, Len: 8, Name: "octetDeltaCount"},
	{ID: AggIEFirstSeq, Len: 4, PEN: AggPEN, Name: "dexFirstSequenceNumber"},
	{ID: AggIELastSeq, Len: 4, PEN: AggPEN, Name: "dexLastSequenceNumber"},
	{ID: AggIEGaps, Len: 8, PEN: AggPEN, Name: "dexSequenceGapDeltaCount"},
	{ID: AggIEDuplicates, Len: 8, PEN: AggPEN, Name: "dexDuplicateDeltaCount"},
	{ID: AggIEReordered, Len: 8, PEN: AggPEN, Name: "dexReorderedDeltaCount"},
	{ID: AggIEDelaySamples, Len: 8, PEN: AggPEN, Name: "transitDelaySampleDeltaCount"},
	{ID: AggIEDelayMin, Len: 4, PEN: AggPEN, Name: "transitDelayMinNanoseconds"},
	{ID: AggIEDelayMax, Len: 4, PEN: AggPEN, Name: "transitDelayMaxNanoseconds"},
	{ID: AggIEDelaySum, Len: 8, PEN: AggPEN, Name: "transitDelaySumNanoseconds"},
	{ID: AggIERoute, Len: 2, PEN: AggPEN, Name: "dexRouteIndex"},
})

// AggRecord adapts an aggregate.Record to CustomRecord under
// AggregateTemplate.
type AggRecord aggregate.Record

// Put writes r in AggregateTemplate's layout.
func (r *AggRecord) Put(d []byte) {
	be := binary.BigEndian
	be.PutUint16(d[0:], r.Namespace)
	be.PutUint32(d[2:], r.FlowID)
	copy(d[6:22], r.Src[:])
	copy(d[22:38], r.Dst[:])
	d[38] = r.Proto
	be.PutUint16(d[39:], r.SrcPort)
	be.PutUint16(d[41:], r.DstPort)
	be.PutUint64(d[43:], uint64(r.Start/1e6))
	be.PutUint64(d[51:], uint64(r.End/1e6))
	be.PutUint64(d[59:], r.Packets)
	be.PutUint64(d[67:], r.Octets)
	be.PutUint32(d[75:], r.FirstSeq)
	be.PutUint32(d[79:], r.LastSeq)
	be.PutUint64(d[83:], r.Gaps)
	be.PutUint64(d[91:], r.Duplicates)
	be.PutUint64(d[99:], r.Reordered)
	be.PutUint64(d[107:], r.DelaySamples)
	be.PutUint32(d[115:], r.DelayMin)
	be.PutUint32(d[119:], r.DelayMax)
	be.PutUint64(d[123:], r.DelaySum)
	be.PutUint16(d[131:], r.Route)
}

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
	id &^= 0x8000
	u := func() (uint64, bool) {
		if len(v) == 0 || len(v) > 8 {
			return 0, false
		}
		var x uint64
		for _, b := range v {
			x = x<<8 | uint64(b)
		}
		return x, true
	}
	x, ok := u()
	switch {
	case pen == PEN && id == 0:
		r.Namespace = uint16(x)
	case pen == PEN && id == 15:
		r.FlowID, r.HasFlowID = uint32(x), true
	case pen == 0 && (id == ieSourceIPv6Address || id == ieDestIPv6Address):
		if len(v) != 16 {
			return false
		}
		if id == ieSourceIPv6Address {
			copy(r.Src[:], v)
		} else {
			copy(r.Dst[:], v)
		}
		return true
	case pen == 0 && id == ieProtocolIdentifier:
		r.Proto = uint8(x)
	case pen == 0 && id == ieSourceTransportPort:
		r.SrcPort = uint16(x)
	case pen == 0 && id == ieDestTransportPort:
		r.DstPort = uint16(x)
	case pen == 0 && id == ieFlowStartMilliseconds:
		r.Start = int64(x) * 1e6
	case pen == 0 && id == ieFlowEndMilliseconds:
		r.End = int64(x) * 1e6
	case pen == 0 && id == iePacketDeltaCount:
		r.Packets = x
	case pen == 0 && id == ieOctetDeltaCount:
		r.Octets = x
	case pen == AggPEN && id == AggIEFirstSeq:
		r.FirstSeq, r.HasSeq = uint32(x), true
	case pen == AggPEN && id == AggIELastSeq:
		r.LastSeq = uint32(x)
	case pen == AggPEN && id == AggIEGaps:
		r.Gaps = x
	case pen == AggPEN && id == AggIEDuplicates:
		r.Duplicates = x
	case pen == AggPEN && id == AggIEReordered:
		r.Reordered = x
	case pen == AggPEN && id == AggIEDelaySamples:
		r.DelaySamples = x
	case pen == AggPEN && id == AggIEDelayMin:
		r.DelayMin = uint32(x)
	case pen == AggPEN && id == AggIEDelayMax:
		r.DelayMax = uint32(x)
	case pen == AggPEN && id == AggIEDelaySum:
		r.DelaySum = x
	case pen == AggPEN && id == AggIERoute:
		r.Route = uint16(x)
	default:
		return false
	}
	return ok
}
