package e2e

import (
	"fmt"
	"net/netip"
	"regexp"
	"strconv"
	"testing"
	"time"

	"github.com/dexplane/dexplane/config"
)

// TestAggregateAtNode runs the demo domain with R1, R2 and R3 aggregating
// (export.aggregate.interval 200ms; R4 exports every packet) into one
// collector, with a second route at R1 (host-b's second address
// 2001:db8:1::c) that overrides the node's setting with aggregate.interval
// 0. For the flows to host-b R1..R3 send no per-packet record, one
// aggregate per flow and interval, and their per-flow packet counts and
// sequence ranges equal what R4 reports packet by packet; R1, the
// encapsulating node, keys its aggregates on the route that selected the
// packets (dexRouteIndex 1); R2 and R3 match no route (0). For the flows to
// the second address R1 sends per-packet records (and no aggregate) whose
// figures equal R4's, while R2 and R3 still aggregate them.
func TestAggregateAtNode(t *testing.T) {
	const flows, count = 7, 2100
	second := netip.MustParseAddr("2001:db8:1::c")
	text := runMgmtDomain(t, 1, flows, count, func(n int, cfg *config.Config) {
		if n == 1 || n == 2 || n == 3 {
			cfg.Export.Aggregate = config.Aggregate{Interval: config.Duration(200 * time.Millisecond)}
		}
		if n == 1 {
			r := cfg.Routes[0]
			r.Prefix = netip.PrefixFrom(second, 128)
			r.Aggregate = &config.RouteAggregate{Interval: 0}
			cfg.Routes = append(cfg.Routes, r)
		}
	}, second)[0]
	agg := regexp.MustCompile(`(?m)^flow ns=123 id=0x([0-9a-f]{8}) node (\d+)(?: route (\d+))?: (\d+) aggregate record\(s\) for (\d+) packet\(s\), \d+ octets, seq (\d+)\.\.(\d+), lost (\d+)`)
	// per-packet figures by flow: the summary lists nodes under each flow
	type fig struct{ packets, first, last, lost string }
	pp := map[string]map[string]fig{}
	for _, f := range collectFlows(text) {
		if f.ns != 123 {
			continue
		}
		id := fmt.Sprintf("%08x", f.id)
		pp[id] = map[string]fig{}
		for _, n := range f.nodes {
			pp[id][n.node] = fig{strconv.Itoa(n.received), n.first, n.last, n.lost}
		}
	}
	// R1's per-packet flows are those of the route with interval 0.
	r1PerPacket := map[string]bool{}
	for id, nodes := range pp {
		if f, ok := nodes["1"]; ok {
			r1PerPacket[id] = true
			if ref, ok := nodes["4"]; !ok || f != ref {
				t.Errorf("flow %s: R1 per packet %+v, R4 per packet %+v (present %v)", id, f, ref, ok)
			}
		}
	}
	if len(r1PerPacket) != flows {
		t.Errorf("R1 sent per-packet records for %d flows, want %d (the route with aggregate.interval 0):\n%s", len(r1PerPacket), flows, text)
	}
	aggs := agg.FindAllStringSubmatch(text, -1)
	if len(aggs) < 5*flows {
		t.Fatalf("%d aggregate lines, want ≥ %d (R1 × %d flows of route 1, R2 and R3 × %d flows):\n%s", len(aggs), 5*flows, flows, 2*flows, text)
	}
	var records int
	r1Agg := map[string]bool{}
	for _, a := range aggs {
		id, node, route := a[1], a[2], a[3]
		n, _ := strconv.Atoi(a[4])
		records += n
		if want := map[string]string{"1": "1"}[node]; route != want {
			t.Errorf("flow %s node %s: aggregates of route %q, want %q", id, node, route, want)
		}
		if node == "1" {
			r1Agg[id] = true
			if r1PerPacket[id] {
				t.Errorf("flow %s: R1 sent aggregates and per-packet records", id)
			}
		}
		ref, ok := pp[id]["4"]
		if !ok {
			t.Errorf("flow %s: aggregates of node %s but no per-packet record of R4", id, node)
			continue
		}
		if _, dup := pp[id][node]; dup && node != "1" {
			t.Errorf("flow %s: node %s sent per-packet records although it aggregates", id, node)
		}
		if got := (fig{a[5], a[6], a[7], a[8]}); got != ref {
			t.Errorf("flow %s node %s aggregates %+v, R4 per packet %+v", id, node, got, ref)
		}
	}
	// Route 1 also carries the readiness pings (a flow of their own).
	if len(r1Agg) < flows {
		t.Errorf("R1 aggregated %d flows, want ≥ %d (route 1)", len(r1Agg), flows)
	}
	for id, nodes := range pp {
		if _, ok := nodes["4"]; ok && r1Agg[id] == r1PerPacket[id] {
			t.Errorf("flow %s: R4 saw it but R1 aggregated it %v and sent it per packet %v; want exactly one view", id, r1Agg[id], r1PerPacket[id])
		}
	}
	if records >= 2*count/10*3 {
		t.Errorf("R1..R3 sent %d aggregate records for %d sampled packets each", records, 2*count/10)
	}
	t.Logf("R1..R3: %d aggregate records for %d flows (R1's keyed on route 1); R1 per packet for %d flows of route 2; packets and sequence ranges equal R4's per-packet view",
		records, 2*flows, len(r1PerPacket))
}
