package main

import (
	"fmt"
	"slices"
	"strings"

	"github.com/dexplane/dexplane/dataplane/packet"
	"github.com/dexplane/dexplane/dataplane/telemetry"
	"github.com/dexplane/dexplane/exporter"
)

// hopKeys are the keys of a decoded trace hop, in the order the text form
// prints them: "index", then the node data fields with the JSON keys of
// the exporter's records, in the order of the node data.
var hopKeys = func() []string {
	keys := []string{"index"}
	for _, f := range exporter.NodeFields {
		keys = append(keys, f.Key)
	}
	return append(keys, "oss_data")
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
		for _, f := range exporter.NodeFields {
			if tt&f.Bits != 0 {
				h[f.Key] = f.Value(&d)
			}
		}
		if tt&telemetry.TraceOSS != 0 {
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
