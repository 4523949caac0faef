package steering

import "encoding/binary"

// The values in this file are steer_abi.h's, the one definition shared by
// steer.c and Go; TestABIMatchesHeader parses the header and fails when
// they differ.

// Limits compiled into steer.c (MAX_PORTS, MAX_QUEUES, MAX_DECAP).
const (
	// MaxPorts is the number of ports one node has.
	MaxPorts = 2
	// MaxQueues is the number of RX queues per port that can have a socket.
	MaxQueues = 64
	// MaxDecapEndpoints bounds SetDecapEndpoints.
	MaxDecapEndpoints = 256
)

// port_flags bits (F_ALL ... F_EXT_HDR): what a port's copy of dxp_steer
// steers to the workers; set by the loader per port (loadProgram).
const (
	flagAll    = 1 << 0 // every IPv6 frame except ND (steer: all)
	flagRoutes = 1 << 1 // destination LPM + k/n sampler (outside ports)
	flagHbH    = 1 << 2 // frames with a Hop-by-Hop header
	flagDecap  = 1 << 3 // ip6ip6 to a decap endpoint (inside ports)
	flagExtHdr = 1 << 4 // Next Header not a plain upper layer
)

// MetaLen is the size of the XDP metadata (struct meta) dxp_steer puts in
// front of a steered frame, in octets.
const MetaLen = 8

// struct meta: field offsets and the magic that marks it.
const (
	metaOffRouteID = 0 // __u32 route_id
	metaOffReason  = 4 // __u16 reason
	metaOffMagic   = 6 // __u16 magic
	metaMagic      = 0xd7e5
)

// Meta is what dxp_steer tells a worker about a steered frame.
type Meta struct {
	// Reason is why the frame was steered: ReasonAll, ReasonSampled,
	// ReasonHbH, ReasonDecap, ReasonExtHdr or ReasonOrder.
	Reason Reason
	// RouteID is the id of the route that selected it (ReasonSampled),
	// else 0.
	RouteID uint32
}

// ParseMeta decodes the MetaLen octets at the end of b, which are the
// octets right before the packet in its UMEM chunk (pass
// chunk[:off]); ok is false if b is shorter than MetaLen or they do not hold
// dexplane metadata (the driver gave the program no metadata room). Fields
// are in host byte order. It does not allocate.
func ParseMeta(b []byte) (m Meta, ok bool) {
	if len(b) < MetaLen {
		return Meta{}, false
	}
	b = b[len(b)-MetaLen:]
	if binary.NativeEndian.Uint16(b[metaOffMagic:]) != metaMagic {
		return Meta{}, false
	}
	return Meta{
		RouteID: binary.NativeEndian.Uint32(b[metaOffRouteID:]),
		Reason:  Reason(binary.NativeEndian.Uint16(b[metaOffReason:])),
	}, true
}
