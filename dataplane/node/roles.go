package node

import (
	"github.com/dexplane/dexplane/dataplane/handle"
	"github.com/dexplane/dexplane/dataplane/packet"
	"github.com/dexplane/dexplane/dataplane/policy"
	"github.com/dexplane/dexplane/dataplane/telemetry"
)

// maxDecapEdits bounds the header removals the decapsulating role makes on
// one packet (outer header, then the Hop-by-Hop and Destination Options
// IOAM the inner packet carries) so that a hostile nesting costs a fixed
// amount of work.
const maxDecapEdits = 3

// encap is the encapsulating role (outside → inside): route lookup and k/n
// sampling, foreign IOAM policy, export-traffic exclusion, MTU check, DEX
// insertion (inline, merged or ip6ip6), flow sequence, own record.
func (n *Handler) encap(s *policy.Snapshot, f *handle.Frame, in, out int) handle.Verdict {
	p := &n.pkt
	frame := f.Buf[f.Off : f.Off+f.Len]
	if isND(frame, p) {
		return n.forward()
	}
	// One flow-cache lookup gives the route, and later the Flow ID and the
	// sequence slot. Like the kernel and the XDP pre-selection, every
	// packet that matches a route counts in its k/n sampler, whatever
	// happens to it next.
	e := n.flowOf(frame, p)
	r := e.route
	selected, missing := false, false
	if r != nil {
		selected, missing = n.sample(f, r)
	}
	if p.NumIOAM > 0 || p.DstOptsDEX > 0 {
		if v, done := n.foreign(s, f, in); done {
			return v
		}
		frame = f.Buf[f.Off : f.Off+f.Len]
	}
	if r == nil {
		n.hot.noRoute++
		return n.forward()
	}
	if n.isExport(e, frame, p) {
		n.ctr.SkippedExport.Add(1)
		return n.forward()
	}
	if !selected {
		if missing {
			n.ctr.MetaMissing.Add(1)
		} else {
			n.hot.notSampled++
		}
		return n.forward()
	}
	if r.HasTrace {
		return n.encapTrace(s, f, in, out, r, e) // pto.go
	}

	var fi flowInfo
	captureFlow(frame, p, &fi)
	d := packet.DEX{Namespace: r.DEX.Namespace, ExtFlags: r.DEX.ExtFlags, TraceType: r.DEX.TraceType}
	var id uint32
	slot := -1
	if d.ExtFlags&(packet.ExtFlagFlowID|packet.ExtFlagSeq) != 0 {
		id = n.flowID(e, s, &fi)
		d.FlowID = id
		if d.HasSeq() {
			// The sequence advances only once the packet really carries DEX.
			slot = n.flows.Find(id, e.slot)
			d.Seq, _ = n.flows.PeekAt(slot, f.RxTime)
		}
	}

	// Size check before touching the frame.
	merge := false
	var overhead int
	switch {
	case r.Mode == policy.ModeEncap:
		overhead = packet.EncapOverhead(d.ExtFlags)
	case p.HbH != 0:
		if !s.Options.MergeHbH {
			n.ctr.SkippedHbH.Add(1) // what Linux inline mode does
			return n.forward()
		}
		o, err := packet.MergeOverhead(frame, p, d.ExtFlags)
		if err != nil {
			n.ctr.SkippedHbH.Add(1)
			return n.forward()
		}
		overhead, merge = o, true
	default:
		overhead = packet.InlineOverhead(d.ExtFlags)
	}
	ipLen := p.End - p.L3
	if mtu := n.view.mtu[out]; mtu > 0 && ipLen+overhead > mtu {
		return n.tooBig(s, r, f, ipLen, overhead, mtu)
	}

	var off, ln int
	var err error
	switch {
	case r.Mode == policy.ModeEncap:
		off, ln, err = packet.PushIP6IP6(f.Buf, f.Off, f.Len, p, &d, r.TunSrc.As16(), r.TunDst.As16())
	case merge:
		off, ln, err = packet.MergeDEXIntoHbH(f.Buf, f.Off, f.Len, p, &d)
	default:
		off, ln, err = packet.InsertDEXInline(f.Buf, f.Off, f.Len, p, &d)
	}
	if err != nil {
		// Editors leave the frame untouched on error: send it without DEX.
		if merge && err != packet.ErrNoRoom && err != packet.ErrTooLong {
			n.ctr.SkippedHbH.Add(1)
		} else {
			n.ctr.SkippedNoRoom.Add(1)
		}
		return n.forward()
	}
	f.Off, f.Len = off, ln
	if d.HasSeq() {
		n.flows.NextAt(slot, id, f.RxTime)
		e.slot = uint32(slot) // a new flow (-1) is found by the next Find
	}
	n.hot.dexInserted++
	if merge {
		n.hot.dexMerged++
	} else if r.Mode == policy.ModeEncap {
		n.hot.dexEncapsulated++
	}
	// Like Linux, export the encapsulating node's own record only if the
	// namespace is configured locally (New guarantees it for routes).
	if ns, ok := n.view.namespaces.Lookup(d.Namespace); ok {
		l3 := f.Off + p.L3 // the link header kept its length
		end := min(l3+ipLen+overhead, f.Off+f.Len)
		n.export(telemetry.RoleEncap, s, ns, f, in, out, &d, &fi, f.Buf[l3:end], uint16(r.ID+1))
	}
	return n.forward()
}

// tooBig handles a packet of ipLen octets (IPv6 header on) that route r
// cannot give its IOAM, overhead octets, without exceeding the egress MTU
// mtu: the packet goes on without IOAM (SkippedMTU), or, RFC 2473 §7.1, an
// ip6ip6 tunnel entry answers a packet longer than the IPv6 minimum MTU
// with Packet Too Big when configured to (and able to: a node address).
func (n *Handler) tooBig(s *policy.Snapshot, r *policy.Route, f *handle.Frame, ipLen, overhead, mtu int) handle.Verdict {
	if r.Mode == policy.ModeEncap && s.Options.PacketTooBig && ipLen > packet.MinMTU && n.view.hasNodeAddr {
		if n.packetTooBig(f, max(mtu-overhead, packet.MinMTU)) {
			return handle.Reflect
		}
	}
	n.ctr.SkippedMTU.Add(1)
	return n.forward()
}

// packetTooBig turns frame f (n.pkt describes it) into an ICMPv6 Packet
// Too Big message to its source reporting mtu, to be reflected out of the
// ingress port, and reports whether it did. It does not when the worker's
// PTB token bucket is empty (PTBRateLimited) or RFC 4443 forbids an error
// for the packet; the frame is then untouched.
func (n *Handler) packetTooBig(f *handle.Frame, mtu int) bool {
	now := f.RxTime
	if now == 0 {
		now = n.clock()
	}
	if !n.ptbBucket.ready(now) {
		n.ctr.PTBRateLimited.Add(1)
		return false
	}
	off, ln, err := packet.BuildPacketTooBig(f.Buf, f.Off, f.Len, &n.pkt, uint32(mtu), n.view.nodeAddr)
	if err != nil {
		return false
	}
	n.ptbBucket.take()
	f.Off, f.Len = off, ln
	n.ctr.PTBSent.Add(1)
	return true
}

// sample runs route r's k/n selection for frame f, unless the XDP program
// already did (Config.Presampled). missing reports a frame whose decision
// did not arrive (PresampleMissing): it is not selected.
func (n *Handler) sample(f *handle.Frame, r *policy.Route) (selected, missing bool) {
	if n.presel != nil {
		switch n.presel(f) {
		case PresampleSelected:
			return true, false
		case PresampleNotSelected:
			return false, false
		case PresampleMissing:
			return false, true
		}
	}
	if sm := r.Sampler; sm.Every() && n.batching {
		// Selected whatever the count: count locally, publish at EndBatch.
		if n.sampled != sm {
			if n.sampled != nil {
				n.sampled.AddCount(n.nSampled)
			}
			n.sampled, n.nSampled = sm, 0
		}
		n.nSampled++
		return true, false
	}
	return r.Sampler.Sample(), false
}

// isND reports whether the IPv6 packet at p.L3 of frame is neighbour
// discovery (ICMPv6 133-137 right after the IPv6 header) by the rule of
// steer.c: such frames cross in XDP in every steer mode, never meet a
// route sampler, and the node forwards them untouched too.
func isND(frame []byte, p *packet.Packet) bool {
	t := p.L3 + packet.IPv6Len
	return frame[p.L3+6] == packet.ProtoICMPv6 && t < len(frame) && frame[t] >= 133 && frame[t] <= 137
}

// sampleRejected keeps the route samplers of steer: all in step with
// steer.c's for an outside-port frame the codec rejected: steer.c samples
// every frame with a sound fixed IPv6 header (it does not walk the rest),
// except a jumbogram candidate (Payload Length 0 and Hop-by-Hop), which it
// steers before the route lookup. sound reports such a frame (sampled or
// not: the route may not match), selected the sampler's decision.
func (n *Handler) sampleRejected(f *handle.Frame, err error) (sound, selected bool) {
	switch err {
	case packet.ErrNotIPv6, packet.ErrShortFrame, packet.ErrShortVLAN, packet.ErrShortIPv6,
		packet.ErrIPVersion, packet.ErrPayloadLength:
		return false, false // steer.c: not IPv6 or dropped before any sampler
	}
	p := &n.pkt
	frame := f.Buf[f.Off : f.Off+f.Len]
	if p.L3 < packet.EthernetLen || p.L3+packet.IPv6Len > len(frame) {
		return false, false
	}
	if p.PayloadLen == 0 && frame[p.L3+6] == packet.ProtoHopByHop {
		return false, false
	}
	if r, ok := n.routes.lookup(n.view.routes, packet.Dst(frame, p.L3)); ok {
		selected, _ = n.sample(f, r)
	}
	return true, selected
}

// isExportTraffic reports whether the packet is telemetry export traffic,
// which must never receive DEX (RFC 9326: an encapsulating node that can
// identify an exported packet MUST NOT add DEX to it): sent from this
// node's address, or to a well-known IPFIX port or a configured collector's
// port.
func (n *Handler) isExportTraffic(frame []byte, p *packet.Packet) bool {
	v := &n.view
	if v.hasNodeAddr && (packet.Src(frame, p.L3) == v.nodeAddr || packet.Src(frame, p.FlowL3()) == v.nodeAddr) {
		return true
	}
	return p.HasPorts && v.isExportPort(p.DstPort)
}

// foreign applies the ingress port's ForeignIOAM policy to a packet that
// arrived from outside the domain with IOAM in its (outer) Hop-by-Hop
// header. done is false when the option was stripped and processing goes
// on with n.pkt describing the stripped frame.
func (n *Handler) foreign(s *policy.Snapshot, f *handle.Frame, in int) (v handle.Verdict, done bool) {
	switch s.Ports[in].ForeignIOAM {
	case policy.ForeignForward:
		n.ctr.ForeignForwarded.Add(1)
		return n.forward(), true
	case policy.ForeignStrip:
		// The Hop-by-Hop options first, then a Destination Options header
		// with IOAM (at most one edit each). The result is parsed again
		// unless the editor brought n.pkt up to date itself.
		for edits := 0; n.pkt.NumIOAM > 0 || n.pkt.DstOptsDEX > 0; edits++ {
			var off, ln int
			var updated bool
			var err error
			if edits == 2 {
				err = packet.ErrLayout // IOAM reappeared: refuse
			} else if n.pkt.NumIOAM > 0 {
				off, ln, updated, err = packet.RemoveDEXUpdate(f.Buf, f.Off, f.Len, &n.pkt)
			} else {
				off, ln, err = packet.RemoveDstOptsDEX(f.Buf, f.Off, f.Len, &n.pkt)
			}
			if err != nil {
				n.ctr.ForeignDropped.Add(1)
				return n.drop(), true
			}
			f.Off, f.Len = off, ln
			if updated {
				continue
			}
			if err := n.reparse(f); err != nil {
				n.ctr.Malformed[malformedOf(err)].Add(1)
				return n.drop(), true
			}
		}
		n.ctr.ForeignStripped.Add(1)
		return handle.Forward, false
	default:
		n.ctr.ForeignDropped.Add(1)
		return n.drop(), true
	}
}

// passOutside handles outside → outside frames: no IOAM role, but foreign
// IOAM still follows the ingress port's policy.
func (n *Handler) passOutside(s *policy.Snapshot, f *handle.Frame, in int) handle.Verdict {
	if n.pkt.NumIOAM > 0 || n.pkt.DstOptsDEX > 0 {
		if v, done := n.foreign(s, f, in); done {
			return v
		}
	}
	return n.forward()
}

// observe exports one record for n.pkt if the ingress port is
// IOAM-enabled and one of its DEX options has a configured namespace (the
// first such option, see knownDEX), as Linux ipv6_hop_ioam does for each
// option; the packet is not modified.
func (n *Handler) observe(role telemetry.Role, s *policy.Snapshot, f *handle.Frame, in, out int) {
	p := &n.pkt
	n.hot.dexSeen++
	if !s.Ports[in].IOAMEnabled {
		n.ctr.IOAMDisabled.Add(1)
		return
	}
	frame := f.Buf[f.Off : f.Off+f.Len]
	var later packet.DEX
	d, ns := n.knownDEX(frame, &later)
	if ns == nil {
		n.ctr.UnknownNamespace.Add(1)
		return
	}
	var fi flowInfo
	captureFlow(frame, p, &fi)
	n.export(role, s, ns, f, in, out, d, &fi, frame[p.L3:p.End], 0)
}

// knownDEX returns the first DEX option of n.pkt (parsed from frame) whose
// namespace is configured, and that namespace; ns is nil when there is
// none. The codec decodes only the first DEX option (Packet.DEX, which d
// then points to: the record is filled from it without a copy); later
// ones, listed in Packet.IOAM, are decoded into *later only when the first
// has an unknown namespace. A packet yields at most one record however
// many DEX options it carries (RFC 9326's amplification concern: one
// packet must not trigger a burst of exports).
func (n *Handler) knownDEX(frame []byte, later *packet.DEX) (d *packet.DEX, ns *policy.Namespace) {
	p := &n.pkt
	if ns, ok := n.view.namespaces.Lookup(p.DEX.Namespace); ok {
		return &p.DEX, ns
	}
	end := p.HbH + p.HbHLen
	for i := p.DEXOpt + 1; i < p.NumIOAM; i++ {
		o := &p.IOAM[i]
		if o.IOAMType != packet.IOAMTypeDirectExporting || o.Off < 0 || o.Off >= end || end > len(frame) {
			continue
		}
		dex, err := packet.DecodeDEXOption(frame[o.Off:end])
		if err != nil {
			continue // Parse checked it; not reached
		}
		if ns, ok := n.view.namespaces.Lookup(dex.Namespace); ok {
			*later = dex
			return later, ns
		}
	}
	return nil, nil
}

// transit is the transit role (inside → inside): export, never modify.
func (n *Handler) transit(s *policy.Snapshot, f *handle.Frame, in, out int) handle.Verdict {
	if n.pkt.HasPTO {
		n.transitTrace(s, f, in, out) // pto.go: the one in-transit edit
	}
	switch {
	case n.pkt.HasDEX:
		n.observe(telemetry.RoleTransit, s, f, in, out)
	case n.pkt.NumIOAM > 0:
		n.ctr.OtherIOAM.Add(1)
	}
	return n.forward()
}

// decap is the decapsulating role (inside → outside): export, then remove
// every IOAM header so that nothing with IOAM leaves the domain.
func (n *Handler) decap(s *policy.Snapshot, f *handle.Frame, in, out int) handle.Verdict {
	p := &n.pkt
	observed := p.HasDEX
	if p.HasPTO {
		n.traceOpt = n.fillTraces(s, f, in, out) // pto.go; the DEX record carries it
	}
	switch {
	case p.HasDEX:
		n.observe(telemetry.RoleDecap, s, f, in, out)
	case p.NumIOAM > 0:
		n.ctr.OtherIOAM.Add(1)
	}
	if n.traceOpt != nil {
		n.exportTrace(telemetry.RoleDecap, f, in, out, n.traceOpt)
		n.traceOpt = nil
	}
	if !s.Options.StripAtDecap {
		return n.forward() // test mode: let a capture behind the edge see DEX
	}
	removed := false
	for edits := 0; ; edits++ {
		frame := f.Buf[f.Off : f.Off+f.Len]
		// Only a tunnel addressed to one of this node's decap endpoints is
		// terminated. Another tenant's ip6ip6 tunnel (DEX may have been
		// inserted into its outer header inline) keeps its outer header:
		// only the IOAM is removed, so it leaves as it entered the domain.
		tunnel := p.Encap == packet.EncapIP6IP6 && n.view.decap.Contains(packet.Dst(frame, p.L3))
		if !tunnel && p.NumIOAM == 0 && p.DstOptsDEX == 0 {
			if removed {
				n.hot.dexRemoved++
			}
			return n.forward()
		}
		if edits == maxDecapEdits {
			n.ctr.LeakDropped.Add(1)
			return n.drop()
		}
		// The common edits (a tunnel around a packet without extension
		// headers, a Hop-by-Hop header of IOAM only) bring p up to date
		// themselves; the others leave it stale and the frame is parsed
		// again.
		hadIOAM := p.NumIOAM > 0 || p.DstOptsDEX > 0
		var off, ln int
		var updated bool
		var err error
		switch {
		case tunnel:
			off, ln, updated, err = packet.StripOuterUpdate(f.Buf, f.Off, f.Len, p)
		case p.NumIOAM > 0:
			off, ln, updated, err = packet.RemoveDEXUpdate(f.Buf, f.Off, f.Len, p)
		default:
			// DEX in a Destination Options header leaves the domain
			// neither: the header's IOAM is removed, never exported.
			off, ln, err = packet.RemoveDstOptsDEX(f.Buf, f.Off, f.Len, p)
		}
		if err != nil {
			n.ctr.LeakDropped.Add(1)
			return n.drop()
		}
		if tunnel {
			n.hot.tunnelsStripped++
		}
		removed = removed || hadIOAM
		f.Off, f.Len = off, ln
		if !updated {
			if err := n.reparse(f); err != nil {
				n.ctr.Malformed[malformedOf(err)].Add(1)
				return n.drop()
			}
		}
		if !observed && p.HasDEX {
			// A DEX option exposed by removing an outer header (a plain
			// tunnel around a DEX packet) is exported once, too.
			observed = true
			n.observe(telemetry.RoleDecap, s, f, in, out)
		}
	}
}
