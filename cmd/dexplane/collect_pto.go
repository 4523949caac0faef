package main

import (
	"fmt"
	"io"
	"net/netip"
	"time"

	"github.com/dexplane/dexplane/dataplane/packet"
	"github.com/dexplane/dexplane/dataplane/telemetry"
	"github.com/dexplane/dexplane/exporter"
)

// traceSample is a record carrying a whole Pre-allocated Trace, kept for
// the summary.
type traceSample struct {
	domain uint32
	rec    telemetry.Record
}

// writeTraces prints the per-hop path of each sampled trace, in path order
// (the encapsulating node first), with each hop's node id, hop limit,
// interface ids and timestamp when the trace type has them, and the delay
// from the previous hop.
func writeTraces(w io.Writer, traces []traceSample) {
	if len(traces) == 0 {
		return
	}
	fmt.Fprintf(w, "--- traces of %d packet(s)\n", len(traces))
	for _, s := range traces {
		r, t := &s.rec, &s.rec.Trace
		fmt.Fprintf(w, "pto ns %d %s > %s exported by node %d", t.Namespace,
			netip.AddrPortFrom(netip.AddrFrom16(r.Src), r.SrcPort), netip.AddrPortFrom(netip.AddrFrom16(r.Dst), r.DstPort), s.domain)
		if t.Flags&packet.PTOFlagOverflow != 0 {
			fmt.Fprint(w, " (overflow: later nodes are missing)")
		}
		fmt.Fprintln(w, ":")
		var prev int64
		for i, h := range exporter.TraceNodes(t) {
			fmt.Fprintf(w, "  hop %d", i)
			tt := t.TraceType
			if tt&telemetry.TraceHopLimNodeID != 0 {
				fmt.Fprintf(w, " node_id %d", h.NodeID)
			} else if tt&telemetry.TraceHopLimNodeIDWide != 0 {
				fmt.Fprintf(w, " node_id %d", h.NodeIDWide)
			}
			if tt&(telemetry.TraceHopLimNodeID|telemetry.TraceHopLimNodeIDWide) != 0 {
				fmt.Fprintf(w, " hop_limit %d", h.HopLimit)
			}
			if tt&telemetry.TraceIfIDs != 0 {
				fmt.Fprintf(w, " if %d>%d", h.IfIn, h.IfOut)
			}
			if tt&telemetry.TraceTimestampSec != 0 && tt&telemetry.TraceTimestampFrac != 0 && h.TsSec != telemetry.Unavailable32 {
				ts := int64(h.TsSec)*1e9 + int64(h.TsFrac)*1e3
				fmt.Fprintf(w, " at %s", time.Unix(0, ts).UTC().Format("15:04:05.000000"))
				if prev != 0 {
					fmt.Fprintf(w, "  +%v", time.Duration(ts-prev))
				}
				prev = ts
			}
			fmt.Fprintln(w)
		}
	}
}
