package main

import (
	"fmt"
	"slices"
	"strings"

	"github.com/dexplane/dexplane/dataplane/packet"
)

// hopKeys are the keys of a decoded trace hop, in the order the text form
// prints them (the JSON keys of the exporter's records).
var hopKeys = []string{"index", "hop_limit", "node_id", "ingress_if_id", "egress_if_id", "ts_sec", "ts_frac_us",
	"transit_delay_ns", "namespace_data", "queue_depth", "node_id_wide", "ingress_if_id_wide", "egress_if_id_wide",
	"namespace_data_wide", "buffer_occupancy", "oss_schema_id", "oss_data"}

// traceHops decodes the node entries of the trace option opt (Option Type
// first) with trace type tt, in path order: index 0 is the encapsulating
// node, the last one the node that wrote last. A hostile trace yields the
// entries that fit.
func traceHops(opt []byte, tt uint32) []map[string]any {
	var entries [][]byte
	packet.PTONodes(opt, func(n packet.PTONode) { entries = append(entries, n.Data) })
	slices.Reverse(entries)
	hops := []map[string]any{}
	for i, e := range entries {
		var d packet.NodeData
		packet.DecodeNodeData(e, tt, &d)
		h := map[string]any{"index": i}
		if tt&0x808000 != 0 {
			h["hop_limit"] = d.HopLimit
		}
		if tt&0x800000 != 0 {
			h["node_id"] = d.NodeID
		}
		if tt&0x400000 != 0 {
			h["ingress_if_id"], h["egress_if_id"] = d.IfIn, d.IfOut
		}
		if tt&0x200000 != 0 {
			h["ts_sec"] = d.TsSec
		}
		if tt&0x100000 != 0 {
			h["ts_frac_us"] = d.TsFrac
		}
		if tt&0x080000 != 0 {
			h["transit_delay_ns"] = d.TransitDelay
		}
		if tt&0x040000 != 0 {
			h["namespace_data"] = d.NSData
		}
		if tt&0x020000 != 0 {
			h["queue_depth"] = d.QueueDepth
		}
		if tt&0x008000 != 0 {
			h["node_id_wide"] = d.NodeIDWide
		}
		if tt&0x004000 != 0 {
			h["ingress_if_id_wide"], h["egress_if_id_wide"] = d.IfInWide, d.IfOutWide
		}
		if tt&0x002000 != 0 {
			h["namespace_data_wide"] = d.NSDataWide
		}
		if tt&0x001000 != 0 {
			h["buffer_occupancy"] = d.BufferOccupancy
		}
		if tt&0x000002 != 0 {
			h["oss_schema_id"] = d.SchemaID
			h["oss_data"] = fmt.Sprintf("%x", d.SchemaData)
		}
		hops = append(hops, h)
	}
	return hops
}

// writeHops appends " hop[0] node_id 1 hop_limit 64 ..." per hop.
func writeHops(b *strings.Builder, hops []map[string]any) {
	for _, h := range hops {
		fmt.Fprintf(b, " hop[%v]", h["index"])
		for _, k := range hopKeys[1:] {
			if v, ok := h[k]; ok {
				fmt.Fprintf(b, " %s %v", k, v)
			}
		}
	}
}
