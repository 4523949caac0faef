package config

import (
	"strings"
	"testing"
	"time"

	"github.com/dexplane/dexplane/dataplane/policy"
)

func TestExportAggregateAndPartition(t *testing.T) {
	c, err := Parse("t.yaml", []byte(base+"export: {aggregate: {interval: 1s, max_flows: 1000}, partition: flow}\n"))
	if err != nil {
		t.Fatal(err)
	}
	s, err := c.Compile(nil)
	if err != nil {
		t.Fatal(err)
	}
	if s.Export.Aggregate.Interval != time.Second || s.Export.Aggregate.MaxFlows != 1000 || s.Export.Partition != policy.PartitionFlow {
		t.Fatalf("export %+v", s.Export)
	}
	c, err = Parse("t.yaml", []byte(base))
	if err != nil {
		t.Fatal(err)
	}
	if s, _ := c.Compile(nil); s.Export.Aggregate.Interval != 0 || s.Export.Partition != policy.PartitionNone {
		t.Fatalf("defaults %+v", s.Export)
	}
	for _, tc := range []struct{ yaml, want string }{
		{"export: {aggregate: {interval: 10ms}}\n", "t.yaml:14:32: export.aggregate.interval: 10ms: out of range (0 for per-packet export, or 100ms to 1h)"},
		{"export: {aggregate: {interval: 2h}}\n", "t.yaml:14:32: export.aggregate.interval: 2h: out of range"},
		{"export: {partition: tuple}\n", `t.yaml:14:21: export.partition: "tuple": must be one of none, flow`},
	} {
		_, err := Parse("t.yaml", []byte(base+tc.yaml))
		if err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%q: error %v, want %q", tc.yaml, err, tc.want)
		}
	}
}

// routesAgg is a configuration whose node aggregates every 1s and whose
// routes[0] (line 10) exports per packet, routes[1] inherits the node's
// interval, routes[2] (mixed form, line 16) aggregates every 5s.
const routesAgg = `node: {address: 2001:db8::1}
ports:
  - {name: west, domain: outside}
  - {name: east, domain: inside}
namespaces: [{id: 123}]
routes:
  - prefix: 2001:db8:1::/48
    mode: encap
    tundst: 2001:db8::4
    aggregate: {interval: 0}
    dex: {ns: 123, trace_type: 0x800000, ext_flags: 0xc0}
  - prefix: 2001:db8:2::/48
    dex: {ns: 123, trace_type: 0x800000}
  - prefix: 2001:db8:3::/48
    encap: "encap ioam6 mode encap tundst 2001:db8::4 dex ns 123 trace-type 0x800000 ext-flags 0"
    aggregate: {interval: 5s}
export: {aggregate: {interval: 1s}}
`

func TestRouteAggregate(t *testing.T) {
	c, err := Parse("r.yaml", []byte(routesAgg))
	if err != nil {
		t.Fatal(err)
	}
	s, err := c.Compile(nil)
	if err != nil {
		t.Fatal(err)
	}
	a := s.Export.Aggregate
	want := []policy.RouteAggregate{{Override: true, Interval: 0}, {}, {Override: true, Interval: 5 * time.Second}}
	if a.Interval != time.Second || len(a.Routes) != len(want) {
		t.Fatalf("aggregate %+v", a)
	}
	for i, w := range want {
		if a.Routes[i] != w {
			t.Errorf("routes[%d]: %+v, want %+v", i, a.Routes[i], w)
		}
	}
	for route, iv := range map[uint16]time.Duration{0: time.Second, 1: 0, 2: time.Second, 3: 5 * time.Second, 4: time.Second} {
		if got := a.IntervalFor(route); got != iv {
			t.Errorf("IntervalFor(%d) = %v, want %v", route, got, iv)
		}
	}
	// Marshalled and parsed again, the overrides survive.
	c2, out := normalise(t, "m.yaml", c)
	if s2, _ := c2.Compile(nil); len(s2.Export.Aggregate.Routes) != 3 || s2.Export.Aggregate.Routes[2] != want[2] || s2.Export.Aggregate.Routes[0] != want[0] {
		t.Fatalf("after marshal: %+v\n%s", s2.Export.Aggregate, out)
	}

	// Routes without the key leave Routes empty: every route inherits.
	c, _ = Parse("r.yaml", []byte(base))
	if s, _ := c.Compile(nil); s.Export.Aggregate.Routes != nil {
		t.Fatalf("no overrides: %+v", s.Export.Aggregate.Routes)
	}

	for _, tc := range []struct{ old, new, want string }{
		{"aggregate: {interval: 0}", "aggregate: {interval: 10ms}",
			"r.yaml:10:27: routes[0].aggregate.interval: 10ms: out of range (0 for per-packet export, or 100ms to 1h)"},
		{"aggregate: {interval: 0}", "aggregate: {interval: soon}",
			`r.yaml:10:27: routes[0].aggregate.interval: "soon": must be a duration`},
		{"aggregate: {interval: 0}", "aggregate: {}",
			"r.yaml:10:16: routes[0].aggregate: missing required key \"interval\""},
		{"aggregate: {interval: 0}", "aggregate: {interval: 0, max_flows: 3}",
			"r.yaml:10:30: routes[0].aggregate.max_flows: unknown key (valid: interval)"},
		{"aggregate: {interval: 0}", "aggregate: 1s",
			"r.yaml:10:16: routes[0].aggregate: must be a mapping, got"},
		{"aggregate: {interval: 5s}", "aggregate: {interval: 2h}",
			"r.yaml:16:27: routes[2].aggregate.interval: 2h: out of range"},
		{"    dex: {ns: 123, trace_type: 0x800000}\n", "    trace: {type: 0x800000, ns: 123, size: 12}\n    aggregate: {interval: 1s}\n",
			"r.yaml:14:16: routes[1].aggregate: a trace-only route exports no DEX records to aggregate"},
	} {
		y := strings.Replace(routesAgg, tc.old, tc.new, 1)
		if y == routesAgg {
			t.Fatalf("%q not in the configuration", tc.old)
		}
		_, err := Parse("r.yaml", []byte(y))
		if err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%q: error %v, want %q", tc.new, err, tc.want)
		}
	}
}
