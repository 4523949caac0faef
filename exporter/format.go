package exporter

import (
	"encoding/hex"
	"net/netip"
	"strconv"
	"time"

	"github.com/dexplane/dexplane/dataplane/packet"
	"github.com/dexplane/dexplane/dataplane/telemetry"
)

// AppendText appends one human-readable line describing r (terminated by
// '\n') to b and returns the extended slice. It does not allocate when b has
// room. Node-data fields appear only when their Trace-Type bit is set.
//
// Example:
//
//	2023-11-14T22:13:20.000000001Z transit ns=123 flow=0x12345678 seq=1 [2001:db8::1]:40000 > [2001:db8::2]:5001 proto=17 fl=0x00000 hlim=63 port=0>1 trace=0x800000 ext=0xc0 node=1
func AppendText(b []byte, r *telemetry.Record) []byte {
	b = time.Unix(0, r.RxTime).UTC().AppendFormat(b, time.RFC3339Nano)
	b = append(b, ' ')
	b = append(b, r.Role.String()...)
	b = append(b, " ns="...)
	b = strconv.AppendUint(b, uint64(r.Namespace), 10)
	if r.HasFlowID {
		b = append(b, " flow=0x"...)
		b = appendHex32(b, r.FlowID)
	}
	if r.HasSeq {
		b = append(b, " seq="...)
		b = strconv.AppendUint(b, uint64(r.Seq), 10)
	}
	b = append(b, ' ')
	b = netip.AddrPortFrom(netip.AddrFrom16(r.Src), r.SrcPort).AppendTo(b)
	b = append(b, " > "...)
	b = netip.AddrPortFrom(netip.AddrFrom16(r.Dst), r.DstPort).AppendTo(b)
	b = append(b, " proto="...)
	b = strconv.AppendUint(b, uint64(r.NextHeader), 10)
	b = append(b, " fl=0x"...)
	b = appendHexN(b, uint64(r.FlowLabel&0xFFFFF), 5)
	b = append(b, " hlim="...)
	b = strconv.AppendUint(b, uint64(r.HopLimit), 10)
	b = append(b, " port="...)
	b = strconv.AppendUint(b, uint64(r.IngressPort), 10)
	b = append(b, '>')
	b = strconv.AppendUint(b, uint64(r.EgressPort), 10)
	b = append(b, " trace=0x"...)
	b = appendHexN(b, uint64(r.TraceType&0xFFFFFF), 6)
	b = append(b, " ext=0x"...)
	b = appendHexN(b, uint64(r.ExtFlags), 2)
	if r.Flags != 0 {
		b = append(b, " flags=0x"...)
		b = appendHexN(b, uint64(r.Flags), 2)
	}
	t := r.TraceType
	nd := nodeData(r)
	for i := range NodeFields {
		f := &NodeFields[i]
		if t&f.Bits == 0 || f.Text == "" {
			continue
		}
		b = append(b, f.Text...)
		if f.Hex > 0 {
			b = appendHexN(b, f.Value(&nd), f.Hex)
		} else {
			b = strconv.AppendUint(b, f.Value(&nd), 10)
		}
	}
	if t&telemetry.TraceOSS != 0 {
		b = append(b, " oss="...)
		b = strconv.AppendUint(b, uint64(r.SchemaID), 10)
		b = append(b, ':')
		b = hex.AppendEncode(b, r.OSSData[:ossLen(r)])
		if r.OSSTruncated {
			b = append(b, "..."...)
		}
	}
	if r.Trace.Has {
		b = appendTraceText(b, &r.Trace) // trace.go
	}
	if r.TraceHops > 0 {
		b = appendTraceHopText(b, r) // trace.go
	}
	if n := rawLen(r); n > 0 {
		b = append(b, " raw_len="...) // the octets themselves are in the JSON output
		b = strconv.AppendUint(b, uint64(n), 10)
	}
	return append(b, '\n')
}

// nodeData is the node data of r as a PTO hop's (NodeFields reads it); the
// snapshot's data are r's, not copied.
func nodeData(r *telemetry.Record) packet.NodeData {
	return packet.NodeData{
		NodeID: r.NodeID, NodeIDWide: r.NodeIDWide,
		IfIn: r.IngressIfID, IfOut: r.EgressIfID,
		IfInWide: r.IngressIfIDWide, IfOutWide: r.EgressIfIDWide,
		TsSec: r.TimestampSec, TsFrac: r.TimestampFrac,
		TransitDelay: r.TransitDelay,
		NSData:       r.NamespaceData, NSDataWide: r.NamespaceDataWide,
		QueueDepth: r.QueueDepth, BufferOccupancy: r.BufferOccupancy,
		SchemaID: r.SchemaID, SchemaData: r.OSSData[:ossLen(r)],
	}
}

// AppendJSON appends one JSON object describing r, followed by '\n', to b.
// Keys are stable snake_case names; node-data keys appear only when their
// Trace-Type bit is set; byte arrays are lowercase hex strings. It does not
// allocate when b has room.
func AppendJSON(b []byte, r *telemetry.Record) []byte {
	b = append(b, `{"time":"`...)
	b = time.Unix(0, r.RxTime).UTC().AppendFormat(b, time.RFC3339Nano)
	b = append(b, `","role":"`...)
	b = append(b, r.Role.String()...)
	b = append(b, '"')
	b = jsonUint(b, "namespace", uint64(r.Namespace))
	b = jsonUint(b, "flags", uint64(r.Flags))
	b = jsonUint(b, "ext_flags", uint64(r.ExtFlags))
	b = jsonUint(b, "trace_type", uint64(r.TraceType&0xFFFFFF))
	if r.HasFlowID {
		b = jsonUint(b, "flow_id", uint64(r.FlowID))
	}
	if r.HasSeq {
		b = jsonUint(b, "seq", uint64(r.Seq))
	}
	b = append(b, `,"src":"`...)
	b = netip.AddrFrom16(r.Src).AppendTo(b)
	b = append(b, `","dst":"`...)
	b = netip.AddrFrom16(r.Dst).AppendTo(b)
	b = append(b, '"')
	b = jsonUint(b, "proto", uint64(r.NextHeader))
	b = jsonUint(b, "src_port", uint64(r.SrcPort))
	b = jsonUint(b, "dst_port", uint64(r.DstPort))
	b = jsonUint(b, "flow_label", uint64(r.FlowLabel&0xFFFFF))
	b = jsonUint(b, "hop_limit", uint64(r.HopLimit))
	b = jsonUint(b, "in_port", uint64(r.IngressPort))
	b = jsonUint(b, "out_port", uint64(r.EgressPort))
	nd := nodeData(r)
	b = appendNodeFieldsJSON(b, r.TraceType, &nd) // trace.go
	if r.TraceType&telemetry.TraceOSS != 0 && r.OSSTruncated {
		b = append(b, `,"oss_truncated":true`...)
	}
	if r.Trace.Has {
		b = appendTraceJSON(b, &r.Trace) // trace.go
	}
	if r.TraceHops > 0 {
		b = jsonUint(b, "trace_hop", uint64(r.TraceHop))
		b = jsonUint(b, "trace_hops", uint64(r.TraceHops))
		b = jsonUint(b, "trace_flags", uint64(r.Trace.Flags))
	}
	if n := rawLen(r); n > 0 {
		b = append(b, `,"raw":"`...)
		b = hex.AppendEncode(b, r.RawSection[:n])
		b = append(b, '"')
	}
	return append(b, "}\n"...)
}

func jsonUint(b []byte, key string, v uint64) []byte {
	b = append(b, ',', '"')
	b = append(b, key...)
	b = append(b, '"', ':')
	return strconv.AppendUint(b, v, 10)
}

const hexDigits = "0123456789abcdef"

func appendHex32(b []byte, v uint32) []byte { return appendHexN(b, uint64(v), 8) }

// appendHexN appends the low n nibbles of v, zero-padded.
func appendHexN(b []byte, v uint64, n int) []byte {
	for i := n - 1; i >= 0; i-- {
		b = append(b, hexDigits[(v>>(4*uint(i)))&0xF])
	}
	return b
}
