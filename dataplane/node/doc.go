// Package node implements the IOAM Direct Exporting (RFC 9326) roles of a
// dexplane bump in the wire as pure functions over a frame: no I/O, no
// locks, no allocation per packet.
//
// # Roles
//
// A bump in the wire has no address on the wire, so the role follows the
// IOAM domain edge: each port of the policy snapshot is Inside or Outside,
// and a frame's direction picks the role.
//
//	ingress → egress   role            what happens
//	outside → inside   encapsulating   LPM route on the (outer) destination
//	                                   and the route's k/n sampler (every
//	                                   routed packet counts, as in the kernel
//	                                   and in the XDP pre-selection); foreign
//	                                   IOAM policy; export traffic is never
//	                                   touched; MTU check (Packet Too Big
//	                                   with Options.PacketTooBig, see
//	                                   below); DEX inserted
//	                                   inline (merged into an existing
//	                                   Hop-by-Hop header when
//	                                   Options.MergeHbH, else skipped as Linux
//	                                   does) or in a pushed ip6ip6 outer header
//	                                   (src = tunsrc or the node address, dst =
//	                                   tundst); Flow ID and sequence number;
//	                                   the node's own record if the namespace
//	                                   is configured (as Linux)
//	inside  → inside   transit         record if the ingress port is
//	                                   ioam_enabled and the namespace is
//	                                   configured; the frame is never modified
//	inside  → outside  decapsulating   record as transit (also for a DEX
//	                                   option exposed by removing a plain
//	                                   outer header), then every IOAM
//	                                   header is removed: the outer header of
//	                                   an ip6ip6 packet addressed to a decap
//	                                   endpoint (only those tunnels are
//	                                   terminated), else the IOAM options of
//	                                   the Hop-by-Hop header (the whole header
//	                                   when nothing else is left), else those
//	                                   of a Destination Options header that
//	                                   holds DEX;
//	                                   repeated on the result, and a packet
//	                                   that still carries IOAM after three
//	                                   removals is dropped. Another tenant's
//	                                   ip6ip6 tunnel (outer destination not a
//	                                   decap endpoint) that got DEX in its
//	                                   outer header inline loses only the
//	                                   DEX and leaves byte-identical to how
//	                                   it entered the domain.
//	                                   Options.StripAtDecap=false (test mode)
//	                                   forwards the packet with its IOAM.
//	outside → outside  none            foreign IOAM policy only
//
// # Pre-allocated Trace
//
// A route with a trace (policy.Route.HasTrace) makes the encapsulating role
// insert the RFC 9197 Pre-allocated Trace with the Linux ioam6 lwtunnel's
// layout (inline, or in the pushed ip6ip6 header; a packet that already has
// a Hop-by-Hop header is skipped in inline mode, as Linux does) and write
// the node's own data into it first, as the kernel's output path does
// (Hop_Lim = the hop limit as sent). With DEX on the same route the one k/n
// decision covers both options and the DEX option follows the trace. The
// transit role writes its data into every trace of the (outer) Hop-by-Hop
// header, as Linux ipv6_hop_ioam on input: only when the ingress port is
// ioam_enabled and the trace's namespace is configured, with Hop_Lim = the
// received hop limit minus one (mainline Linux; a Linux transit router and
// a dexplane transit node write the same octets). This is the only edit a
// transit node makes; it changes nothing but the node's slot, RemainingLen
// and the Overflow flag, and costs less than a DEX transit record
// (BenchmarkHandleTrace vs BenchmarkHandle/transit). The decapsulating role
// writes its data too (Linux fills at the tunnel end), exports the whole
// trace (in the DEX record of the same packet, or a record of its own) and
// removes it with the other IOAM options.
//
// Hostile traces: RemainingLen past the option (packet.ErrPTORemLen) and a
// NodeLen that does not match the trace type (packet.ErrPTONodeLen) are
// parse errors handled like ErrPTOShort below; a trace with Overflow set is
// forwarded untouched (TraceCounters.SkippedOverflow) and still exported and
// removed at decap; a data area that is not a multiple of 4 octets is
// forwarded untouched (TraceCounters.Malformed); a trace in a Destination
// Options header is not IOAM to this node (nor to Linux, which only parses
// IOAM in Hop-by-Hop): forwarded untouched by every role.
//
// Foreign IOAM is an IOAM option in the (outer) Hop-by-Hop header of a
// packet arriving on an outside port; the port's ForeignIOAM policy drops
// the packet, strips the options (then the packet is processed as if it had
// arrived without them), or forwards it untouched (no DEX is added to it).
//
// A DEX option in a Destination Options header (packet.Packet.DstOpts;
// Linux ignores it, no IOAM node reads it) never crosses the domain edge:
// the encapsulating node treats the header's IOAM as foreign IOAM (drop,
// strip or forward by the port's ForeignIOAM, so the packet never gets a
// second DEX), transit nodes forward it without exporting it, and the
// decapsulating node removes the header's IOAM options. Other IOAM in
// Destination Options (a Pre-allocated Trace) is not IOAM to any role, as
// in Linux, and crosses untouched.
//
// # One classifier
//
// The node and the XDP program (steering/steer.c) decide alike for every
// frame (steering's TestDifferentialSteer and FuzzDifferentialSteer check it):
// the same VLAN tag stack (package packet), neighbour discovery (ICMPv6
// 133-137 right after the IPv6 header) forwarded untouched and never
// sampled, and the same frames counted in a route's k/n sampler: every
// frame from an outside port whose fixed IPv6 header is sound and whose
// destination a route covers, including frames the codec then rejects and
// drops (steer.c does not walk the rest), except a jumbogram candidate
// (Payload Length 0 with a Hop-by-Hop header). Samplers are 64 bits wide in
// both. With steer: sampled the XDP program runs the samplers and
// Config.Presampled passes its decision to the node, which never samples
// again; a frame that arrives without the decision is counted
// (Counters.MetaMissing) and not selected. So steer: all and steer:
// sampled select the same packets on any sequence.
//
// Export traffic, which never receives DEX (RFC 9326 loop prevention), is a
// packet whose source is the node's address, or whose TCP/UDP/SCTP
// destination port is 4739 or 4740 (IPFIX) or the port of a configured
// collector.
//
// # MTU and Packet Too Big
//
// The encapsulating role checks, before it edits a selected packet, that
// the packet with DEX (inline: +16/+24 octets, merged: what the merge adds,
// ip6ip6: +56/+64) still fits the egress port's MTU (Port.MTU, else
// Config.PortMTU). When it does not, the packet is forwarded without DEX
// and counted in SkippedMTU: DEX is sampling based, and a bump in the wire
// cannot fragment.
//
// With Options.PacketTooBig the node acts as an RFC 2473 §7.1 tunnel entry
// instead, for routes in mode encap (ip6ip6) only: if the original IPv6
// packet is longer than 1280 octets (packet.MinMTU), it is discarded and
// answered with an ICMPv6 Packet Too Big (type 2, code 0; RFC 4443 §3.2)
// built in place in its frame by packet.BuildPacketTooBig:
//
//	Ethernet  destination and source swapped (802.1Q tag kept): the
//	          reply leaves through the ingress port, towards the sender
//	          (verdict frame.Reflect)
//	IPv6      source Node.Address (required by config with the option),
//	          destination the packet's (outer) source, hop limit 64
//	          (packet.PTBHopLimit, Linux's default), TC and flow label 0
//	ICMPv6    MTU = max(egress MTU − encapsulation overhead, 1280); the
//	          leading octets of the packet so that the message is 1280
//	          octets; checksum over the RFC 8200 pseudo-header
//
// and counted in PTBSent (not in Forwarded, Dropped or SkippedMTU). The
// replies are rate limited per worker (RFC 4443 §2.4 (f)) by a token bucket
// of PTBBurst (10) messages refilled at PTBRate (100) per second on the
// frames' receive time; a packet that finds the bucket empty is forwarded
// without DEX as before and counted in PTBRateLimited and SkippedMTU.
// Packets of at most 1280 octets (RFC 2473 would fragment the outer packet;
// a bump in the wire does not), routes in inline mode, and packets RFC 4443
// §2.4 (e) forbids answering (unspecified or multicast source, ICMPv6 error
// messages) keep the default behaviour. Only selected packets are checked,
// so with k/n sampling one large packet in n/k is answered; once the sender
// has learnt the smaller path MTU, all its packets of the flow shrink. The
// Flow ID sequence number is not consumed.
//
// # Sequence numbers
//
// The encapsulating role keys its per-worker flow table (package flow) by
// the Flow ID of the innermost 5-tuple, hashed with Flows.FlowIDSeed. The
// sequence number of a flow advances only when a packet actually leaves
// with DEX: packets skipped for MTU, headroom or an existing Hop-by-Hop
// header do not consume one. A reload that changes max_flows, idle_timeout
// or seq_start replaces the table (flows restart at seq_start).
//
// A per-worker flow cache (512 entries, two per hash set) remembers, for
// the flows of recently seen untunnelled packets without IOAM, the route,
// the Flow ID and the flow table slot, so that a packet of a known flow
// costs one hash and one key comparison. Entries belong to one view of the
// snapshot: any reload invalidates them all at once.
//
// # Records
//
// One telemetry.Record per export, reserved in the node's ring and filled in
// place; a full ring drops the record and counts it (RecordsDropped), it
// never blocks forwarding.
//
// A packet is exported at most once per node, however many DEX options its
// Hop-by-Hop header carries: the record describes the first DEX option
// whose namespace is configured (earlier options with an unknown namespace
// are skipped); when none is, UnknownNamespace counts the packet. This
// differs from Linux, whose ipv6_hop_ioam runs for every option and so
// exports one record per DEX option with a known namespace: RFC 9326 warns
// that DEX must not become an amplifier, and a crafted header with eight
// DEX options would otherwise cost eight exports. Addresses, next header, ports and flow label are
// the innermost packet's (the collector's flow key); RawSection holds the
// first octets of the IPv6 packet from its outer header, with DEX (as the
// packet left an encapsulating node, as it arrived elsewhere). Node data,
// per IOAM-Trace-Type bit, as the Linux DEX patch fills it (spec §1.4),
// with the improvements a userspace node can offer:
//
//	bit  field                  value
//	0    HopLimit, NodeID       hop limit as received (see below); Node.ID
//	1    Ingress/EgressIfID     Ports[ingress].IfID, Ports[egress].IfID
//	2    TimestampSec           Frame.RxTime seconds (POSIX)
//	3    TimestampFrac          Frame.RxTime sub-second part in µs (POSIX)
//	4    TransitDelay           Clock() − Frame.RxTime in ns when the record
//	                            is filled; overflow (> 2^31−1 ns) exports
//	                            0xFFFFFFFF (O bit set, delay saturated)
//	5    NamespaceData          Namespace.Data (0xFFFFFFFF if not configured)
//	6    QueueDepth             Frame.TxQueueDepth (egress TX ring, frames)
//	8    HopLimit, NodeIDWide   as bit 0; Node.IDWide
//	9    Ingress/EgressIfIDWide Ports[..].IfIDWide
//	10   NamespaceDataWide      Namespace.DataWide (all-ones if not configured)
//	11   BufferOccupancy        Frame.UmemInUse (worker UMEM frames in use)
//	22   SchemaID, OSSData      the namespace schema (truncated to
//	                            telemetry.OSSDataMax, flagged); no schema:
//	                            SchemaID 0xFFFFFF, no data (Linux 0x00FFFFFF)
//
// Bits 7 and 12–21 have no Record field: the exporter writes 0xFFFFFFFF for
// them as Linux does. A timestamp or delay that cannot be computed (RxTime
// 0, clock stepped back) is the all-ones unavailable value.
//
// Hop_Lim is the raw received hop limit of the IPv6 header that carries the
// DEX option (the outer header of an ip6ip6 packet; at the encapsulating
// node the packet's own hop limit, which the outer header copies). This is
// what the ULiège DEX patch exports (it removed the transit −1 of mainline
// PTO), and a bump in the wire does not decrement the hop limit, so the
// value is also the one "when forwarded".
//
// # Malformed packets
//
// Every frame is parsed once with packet.Parse, whose validation is the
// Linux receive path's; each failure is counted by reason
// (Counters.Malformed) and handled as follows. Nothing panics.
//
//	packet error                         action
//	ErrNotIPv6                           forward untouched (not ours; NotIPv6)
//	ErrShortFrame, ErrShortVLAN          drop
//	ErrShortIPv6, ErrIPVersion,          drop (Linux ipv6_rcv drops)
//	ErrPayloadLength
//	ErrHbHTruncated, ErrOptTruncated,    drop (Linux ip6_parse_tlv drops)
//	ErrOptOverrun, ErrPadTooLong,
//	ErrPadNNonZero, ErrTooManyOptions,
//	ErrOptionDiscard
//	ErrRouterAlert, ErrJumbo,            drop (Linux ipv6_hop_ra, ipv6_hop_jumbo,
//	ErrCALIPSO                           ipv6_hop_calipso drop; IPv6 Payload
//	                                     Length ≠ 0 with a Jumbo option is
//	                                     always an error, jumbograms are not
//	                                     supported; the CALIPSO DOI is not
//	                                     looked up)
//	ErrIOAMMisaligned                    drop (Linux drops even with IOAM off)
//	ErrIOAMShort, ErrDEXShort,           inside → inside with the ingress
//	ErrDEXExtTruncated, ErrPTOShort,     port not ioam_enabled: forward
//	ErrPTORemLen, ErrPTONodeLen
//	                                     untouched (Linux ignores IOAM then);
//	                                     otherwise drop (Linux drops; and an
//	                                     IOAM option we cannot parse must not
//	                                     leave the domain)
//	ErrHbHNotFirst, ErrExtTruncated,     drop (no trustworthy flow key; the
//	ErrInnerShort, ErrInnerVersion,      destination would drop it)
//	ErrInnerLength
//	anything else                        drop (MalformedOther; a codec bug)
//
// One exception keeps the two steer modes alike: on an outside port whose
// ForeignIOAM is forward (steer.c then lets Hop-by-Hop and extension
// headers cross unless the route selects the frame, see package steering), an
// outside → inside frame with a sound fixed IPv6 header whose extension
// headers the codec rejects (any error below ErrPayloadLength in the table,
// except a jumbogram candidate) is forwarded untouched when its route does
// not select it, counted in Malformed; a selected one is dropped. Foreign
// traffic we do not touch is not ours to judge; a router or the
// destination will.
//
// A frame whose Off/Len do not fit its buffer counts as ErrShortFrame.
// After an edit the node parses the frame again; a failure there (an editor
// bug) drops the frame, so no frame leaves that our parser rejects. The
// decapsulating role's common edits (a Hop-by-Hop header of IOAM only
// dropped whole, a tunnel around a packet without extension headers
// stripped) skip that parse: packet.RemoveDEXUpdate and
// packet.StripOuterUpdate leave what Parse would give for the new frame,
// which parses by construction (its headers are a suffix of an accepted
// chain; the packet fuzz targets check both claims).
//
// # Concurrency
//
// A Handler belongs to one worker and is called from that worker's goroutine
// only. It reads the engine's *policy.Snapshot through an atomic.Pointer,
// once per frame, and re-derives its cached view when the pointer changes.
// Its Counters are atomics readable from any goroutine, and it is the only
// producer of its telemetry.Ring. Samplers are shared by all workers
// (atomic, in package policy).
package node
