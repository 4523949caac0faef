package config

import (
	"net/netip"
	"testing"
	"time"

	"github.com/dexplane/dexplane/dataplane/policy"
)

// compileExample compiles the shipped example config/examples/name.yaml.
func compileExample(t *testing.T, name string) *policy.Snapshot {
	t.Helper()
	c, err := Example(name)
	if err != nil {
		t.Fatal(err)
	}
	s, err := c.Compile(nil)
	if err != nil {
		t.Fatalf("%s: %v", name, err)
	}
	return s
}

// TestCompileEncapEdge checks that every section reaches the snapshot.
func TestCompileEncapEdge(t *testing.T) {
	s := compileExample(t, "encap-edge")
	if s.Node != (policy.Node{ID: 0x101, IDWide: 0x101, Address: netip.MustParseAddr("2001:db8:ffff::101")}) {
		t.Errorf("Node = %+v", s.Node)
	}
	wantPorts := [2]policy.Port{
		{Name: "ens1f0", Domain: policy.Outside, IfID: 1, IfIDWide: 0xFFFFFFFF, ForeignIOAM: policy.ForeignDrop},
		{Name: "ens1f1", Domain: policy.Inside, IOAMEnabled: true, IfID: 2, IfIDWide: 2, MTU: 9000, ForeignIOAM: policy.ForeignDrop},
	}
	if s.Ports != wantPorts {
		t.Errorf("Ports = %+v, want %+v", s.Ports, wantPorts)
	}
	ns, ok := s.Namespaces.Lookup(123)
	if !ok || ns.Data != 0x1234 || ns.DataWide != 0x12345678 || !ns.HasData || !ns.HasDataWide {
		t.Errorf("namespace 123 = %+v", ns)
	}
	if s.Routes.Len() != 3 {
		t.Fatalf("%d routes, want 3", s.Routes.Len())
	}
	r, ok := s.Routes.LookupAddr(netip.MustParseAddr("2001:db8:300::1"))
	if !ok || r.Mode != policy.ModeEncap || r.ConfiguredMode != policy.ModeAuto || r.TunSrc != s.Node.Address ||
		r.DEX != (policy.DEX{Namespace: 123, TraceType: 0xC00000}) || r.K != 1 || r.N != 1 {
		t.Errorf("auto route = %+v", r)
	}
	r, _ = s.Routes.LookupAddr(netip.MustParseAddr("2001:db8:200::1"))
	if r.K != 1 || r.N != 1000 || r.DEX.ExtFlags != 0x80 || r.TunDst != netip.MustParseAddr("2001:db8:ffff::202") {
		t.Errorf("iproute2 route = %+v", r)
	}
	if s.Flows != (policy.Flows{IdleTimeout: 30 * time.Second, MaxFlows: 65536, FlowID: policy.FlowIDHash, FlowIDSeed: 0x5eed}) {
		t.Errorf("Flows = %+v", s.Flows)
	}
	e := s.Export
	if len(e.Collectors) != 1 || e.Collectors[0] != (policy.Collector{Transport: policy.TransportUDP,
		Address: "[2001:db8:ffff::900]:4739", ObservationDomainID: 101, TemplateRefresh: time.Minute}) {
		t.Errorf("Collectors = %+v", e.Collectors)
	}
	if e.RateLimit != (policy.RateLimit{RecordsPerSecond: 20000, CapacityFraction: 0.001}) || len(e.Outputs) != 0 {
		t.Errorf("RateLimit = %+v, Outputs = %+v", e.RateLimit, e.Outputs)
	}
	dp := s.Dataplane
	if dp.Queues != 2 || dp.AttachMode != policy.AttachNative || dp.Steer != policy.SteerAll ||
		len(dp.CPUs) != 2 || dp.CPUs[0] != 2 || dp.CPUs[1] != 3 || dp.MetricsAddress != "[::1]:9102" ||
		dp.RxRingSize != 2048 || dp.UmemFrames != 8192 || dp.FrameSize != 2048 || dp.BatchSize != 64 {
		t.Errorf("Dataplane = %+v", dp)
	}
	if s.Options != (policy.Options{MergeHbH: true, StripAtDecap: true}) {
		t.Errorf("Options = %+v", s.Options)
	}
}

func TestCompileDecapAndTransit(t *testing.T) {
	s := compileExample(t, "decap-edge")
	if !s.DecapEndpoints.Contains(netip.MustParseAddr("2001:db8:ffff::201").As16()) {
		t.Error("decap endpoint missing")
	}
	ns, _ := s.Namespaces.Lookup(123)
	if ns.Schema == nil || ns.Schema.ID != 0x777 || string(ns.Schema.Data) != "\xde\xad\xbe\xef" || ns.HasData {
		t.Errorf("namespace 123 = %+v", ns)
	}
	if s.Ports[1].ForeignIOAM != policy.ForeignStrip || s.Ports[1].IOAMEnabled {
		t.Errorf("outside port = %+v", s.Ports[1])
	}
	if s.Export.Collectors[0].Transport != policy.TransportTCP {
		t.Errorf("collector = %+v", s.Export.Collectors[0])
	}

	s = compileExample(t, "transit")
	if s.Routes.Len() != 0 || !s.Ports[0].IOAMEnabled || !s.Ports[1].IOAMEnabled {
		t.Errorf("transit: %d routes, ports %+v", s.Routes.Len(), s.Ports)
	}
	if o := s.Export.Outputs; len(o) != 1 || o[0] != (policy.LocalOutput{Format: policy.OutputJSON, Path: "/var/log/dexplane/records.json"}) {
		t.Errorf("outputs = %+v", o)
	}
}

// TestSpecRejectsForeignConfig checks that a hand-built Config that skipped
// Parse cannot compile into something invalid.
func TestSpecRejectsForeignConfig(t *testing.T) {
	c, _ := Example("demo-r1")
	bad := *c
	bad.Ports = []Port{c.Ports[0], c.Ports[1]}
	bad.Ports[0].Domain = "sideways"
	if _, err := bad.Compile(nil); err == nil || err.Error() != `config: compile: ports[0].domain: "sideways": must be one of inside, outside` {
		t.Errorf("Compile = %v", err)
	}
	bad = *c
	bad.Routes = []Route{c.Routes[0], c.Routes[0]}
	if _, err := bad.Compile(nil); err == nil {
		t.Error("duplicate routes compiled")
	}
	bad = *c
	bad.Ports = c.Ports[:1]
	if _, err := bad.Compile(nil); err == nil {
		t.Error("one port compiled")
	}
}
