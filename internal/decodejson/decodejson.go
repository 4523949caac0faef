// Package decodejson is the JSON form of `dexplane decode --json`: one
// Packet object per captured packet, one per line. The keys are part of the
// CLI contract; cmd/dexplane writes these types and the tests and the
// benchmark tools read them, so the three agree by construction (the
// golden tests of cmd/dexplane pin the keys themselves).
package decodejson

// Packet is the JSON form of one captured packet.
type Packet struct {
	// Index is the packet's position in the capture, from 0.
	Index int `json:"index"`
	// OK is false when the packet is malformed; Error then says why.
	OK    bool   `json:"ok"`
	Error string `json:"error,omitempty"`
	// Encap is how IOAM is carried: "none", "inline" or "ip6ip6"
	// (packet.Encap's names).
	Encap string `json:"encap"`
	// Src and Dst are the IPv6 addresses ("" when the packet is not
	// IPv6); InnerSrc and InnerDst those of an encapsulated packet.
	Src      string `json:"src,omitempty"`
	Dst      string `json:"dst,omitempty"`
	InnerSrc string `json:"inner_src,omitempty"`
	InnerDst string `json:"inner_dst,omitempty"`
	// IOAM are the packet's IOAM options in header order (never null).
	IOAM []Option `json:"ioam"`
}

// Option is one IOAM option. DEX fields are present for ioam_type 4,
// flow_id and seq only when the Extension-Flags announce them; PTO fields
// for ioam_type 0. Pointer fields are nil when the key is absent.
type Option struct {
	Offset     int     `json:"offset"` // octets from the start of the Hop-by-Hop header
	OptionType uint8   `json:"option_type"`
	IOAMType   uint8   `json:"ioam_type"`
	NS         *uint16 `json:"ns,omitempty"`
	Flags      *uint8  `json:"flags,omitempty"`
	ExtFlags   *uint8  `json:"ext_flags,omitempty"`
	TraceType  *uint32 `json:"trace_type,omitempty"`
	FlowID     *uint32 `json:"flow_id,omitempty"`
	Seq        *uint32 `json:"seq,omitempty"`
	NodeLen    *uint8  `json:"node_len,omitempty"`
	RemLen     *uint8  `json:"rem_len,omitempty"`
	// Overflow and Hops: a trace's Overflow flag and its node entries in
	// path order (index 0 = the encapsulating node), each with "index"
	// and the node data fields under exporter.NodeFields' keys.
	Overflow *bool            `json:"overflow,omitempty"`
	Hops     []map[string]any `json:"hops,omitempty"`
}
