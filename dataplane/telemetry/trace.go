package telemetry

// TraceDataMax is the capacity of Trace.Data in octets: the largest
// Pre-allocated Trace data area (Linux IOAM6_TRACE_DATA_SIZE_MAX).
const TraceDataMax = 244

// Trace is a Pre-allocated Trace (RFC 9197 §4.4) as a decapsulating node
// exports it: the trace header and the whole node data area, free space
// included, in wire order. A plain value like Record.
type Trace struct {
	// Has reports that the packet carried a trace; the other fields are
	// zero otherwise.
	Has bool
	// NodeLen is the per-node data length in 4-octet units (without OSS).
	NodeLen uint8
	// Flags are the 4 trace flags (Overflow 0x8, Loopback 0x4, Active 0x2).
	Flags uint8
	// RemLen is RemainingLen, the free space at the start of Data in
	// 4-octet units, after this node wrote its own data.
	RemLen uint8
	// Namespace is the trace's Namespace-ID.
	Namespace uint16
	// DataLen is the number of valid octets in Data (the option's data
	// area; at most TraceDataMax, longer areas are cut).
	DataLen uint16
	// TraceType is the 24-bit IOAM-Trace-Type of the trace.
	TraceType uint32
	// Data is the node data area: 4*RemLen free octets, then one entry per
	// node, the most recent first (the encapsulating node's entry is last).
	Data [TraceDataMax]byte
}
