// Package metricstest provides fake counter sources for tests of package
// metrics and of the programs that read its output.
package metricstest

import (
	"fmt"

	"github.com/dexplane/dexplane/dataplane"
	"github.com/dexplane/dexplane/dataplane/handle"
	"github.com/dexplane/dexplane/dataplane/node"
	"github.com/dexplane/dexplane/dataplane/policy"
	"github.com/dexplane/dexplane/dataplane/telemetry"
	"github.com/dexplane/dexplane/dataplane/xsk"
	"github.com/dexplane/dexplane/exporter"
	"github.com/dexplane/dexplane/steering"
)

// Engine is a fake metrics.Engine: Counters returns C, Handler returns
// Handlers[i]. Not safe for concurrent modification while read.
type Engine struct {
	C        dataplane.Counters
	Handlers []handle.Handler
}

// Counters returns e.C.
func (e *Engine) Counters() dataplane.Counters { return e.C }

// Workers returns len(e.Handlers).
func (e *Engine) Workers() int { return len(e.Handlers) }

// Handler returns e.Handlers[i], or nil when i is out of range.
func (e *Engine) Handler(i int) handle.Handler {
	if i < 0 || i >= len(e.Handlers) {
		return nil
	}
	return e.Handlers[i]
}

// Worker is a fake per-worker handler carrying role counters and a record
// ring, like *node.Handler.
type Worker struct {
	C node.Counters
	R *telemetry.Ring
}

// Handle forwards every frame.
func (w *Worker) Handle(*handle.Frame) handle.Verdict { return handle.Forward }

// Counters returns &w.C.
func (w *Worker) Counters() *node.Counters { return &w.C }

// Ring returns w.R.
func (w *Worker) Ring() *telemetry.Ring { return w.R }

// NewEngine returns an engine of n workers whose counters all have
// distinct non-zero values derived from the worker and port index (worker
// w, port p: rx frames 1000·(w+1)+100·p+1, rx bytes 64 times that, tx
// frames rx frames minus 1, and so on), and whose workers' rings of 8
// slots hold w+1 records.
func NewEngine(n int) *Engine {
	e := &Engine{}
	e.C.Workers = make([][2]xsk.PortCounts, n)
	for w := range n {
		for p := range 2 {
			pc := &e.C.Workers[w][p]
			base := uint64(1000*(w+1) + 100*p)
			for i := range pc {
				pc[i] = base + uint64(i) + 1
			}
			pc[xsk.CtrRxBytes] = 64 * pc[xsk.CtrRxFrames]
			pc[xsk.CtrTxFrames] = pc[xsk.CtrRxFrames] - 1
			pc[xsk.CtrTxBytes] = 64 * pc[xsk.CtrTxFrames]
			e.C.Ports[p].Worker.Add(pc)
		}
		wk := &Worker{}
		r, err := telemetry.NewRing(8)
		if err != nil {
			panic(fmt.Sprintf("metricstest: %v", err)) // cannot happen: constant size
		}
		for range w + 1 {
			r.TryPush(&telemetry.Record{})
		}
		wk.R = r
		FillNode(&wk.C, uint64(w+1))
		e.Handlers = append(e.Handlers, wk)
	}
	for p := range 2 {
		pc := &e.C.Ports[p]
		pc.RxQueues = 4 + p
		pc.Socket = xsk.Stats{RxDropped: 11, RxInvalidDescs: 12, TxInvalidDescs: 13, RxRingFull: 14, RxFillRingEmpty: 15, TxRingEmptyDescs: 16}
		for r := range steering.NumReasons {
			pc.XDP[r] = steering.Counter{Packets: uint64(10*p) + uint64(r) + 1, Bytes: 100 * (uint64(10*p) + uint64(r) + 1)}
		}
	}
	return e
}

// FillNode sets every counter of c to a distinct value scaled by k: the
// i-th counter of c.Each (1-based) gets i·k, except that DEXInserted is
// the sum of DEXMerged, DEXEncapsulated and 5·k inline insertions.
func FillNode(c *node.Counters, k uint64) {
	i := uint64(0)
	next := func() uint64 { i++; return i * k }
	c.Forwarded.Store(next())
	c.Dropped.Store(next())
	c.NotIPv6.Store(next())
	for m := range c.Malformed {
		c.Malformed[m].Store(next())
	}
	c.NoRoute.Store(next())
	c.NotSampled.Store(next())
	c.DEXMerged.Store(next())
	c.DEXEncapsulated.Store(next())
	c.DEXInserted.Store(c.DEXMerged.Load() + c.DEXEncapsulated.Load() + 5*k)
	c.SkippedMTU.Store(next())
	c.SkippedHbH.Store(next())
	c.SkippedNoRoom.Store(next())
	c.SkippedExport.Store(next())
	c.ForeignDropped.Store(next())
	c.ForeignStripped.Store(next())
	c.ForeignForwarded.Store(next())
	c.DEXSeen.Store(next())
	c.OtherIOAM.Store(next())
	c.IOAMDisabled.Store(next())
	c.UnknownNamespace.Store(next())
	c.DEXRemoved.Store(next())
	c.TunnelsStripped.Store(next())
	c.LeakDropped.Store(next())
	c.PTBSent.Store(next())
	c.PTBRateLimited.Store(next())
	c.RecordsExported.Store(next())
	c.RecordsDropped.Store(next())
	c.FlowsActive.Store(next())
	c.FlowsNew.Store(next())
	c.FlowsEvicted.Store(next())
	c.FlowsExpired.Store(next())
}

// ExporterCounters returns exporter counters with distinct values, one
// UDP collector and one local output.
func ExporterCounters() exporter.Counters {
	return exporter.Counters{
		Offered: 900, Exported: 800, RateLimited: 70, RingFull: 6, CollectorDropped: 5, CollectorBehind: 2,
		EncodeErrors: 4, OutputDropped: 3, RateLimit: 10000,
		Aggregating: true, Aggregated: 990, AggregateRecords: 10, AggregateOverflow: 1, AggregateIntervals: 7, AggregateFlows: 4,
		Collectors: []exporter.CollectorCounters{{
			Address: "[2001:db8::9]:4739", Transport: policy.TransportUDP, Up: true,
			Records: 795, Messages: 40, Octets: 123456, Dropped: 5, Behind: 2, SendErrors: 1, Connects: 1, TLSErrors: 2, Templates: 3,
		}},
		Outputs: []exporter.OutputCounters{{
			Path: "/var/log/dexplane/records.json", Format: policy.OutputJSON, Records: 797, Dropped: 3, Errors: 1,
		}},
	}
}
