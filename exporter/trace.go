package exporter

import (
	"encoding/hex"
	"strconv"

	"github.com/dexplane/dexplane/dataplane/packet"
	"github.com/dexplane/dexplane/dataplane/telemetry"
)

// maxTraceHops bounds the node entries of one trace (244 octets of 4).
const maxTraceHops = telemetry.TraceDataMax / 4

// traceHops locates the node entries of t and returns their offsets and
// lengths in Data in path order (the encapsulating node first, the node
// that wrote last at the end), and how many there are. Entries that do not
// fit (a hostile trace) end the walk.
func traceHops(t *telemetry.Trace, offs, lens *[maxTraceHops]int) int {
	data := t.Data[:min(int(t.DataLen), telemetry.TraceDataMax)]
	nl := 4 * int(t.NodeLen)
	o := 4 * int(t.RemLen)
	n := 0
	for o < len(data) && n < maxTraceHops {
		l := nl
		if t.TraceType&telemetry.TraceOSS != 0 {
			if o+nl+4 > len(data) {
				break
			}
			l += 4 + 4*int(data[o+nl])
		}
		if l == 0 || o+l > len(data) {
			break
		}
		offs[n], lens[n] = o, l
		n++
		o += l
	}
	for i, j := 0, n-1; i < j; i, j = i+1, j-1 {
		offs[i], offs[j] = offs[j], offs[i]
		lens[i], lens[j] = lens[j], lens[i]
	}
	return n
}

// appendTraceText appends " pto=ns:N,flags:0xF,rem:R hops=..." for a record
// carrying a trace: one "node_id@hop_limit" (or "#index" when the trace type
// has no node id) per hop, in path order, with the interface ids when bit 1
// is set.
func appendTraceText(b []byte, t *telemetry.Trace) []byte {
	var offs, lens [maxTraceHops]int
	n := traceHops(t, &offs, &lens)
	b = append(b, " pto=ns:"...)
	b = strconv.AppendUint(b, uint64(t.Namespace), 10)
	b = append(b, ",type:0x"...)
	b = appendHexN(b, uint64(t.TraceType&0xFFFFFF), 6)
	b = append(b, ",flags:0x"...)
	b = appendHexN(b, uint64(t.Flags), 1)
	b = append(b, ",rem:"...)
	b = strconv.AppendUint(b, uint64(t.RemLen), 10)
	b = append(b, ",hops:"...)
	b = strconv.AppendUint(b, uint64(n), 10)
	var d packet.NodeData
	for i := range n {
		b = append(b, " hop"...)
		b = strconv.AppendUint(b, uint64(i), 10)
		b = append(b, '=')
		packet.DecodeNodeData(t.Data[offs[i]:offs[i]+lens[i]], t.TraceType, &d)
		switch {
		case t.TraceType&telemetry.TraceHopLimNodeID != 0:
			b = strconv.AppendUint(b, uint64(d.NodeID), 10)
		case t.TraceType&telemetry.TraceHopLimNodeIDWide != 0:
			b = strconv.AppendUint(b, d.NodeIDWide, 10)
		default:
			b = append(b, '-')
		}
		if t.TraceType&(telemetry.TraceHopLimNodeID|telemetry.TraceHopLimNodeIDWide) != 0 {
			b = append(b, "/hl"...)
			b = strconv.AppendUint(b, uint64(d.HopLimit), 10)
		}
		if t.TraceType&telemetry.TraceIfIDs != 0 {
			b = append(b, "/if"...)
			b = strconv.AppendUint(b, uint64(d.IfIn), 10)
			b = append(b, '>')
			b = strconv.AppendUint(b, uint64(d.IfOut), 10)
		}
	}
	return b
}

// appendTraceJSON appends ,"pto":{...} for a record carrying a trace: the
// header fields, the raw data area as hex, and "hops", one object per node
// in path order (index 0 = the encapsulating node) with the fields its
// trace type asks for, named as the DEX record keys.
func appendTraceJSON(b []byte, t *telemetry.Trace) []byte {
	var offs, lens [maxTraceHops]int
	n := traceHops(t, &offs, &lens)
	b = append(b, `,"pto":{"namespace":`...)
	b = strconv.AppendUint(b, uint64(t.Namespace), 10)
	b = jsonUint(b, "trace_type", uint64(t.TraceType&0xFFFFFF))
	b = jsonUint(b, "node_len", uint64(t.NodeLen))
	b = jsonUint(b, "flags", uint64(t.Flags))
	b = append(b, `,"overflow":`...)
	b = strconv.AppendBool(b, t.Flags&packet.PTOFlagOverflow != 0)
	b = jsonUint(b, "rem_len", uint64(t.RemLen))
	b = append(b, `,"data":"`...)
	b = hex.AppendEncode(b, t.Data[:min(int(t.DataLen), telemetry.TraceDataMax)])
	b = append(b, `","hops":[`...)
	var d packet.NodeData
	for i := range n {
		if i > 0 {
			b = append(b, ',')
		}
		b = append(b, `{"index":`...)
		b = strconv.AppendUint(b, uint64(i), 10)
		packet.DecodeNodeData(t.Data[offs[i]:offs[i]+lens[i]], t.TraceType, &d)
		b = appendNodeJSON(b, t.TraceType, &d)
		b = append(b, '}')
	}
	return append(b, "]}"...)
}

// appendNodeJSON appends the fields of one decoded node entry.
func appendNodeJSON(b []byte, tt uint32, d *packet.NodeData) []byte {
	if tt&(telemetry.TraceHopLimNodeID|telemetry.TraceHopLimNodeIDWide) != 0 {
		b = jsonUint(b, "hop_limit", uint64(d.HopLimit))
	}
	if tt&telemetry.TraceHopLimNodeID != 0 {
		b = jsonUint(b, "node_id", uint64(d.NodeID))
	}
	if tt&telemetry.TraceIfIDs != 0 {
		b = jsonUint(b, "ingress_if_id", uint64(d.IfIn))
		b = jsonUint(b, "egress_if_id", uint64(d.IfOut))
	}
	if tt&telemetry.TraceTimestampSec != 0 {
		b = jsonUint(b, "ts_sec", uint64(d.TsSec))
	}
	if tt&telemetry.TraceTimestampFrac != 0 {
		b = jsonUint(b, "ts_frac_us", uint64(d.TsFrac))
	}
	if tt&telemetry.TraceTransitDelay != 0 {
		b = jsonUint(b, "transit_delay_ns", uint64(d.TransitDelay))
	}
	if tt&telemetry.TraceNamespaceData != 0 {
		b = jsonUint(b, "namespace_data", uint64(d.NSData))
	}
	if tt&telemetry.TraceQueueDepth != 0 {
		b = jsonUint(b, "queue_depth", uint64(d.QueueDepth))
	}
	if tt&telemetry.TraceHopLimNodeIDWide != 0 {
		b = jsonUint(b, "node_id_wide", d.NodeIDWide)
	}
	if tt&telemetry.TraceIfIDsWide != 0 {
		b = jsonUint(b, "ingress_if_id_wide", uint64(d.IfInWide))
		b = jsonUint(b, "egress_if_id_wide", uint64(d.IfOutWide))
	}
	if tt&telemetry.TraceNamespaceDataW != 0 {
		b = jsonUint(b, "namespace_data_wide", d.NSDataWide)
	}
	if tt&telemetry.TraceBufferOccupancy != 0 {
		b = jsonUint(b, "buffer_occupancy", uint64(d.BufferOccupancy))
	}
	if tt&telemetry.TraceOSS != 0 {
		b = jsonUint(b, "oss_schema_id", uint64(d.SchemaID))
		b = append(b, `,"oss_data":"`...)
		b = hex.AppendEncode(b, d.SchemaData)
		b = append(b, '"')
	}
	return b
}
