package exporter

import (
	"encoding/hex"
	"strconv"

	"github.com/vmware/go-ipfix/pkg/entities"

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
	// NodeLen and RemainingLen as the trace header on the wire holds them
	// (5 and 7 bits), so the hops follow from what ioamPreallocatedTraceData
	// carries and a collector re-encoding it finds the same ones.
	nl := 4 * int(t.NodeLen&0x1F)
	o := 4 * int(t.RemLen&0x7F)
	n := 0
	for o < len(data) && n < maxTraceHops {
		l := nl
		if t.TraceType&0xFFFFFF&telemetry.TraceOSS != 0 {
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

// NodeField is one field of IOAM node data as the exporter's records name
// it (see NodeFields).
type NodeField struct {
	// Bits are the Trace-Type bits that select the field (RFC 9197 §4.4.1,
	// bit 0 = 0x800000); any one of them does.
	Bits uint32
	// Key is the field's JSON key.
	Key string
	// Text is what precedes the value in the text form of a record
	// (AppendText): " key=", or ">" for the second of a pair, "" when the
	// text form does not show the field this way (hop_limit, the snapshot).
	Text string
	// Hex is the number of hex digits the text form writes, 0 for decimal.
	Hex int
	id  nodeFieldID
}

type nodeFieldID uint8

const (
	nfHopLimit nodeFieldID = iota
	nfNodeID
	nfIfIn
	nfIfOut
	nfTsSec
	nfTsFrac
	nfTransitDelay
	nfNSData
	nfQueueDepth
	nfNodeIDWide
	nfIfInWide
	nfIfOutWide
	nfNSDataWide
	nfBufferOccupancy
	nfSchemaID
)

// Value returns the field from decoded node data. It is a switch rather
// than a function per field so that d does not escape: the text and JSON
// writers allocate nothing.
func (f *NodeField) Value(d *packet.NodeData) uint64 {
	switch f.id {
	case nfHopLimit:
		return uint64(d.HopLimit)
	case nfNodeID:
		return uint64(d.NodeID)
	case nfIfIn:
		return uint64(d.IfIn)
	case nfIfOut:
		return uint64(d.IfOut)
	case nfTsSec:
		return uint64(d.TsSec)
	case nfTsFrac:
		return uint64(d.TsFrac)
	case nfTransitDelay:
		return uint64(d.TransitDelay)
	case nfNSData:
		return uint64(d.NSData)
	case nfQueueDepth:
		return uint64(d.QueueDepth)
	case nfNodeIDWide:
		return d.NodeIDWide
	case nfIfInWide:
		return uint64(d.IfInWide)
	case nfIfOutWide:
		return uint64(d.IfOutWide)
	case nfNSDataWide:
		return d.NSDataWide
	case nfBufferOccupancy:
		return uint64(d.BufferOccupancy)
	case nfSchemaID:
		return uint64(d.SchemaID)
	}
	return 0
}

// NodeFields lists the integer fields of a node data entry in the order of
// the node data (RFC 9197 §4.4.2), with the JSON keys of the exporter's
// records: hop_limit (carried by bit 0 and by bit 8) first, oss_schema_id
// last. The Opaque State Snapshot's data (bit 22) follows them as
// "oss_data", in hex. `dexplane decode` names a trace's hops by the same
// table. Do not modify it.
var NodeFields = []NodeField{
	{telemetry.TraceHopLimNodeID | telemetry.TraceHopLimNodeIDWide, "hop_limit", "", 0, nfHopLimit},
	{telemetry.TraceHopLimNodeID, "node_id", " node=", 0, nfNodeID},
	{telemetry.TraceIfIDs, "ingress_if_id", " if=", 0, nfIfIn},
	{telemetry.TraceIfIDs, "egress_if_id", ">", 0, nfIfOut},
	{telemetry.TraceTimestampSec, "ts_sec", " ts=", 0, nfTsSec},
	{telemetry.TraceTimestampFrac, "ts_frac_us", " tsfrac_us=", 0, nfTsFrac},
	{telemetry.TraceTransitDelay, "transit_delay_ns", " delay_ns=", 0, nfTransitDelay},
	{telemetry.TraceNamespaceData, "namespace_data", " nsdata=0x", 8, nfNSData},
	{telemetry.TraceQueueDepth, "queue_depth", " qdepth=", 0, nfQueueDepth},
	{telemetry.TraceHopLimNodeIDWide, "node_id_wide", " node_wide=", 0, nfNodeIDWide},
	{telemetry.TraceIfIDsWide, "ingress_if_id_wide", " if_wide=", 0, nfIfInWide},
	{telemetry.TraceIfIDsWide, "egress_if_id_wide", ">", 0, nfIfOutWide},
	{telemetry.TraceNamespaceDataW, "namespace_data_wide", " nsdata_wide=0x", 16, nfNSDataWide},
	{telemetry.TraceBufferOccupancy, "buffer_occupancy", " bufocc=", 0, nfBufferOccupancy},
	{telemetry.TraceOSS, "oss_schema_id", "", 0, nfSchemaID},
}

// appendNodeJSON appends the fields of one decoded node entry.
func appendNodeJSON(b []byte, tt uint32, d *packet.NodeData) []byte {
	return appendNodeFields(b, NodeFields, tt, d)
}

// appendNodeFieldsJSON appends the node data fields that trace type tt
// selects, from node_id (bit 0) to the Opaque State Snapshot (bit 22),
// without hop_limit. It serves both a decoded PTO entry (appendNodeJSON) and
// the node's own record (AppendJSON), so the two name and order the keys
// alike. d.SchemaData is written as hex; d.HasSchema and d.HopLimit are not
// read.
func appendNodeFieldsJSON(b []byte, tt uint32, d *packet.NodeData) []byte {
	return appendNodeFields(b, NodeFields[1:], tt, d)
}

func appendNodeFields(b []byte, fields []NodeField, tt uint32, d *packet.NodeData) []byte {
	for i := range fields {
		if tt&fields[i].Bits != 0 {
			b = jsonUint(b, fields[i].Key, fields[i].Value(d))
		}
	}
	if tt&telemetry.TraceOSS != 0 {
		b = append(b, `,"oss_data":"`...)
		b = hex.AppendEncode(b, d.SchemaData)
		b = append(b, '"')
	}
	return b
}

// IPFIX for the Pre-allocated Trace.
//
// A record that carries a trace (telemetry.Trace.Has, from a decapsulating
// node) is exported as the record itself, with the whole trace in
// ioamPreallocatedTraceData (the 8-octet trace header as on the wire, then
// the node data area, a variable-length octetArray), followed by one data
// record per hop in path order. Each hop record carries the hop's node data
// in the same ULiège IEs a DEX record uses (ioamHopLim, ioamNodeId,
// ioamIngressIfId, ..., selected by the trace type exactly as for DEX), the
// packet's flow fields, and ioamTraceHopIndex, ioamTraceHopCount and
// ioamTraceFlags. This is what the ULiège ioam-exporter does for the
// kernel's trace events (one record per node), so every collector that
// decodes dexplane's DEX records (goflow2 with mapping.yaml, nfacctd with
// primitives.lst, ipfixcol2, tshark) decodes each hop with no new
// machinery; RFC 6313 structured data (a subTemplateList of hops) would be
// one record per trace, but goflow2 and nfacctd do not decode
// subTemplateList contents and tshark shows them only as nested raw
// fields. The raw trace keeps the export lossless for `dexplane collect`.
// goflow2, nfacctd and tshark are tested live on the hop records
// (peers_trace_test.go).
//
// The four trace IEs are dexplane's own, numbered 100-103 under the ULiège
// PEN 10383 next to the ULiège IEs 0-16 (which dexplane reuses unchanged);
// the ULiège exporter does not define them.

// traceHeaderLen is the trace header in ioamPreallocatedTraceData.
const traceHeaderLen = 8

// traceDataLen returns the octets of r's ioamPreallocatedTraceData value.
func traceDataLen(r *telemetry.Record) int {
	return traceHeaderLen + min(int(r.Trace.DataLen), telemetry.TraceDataMax)
}

// traceMask returns the trace fields r carries.
func traceMask(r *telemetry.Record) uint32 {
	var m uint32
	if r.Trace.Has {
		m |= 1 << fTraceData
	}
	if r.TraceHops > 0 {
		m |= 1<<fTraceHop | 1<<fTraceHops | 1<<fTraceFlags
	}
	return m
}

var (
	traceDataField = ent("ioamPreallocatedTraceData", 100, entities.OctetArray, entities.VariableLength,
		"whole Pre-allocated Trace: 8-octet trace header as on the wire, then the node data area",
		func(d []byte, r *telemetry.Record) int {
			n := traceDataLen(r)
			o := 1
			if n >= 255 {
				d[0] = 0xFF
				be.PutUint16(d[1:], uint16(n))
				o = 3
			} else {
				d[0] = byte(n)
			}
			t := &r.Trace
			be.PutUint16(d[o:], t.Namespace)
			be.PutUint16(d[o+2:], uint16(t.NodeLen&0x1F)<<11|uint16(t.Flags&0xF)<<7|uint16(t.RemLen&0x7F))
			be.PutUint32(d[o+4:], (t.TraceType&0xFFFFFF)<<8)
			copy(d[o+traceHeaderLen:], t.Data[:n-traceHeaderLen])
			return o + n
		},
		func(r *telemetry.Record, v []byte) {
			if len(v) < traceHeaderLen {
				return
			}
			t := &r.Trace
			w := be.Uint16(v[2:])
			t.Has = true
			t.Namespace = be.Uint16(v)
			t.NodeLen, t.Flags, t.RemLen = uint8(w>>11), uint8(w>>7)&0xF, uint8(w)&0x7F
			t.TraceType = be.Uint32(v[4:]) >> 8
			t.DataLen = uint16(copy(t.Data[:], v[traceHeaderLen:]))
		})
	traceHopField = ent("ioamTraceHopIndex", 101, entities.Unsigned8, 1,
		"position of this hop in the trace's path, 0 = encapsulating node (per-hop trace records)",
		func(d []byte, r *telemetry.Record) int { return put8(d, r.TraceHop) },
		func(r *telemetry.Record, v []byte) { r.TraceHop = uint8(uintBE(v)) })
	traceHopsField = ent("ioamTraceHopCount", 102, entities.Unsigned8, 1,
		"number of hops written in the trace (per-hop trace records)",
		func(d []byte, r *telemetry.Record) int { return put8(d, r.TraceHops) },
		func(r *telemetry.Record, v []byte) { r.TraceHops = uint8(uintBE(v)) })
	traceFlagsField = ent("ioamTraceFlags", 103, entities.Unsigned8, 1,
		"trace flags: 0x8 Overflow, 0x4 Loopback, 0x2 Active (per-hop trace records)",
		func(d []byte, r *telemetry.Record) int { return put8(d, r.Trace.Flags&0xF) }, // a 4-bit field on the wire
		func(r *telemetry.Record, v []byte) { r.Trace.Flags = uint8(uintBE(v)) & 0xF })
)

// encodeTrace is Encode's general path: r, then, for a record that
// carries a trace, one record per hop (see above).
func (e *Encoder) encodeTrace(r *telemetry.Record) error {
	if err := e.encode(r); err != nil || !r.Trace.Has {
		return err
	}
	var offs, lens [maxTraceHops]int
	t := &r.Trace
	n := traceHops(t, &offs, &lens)
	var d packet.NodeData
	for i := range n {
		h := &e.hop
		*h = telemetry.Record{
			RxTime: r.RxTime, Role: r.Role, IngressPort: r.IngressPort, EgressPort: r.EgressPort,
			Src: r.Src, Dst: r.Dst, SrcPort: r.SrcPort, DstPort: r.DstPort, NextHeader: r.NextHeader, FlowLabel: r.FlowLabel,
			Namespace: t.Namespace, TraceType: t.TraceType, TraceHop: uint8(i), TraceHops: uint8(n),
		}
		h.Trace.Flags = t.Flags
		packet.DecodeNodeData(t.Data[offs[i]:offs[i]+lens[i]], t.TraceType, &d)
		h.HopLimit, h.NodeID, h.NodeIDWide = d.HopLimit, d.NodeID, d.NodeIDWide
		h.IngressIfID, h.EgressIfID, h.IngressIfIDWide, h.EgressIfIDWide = d.IfIn, d.IfOut, d.IfInWide, d.IfOutWide
		h.TimestampSec, h.TimestampFrac, h.TransitDelay = d.TsSec, d.TsFrac, d.TransitDelay
		h.NamespaceData, h.NamespaceDataWide = d.NSData, d.NSDataWide
		h.QueueDepth, h.BufferOccupancy = d.QueueDepth, d.BufferOccupancy
		if t.TraceType&telemetry.TraceOSS != 0 {
			h.SchemaID = d.SchemaID
			k := copy(h.OSSData[:], d.SchemaData)
			h.OSSLen, h.OSSTruncated = uint16(k), k < len(d.SchemaData)
		}
		if err := e.encode(h); err != nil {
			return err
		}
	}
	return nil
}

// NumDEXFields is the number of leading entries of Fields a record without
// a trace can carry; the trace IEs (ioamPreallocatedTraceData and the
// per-hop ioamTraceHopIndex, ioamTraceHopCount, ioamTraceFlags) follow.
const NumDEXFields = fTraceData

// TraceNodes decodes the hops of t in path order (index 0 = the
// encapsulating node). It allocates; for tools, not the data path.
func TraceNodes(t *telemetry.Trace) []packet.NodeData {
	var offs, lens [maxTraceHops]int
	n := traceHops(t, &offs, &lens)
	out := make([]packet.NodeData, n)
	for i := range n {
		packet.DecodeNodeData(t.Data[offs[i]:offs[i]+lens[i]], t.TraceType, &out[i])
		out[i].SchemaData = append([]byte(nil), out[i].SchemaData...)
	}
	return out
}

// appendTraceHopText appends " trace_hop=I/N" (and " overflow") for a
// per-hop record derived from a trace.
func appendTraceHopText(b []byte, r *telemetry.Record) []byte {
	b = append(b, " trace_hop="...)
	b = strconv.AppendUint(b, uint64(r.TraceHop), 10)
	b = append(b, '/')
	b = strconv.AppendUint(b, uint64(r.TraceHops), 10)
	if r.Trace.Flags&packet.PTOFlagOverflow != 0 {
		b = append(b, " overflow"...)
	}
	return b
}
