package node

import (
	"sync/atomic"

	"github.com/dexplane/dexplane/dataplane/handle"
	"github.com/dexplane/dexplane/dataplane/packet"
	"github.com/dexplane/dexplane/dataplane/policy"
	"github.com/dexplane/dexplane/dataplane/telemetry"
)

// TraceCounters count the Pre-allocated Trace work of one worker (RFC 9197
// §4.4). All are packets, except Filled, Overflowed, SkippedOverflow and
// Malformed, which count trace options (a packet may carry several).
type TraceCounters struct {
	// Inserted counts packets that received a trace at this node
	// (encapsulating role, inline or ip6ip6).
	Inserted atomic.Uint64
	// Filled counts traces this node wrote its data into (encap, transit
	// and decap).
	Filled atomic.Uint64
	// Overflowed counts traces this node found full: it set the Overflow
	// flag and wrote nothing.
	Overflowed atomic.Uint64
	// SkippedOverflow counts traces that arrived with Overflow set; they
	// are forwarded untouched, as Linux does.
	SkippedOverflow atomic.Uint64
	// Malformed counts traces whose data area is not a multiple of 4
	// octets: forwarded untouched (Linux would write into them; we refuse
	// to write into a layout no node can read back), still exported and
	// removed at the decapsulating node. RemainingLen past the end and
	// NodeLen mismatches never get here: Parse refuses them (see the
	// malformed table in the package documentation).
	Malformed atomic.Uint64
	// IOAMDisabled and UnknownNamespace count traces not written because
	// the ingress port is not ioam_enabled or the trace's namespace is not
	// configured (both as Linux, which then ignores the option).
	IOAMDisabled, UnknownNamespace atomic.Uint64
	// Exported counts records carrying a whole trace (decapsulating role).
	Exported atomic.Uint64
}

// Each calls fn for every trace counter with its Counters.Each name
// ("trace_inserted", ...).
func (c *TraceCounters) Each(fn func(name string, value uint64)) {
	fn("trace_inserted", c.Inserted.Load())
	fn("trace_filled", c.Filled.Load())
	fn("trace_overflowed", c.Overflowed.Load())
	fn("trace_skipped_overflow", c.SkippedOverflow.Load())
	fn("trace_malformed", c.Malformed.Load())
	fn("trace_ioam_disabled", c.IOAMDisabled.Load())
	fn("trace_unknown_namespace", c.UnknownNamespace.Load())
	fn("trace_exported", c.Exported.Load())
}

// encapTrace is the encapsulating role's insertion for a selected packet of
// a route that carries a Pre-allocated Trace (alone or with DEX): the
// kernel's ioam6 lwtunnel layout (packet.Insert), the encapsulating node's
// own data written first as ioam6_do_fill does, DEX and its record as in
// encap. A packet that already has a Hop-by-Hop header is skipped in inline
// mode, as Linux does (no merge for traces).
func (n *Handler) encapTrace(s *policy.Snapshot, f *handle.Frame, in, out int, r *policy.Route, e *flowEntry) handle.Verdict {
	p := &n.pkt
	frame := f.Buf[f.Off : f.Off+f.Len]
	ins := &n.ins
	*ins = packet.Insert{
		HasPTO: true,
		PTO:    packet.PTO{Namespace: r.Trace.Namespace, TraceType: r.Trace.TraceType, RemLen: uint8(r.Trace.Size / 4)},
		HasDEX: r.HasDEX(),
		DEX:    packet.DEX{Namespace: r.DEX.Namespace, ExtFlags: r.DEX.ExtFlags, TraceType: r.DEX.TraceType},
	}
	d := &ins.DEX
	var fi flowInfo
	captureFlow(frame, p, &fi)
	var id uint32
	slot := -1
	if ins.HasDEX && d.ExtFlags&(packet.ExtFlagFlowID|packet.ExtFlagSeq) != 0 {
		id = n.flowID(e, s, &fi)
		d.FlowID = id
		if d.HasSeq() {
			slot = n.flows.Find(id, e.slot)
			d.Seq, _ = n.flows.PeekAt(slot, f.RxTime)
		}
	}
	var overhead int
	if r.Mode == policy.ModeEncap {
		overhead = packet.IOAMEncapOverhead(ins)
	} else {
		if p.HbH != 0 {
			n.ctr.SkippedHbH.Add(1)
			return n.forward()
		}
		overhead = packet.IOAMInlineOverhead(ins)
	}
	ipLen := p.End - p.L3
	if mtu := n.view.mtu[out]; mtu > 0 && ipLen+overhead > mtu {
		return n.tooBig(s, r, f, ipLen, overhead, mtu)
	}
	hl := packet.HopLimit(frame, p.L3)
	var off, ln, pto int
	var err error
	if r.Mode == policy.ModeEncap {
		off, ln, pto, err = packet.PushIP6IP6IOAM(f.Buf, f.Off, f.Len, p, ins, r.TunSrc.As16(), r.TunDst.As16())
	} else {
		off, ln, pto, err = packet.InsertIOAMInline(f.Buf, f.Off, f.Len, p, ins)
	}
	if err != nil {
		n.ctr.SkippedNoRoom.Add(1)
		return n.forward()
	}
	f.Off, f.Len = off, ln
	n.hot.traceInserted++
	if ns, ok := n.view.namespaces.Lookup(r.Trace.Namespace); ok {
		// Output path in the kernel (is_input false): the hop limit as sent.
		n.fillOne(s, ns, f, in, out, f.Buf[f.Off+pto:f.Off+f.Len], hl)
	}
	if !ins.HasDEX {
		return n.forward()
	}
	if d.HasSeq() {
		n.flows.NextAt(slot, id, f.RxTime)
		e.slot = uint32(slot)
	}
	n.hot.dexInserted++
	if r.Mode == policy.ModeEncap {
		n.hot.dexEncapsulated++
	}
	if ns, ok := n.view.namespaces.Lookup(d.Namespace); ok {
		l3 := f.Off + p.L3
		end := min(l3+ipLen+overhead, f.Off+f.Len)
		n.export(telemetry.RoleEncap, s, ns, f, in, out, d, &fi, f.Buf[l3:end], uint16(r.ID+1))
	}
	return n.forward()
}

// fillOne writes this node's data into the trace option opt (Option Type
// first) with hop limit hl and counts the outcome.
func (n *Handler) fillOne(s *policy.Snapshot, ns *policy.Namespace, f *handle.Frame, in, out int, opt []byte, hl uint8) packet.FillResult {
	nd := &n.nd
	tt := uint32(0)
	if len(opt) >= packet.PTOHeaderLen {
		tt = uint32(opt[8])<<16 | uint32(opt[9])<<8 | uint32(opt[10])
	}
	n.nodeData(nd, tt, s, ns, f, in, out, hl)
	res := packet.FillPTO(opt, nd)
	switch res {
	case packet.FillWritten:
		n.ctr.Trace.Filled.Add(1)
	case packet.FillOverflowed:
		n.ctr.Trace.Overflowed.Add(1)
	case packet.FillSkipped:
		n.ctr.Trace.SkippedOverflow.Add(1)
	default:
		n.ctr.Trace.Malformed.Add(1)
	}
	return res
}

// nodeData fills nd with this node's values for the fields of trace type
// tt, as Linux __ioam6_fill_trace_data, with the same userspace values as
// the DEX records for bits 4, 6 and 11 (see fillNodeData): the transit
// delay up to now, the egress TX ring occupancy and the UMEM occupancy,
// in frames. Only the fields tt asks for are computed (the clock is read
// only for bit 4).
func (n *Handler) nodeData(nd *packet.NodeData, tt uint32, s *policy.Snapshot, ns *policy.Namespace, f *handle.Frame, in, out int, hl uint8) {
	*nd = packet.NodeData{
		HopLimit:   hl,
		NodeID:     s.Node.ID & policy.MaxNodeID,
		NodeIDWide: s.Node.IDWide & policy.MaxNodeIDWide,
		IfIn:       s.Ports[in].IfID, IfOut: s.Ports[out].IfID,
		IfInWide: s.Ports[in].IfIDWide, IfOutWide: s.Ports[out].IfIDWide,
		TsSec: telemetry.Unavailable32, TsFrac: telemetry.Unavailable32,
		TransitDelay: telemetry.Unavailable32,
		NSData:       ns.Data, NSDataWide: ns.DataWide,
		QueueDepth: f.TxQueueDepth, BufferOccupancy: f.UmemInUse,
	}
	if f.RxTime > 0 {
		nd.TsSec = uint32(f.RxTime / 1e9)
		nd.TsFrac = uint32(f.RxTime%1e9) / 1000 // POSIX: microseconds, as Linux
		if tt&telemetry.TraceTransitDelay != 0 {
			switch d := n.clock() - f.RxTime; {
			case d < 0:
			case d > 0x7FFFFFFF:
				nd.TransitDelay = transitDelayOverflow
			default:
				nd.TransitDelay = uint32(d)
			}
		}
	}
	if sc := ns.Schema; sc != nil {
		nd.HasSchema, nd.SchemaID, nd.SchemaData = true, sc.ID&policy.MaxSchemaID, sc.Data
	}
}

// fillTraces is the transit and decapsulating nodes' write into every
// Pre-allocated Trace of the (outer) Hop-by-Hop header, as Linux
// ipv6_hop_ioam on input: only when the ingress port is ioam_enabled and
// the trace's namespace is configured; the Hop_Lim written is the received
// hop limit minus one (mainline Linux on input). It returns the first trace
// option this node processed (for export), or nil when there is none.
func (n *Handler) fillTraces(s *policy.Snapshot, f *handle.Frame, in, out int) []byte {
	p := &n.pkt
	frame := f.Buf[f.Off : f.Off+f.Len]
	end := p.HbH + p.HbHLen
	if end > len(frame) {
		return nil
	}
	hl := packet.HopLimit(frame, p.L3) - 1
	var first []byte
	for i := range p.NumIOAM {
		o := &p.IOAM[i]
		if o.IOAMType != packet.IOAMTypePreallocTrace || o.Off < p.HbH || o.Off+2+int(o.DataLen) > end {
			continue
		}
		opt := frame[o.Off : o.Off+2+int(o.DataLen)]
		if !s.Ports[in].IOAMEnabled {
			n.ctr.Trace.IOAMDisabled.Add(1)
			continue
		}
		ns, ok := n.view.namespaces.Lookup(uint16(opt[4])<<8 | uint16(opt[5]))
		if !ok {
			n.ctr.Trace.UnknownNamespace.Add(1)
			continue
		}
		n.fillOne(s, ns, f, in, out, opt, hl)
		if first == nil {
			first = opt
		}
	}
	return first
}

// transitTrace writes this node's data into the packet's traces (transit
// role). This is the one edit dexplane makes to a packet in transit; the
// frame keeps its offset and length.
func (n *Handler) transitTrace(s *policy.Snapshot, f *handle.Frame, in, out int) {
	n.fillTraces(s, f, in, out)
}

// putTrace copies the trace option opt into t.
func putTrace(t *telemetry.Trace, opt []byte) {
	h, err := packet.DecodePTOOption(opt)
	if err != nil {
		return
	}
	t.Has = true
	t.Namespace, t.NodeLen, t.Flags, t.RemLen, t.TraceType = h.Namespace, h.NodeLen, h.Flags, h.RemLen, h.TraceType
	t.DataLen = uint16(copy(t.Data[:], opt[h.Data:h.Data+h.DataLen]))
}

// exportTrace exports one record for a packet whose trace opt was not
// attached to a DEX record (no DEX option, or a DEX option this node does
// not export): the whole trace, the flow, and no DEX fields.
func (n *Handler) exportTrace(role telemetry.Role, f *handle.Frame, in, out int, opt []byte) {
	p := &n.pkt
	rec := n.ring.Reserve()
	if rec == nil {
		n.ctr.RecordsDropped.Add(1)
		return
	}
	frame := f.Buf[f.Off : f.Off+f.Len]
	var fi flowInfo
	captureFlow(frame, p, &fi)
	rec.Reset() // filled in place: only the lines it uses are written
	rec.RxTime, rec.FlowLabel, rec.SrcPort, rec.DstPort = f.RxTime, fi.label, fi.srcPort, fi.dstPort
	rec.Role, rec.IngressPort, rec.EgressPort = role, uint8(in), uint8(out)
	rec.NextHeader, rec.HopLimit, rec.Src, rec.Dst = fi.nextHeader, fi.hopLimit, fi.src, fi.dst
	putTrace(&rec.Trace, opt)
	rec.Namespace = rec.Trace.Namespace
	rec.RawLen = uint16(copy(rec.RawSection[:], frame[p.L3:p.End]))
	n.ring.CommitBatched() // published by publish, at EndBatch or the end of Handle
	n.hot.recordsExported++
	n.hot.traceExported++
}
