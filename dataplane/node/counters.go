package node

import (
	"sync/atomic"

	"github.com/dexplane/dexplane/dataplane/packet"
)

// Malformed is the reason a frame failed to parse: one value per sentinel
// error of the packet codec. See the package documentation for what the
// node does with each.
type Malformed uint8

// Malformed-packet reasons, in the order of the packet codec's sentinels.
const (
	MalformedShortFrame      Malformed = iota // packet.ErrShortFrame
	MalformedShortVLAN                        // packet.ErrShortVLAN
	MalformedShortIPv6                        // packet.ErrShortIPv6
	MalformedIPVersion                        // packet.ErrIPVersion
	MalformedPayloadLength                    // packet.ErrPayloadLength
	MalformedHbHTruncated                     // packet.ErrHbHTruncated
	MalformedOptTruncated                     // packet.ErrOptTruncated
	MalformedOptOverrun                       // packet.ErrOptOverrun
	MalformedPadTooLong                       // packet.ErrPadTooLong
	MalformedPadNNonZero                      // packet.ErrPadNNonZero
	MalformedTooManyOptions                   // packet.ErrTooManyOptions
	MalformedOptionDiscard                    // packet.ErrOptionDiscard
	MalformedRouterAlert                      // packet.ErrRouterAlert
	MalformedJumbo                            // packet.ErrJumbo
	MalformedCALIPSO                          // packet.ErrCALIPSO
	MalformedIOAMMisaligned                   // packet.ErrIOAMMisaligned
	MalformedIOAMShort                        // packet.ErrIOAMShort
	MalformedDEXShort                         // packet.ErrDEXShort
	MalformedDEXExtTruncated                  // packet.ErrDEXExtTruncated
	MalformedPTOShort                         // packet.ErrPTOShort
	MalformedPTORemLen                        // packet.ErrPTORemLen
	MalformedPTONodeLen                       // packet.ErrPTONodeLen
	MalformedHbHNotFirst                      // packet.ErrHbHNotFirst
	MalformedExtTruncated                     // packet.ErrExtTruncated
	MalformedInnerShort                       // packet.ErrInnerShort
	MalformedInnerVersion                     // packet.ErrInnerVersion
	MalformedInnerLength                      // packet.ErrInnerLength
	MalformedOther                            // any other error (a codec bug)
	NumMalformed                              // number of reasons
)

// malformedErrs maps a Malformed reason to its sentinel (MalformedOther has
// none).
var malformedErrs = [NumMalformed - 1]error{
	packet.ErrShortFrame, packet.ErrShortVLAN,
	packet.ErrShortIPv6, packet.ErrIPVersion, packet.ErrPayloadLength,
	packet.ErrHbHTruncated, packet.ErrOptTruncated, packet.ErrOptOverrun,
	packet.ErrPadTooLong, packet.ErrPadNNonZero, packet.ErrTooManyOptions,
	packet.ErrOptionDiscard, packet.ErrRouterAlert, packet.ErrJumbo, packet.ErrCALIPSO,
	packet.ErrIOAMMisaligned, packet.ErrIOAMShort, packet.ErrDEXShort,
	packet.ErrDEXExtTruncated, packet.ErrPTOShort, packet.ErrPTORemLen, packet.ErrPTONodeLen,
	packet.ErrHbHNotFirst, packet.ErrExtTruncated, packet.ErrInnerShort, packet.ErrInnerVersion,
	packet.ErrInnerLength,
}

var malformedNames = [NumMalformed]string{
	"short_frame", "short_vlan",
	"short_ipv6", "ip_version", "payload_length",
	"hbh_truncated", "opt_truncated", "opt_overrun",
	"pad_too_long", "padn_nonzero", "too_many_options",
	"option_discard", "router_alert", "jumbo", "calipso",
	"ioam_misaligned", "ioam_short", "dex_short",
	"dex_ext_truncated", "pto_short", "pto_remlen", "pto_nodelen",
	"hbh_not_first", "ext_truncated", "inner_short", "inner_version",
	"inner_length",
	"other",
}

// String returns the snake_case name used in metrics ("ioam_misaligned", …).
func (m Malformed) String() string {
	if m < NumMalformed {
		return malformedNames[m]
	}
	return "unknown"
}

// malformedOf classifies a Parse error. The codec returns its sentinels
// unwrapped, so comparing interface values is enough (and allocation-free).
func malformedOf(err error) Malformed {
	for i, e := range malformedErrs {
		if err == e {
			return Malformed(i)
		}
	}
	return MalformedOther
}

// Counters are one worker's packet counters. The worker's Node is the only
// writer; any goroutine may read them at any time (each field is an atomic,
// read individually, so a set of fields read while traffic flows is not a
// consistent snapshot). All counts are packets unless noted. Counters are
// cumulative and survive snapshot reloads.
//
// Every handled frame is counted exactly once in Forwarded, Dropped or
// PTBSent.
type Counters struct {
	// Forwarded and Dropped are the verdicts handle.Forward and handle.Drop
	// (PTBSent counts handle.Reflect).
	Forwarded, Dropped atomic.Uint64
	// NotIPv6 counts frames forwarded untouched because they are not IPv6.
	NotIPv6 atomic.Uint64
	// Malformed counts frames by parse failure reason (most are dropped;
	// see the package documentation).
	Malformed [NumMalformed]atomic.Uint64

	// Encapsulating role (outside → inside).

	// NoRoute counts packets whose destination matched no route.
	NoRoute atomic.Uint64
	// NotSampled counts packets a route's k/n sampler did not select.
	NotSampled atomic.Uint64
	// DEXInserted counts packets that received a DEX option (all modes);
	// DEXMerged and DEXEncapsulated count the subsets merged into an
	// existing Hop-by-Hop header and pushed in an ip6ip6 outer header.
	DEXInserted, DEXMerged, DEXEncapsulated atomic.Uint64
	// SkippedMTU counts selected packets forwarded without DEX because the
	// result would exceed the egress MTU.
	SkippedMTU atomic.Uint64
	// PTBSent counts packets answered with an ICMPv6 Packet Too Big
	// (Options.PacketTooBig): the packet is discarded and its frame,
	// rewritten into the reply, leaves through the ingress port (verdict
	// handle.Reflect). Such packets are not in SkippedMTU, Forwarded or
	// Dropped.
	PTBSent atomic.Uint64
	// PTBRateLimited counts packets that would have been answered with
	// Packet Too Big but found the worker's token bucket empty; they are
	// forwarded without DEX and also counted in SkippedMTU.
	PTBRateLimited atomic.Uint64
	// SkippedHbH counts selected packets forwarded without DEX because they
	// already had a Hop-by-Hop header and Options.MergeHbH is off (the
	// Linux behaviour), or the header could not take another option.
	SkippedHbH atomic.Uint64
	// SkippedNoRoom counts selected packets forwarded without DEX because
	// the frame had too little headroom (or the result would exceed the
	// IPv6 length limits).
	SkippedNoRoom atomic.Uint64
	// SkippedExport counts packets never given DEX because they are
	// telemetry export traffic (RFC 9326 loop prevention).
	SkippedExport atomic.Uint64
	// MetaMissing counts routed packets from an outside port that reached
	// the worker without the XDP metadata carrying the route sampler's
	// decision in steer: sampled (PresampleMissing): forwarded without DEX,
	// never sampled a second time. They are not in NotSampled.
	MetaMissing atomic.Uint64

	// Foreign IOAM: IOAM arriving on an outside port, by the port's
	// ForeignIOAM policy.
	ForeignDropped, ForeignStripped, ForeignForwarded atomic.Uint64

	// Transit and decapsulating roles (inside → inside, inside → outside).

	// DEXSeen counts packets arriving on an inside port with a DEX option.
	DEXSeen atomic.Uint64
	// OtherIOAM counts packets with IOAM options but no DEX (forwarded,
	// stripped at the domain edge).
	OtherIOAM atomic.Uint64
	// IOAMDisabled counts DEX packets not exported because the ingress
	// port is not ioam_enabled.
	IOAMDisabled atomic.Uint64
	// UnknownNamespace counts DEX packets not exported because their
	// Namespace-ID is not configured.
	UnknownNamespace atomic.Uint64
	// DEXRemoved counts packets that arrived with IOAM and left through an
	// outside port without it (inline option removed or outer header
	// stripped).
	DEXRemoved atomic.Uint64
	// TunnelsStripped counts ip6ip6 outer headers removed (those addressed
	// to a decap endpoint; another tenant's tunnel keeps its outer header).
	TunnelsStripped atomic.Uint64
	// LeakDropped counts packets dropped because their IOAM could not be
	// removed before an outside port (an edit failed, or IOAM kept showing
	// up after three removals), and ECN-invalid tunnel packets.
	LeakDropped atomic.Uint64

	// Records.

	// RecordsExported counts records handed to the ring; RecordsDropped
	// those lost because the ring was full.
	RecordsExported, RecordsDropped atomic.Uint64

	// Flow table (encapsulating role, per worker).

	// FlowsActive is a gauge: flows held in the table.
	FlowsActive atomic.Uint64
	// FlowsNew, FlowsEvicted and FlowsExpired mirror flow.Stats, summed over
	// the tables this worker used across reloads.
	FlowsNew, FlowsEvicted, FlowsExpired atomic.Uint64

	// Trace counts the Pre-allocated Trace work (pto.go).
	Trace TraceCounters
}

// hotCounters are the counters most packets move, kept in plain memory
// while the worker handles a batch (Handler.BeginBatch) and added to Counters
// once at its end (Handler.EndBatch), instead of one atomic add each per
// packet. Outside a batch (a caller of Handle that is not a worker) they
// are published after every frame, so Counters read the same either way
// once Handle or EndBatch has returned.
type hotCounters struct {
	forwarded, noRoute, notSampled, dexInserted, dexEncapsulated, dexSeen, recordsExported uint64
	// Encapsulating role: merged DEX and inserted traces; trace records.
	dexMerged, traceInserted, traceExported uint64
	dexRemoved, tunnelsStripped             uint64
}

// publish adds h to c and zeroes h.
func (h *hotCounters) publish(c *Counters) {
	for _, v := range [...]struct {
		n *uint64
		c *atomic.Uint64
	}{
		{&h.forwarded, &c.Forwarded}, {&h.noRoute, &c.NoRoute}, {&h.notSampled, &c.NotSampled},
		{&h.dexInserted, &c.DEXInserted}, {&h.dexEncapsulated, &c.DEXEncapsulated},
		{&h.dexSeen, &c.DEXSeen}, {&h.recordsExported, &c.RecordsExported},
		{&h.dexMerged, &c.DEXMerged}, {&h.traceInserted, &c.Trace.Inserted}, {&h.traceExported, &c.Trace.Exported},
		{&h.dexRemoved, &c.DEXRemoved}, {&h.tunnelsStripped, &c.TunnelsStripped},
	} {
		if *v.n != 0 {
			v.c.Add(*v.n)
			*v.n = 0
		}
	}
}

// Each calls fn for every counter with a stable snake_case name, for
// metrics and the demo. Malformed reasons are reported as
// "malformed_<reason>". FlowsActive is a gauge, the rest are counters.
func (c *Counters) Each(fn func(name string, value uint64)) {
	fn("forwarded", c.Forwarded.Load())
	fn("dropped", c.Dropped.Load())
	fn("not_ipv6", c.NotIPv6.Load())
	for i := range c.Malformed {
		fn("malformed_"+Malformed(i).String(), c.Malformed[i].Load())
	}
	fn("no_route", c.NoRoute.Load())
	fn("not_sampled", c.NotSampled.Load())
	fn("dex_inserted", c.DEXInserted.Load())
	fn("dex_merged", c.DEXMerged.Load())
	fn("dex_encapsulated", c.DEXEncapsulated.Load())
	fn("skipped_mtu", c.SkippedMTU.Load())
	fn("ptb_sent", c.PTBSent.Load())
	fn("ptb_rate_limited", c.PTBRateLimited.Load())
	fn("skipped_hbh", c.SkippedHbH.Load())
	fn("skipped_no_room", c.SkippedNoRoom.Load())
	fn("skipped_export", c.SkippedExport.Load())
	fn("meta_missing", c.MetaMissing.Load())
	fn("foreign_dropped", c.ForeignDropped.Load())
	fn("foreign_stripped", c.ForeignStripped.Load())
	fn("foreign_forwarded", c.ForeignForwarded.Load())
	fn("dex_seen", c.DEXSeen.Load())
	fn("other_ioam", c.OtherIOAM.Load())
	fn("ioam_disabled", c.IOAMDisabled.Load())
	fn("unknown_namespace", c.UnknownNamespace.Load())
	fn("dex_removed", c.DEXRemoved.Load())
	fn("tunnels_stripped", c.TunnelsStripped.Load())
	fn("leak_dropped", c.LeakDropped.Load())
	fn("records_exported", c.RecordsExported.Load())
	fn("records_dropped", c.RecordsDropped.Load())
	fn("flows_active", c.FlowsActive.Load())
	fn("flows_new", c.FlowsNew.Load())
	fn("flows_evicted", c.FlowsEvicted.Load())
	fn("flows_expired", c.FlowsExpired.Load())
	c.Trace.Each(fn)
}

// MalformedTotal returns the sum of the Malformed counters.
func (c *Counters) MalformedTotal() uint64 {
	var t uint64
	for i := range c.Malformed {
		t += c.Malformed[i].Load()
	}
	return t
}
