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
