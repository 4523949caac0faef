// Package telemetry defines the fixed-size records that data-plane workers
// produce for IOAM Direct Exporting (RFC 9326) and the single-producer
// single-consumer rings that carry them to the exporter.
//
// A Record is a plain value: no pointers, no slices, so that copying it into
// a preallocated ring slot costs a memmove and never an allocation, and the
// garbage collector never scans the rings. All integer fields hold host
// values (not wire bytes); the exporter serialises them big-endian. Byte
// arrays (addresses, schema data, raw header section) hold wire octets in
// network order exactly as they appeared in the packet.
package telemetry

import "unsafe"

// Role is the IOAM role a node played for the packet that produced a Record.
type Role uint8

// IOAM node roles (RFC 9326 §3).
const (
	// RoleEncap: this node added the DEX option (IOAM encapsulating node).
	RoleEncap Role = iota
	// RoleTransit: this node read the option and forwarded the packet unchanged.
	RoleTransit
	// RoleDecap: this node read the option and removed it (IOAM decapsulating node).
	RoleDecap
)

// String returns "encap", "transit", "decap" or "role(N)".
func (r Role) String() string {
	switch r {
	case RoleEncap:
		return "encap"
	case RoleTransit:
		return "transit"
	case RoleDecap:
		return "decap"
	}
	return "role(" + itoa(uint64(r)) + ")"
}

// IOAM-Trace-Type bits (RFC 9197 §4.4.1) as masks of the 24-bit Trace-Type
// value: IETF bit n has value 1<<(23-n). Each set bit asks a node to export
// the corresponding node-data field(s) of a Record.
const (
	TraceHopLimNodeID     uint32 = 1 << (23 - 0)  // bit 0: HopLimit + NodeID (24-bit)
	TraceIfIDs            uint32 = 1 << (23 - 1)  // bit 1: IngressIfID, EgressIfID (16-bit)
	TraceTimestampSec     uint32 = 1 << (23 - 2)  // bit 2: TimestampSec
	TraceTimestampFrac    uint32 = 1 << (23 - 3)  // bit 3: TimestampFrac
	TraceTransitDelay     uint32 = 1 << (23 - 4)  // bit 4: TransitDelay
	TraceNamespaceData    uint32 = 1 << (23 - 5)  // bit 5: NamespaceData (32-bit)
	TraceQueueDepth       uint32 = 1 << (23 - 6)  // bit 6: QueueDepth
	TraceChecksumCompl    uint32 = 1 << (23 - 7)  // bit 7: checksum complement (meaningless for DEX)
	TraceHopLimNodeIDWide uint32 = 1 << (23 - 8)  // bit 8: HopLimit + NodeIDWide (56-bit)
	TraceIfIDsWide        uint32 = 1 << (23 - 9)  // bit 9: IngressIfIDWide, EgressIfIDWide (32-bit)
	TraceNamespaceDataW   uint32 = 1 << (23 - 10) // bit 10: NamespaceDataWide (64-bit)
	TraceBufferOccupancy  uint32 = 1 << (23 - 11) // bit 11: BufferOccupancy
	TraceOSS              uint32 = 1 << (23 - 22) // bit 22: SchemaID + OSSData
)

// DEX Extension-Flags (RFC 9326 §3.2): bit 0 (MSB) announces the Flow ID,
// bit 1 the Sequence Number.
const (
	ExtFlowID uint8 = 0x80
	ExtSeq    uint8 = 0x40
)

// Sizes of the fixed arrays in Record, in octets.
const (
	// OSSDataMax is the capacity of Record.OSSData. Schema data longer than
	// this is truncated and Record.OSSTruncated is set.
	OSSDataMax = 64
	// RawSectionMax is the capacity of Record.RawSection: the first octets
	// of the IPv6 packet (IPFIX ipHeaderPacketSection, IE 313).
	RawSectionMax = 128
)

// Unavailable values (RFC 9197 §4.4.2, Linux IOAM6_U*_UNAVAILABLE): a node
// that cannot provide a requested field exports all-ones of the field width.
const (
	Unavailable16 uint16 = 0xFFFF
	Unavailable24 uint32 = 0xFFFFFF
	Unavailable32 uint32 = 0xFFFFFFFF
	Unavailable56 uint64 = 0x00FFFFFFFFFFFFFF
	Unavailable64 uint64 = 0xFFFFFFFFFFFFFFFF
)

// Record is one DEX export event: what one node saw of one packet carrying
// (or, at an encapsulating node, just given) a DEX option, plus the node data
// the packet's IOAM-Trace-Type asks for.
//
// A Record is a fixed-size value with no pointers; workers fill one per
// exported packet and hand it to the exporter through a Ring. Node-data
// fields are meaningful only when the corresponding TraceType bit is set
// (see the Trace* constants); the others are zero and are not exported.
// Integer fields hold host values; the exporter writes them big-endian.
type Record struct {
	// RxTime is the receive time of the packet, CLOCK_REALTIME in
	// nanoseconds since the Unix epoch (exported as IPFIX IE 325).
	RxTime int64

	// NodeIDWide is the 56-bit wide node_id (trace bit 8).
	NodeIDWide uint64
	// NamespaceDataWide is the 64-bit namespace-specific data (trace bit 10).
	NamespaceDataWide uint64

	// TraceType is the 24-bit IOAM-Trace-Type of the DEX option (value in
	// the low 24 bits, IETF bit 0 = 0x800000).
	TraceType uint32
	// FlowID is the DEX Flow ID (valid if HasFlowID).
	FlowID uint32
	// Seq is the DEX Sequence Number (valid if HasSeq).
	Seq uint32
	// FlowLabel is the 20-bit IPv6 flow label of the packet.
	FlowLabel uint32

	// NodeID is the 24-bit short node_id (trace bit 0).
	NodeID uint32
	// TimestampSec is the receive time, seconds part, POSIX (trace bit 2).
	TimestampSec uint32
	// TimestampFrac is the receive time, sub-second part in microseconds
	// (POSIX format, as Linux fills it; trace bit 3).
	TimestampFrac uint32
	// TransitDelay is the time the packet spent in this node in nanoseconds;
	// the MSB is the RFC 9197 overflow bit (trace bit 4).
	TransitDelay uint32
	// NamespaceData is the 32-bit namespace-specific data (trace bit 5).
	NamespaceData uint32
	// QueueDepth is the egress queue depth in frames (trace bit 6).
	QueueDepth uint32
	// IngressIfIDWide and EgressIfIDWide are the 32-bit interface ids
	// (trace bit 9).
	IngressIfIDWide, EgressIfIDWide uint32
	// BufferOccupancy is the buffer-pool occupancy in frames (trace bit 11).
	BufferOccupancy uint32
	// SchemaID is the 24-bit Opaque State Snapshot schema id (trace bit 22);
	// Unavailable24 when no schema is attached.
	SchemaID uint32

	// Namespace is the IOAM Namespace-ID of the DEX option.
	Namespace uint16
	// SrcPort and DstPort are the transport ports (0 if none).
	SrcPort, DstPort uint16
	// IngressIfID and EgressIfID are the 16-bit interface ids (trace bit 1).
	IngressIfID, EgressIfID uint16
	// OSSLen is the number of valid octets in OSSData (a multiple of 4,
	// at most OSSDataMax).
	OSSLen uint16
	// RawLen is the number of valid octets in RawSection (0 = no raw
	// section exported; at most RawSectionMax).
	RawLen uint16
	// Route is the index + 1 of the configured route (policy.Route.ID)
	// that selected the packet at an encapsulating node; 0 at transit and
	// decapsulating nodes, which match no route. Aggregation keys on it.
	Route uint16

	// Role is the role this node played for the packet.
	Role Role
	// IngressPort and EgressPort are the data-plane port indexes (0 or 1).
	IngressPort, EgressPort uint8
	// Flags is the DEX Flags octet as carried (no flag is assigned).
	Flags uint8
	// ExtFlags is the DEX Extension-Flags octet (ExtFlowID, ExtSeq, …).
	ExtFlags uint8
	// HasFlowID and HasSeq tell whether FlowID and Seq are valid.
	HasFlowID, HasSeq bool
	// NextHeader is the transport protocol (IPv6 next header after the
	// extension headers; IPFIX protocolIdentifier, IE 4).
	NextHeader uint8
	// HopLimit is the Hop_Lim value exported with the node id (trace bits
	// 0 and 8): the IPv6 hop limit at this node.
	HopLimit uint8
	// OSSTruncated is set when the schema data was longer than OSSDataMax.
	OSSTruncated bool

	// Src and Dst are the IPv6 source and destination addresses, network
	// order. For an encapsulated packet they are the inner (user) addresses.
	Src, Dst [16]byte

	// TraceHop and TraceHops are set only on the per-hop records an
	// exporter derives from a trace (IPFIX): the hop's index in path order
	// (0 = the encapsulating node) and the number of hops in the trace.
	// TraceHops is 0 on every record a data plane produces.
	TraceHop, TraceHops uint8

	// Trace is the Pre-allocated Trace the packet carried, filled by a
	// decapsulating node (Trace.Has). A record may carry DEX fields, a
	// trace, or both.
	Trace Trace

	// OSSData holds the first OSSLen octets of the schema data (trace bit 22).
	OSSData [OSSDataMax]byte
	// RawSection holds the first RawLen octets of the IPv6 packet, starting
	// at the (outer) IPv6 header, as exported in IPFIX IE 313.
	RawSection [RawSectionMax]byte

	// The fields above end at octet 588: padding to 640 makes a Record ten
	// cache lines exactly, so that the slots of a Ring's page-aligned slot
	// array start on line boundaries and a plain DEX record (everything up
	// to Trace.Data, 152 octets) is written in three lines
	// (TestRecordLayout).
	_ [52]byte
}

// itoa formats v in decimal without allocating through fmt (used by String
// methods on cold paths only).
func itoa(v uint64) string {
	var b [20]byte
	i := len(b)
	for {
		i--
		b[i] = byte('0' + v%10)
		v /= 10
		if v == 0 {
			break
		}
	}
	return string(b[i:])
}

// Reset makes r a zero Record for a producer about to fill it in place (a
// ring slot from Ring.Reserve), except for the octets of the three arrays
// whose valid part a length field bounds, Trace.Data (Trace.DataLen),
// OSSData (OSSLen) and RawSection (RawLen), which come last. Their lengths
// become 0, so no consumer reads the old octets, and the producer writes
// only the cache lines it uses: a plain DEX record touches the first 3 of a
// slot's 10 lines. The layout it relies on is checked by
// TestResetLeavesOnlyTheArrays and TestRecordLayout.
func (r *Record) Reset() {
	const head = unsafe.Offsetof(Record{}.Trace) + unsafe.Offsetof(Trace{}.Data) // up to the trace's data
	*(*[head]byte)(unsafe.Pointer(r)) = [head]byte{}
}
