package node

import (
	"github.com/dexplane/dexplane/dataplane/flow"
	"github.com/dexplane/dexplane/dataplane/handle"
	"github.com/dexplane/dexplane/dataplane/packet"
	"github.com/dexplane/dexplane/dataplane/policy"
	"github.com/dexplane/dexplane/dataplane/telemetry"
)

// transitDelayOverflow is the value exported for trace bit 4 when the delay
// exceeds 2^31-1 ns: the RFC 9197 overflow bit set, the 31 delay bits
// saturated.
const transitDelayOverflow = 0xFFFFFFFF

// flowInfo is what a record says about the user packet, captured from a
// parse before any edit moves the headers.
type flowInfo struct {
	src, dst         [16]byte // innermost IPv6 addresses, wire order
	label            uint32   // innermost 20-bit flow label
	nextHeader       uint8    // innermost upper-layer protocol
	srcPort, dstPort uint16   // 0 when the protocol has no ports
	hopLimit         uint8    // hop limit of the header carrying DEX, as received
}

// captureFlow reads flowInfo from frame, parsed into p.
func captureFlow(frame []byte, p *packet.Packet, fi *flowInfo) {
	l3 := p.FlowL3()
	fi.src = packet.Src(frame, l3)
	fi.dst = packet.Dst(frame, l3)
	fi.label = packet.FlowLabel(frame, l3)
	fi.nextHeader = p.L4Proto
	fi.srcPort, fi.dstPort = 0, 0
	if p.HasPorts {
		fi.srcPort, fi.dstPort = p.SrcPort, p.DstPort
	}
	fi.hopLimit = packet.HopLimit(frame, p.L3)
}

// key returns the flow key of fi (see package flow).
func (fi *flowInfo) key() flow.Key {
	return flow.NewKey(fi.src, fi.dst, fi.nextHeader, fi.srcPort, fi.dstPort, fi.label)
}

// export fills one record in the ring for a packet carrying d, seen by this
// node in role; raw is the IPv6 packet as it leaves (encap) or arrived
// (transit, decap), from its outer IPv6 header; route is the index + 1 of
// the route that selected the packet (encap), else 0. A full ring drops the
// record and counts it; export never blocks.
func (n *Handler) export(role telemetry.Role, s *policy.Snapshot, ns *policy.Namespace, f *handle.Frame, in, out int, d *packet.DEX, fi *flowInfo, raw []byte, route uint16) {
	r := n.ring.Reserve()
	if r == nil {
		n.ctr.RecordsDropped.Add(1)
		return
	}
	// Filled in place: Reset leaves the OSS and raw arrays alone, so only
	// the cache lines this record uses are written.
	r.Reset()
	r.RxTime = f.RxTime
	r.TraceType = d.TraceType & policy.TraceTypeMask
	r.FlowLabel = fi.label
	r.Namespace = d.Namespace
	r.Route = route
	r.SrcPort, r.DstPort = fi.srcPort, fi.dstPort
	r.Role = role
	r.IngressPort, r.EgressPort = uint8(in), uint8(out)
	r.Flags, r.ExtFlags = d.Flags, d.ExtFlags
	r.HasFlowID, r.HasSeq = d.HasFlowID(), d.HasSeq()
	r.NextHeader, r.HopLimit = fi.nextHeader, fi.hopLimit
	r.Src, r.Dst = fi.src, fi.dst
	if r.HasFlowID {
		r.FlowID = d.FlowID
	}
	if r.HasSeq {
		r.Seq = d.Seq
	}
	n.fillNodeData(r, s, ns, f, in, out)
	if n.traceOpt != nil { // decap of a packet with DEX and a trace (pto.go)
		putTrace(&r.Trace, n.traceOpt)
		n.traceOpt = nil
		n.hot.traceExported++
	}
	if n.view.raw {
		r.RawLen = uint16(copy(r.RawSection[:], raw))
	}
	n.ring.CommitBatched() // published by publish, at EndBatch or the end of Handle
	n.hot.recordsExported++
}

// fillNodeData fills the node-data fields r.TraceType asks for, the way the
// Linux DEX patch fills them (spec §1.4), with the userspace improvements
// documented in the package documentation for bits 4, 6, 11 and 22.
func (n *Handler) fillNodeData(r *telemetry.Record, s *policy.Snapshot, ns *policy.Namespace, f *handle.Frame, in, out int) {
	tt := r.TraceType
	if tt&telemetry.TraceHopLimNodeID != 0 {
		r.NodeID = s.Node.ID & policy.MaxNodeID
	}
	if tt&telemetry.TraceIfIDs != 0 {
		r.IngressIfID, r.EgressIfID = s.Ports[in].IfID, s.Ports[out].IfID
	}
	if tt&(telemetry.TraceTimestampSec|telemetry.TraceTimestampFrac) != 0 {
		r.TimestampSec, r.TimestampFrac = telemetry.Unavailable32, telemetry.Unavailable32
		if f.RxTime > 0 { // unsigned: one division, no sign fix-ups
			t := uint64(f.RxTime)
			sec := t / 1e9
			r.TimestampSec = uint32(sec)
			r.TimestampFrac = uint32((t - sec*1e9) / 1000) // POSIX: microseconds
		}
		if tt&telemetry.TraceTimestampSec == 0 {
			r.TimestampSec = 0
		}
		if tt&telemetry.TraceTimestampFrac == 0 {
			r.TimestampFrac = 0
		}
	}
	if tt&telemetry.TraceTransitDelay != 0 {
		r.TransitDelay = telemetry.Unavailable32
		if f.RxTime > 0 {
			switch d := n.clock() - f.RxTime; {
			case d < 0: // clock stepped back: unavailable
			case d > 0x7FFFFFFF:
				r.TransitDelay = transitDelayOverflow
			default:
				r.TransitDelay = uint32(d)
			}
		}
	}
	if tt&telemetry.TraceNamespaceData != 0 {
		r.NamespaceData = ns.Data // all-ones when not configured
	}
	if tt&telemetry.TraceQueueDepth != 0 {
		r.QueueDepth = f.TxQueueDepth
	}
	if tt&telemetry.TraceHopLimNodeIDWide != 0 {
		r.NodeIDWide = s.Node.IDWide & policy.MaxNodeIDWide
	}
	if tt&telemetry.TraceIfIDsWide != 0 {
		r.IngressIfIDWide, r.EgressIfIDWide = s.Ports[in].IfIDWide, s.Ports[out].IfIDWide
	}
	if tt&telemetry.TraceNamespaceDataW != 0 {
		r.NamespaceDataWide = ns.DataWide // all-ones when not configured
	}
	if tt&telemetry.TraceBufferOccupancy != 0 {
		r.BufferOccupancy = f.UmemInUse
	}
	if tt&telemetry.TraceOSS != 0 {
		if sc := ns.Schema; sc != nil {
			r.SchemaID = sc.ID & policy.MaxSchemaID
			k := copy(r.OSSData[:], sc.Data)
			r.OSSLen = uint16(k)
			r.OSSTruncated = k < len(sc.Data)
		} else {
			r.SchemaID = telemetry.Unavailable24 // Linux: Length 0, Schema ID 0xFFFFFF
		}
	}
}
