package exporter_test

import (
	"bufio"
	"encoding/json"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/dexplane/dexplane/dataplane/policy"
	"github.com/dexplane/dexplane/dataplane/telemetry"
	"github.com/dexplane/dexplane/exporter"
)

// TestAggregatePerRoute runs an exporter whose node aggregates (1h, so
// only the final flush exports) with per-route overrides: route 1
// inherits, route 2 exports per packet, route 3 aggregates at its own
// interval (2h: a second aggregator); route 0 (no route: transit) and
// route 9 (beyond the configured overrides) use the node's setting. Every
// record must come out exactly once, in the view its route asks for.
func TestAggregatePerRoute(t *testing.T) {
	js := filepath.Join(t.TempDir(), "dex.json")
	q, _ := telemetry.NewRing(256)
	x, err := exporter.New(exporter.Options{Export: policy.Export{
		RateLimit: policy.RateLimit{RecordsPerSecond: 1e6, Burst: 1e6},
		Outputs:   []policy.LocalOutput{{Format: policy.OutputJSON, Path: js}},
		Aggregate: policy.Aggregate{Interval: time.Hour, Routes: []policy.RouteAggregate{
			{}, {Override: true, Interval: 0}, {Override: true, Interval: 2 * time.Hour}}},
	}}, []*telemetry.Ring{q})
	if err != nil {
		t.Fatal(err)
	}
	stop := start(t, x)
	sent := map[uint16]int{0: 5, 1: 10, 2: 7, 3: 4, 9: 3}
	for route, n := range sent {
		for i := range n {
			r := rec(uint32(i))
			r.Route, r.FlowID = route, 0x1000+uint32(route)
			for !q.TryPush(&r) {
				time.Sleep(50 * time.Microsecond)
			}
		}
	}
	stop()

	f, err := os.Open(js)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	aggPackets, perPacket := map[uint16]int{}, map[uint16]int{}
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		var m map[string]any
		if err := json.Unmarshal(sc.Bytes(), &m); err != nil {
			t.Fatalf("not JSON: %v: %s", err, sc.Bytes())
		}
		if m["aggregate"] == true {
			route := uint16(m["route"].(float64))
			if m["flow_id"] != float64(0x1000+int(route)) {
				t.Errorf("aggregate of route %d has flow %v", route, m["flow_id"])
			}
			aggPackets[route] += int(m["packets"].(float64))
			continue
		}
		perPacket[uint16(m["flow_id"].(float64)-0x1000)]++
	}
	wantAgg := map[uint16]int{0: 5, 1: 10, 3: 4, 9: 3}
	wantPer := map[uint16]int{2: 7}
	for _, c := range []struct {
		what      string
		got, want map[uint16]int
	}{{"aggregated packets", aggPackets, wantAgg}, {"per-packet records", perPacket, wantPer}} {
		if len(c.got) != len(c.want) {
			t.Errorf("%s by route: %v, want %v", c.what, c.got, c.want)
			continue
		}
		for k, v := range c.want {
			if c.got[k] != v {
				t.Errorf("%s by route: %v, want %v", c.what, c.got, c.want)
				break
			}
		}
	}
	ctr := x.Counters()
	if !ctr.Aggregating || ctr.Aggregated != 22 || ctr.Offered != 29 || ctr.AggregateRecords != 4 {
		t.Errorf("counters: aggregating %v, aggregated %d (want 22), offered %d (want 29), aggregate records %d (want 4)",
			ctr.Aggregating, ctr.Aggregated, ctr.Offered, ctr.AggregateRecords)
	}
}

// TestAggregateRouteOnly: a node that exports per packet but one route
// that aggregates still aggregates that route.
func TestAggregateRouteOnly(t *testing.T) {
	q, _ := telemetry.NewRing(64)
	x, err := exporter.New(exporter.Options{Export: policy.Export{
		RateLimit: policy.RateLimit{RecordsPerSecond: 1e6, Burst: 1e6},
		Outputs:   []policy.LocalOutput{{Format: policy.OutputJSON, Path: filepath.Join(t.TempDir(), "x.json")}},
		Aggregate: policy.Aggregate{Routes: []policy.RouteAggregate{{Override: true, Interval: time.Hour}}},
	}}, []*telemetry.Ring{q})
	if err != nil {
		t.Fatal(err)
	}
	stop := start(t, x)
	for i, route := range []uint16{1, 1, 1, 0, 2} {
		r := rec(uint32(i))
		r.Route = route
		for !q.TryPush(&r) {
			time.Sleep(50 * time.Microsecond)
		}
	}
	stop()
	c := x.Counters()
	if !c.Aggregating || c.Aggregated != 3 || c.AggregateRecords != 1 || c.Outputs[0].Records != 3 {
		t.Fatalf("aggregating %v, aggregated %d (want 3), aggregate records %d (want 1), output records %d (want 2 per packet + 1 aggregate)",
			c.Aggregating, c.Aggregated, c.AggregateRecords, c.Outputs[0].Records)
	}
}
