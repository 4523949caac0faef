package main

import (
	"fmt"
	"slices"
	"strings"

	"github.com/dexplane/dexplane/dataplane/packet"
)

// hopFields lists, per trace-type bit (RFC 9197 4.4.1, bit 0 = 0x800000),
// the keys of a decoded trace hop (the JSON keys of the exporter's records)
// and their values from the decoded node data, in the order of the node
// data. Bits 0 and 8 both carry hop_limit.
var hopFields = []struct {
	bit  uint32
	keys []string
	vals func(d *packet.NodeData) []any
}{
	{0x808000, []string{"hop_limit"}, func(d *packet.NodeData) []any { return []any{d.HopLimit} }},
	{0x800000, []string{"node_id"}, func(d *packet.NodeData) []any { return []any{d.NodeID} }},
	{0x400000, []string{"ingress_if_id", "egress_if_id"}, func(d *packet.NodeData) []any { return []any{d.IfIn, d.IfOut} }},
	{0x200000, []string{"ts_sec"}, func(d *packet.NodeData) []any { return []any{d.TsSec} }},
	{0x100000, []string{"ts_frac_us"}, func(d *packet.NodeData) []any { return []any{d.TsFrac} }},
	{0x080000, []string{"transit_delay_ns"}, func(d *packet.NodeData) []any { return []any{d.TransitDelay} }},
	{0x040000, []string{"namespace_data"}, func(d *packet.NodeData) []any { return []any{d.NSData} }},
	{0x020000, []string{"queue_depth"}, func(d *packet.NodeData) []any { return []any{d.QueueDepth} }},
	{0x008000, []string{"node_id_wide"}, func(d *packet.NodeData) []any { return []any{d.NodeIDWide} }},
	{0x004000, []string{"ingress_if_id_wide", "egress_if_id_wide"}, func(d *packet.NodeData) []any { return []any{d.IfInWide, d.IfOutWide} }},
	{0x002000, []string{"namespace_data_wide"}, func(d *packet.NodeData) []any { return []any{d.NSDataWide} }},
	{0x001000, []string{"buffer_occupancy"}, func(d *packet.NodeData) []any { return []any{d.BufferOccupancy} }},
	{0x000002, []string{"oss_schema_id", "oss_data"}, func(d *packet.NodeData) []any {
		return []any{d.SchemaID, fmt.Sprintf("%x", d.SchemaData)}
	}},
}

// hopKeys are the keys of a decoded trace hop, in the order the text form
// prints them: "index", then the keys of hopFields.
var hopKeys = func() []string {
	keys := []string{"index"}
	for _, f := range hopFields {
		keys = append(keys, f.keys...)
	}
	return keys
}()

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
		for _, f := range hopFields {
			if tt&f.bit != 0 {
				for j, v := range f.vals(&d) {
					h[f.keys[j]] = v
				}
			}
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
