package policy

import (
	"fmt"
	"math/bits"
	"net/netip"

	"github.com/dexplane/dexplane/internal/enum"
)

// Default identifiers, as the Linux IOAM implementation uses when nothing is
// configured (net.ipv6.ioam6_id, net.ipv6.ioam6_id_wide,
// net.ipv6.conf.*.ioam6_id and net.ipv6.conf.*.ioam6_id_wide).
const (
	DefaultNodeID     uint32 = 0xFFFFFF           // 24-bit short node id
	DefaultNodeIDWide uint64 = 0x00FFFFFFFFFFFFFF // 56-bit wide node id
	DefaultIfID       uint16 = 0xFFFF             // 16-bit short interface id
	DefaultIfIDWide   uint32 = 0xFFFFFFFF         // 32-bit wide interface id
)

// Value ranges of IOAM identifiers and data fields.
const (
	MaxNodeID     uint32 = 1<<24 - 1 // short node_id is 24 bits wide
	MaxNodeIDWide uint64 = 1<<56 - 1 // wide node_id is 56 bits wide
	MaxSchemaID   uint32 = 1<<24 - 1 // OSS Schema ID is 24 bits wide
	// MaxSchemaData is the largest opaque state snapshot, in octets (255
	// 4-octet words, as Linux IOAM6_MAX_SCHEMA_DATA_LEN).
	MaxSchemaData = 255 * 4
)

// IOAM-Trace-Type bits that matter for validation (24-bit value, IETF bit 0
// is the most significant bit, so bit n has the value 1<<(23-n)).
const (
	// TraceTypeMask covers the 24 bits of an IOAM-Trace-Type.
	TraceTypeMask uint32 = 0xFFFFFF
	// TraceTypeChecksum is bit 7, checksum complement: meaningless for
	// DEX and rejected by the Linux implementation.
	TraceTypeChecksum uint32 = 0x010000
	// TraceTypeUndefined covers bits 12-21, which have no assignment and
	// are rejected by the Linux implementation.
	TraceTypeUndefined uint32 = 0x000FFC
	// TraceTypeOSS is bit 22, the opaque state snapshot.
	TraceTypeOSS uint32 = 0x000002
	// TraceTypeReserved is bit 23, which must be 0 on transmit.
	TraceTypeReserved uint32 = 0x000001
)

// DEX Extension-Flags (RFC 9326 §3.2; bit 0 is the most significant bit).
const (
	ExtFlagFlowID uint8 = 0x80 // bit 0: a 4-octet Flow ID follows the DEX header
	ExtFlagSeq    uint8 = 0x40 // bit 1: a 4-octet Sequence Number follows
)

// Limits of the kernel's "freq K/N" (IOAM6_IPTUNNEL_FREQ_MIN/MAX).
const (
	MinFreq uint32 = 1
	MaxFreq uint32 = 1000000
)

// Node is this node's IOAM identity.
type Node struct {
	// ID is the 24-bit short node_id exported for trace bit 0.
	ID uint32
	// IDWide is the 56-bit wide node_id exported for trace bit 8.
	IDWide uint64
	// Address is the node's own IPv6 address. It is the default tunnel
	// source of encap routes; it may be invalid (zero) when no route needs
	// it.
	Address netip.Addr
}

// Domain says on which side of the IOAM domain edge a port lies. Together
// the ingress and egress domains decide a packet's role at a bump in the
// wire: outside→inside encapsulates, inside→inside is transit and
// inside→outside decapsulates.
type Domain uint8

// Port domains.
const (
	Inside Domain = iota
	Outside
)

// String returns the configuration keyword of d.
func (d Domain) String() string { return enum.Name(d, domainNames[:], "Domain") }

var domainNames = [...]string{Inside: "inside", Outside: "outside"}

// ForeignIOAM says what a port does with IOAM options arriving from outside
// the IOAM domain (RFC 9197 limited domain: such packets must not enter).
type ForeignIOAM uint8

// Foreign IOAM policies.
const (
	// ForeignDrop drops packets that carry an IOAM option.
	ForeignDrop ForeignIOAM = iota
	// ForeignStrip removes the IOAM option and forwards the packet.
	ForeignStrip
	// ForeignForward forwards the packet untouched (trusting the peer).
	ForeignForward
)

// String returns the configuration keyword of f.
func (f ForeignIOAM) String() string { return enum.Name(f, foreignIOAMNames[:], "ForeignIOAM") }

var foreignIOAMNames = [...]string{ForeignDrop: "drop", ForeignStrip: "strip", ForeignForward: "forward"}

// Port is one of the two interfaces of the bump in the wire.
type Port struct {
	// Name is the Linux interface name.
	Name string
	// Domain is the side of the IOAM domain the port faces.
	Domain Domain
	// IOAMEnabled mirrors net.ipv6.conf.<if>.ioam6_enabled: IOAM options
	// received on this port are processed only when it is true.
	IOAMEnabled bool
	// IfID is the 16-bit short interface id (trace bit 1).
	IfID uint16
	// IfIDWide is the 32-bit wide interface id (trace bit 9).
	IfIDWide uint32
	// MTU overrides the interface MTU, in octets of IPv6 packet (without
	// the Ethernet header); 0 means "use the interface's MTU".
	MTU int
	// ForeignIOAM is the policy for IOAM arriving on this port from
	// outside the domain; only meaningful when Domain is Outside.
	ForeignIOAM ForeignIOAM
	// Checksums says whether frames received on the port get unfinished
	// transport checksums completed.
	Checksums ChecksumMode
}

// Schema is an IOAM opaque state snapshot schema (trace bit 22), as
// configured with "ip ioam schema add".
type Schema struct {
	// ID is the 24-bit Schema ID.
	ID uint32
	// Data is the opaque data, already padded with zeros to a multiple of
	// 4 octets, at most MaxSchemaData octets. Read only.
	Data []byte
}

// Namespace is an IOAM namespace this node is configured for, as
// "ip ioam namespace add ID [data DATA32] [wide DATA64]".
type Namespace struct {
	// ID is the 16-bit Namespace-ID.
	ID uint16
	// Data is the 32-bit namespace-specific data (trace bit 5); it is
	// 0xFFFFFFFF when HasData is false.
	Data uint32
	// DataWide is the 64-bit namespace-specific data (trace bit 10); it is
	// all-ones when HasDataWide is false.
	DataWide uint64
	// HasData and HasDataWide report whether Data and DataWide were
	// configured.
	HasData, HasDataWide bool
	// Schema is the opaque state snapshot attached to the namespace, or
	// nil.
	Schema *Schema
}

// Mode is how an encapsulating node adds the DEX option. The values are
// those of the kernel's IOAM6_IPTUNNEL_MODE_*.
type Mode uint8

// Insertion modes.
const (
	// ModeInline inserts a Hop-by-Hop header into the packet itself
	// (RFC 8200 allows this only for locally originated packets).
	ModeInline Mode = 1
	// ModeEncap pushes an outer IPv6 header with the Hop-by-Hop header
	// (IPv6-in-IPv6, RFC 2473), addressed to the decapsulating node.
	ModeEncap Mode = 2
	// ModeAuto is the kernel's "inline for local packets, encap for
	// forwarded ones". A bump in the wire originates nothing, so every
	// packet is in transit and New resolves ModeAuto to ModeEncap.
	ModeAuto Mode = 3
)

// String returns the configuration keyword of m.
func (m Mode) String() string { return enum.Name(m, modeNames[:], "Mode") }

var modeNames = [...]string{ModeInline: "inline", ModeEncap: "encap", ModeAuto: "auto"}

// DEX is the DEX header a route inserts: the fields an encapsulating node
// chooses. Flags are always 0 (none is assigned) and the Flow ID and
// Sequence Number values are filled per packet.
type DEX struct {
	// Namespace is the Namespace-ID; it must be configured on the node.
	Namespace uint16
	// TraceType is the 24-bit IOAM-Trace-Type (bit 0 = 0x800000).
	TraceType uint32
	// ExtFlags is the Extension-Flags octet (ExtFlagFlowID|ExtFlagSeq).
	ExtFlags uint8
}

// MaxTraceSize is the largest Pre-allocated Trace data area in octets, the
// kernel's IOAM6_TRACE_DATA_SIZE_MAX.
const MaxTraceSize = 244

// Trace is the Pre-allocated Trace (RFC 9197 §4.4) a route inserts, as
// "ip -6 route add ... encap ioam6 ... trace prealloc type T ns N size S".
type Trace struct {
	// Namespace is the Namespace-ID; it must be configured on the node.
	Namespace uint16
	// TraceType is the 24-bit IOAM-Trace-Type (bit 0 = 0x800000).
	TraceType uint32
	// Size is the pre-allocated node data area in octets: a multiple of 4,
	// 4 to MaxTraceSize.
	Size int
}

// Route selects the packets that receive IOAM: those whose IPv6
// destination matches Prefix (longest match wins), sampled k of every n. A
// route inserts a DEX option (DEX.TraceType != 0), a Pre-allocated Trace
// (HasTrace), or both; one k/n decision per packet covers both options, so
// that a selected packet carries both and DEX records and traces describe
// the same packets.
type Route struct {
	// ID is the route's index in the configuration (0-based); stable
	// within a snapshot and usable as a counter index.
	ID int
	// Prefix is the destination prefix (masked).
	Prefix netip.Prefix
	// Mode is the effective insertion mode: ModeInline or ModeEncap,
	// never ModeAuto (see ModeAuto).
	Mode Mode
	// ConfiguredMode is the mode as written in the configuration; it
	// differs from Mode only when ModeAuto was configured.
	ConfiguredMode Mode
	// TunSrc and TunDst are the outer IPv6 source and destination in
	// ModeEncap; both invalid (zero) in ModeInline. TunSrc defaults to
	// Node.Address.
	TunSrc, TunDst netip.Addr
	// K and N are the sampling frequency: the first K of every N packets
	// matching the route receive the option (1 <= K <= N <= MaxFreq).
	K, N uint32
	// DEX is the header to insert; a zero TraceType means no DEX (only
	// valid with HasTrace).
	DEX DEX
	// HasTrace and Trace: the Pre-allocated Trace to insert.
	HasTrace bool
	Trace    Trace
	// Sampler decides per packet whether the route applies; set by New.
	Sampler *Sampler
}

// ValidateTraceType reports whether t is acceptable as the IOAM-Trace-Type
// of a DEX route, with the kernel's rules plus the reserved bit 23. The
// returned error wraps ErrTraceType.
func ValidateTraceType(t uint32) error { return checkTraceBits(t, "", true) }

// checkTraceBits checks the trace type bits t shared by a DEX route and a
// Pre-allocated Trace: some bit set, 24 bits, no undefined bit (12-21), not
// the reserved bit 23 and, when dex, not the checksum complement (bit 7).
// prefix starts the offending value in the message. The returned error
// wraps ErrTraceType.
func checkTraceBits(t uint32, prefix string, dex bool) error {
	switch {
	case t == 0:
		return fmt.Errorf("%w: %s0x%06x: no bit set", ErrTraceType, prefix, t)
	case t&^TraceTypeMask != 0:
		return fmt.Errorf("%w: %s0x%x: wider than 24 bits", ErrTraceType, prefix, t)
	case dex && t&TraceTypeChecksum != 0:
		return fmt.Errorf("%w: %s0x%06x: bit 7 (checksum complement) is meaningless for DEX", ErrTraceType, prefix, t)
	case t&TraceTypeUndefined != 0:
		return fmt.Errorf("%w: %s0x%06x: bits 12-21 are undefined", ErrTraceType, prefix, t)
	case t&TraceTypeReserved != 0:
		return fmt.Errorf("%w: %s0x%06x: bit 23 is reserved", ErrTraceType, prefix, t)
	}
	return nil
}

// HasDEX reports whether the route inserts a DEX option.
func (r *Route) HasDEX() bool { return r.DEX.TraceType != 0 }

// TraceNodeLen returns the NodeLen, in 4-octet units, of a Pre-allocated
// Trace with trace type t (Linux ioam6_trace_compute_nodelen): one unit per
// 4-octet field (bits 0-7, 11 and the undefined 12-21), two per 8-octet
// field (bits 8-10); the Opaque State Snapshot (bit 22) is not counted.
func TraceNodeLen(t uint32) int {
	return bits.OnesCount32(t&0xFF1FFC) + 2*bits.OnesCount32(t&0x00E000)
}

// ValidateTrace reports whether tr is acceptable as a route's
// Pre-allocated Trace, with the kernel's rules (ioam6_validate_trace_hdr,
// iproute2's size check) plus the reserved bit 23 and a size that holds at
// least one node's data. The returned error wraps ErrTraceType.
func ValidateTrace(tr Trace) error {
	t := tr.TraceType
	if err := checkTraceBits(t, "trace ", false); err != nil {
		return err
	}
	if tr.Size <= 0 || tr.Size%4 != 0 || tr.Size > MaxTraceSize {
		return fmt.Errorf("%w: trace size %d: must be a multiple of 4 from 4 to %d octets", ErrTraceType, tr.Size, MaxTraceSize)
	}
	need := 4 * TraceNodeLen(t)
	if t&TraceTypeOSS != 0 {
		need += 4
	}
	if tr.Size < need {
		return fmt.Errorf("%w: trace size %d cannot hold one node's data (%d octets for type 0x%06x)", ErrTraceType, tr.Size, need, t)
	}
	return nil
}
