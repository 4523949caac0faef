package exporter

import (
	"encoding/binary"
	"errors"
	"fmt"

	"github.com/vmware/go-ipfix/pkg/entities"

	"github.com/dexplane/dexplane/dataplane/telemetry"
)

// PEN is the IANA Private Enterprise Number of the Université de Liège
// (10383), under which the ULiège ioam-exporter defined its IOAM DEX
// Information Elements. dexplane uses the same numbers and lengths so that a
// collector configured for that exporter decodes dexplane's records.
const PEN uint32 = 10383

// FieldGroup says why a field is in the table.
type FieldGroup uint8

const (
	// GroupLiege fields are the ULiège enterprise IEs 0-16 (PEN 10383).
	GroupLiege FieldGroup = iota
	// GroupStandard fields are IANA IEs that key the flow for collectors.
	GroupStandard
	// GroupRaw fields carry the raw IPv6 header section (IEs 313, 410).
	GroupRaw
)

// Field is one row of the exporter's field table: an IPFIX Information
// Element (name, element id, abstract data type, enterprise number and the
// length announced in templates; 65535 = variable length) plus where its
// value comes from in a telemetry.Record.
//
// Every value is written in network byte order (big-endian). Unsigned
// integers announced with fewer octets than their abstract type (node_id:
// unsigned32 in 3 octets, wide node_id: unsigned64 in 7 octets, schema id:
// unsigned32 in 3 octets) use RFC 7011 §6.2 reduced-size encoding: the
// high-order octets are dropped, the remaining ones stay big-endian.
type Field struct {
	entities.InfoElement
	// Group is the part of the template the field belongs to.
	Group FieldGroup
	// Doc is a one-line description, used in generated collector files.
	Doc string
	// put writes the value (with its length prefix when variable) into
	// dst, which is large enough, and returns the octets written.
	put func(dst []byte, r *telemetry.Record) int
	// set stores a decoded value (without length prefix) into r; v has
	// been length-checked by Decode.
	set func(r *telemetry.Record, v []byte)
}

// Enterprise reports whether the field is enterprise-specific (E bit set in
// the template, followed by the 4-octet PEN).
func (f *Field) Enterprise() bool { return f.EnterpriseId != 0 }

// Variable reports whether the field has variable length (template length
// 65535, RFC 7011 §7).
func (f *Field) Variable() bool { return f.Len == entities.VariableLength }

// Indexes into Fields; also the bit numbers of a template's field mask.
const (
	fNamespace = iota
	fHopLim
	fNodeID
	fIngressIfID
	fEgressIfID
	fTimestampSec
	fTimestampFrac
	fNamespaceData
	fQueueDepth
	fNodeIDWide
	fIngressIfIDWide
	fEgressIfIDWide
	fNamespaceDataWide
	fSchemaID
	fOSSData
	fFlowID
	fSeq
	fSrcAddr
	fDstAddr
	fProtocol
	fSrcPort
	fDstPort
	fFlowLabel
	fIngressInterface
	fEgressInterface
	fObservationTime
	fRawSection
	fRawLength
	fTraceData  // trace.go
	fTraceHop   // trace.go
	fTraceHops  // trace.go
	fTraceFlags // trace.go
	numFields   // at most 32: template masks are uint32
)

var be = binary.BigEndian

func put8(d []byte, v uint8) int   { d[0] = v; return 1 }
func put16(d []byte, v uint16) int { be.PutUint16(d, v); return 2 }
func put24(d []byte, v uint32) int { d[0], d[1], d[2] = byte(v>>16), byte(v>>8), byte(v); return 3 }
func put32(d []byte, v uint32) int { be.PutUint32(d, v); return 4 }
func put56(d []byte, v uint64) int {
	d[0], d[1], d[2] = byte(v>>48), byte(v>>40), byte(v>>32)
	be.PutUint32(d[3:], uint32(v))
	return 7
}
func put64(d []byte, v uint64) int { be.PutUint64(d, v); return 8 }

// putVar writes an RFC 7011 §7 variable-length value: one length octet, or
// 0xFF and a 2-octet big-endian length when the value has 255 octets or more.
func putVar(d []byte, v []byte) int {
	if len(v) < 255 {
		d[0] = byte(len(v))
		return 1 + copy(d[1:], v)
	}
	d[0] = 0xFF
	be.PutUint16(d[1:], uint16(len(v)))
	return 3 + copy(d[3:], v)
}

// varSize returns the encoded size of a variable-length value of n octets.
func varSize(n int) int {
	if n < 255 {
		return 1 + n
	}
	return 3 + n
}

// ntpEpochOffset is the number of seconds from 1900-01-01 (NTP era 0) to
// 1970-01-01 (Unix epoch).
const ntpEpochOffset = 2208988800

// putNTP writes unix nanoseconds as an RFC 7011 §6.1.10 dateTimeNanoseconds:
// 32-bit NTP seconds, then a 32-bit fraction in units of 2^-32 s.
func putNTP(d []byte, unixNs int64) int {
	sec, frac := ntpTime(unixNs)
	be.PutUint32(d, sec)
	be.PutUint32(d[4:], frac)
	return 8
}

// ntpTime returns unix nanoseconds as the two halves of an RFC 7011
// dateTimeNanoseconds: NTP seconds (era 0, modulo 2^32) and the fraction
// in units of 2^-32 s, truncated.
func ntpTime(unixNs int64) (sec, frac uint32) {
	var s, ns uint64
	if unixNs >= 0 { // unsigned division: no sign fix-up
		s = uint64(unixNs) / 1e9
		ns = uint64(unixNs) - s*1e9
	} else {
		si, nsi := unixNs/1e9, unixNs%1e9
		if nsi < 0 {
			si--
			nsi += 1e9
		}
		s, ns = uint64(si), uint64(nsi)
	}
	return uint32(s + ntpEpochOffset), uint32((ns << 32) / 1e9)
}

func ent(name string, id uint16, t entities.IEDataType, length uint16, doc string,
	put func([]byte, *telemetry.Record) int, set func(*telemetry.Record, []byte)) Field {
	return Field{InfoElement: *entities.NewInfoElement(name, id, t, PEN, length), Group: GroupLiege, Doc: doc, put: put, set: set}
}

func iana(group FieldGroup, name string, id uint16, t entities.IEDataType, length uint16, doc string,
	put func([]byte, *telemetry.Record) int, set func(*telemetry.Record, []byte)) Field {
	return Field{InfoElement: *entities.NewInfoElement(name, id, t, 0, length), Group: group, Doc: doc, put: put, set: set}
}

// uintIE is a field holding the unsigned integer *v(r) in length octets
// (reduced-size when length is less than its type's); decoding it also sets
// the Trace-Type bits trace (0: none). Group GroupLiege fields are
// enterprise-specific (PEN), the others IANA's.
func uintIE[T ~uint8 | ~uint16 | ~uint32 | ~uint64](group FieldGroup, name string, id uint16, t entities.IEDataType, length uint16, doc string,
	v func(*telemetry.Record) *T, trace uint32) Field {
	pen := uint32(0)
	if group == GroupLiege {
		pen = PEN
	}
	return Field{InfoElement: *entities.NewInfoElement(name, id, t, pen, length), Group: group, Doc: doc,
		put: func(d []byte, r *telemetry.Record) int { return putUint(d[:length], uint64(*v(r))) },
		set: func(r *telemetry.Record, b []byte) {
			*v(r) = T(uintBE(b))
			r.TraceType |= trace
		},
	}
}

// putUint writes the low len(d) octets of v into d, big-endian (RFC 7011
// §6.2 reduced-size encoding), and returns len(d).
func putUint(d []byte, v uint64) int {
	for i := len(d) - 1; i >= 0; i-- {
		d[i] = byte(v)
		v >>= 8
	}
	return len(d)
}

// uintBE decodes a big-endian unsigned integer of 1 to 8 octets
// (RFC 7011 §6.2 reduced-size encoding).
func uintBE(v []byte) uint64 {
	var x uint64
	for _, c := range v {
		x = x<<8 | uint64(c)
	}
	return x
}

// Fields is the exporter's field table, in template order. A template
// contains the subset of these fields a record carries (see the package
// documentation); collector definition files are generated from it. Do not
// modify it.
var Fields = [numFields]Field{
	fNamespace: uintIE(GroupLiege, "ioamNamespaceId", 0, entities.Unsigned16, 2, "IOAM Namespace-ID of the DEX option",
		func(r *telemetry.Record) *uint16 { return &r.Namespace }, 0),
	fHopLim: uintIE(GroupLiege, "ioamHopLim", 1, entities.Unsigned8, 1, "Hop_Lim at the exporting node (trace bit 0 or 8)",
		func(r *telemetry.Record) *uint8 { return &r.HopLimit }, 0),
	fNodeID: uintIE(GroupLiege, "ioamNodeId", 2, entities.Unsigned32, 3, "node_id, 24 bits (trace bit 0)",
		func(r *telemetry.Record) *uint32 { return &r.NodeID }, telemetry.TraceHopLimNodeID),
	fIngressIfID: uintIE(GroupLiege, "ioamIngressIfId", 3, entities.Unsigned16, 2, "ingress_if_id, 16 bits (trace bit 1)",
		func(r *telemetry.Record) *uint16 { return &r.IngressIfID }, telemetry.TraceIfIDs),
	fEgressIfID: uintIE(GroupLiege, "ioamEgressIfId", 4, entities.Unsigned16, 2, "egress_if_id, 16 bits (trace bit 1)",
		func(r *telemetry.Record) *uint16 { return &r.EgressIfID }, telemetry.TraceIfIDs),
	fTimestampSec: uintIE(GroupLiege, "ioamTimestampSeconds", 5, entities.Unsigned32, 4, "timestamp seconds, POSIX (trace bit 2)",
		func(r *telemetry.Record) *uint32 { return &r.TimestampSec }, telemetry.TraceTimestampSec),
	fTimestampFrac: uintIE(GroupLiege, "ioamTimestampFraction", 6, entities.Unsigned32, 4, "timestamp fraction, microseconds (trace bit 3)",
		func(r *telemetry.Record) *uint32 { return &r.TimestampFrac }, telemetry.TraceTimestampFrac),
	fNamespaceData: uintIE(GroupLiege, "ioamNamespaceData", 7, entities.Unsigned32, 4, "namespace-specific data, 32 bits (trace bit 5)",
		func(r *telemetry.Record) *uint32 { return &r.NamespaceData }, telemetry.TraceNamespaceData),
	fQueueDepth: uintIE(GroupLiege, "ioamQueueDepth", 8, entities.Unsigned32, 4, "egress queue depth (trace bit 6)",
		func(r *telemetry.Record) *uint32 { return &r.QueueDepth }, telemetry.TraceQueueDepth),
	fNodeIDWide: uintIE(GroupLiege, "ioamNodeIdWide", 9, entities.Unsigned64, 7, "node_id, 56 bits (trace bit 8)",
		func(r *telemetry.Record) *uint64 { return &r.NodeIDWide }, telemetry.TraceHopLimNodeIDWide),
	fIngressIfIDWide: uintIE(GroupLiege, "ioamIngressIfIdWide", 10, entities.Unsigned32, 4, "ingress_if_id, 32 bits (trace bit 9)",
		func(r *telemetry.Record) *uint32 { return &r.IngressIfIDWide }, telemetry.TraceIfIDsWide),
	fEgressIfIDWide: uintIE(GroupLiege, "ioamEgressIfIdWide", 11, entities.Unsigned32, 4, "egress_if_id, 32 bits (trace bit 9)",
		func(r *telemetry.Record) *uint32 { return &r.EgressIfIDWide }, telemetry.TraceIfIDsWide),
	fNamespaceDataWide: uintIE(GroupLiege, "ioamNamespaceDataWide", 12, entities.Unsigned64, 8, "namespace-specific data, 64 bits (trace bit 10)",
		func(r *telemetry.Record) *uint64 { return &r.NamespaceDataWide }, telemetry.TraceNamespaceDataW),
	fSchemaID: uintIE(GroupLiege, "ioamOssSchemaId", 13, entities.Unsigned32, 3, "Opaque State Snapshot schema id, 24 bits (trace bit 22)",
		func(r *telemetry.Record) *uint32 { return &r.SchemaID }, telemetry.TraceOSS),
	fOSSData: ent("ioamOssData", 14, entities.OctetArray, entities.VariableLength, "Opaque State Snapshot data (trace bit 22)",
		func(d []byte, r *telemetry.Record) int { return putVar(d, r.OSSData[:ossLen(r)]) },
		func(r *telemetry.Record, v []byte) {
			n := copy(r.OSSData[:], v)
			r.OSSLen = uint16(n)
			r.OSSTruncated = n < len(v)
			r.TraceType |= telemetry.TraceOSS
		}),
	fFlowID: ent("ioamDexFlowId", 15, entities.Unsigned32, 4, "DEX Flow ID (extension flag 0x80)",
		func(d []byte, r *telemetry.Record) int { return put32(d, r.FlowID) },
		func(r *telemetry.Record, v []byte) {
			r.FlowID = uint32(uintBE(v))
			r.HasFlowID = true
			r.ExtFlags |= telemetry.ExtFlowID
		}),
	fSeq: ent("ioamDexSequenceNumber", 16, entities.Unsigned32, 4, "DEX Sequence Number (extension flag 0x40)",
		func(d []byte, r *telemetry.Record) int { return put32(d, r.Seq) },
		func(r *telemetry.Record, v []byte) {
			r.Seq = uint32(uintBE(v))
			r.HasSeq = true
			r.ExtFlags |= telemetry.ExtSeq
		}),

	fSrcAddr: iana(GroupStandard, "sourceIPv6Address", 27, entities.Ipv6Address, 16, "IPv6 source address of the user packet",
		func(d []byte, r *telemetry.Record) int { return copy(d, r.Src[:]) },
		func(r *telemetry.Record, v []byte) {
			copy(r.Src[:], v)
		}),
	fDstAddr: iana(GroupStandard, "destinationIPv6Address", 28, entities.Ipv6Address, 16, "IPv6 destination address of the user packet",
		func(d []byte, r *telemetry.Record) int { return copy(d, r.Dst[:]) },
		func(r *telemetry.Record, v []byte) {
			copy(r.Dst[:], v)
		}),
	fProtocol: uintIE(GroupStandard, "protocolIdentifier", 4, entities.Unsigned8, 1, "transport protocol (IPv6 next header)",
		func(r *telemetry.Record) *uint8 { return &r.NextHeader }, 0),
	fSrcPort: uintIE(GroupStandard, "sourceTransportPort", 7, entities.Unsigned16, 2, "transport source port",
		func(r *telemetry.Record) *uint16 { return &r.SrcPort }, 0),
	fDstPort: uintIE(GroupStandard, "destinationTransportPort", 11, entities.Unsigned16, 2, "transport destination port",
		func(r *telemetry.Record) *uint16 { return &r.DstPort }, 0),
	fFlowLabel: iana(GroupStandard, "flowLabelIPv6", 31, entities.Unsigned32, 4, "IPv6 flow label (20 bits)",
		func(d []byte, r *telemetry.Record) int { return put32(d, r.FlowLabel&0xFFFFF) },
		func(r *telemetry.Record, v []byte) {
			r.FlowLabel = uint32(uintBE(v)) & 0xFFFFF
		}),
	fIngressInterface: uintIE(GroupStandard, "ingressInterface", 10, entities.Unsigned32, 4, "data-plane ingress port index",
		func(r *telemetry.Record) *uint8 { return &r.IngressPort }, 0),
	fEgressInterface: uintIE(GroupStandard, "egressInterface", 14, entities.Unsigned32, 4, "data-plane egress port index",
		func(r *telemetry.Record) *uint8 { return &r.EgressPort }, 0),
	fObservationTime: iana(GroupStandard, "observationTimeNanoseconds", 325, entities.DateTimeNanoseconds, 8, "receive time (NTP format)",
		func(d []byte, r *telemetry.Record) int { return putNTP(d, r.RxTime) },
		func(r *telemetry.Record, v []byte) {
			r.RxTime = ntpToUnixNano(uintBE(v))
		}),

	fRawSection: iana(GroupRaw, "ipHeaderPacketSection", 313, entities.OctetArray, entities.VariableLength, "first octets of the IPv6 packet",
		func(d []byte, r *telemetry.Record) int { return putVar(d, r.RawSection[:rawLen(r)]) },
		func(r *telemetry.Record, v []byte) {
			r.RawLen = uint16(copy(r.RawSection[:], v))
		}),
	fRawLength: iana(GroupRaw, "sectionExportedOctets", 410, entities.Unsigned16, 2, "octets in ipHeaderPacketSection",
		func(d []byte, r *telemetry.Record) int { return put16(d, uint16(rawLen(r))) },
		func(r *telemetry.Record, v []byte) {
			_ = v // implied by the section itself
		}),
	fTraceData:  traceDataField,
	fTraceHop:   traceHopField,
	fTraceHops:  traceHopsField,
	fTraceFlags: traceFlagsField,
}

// ntpToUnixNano converts an RFC 7011 dateTimeNanoseconds (NTP era 0) to
// unix nanoseconds.
func ntpToUnixNano(v uint64) int64 {
	sec := int64(v>>32) - ntpEpochOffset
	frac := (v & 0xFFFFFFFF) * 1e9
	ns := int64(frac >> 32)
	if frac&0xFFFFFFFF != 0 {
		ns++ // round up: putNTP truncates
	}
	return sec*1e9 + ns
}

// FieldIndex returns the index in Fields of Information Element id (the
// enterprise bit 0x8000 is ignored) of enterprise pen (0 = IANA), or -1.
func FieldIndex(pen uint32, id uint16) int {
	id &^= 0x8000
	for i := range Fields {
		if Fields[i].EnterpriseId == pen && Fields[i].ElementId == id {
			return i
		}
	}
	return -1
}

// ErrFieldLength is returned by Field.Decode for a value whose length does
// not fit the field.
var ErrFieldLength = errors.New("exporter: field value has a bad length")

// Decode stores the value v of this field, as received in a data record
// (without variable-length prefix), into r, and marks what it implies: the
// Trace-Type bit of a node-data field, HasFlowID/HasSeq and the extension
// flags. Integers may use reduced-size encoding (1 to 8 octets).
func (f *Field) Decode(r *telemetry.Record, v []byte) error {
	if err := f.CheckLength(len(v)); err != nil {
		return err
	}
	f.set(r, v)
	return nil
}

// CheckLength returns the error Decode returns for a value of n octets
// (ErrFieldLength, wrapped), or nil when such a value fits the field.
func (f *Field) CheckLength(n int) error {
	switch {
	case f.Variable():
	case f.DataType == entities.Ipv6Address:
		if n != 16 {
			return fmt.Errorf("%w: %s is %d octets, want 16", ErrFieldLength, f.Name, n)
		}
	case n == 0 || n > 8 || n > int(entities.InfoElementLength[f.DataType]):
		return fmt.Errorf("%w: %s is %d octets", ErrFieldLength, f.Name, n)
	}
	return nil
}

// DecodeChecked is Decode for a value whose length CheckLength accepted
// (a fixed-length template field checked once): it stores v into r without
// checking again.
func (f *Field) DecodeChecked(r *telemetry.Record, v []byte) { f.set(r, v) }

// ossLen and rawLen clamp the lengths a producer claims to the array sizes,
// so that a corrupt record can never make the encoder read out of bounds.
func ossLen(r *telemetry.Record) int { return min(int(r.OSSLen), telemetry.OSSDataMax) }
func rawLen(r *telemetry.Record) int { return min(int(r.RawLen), telemetry.RawSectionMax) }

// FieldSet selects which optional groups of the field table the encoder
// adds to the ULiège fields, which are always present.
type FieldSet uint8

const (
	// FieldsLiege exports only the ULiège enterprise IEs (spec §4.8).
	FieldsLiege FieldSet = 0
	// FieldsStandard adds the IANA IEs 27, 28, 4, 7, 11, 31, 10, 14, 325.
	FieldsStandard FieldSet = 1 << 0
	// FieldsRaw adds ipHeaderPacketSection (313) and
	// sectionExportedOctets (410) to records that carry a raw section.
	FieldsRaw FieldSet = 1 << 1
)

const standardMask = 1<<fSrcAddr | 1<<fDstAddr | 1<<fProtocol | 1<<fSrcPort | 1<<fDstPort |
	1<<fFlowLabel | 1<<fIngressInterface | 1<<fEgressInterface | 1<<fObservationTime

// fieldMask returns the set of Fields (bit i = Fields[i]) a record carries
// under the field set fs. The Liège fields follow the Trace-Type bits and
// extension flags exactly as the ULiège exporter does; bits 4, 7, 11 and
// 12-21 have no Liège IE and are not exported over IPFIX.
func fieldMask(r *telemetry.Record, fs FieldSet) uint32 {
	m := uint32(1 << fNamespace)
	t := r.TraceType
	if t&(telemetry.TraceHopLimNodeID|telemetry.TraceHopLimNodeIDWide) != 0 {
		m |= 1 << fHopLim
	}
	if t&telemetry.TraceHopLimNodeID != 0 {
		m |= 1 << fNodeID
	}
	if t&telemetry.TraceIfIDs != 0 {
		m |= 1<<fIngressIfID | 1<<fEgressIfID
	}
	if t&telemetry.TraceTimestampSec != 0 {
		m |= 1 << fTimestampSec
	}
	if t&telemetry.TraceTimestampFrac != 0 {
		m |= 1 << fTimestampFrac
	}
	if t&telemetry.TraceNamespaceData != 0 {
		m |= 1 << fNamespaceData
	}
	if t&telemetry.TraceQueueDepth != 0 {
		m |= 1 << fQueueDepth
	}
	if t&telemetry.TraceHopLimNodeIDWide != 0 {
		m |= 1 << fNodeIDWide
	}
	if t&telemetry.TraceIfIDsWide != 0 {
		m |= 1<<fIngressIfIDWide | 1<<fEgressIfIDWide
	}
	if t&telemetry.TraceNamespaceDataW != 0 {
		m |= 1 << fNamespaceDataWide
	}
	if t&telemetry.TraceOSS != 0 {
		m |= 1<<fSchemaID | 1<<fOSSData
	}
	if r.HasFlowID {
		m |= 1 << fFlowID
	}
	if r.HasSeq {
		m |= 1 << fSeq
	}
	if fs&FieldsStandard != 0 {
		m |= standardMask
	}
	if fs&FieldsRaw != 0 && r.RawLen > 0 {
		m |= 1<<fRawSection | 1<<fRawLength
	}
	return m | traceMask(r) // trace.go
}

// maskKey packs everything fieldMask reads of a record, so that an
// Encoder can reuse the previous record's mask when the key repeats (the
// records of one route and role all share it): the 24-bit trace type and
// one bit each for the Flow ID, the sequence number, a raw section, a
// trace and per-hop trace fields. TestMaskKeyCoversFieldMask fails when
// fieldMask starts to depend on anything else.
func maskKey(r *telemetry.Record) uint64 {
	// Without branches or a chain of conditional moves: it runs once per
	// record, the first read of a record the exporter takes.
	return uint64(r.TraceType)<<8 | b2u(r.HasFlowID) | b2u(r.HasSeq)<<1 | b2u(r.RawLen > 0)<<2 |
		b2u(r.Trace.Has)<<3 | b2u(r.TraceHops > 0)<<4 | 1<<63 // never 0, the key of an Encoder that has seen no record
}

// b2u returns 1 for true and 0 for false (the compiler emits a SETcc or
// a zero-extending load of the bool).
func b2u(b bool) uint64 {
	if b {
		return 1
	}
	return 0
}

// putField writes field i of r into d like Fields[i].put, through a switch
// the compiler turns into a jump table with every writer inlined, instead
// of an indirect call per field: the encoder's per-record hot path.
// TestPutFieldMatchesTable keeps the two in step.
func putField(i uint8, d []byte, r *telemetry.Record) int {
	switch i {
	case fNamespace:
		return put16(d, r.Namespace)
	case fHopLim:
		return put8(d, r.HopLimit)
	case fNodeID:
		return put24(d, r.NodeID)
	case fIngressIfID:
		return put16(d, r.IngressIfID)
	case fEgressIfID:
		return put16(d, r.EgressIfID)
	case fTimestampSec:
		return put32(d, r.TimestampSec)
	case fTimestampFrac:
		return put32(d, r.TimestampFrac)
	case fNamespaceData:
		return put32(d, r.NamespaceData)
	case fQueueDepth:
		return put32(d, r.QueueDepth)
	case fNodeIDWide:
		return put56(d, r.NodeIDWide)
	case fIngressIfIDWide:
		return put32(d, r.IngressIfIDWide)
	case fEgressIfIDWide:
		return put32(d, r.EgressIfIDWide)
	case fNamespaceDataWide:
		return put64(d, r.NamespaceDataWide)
	case fSchemaID:
		return put24(d, r.SchemaID)
	case fOSSData:
		return putVar(d, r.OSSData[:ossLen(r)])
	case fFlowID:
		return put32(d, r.FlowID)
	case fSeq:
		return put32(d, r.Seq)
	case fSrcAddr:
		return copy(d[:16], r.Src[:])
	case fDstAddr:
		return copy(d[:16], r.Dst[:])
	case fProtocol:
		return put8(d, r.NextHeader)
	case fSrcPort:
		return put16(d, r.SrcPort)
	case fDstPort:
		return put16(d, r.DstPort)
	case fFlowLabel:
		return put32(d, r.FlowLabel&0xFFFFF)
	case fIngressInterface:
		return put32(d, uint32(r.IngressPort))
	case fEgressInterface:
		return put32(d, uint32(r.EgressPort))
	case fObservationTime:
		return putNTP(d, r.RxTime)
	case fRawSection:
		return putVar(d, r.RawSection[:rawLen(r)])
	case fRawLength:
		return put16(d, uint16(rawLen(r)))
	}
	return Fields[i].put(d, r)
}

// encodeData writes the data record of r for a template with field mask
// into d (large enough) and returns the octets written: the fields in
// template (table) order, as a straight line of tests on the mask that a
// template keeps constant, so the branches predict and every writer is
// inlined. TestEncodeDataMatchesTable keeps it in step with the table.
func encodeData(mask uint32, d []byte, r *telemetry.Record) int {
	o := 0
	if mask&(1<<fNamespace) != 0 {
		be.PutUint16(d[o:], r.Namespace)
		o += 2
	}
	if mask&(1<<fHopLim) != 0 {
		d[o] = r.HopLimit
		o++
	}
	if mask&(1<<fNodeID) != 0 {
		o += put24(d[o:], r.NodeID)
	}
	if mask&(1<<fIngressIfID) != 0 {
		be.PutUint16(d[o:], r.IngressIfID)
		o += 2
	}
	if mask&(1<<fEgressIfID) != 0 {
		be.PutUint16(d[o:], r.EgressIfID)
		o += 2
	}
	if mask&(1<<fTimestampSec) != 0 {
		be.PutUint32(d[o:], r.TimestampSec)
		o += 4
	}
	if mask&(1<<fTimestampFrac) != 0 {
		be.PutUint32(d[o:], r.TimestampFrac)
		o += 4
	}
	if mask&(1<<fNamespaceData|1<<fQueueDepth|1<<fNodeIDWide|1<<fIngressIfIDWide|1<<fEgressIfIDWide|
		1<<fNamespaceDataWide|1<<fSchemaID|1<<fOSSData) != 0 {
		o += encodeRare(mask, d[o:], r)
	}
	if mask&(1<<fFlowID) != 0 {
		be.PutUint32(d[o:], r.FlowID)
		o += 4
	}
	if mask&(1<<fSeq) != 0 {
		be.PutUint32(d[o:], r.Seq)
		o += 4
	}
	if mask&standardMask == standardMask {
		// The standard group is all or nothing: 57 octets at fixed offsets.
		s := d[o : o+57]
		copy(s[0:16], r.Src[:])
		copy(s[16:32], r.Dst[:])
		s[32] = r.NextHeader
		be.PutUint16(s[33:], r.SrcPort)
		be.PutUint16(s[35:], r.DstPort)
		be.PutUint32(s[37:], r.FlowLabel&0xFFFFF)
		be.PutUint32(s[41:], uint32(r.IngressPort))
		be.PutUint32(s[45:], uint32(r.EgressPort))
		putNTP(s[49:], r.RxTime)
		o += 57
	} else if mask&standardMask != 0 {
		for i := uint8(fSrcAddr); i <= fObservationTime; i++ {
			if mask&(1<<i) != 0 {
				o += putField(i, d[o:], r)
			}
		}
	}
	if mask&(1<<fRawSection) != 0 {
		o += putVar(d[o:], r.RawSection[:rawLen(r)])
	}
	if mask&(1<<fRawLength) != 0 {
		be.PutUint16(d[o:], uint16(rawLen(r)))
		o += 2
	}
	if mask>>(fRawLength+1) != 0 {
		// Later fields (the trace's, trace.go) through the table's writers.
		for i := uint8(fRawLength + 1); i < numFields; i++ {
			if mask&(1<<i) != 0 {
				o += putField(i, d[o:], r)
			}
		}
	}
	return o
}

// encodeRare writes the node-data fields between fNamespaceData and
// fOSSData that mask selects, in table order.
func encodeRare(mask uint32, d []byte, r *telemetry.Record) int {
	o := 0
	for i := uint8(fNamespaceData); i <= fOSSData; i++ {
		if mask&(1<<i) != 0 {
			o += putField(i, d[o:], r)
		}
	}
	return o
}
