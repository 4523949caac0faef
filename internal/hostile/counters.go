package hostile

import (
	"fmt"
	"slices"
	"strings"

	"github.com/dexplane/dexplane/dataplane/node"
)

// Counter is a node counter a row expects to move. The constants are the
// counters the table uses; Malformed gives one per parse failure reason.
// String returns the name node.Counters.Each reports, and TestTable checks
// every Counter against those names, so a row cannot name a counter the
// node does not have.
type Counter uint8

// Counters of the table (node.Counters fields, Each names in comments).
const (
	CtrForwarded            Counter = iota // forwarded
	CtrDropped                             // dropped
	CtrNotIPv6                             // not_ipv6
	CtrNoRoute                             // no_route
	CtrDEXInserted                         // dex_inserted
	CtrDEXMerged                           // dex_merged
	CtrSkippedMTU                          // skipped_mtu
	CtrSkippedHbH                          // skipped_hbh
	CtrSkippedExport                       // skipped_export
	CtrForeignDropped                      // foreign_dropped
	CtrForeignStripped                     // foreign_stripped
	CtrForeignForwarded                    // foreign_forwarded
	CtrOtherIOAM                           // other_ioam
	CtrIOAMDisabled                        // ioam_disabled
	CtrUnknownNamespace                    // unknown_namespace
	CtrDEXRemoved                          // dex_removed
	CtrTunnelsStripped                     // tunnels_stripped
	CtrLeakDropped                         // leak_dropped
	CtrRecordsExported                     // records_exported
	CtrTraceFilled                         // trace_filled (first trace counter)
	CtrTraceSkippedOverflow                // trace_skipped_overflow
	CtrTraceMalformed                      // trace_malformed
	CtrTraceIOAMDisabled                   // trace_ioam_disabled
	CtrTraceExported                       // trace_exported (last trace counter)

	// ctrMalformed is the first of node.NumMalformed counters
	// malformed_<reason>, in node.Malformed order (see Malformed).
	ctrMalformed
)

var counterNames = [ctrMalformed]string{
	"forwarded", "dropped", "not_ipv6", "no_route", "dex_inserted", "dex_merged",
	"skipped_mtu", "skipped_hbh", "skipped_export", "foreign_dropped", "foreign_stripped",
	"foreign_forwarded", "other_ioam", "ioam_disabled", "unknown_namespace", "dex_removed",
	"tunnels_stripped", "leak_dropped", "records_exported", "trace_filled",
	"trace_skipped_overflow", "trace_malformed", "trace_ioam_disabled", "trace_exported",
}

// numCounters is the number of Counter values.
const numCounters = int(ctrMalformed) + int(node.NumMalformed)

// Malformed returns the counter malformed_<r> of parse failure reason r.
func Malformed(r node.Malformed) Counter { return ctrMalformed + Counter(r) }

// String returns the counter's node.Counters.Each name.
func (c Counter) String() string {
	switch {
	case c < ctrMalformed:
		return counterNames[c]
	case int(c) < numCounters:
		return "malformed_" + node.Malformed(c-ctrMalformed).String()
	}
	return fmt.Sprintf("Counter(%d)", uint8(c))
}

// IsTrace reports whether c counts Pre-allocated Trace handling (trace_*).
func (c Counter) IsTrace() bool { return c >= CtrTraceFilled && c <= CtrTraceExported }

// IsMalformed reports whether c is a malformed_<reason> counter.
func (c Counter) IsMalformed() bool { return c >= ctrMalformed && int(c) < numCounters }

// Count is a counter and the amount it must move by.
type Count struct {
	Counter Counter
	N       uint64
}

// Counts is the list of counters a row expects to move, in table order.
type Counts []Count

// String writes the list as the Markdown table does: "a,b=2" (amounts of 1
// left out).
func (cs Counts) String() string {
	var b strings.Builder
	for i, c := range cs {
		if i > 0 {
			b.WriteByte(',')
		}
		b.WriteString(c.Counter.String())
		if c.N != 1 {
			fmt.Fprintf(&b, "=%d", c.N)
		}
	}
	return b.String()
}

// Deltas returns the list by counter name, as CheckCounters compares it
// with the node's counters.
func (cs Counts) Deltas() map[string]uint64 {
	m := make(map[string]uint64, len(cs))
	for _, c := range cs {
		m[c.Counter.String()] = c.N
	}
	return m
}

// Is reports whether the list is exactly counter c, moved by one.
func (cs Counts) Is(c Counter) bool { return len(cs) == 1 && cs[0] == Count{c, 1} }

// counts returns cs, each to move by one.
func counts(cs ...Counter) Counts {
	l := make(Counts, len(cs))
	for i, c := range cs {
		l[i] = Count{c, 1}
	}
	return l
}

// times returns e with counter c expected to move by n instead of one. A
// counter e does not list is a mistake in the table: times panics.
func (e Expect) times(c Counter, n uint64) Expect {
	l := slices.Clone(e.Counters)
	i := slices.IndexFunc(l, func(x Count) bool { return x.Counter == c })
	if i < 0 {
		panic(fmt.Sprintf("hostile: times(%v): not in %v", c, e.Counters))
	}
	l[i].N = n
	e.Counters = l
	return e
}

// CounterNames returns the names node.Counters.Each reports.
func CounterNames() map[string]bool {
	m := map[string]bool{}
	var c node.Counters
	c.Each(func(name string, _ uint64) { m[name] = true })
	return m
}
