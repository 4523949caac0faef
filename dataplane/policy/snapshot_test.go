package policy

import (
	"errors"
	"net/netip"
	"slices"
	"strings"
	"testing"
)

func testSpec() Spec {
	return Spec{
		Node: Node{ID: 1, IDWide: 1, Address: netip.MustParseAddr("2001:db8:ffff::1")},
		Ports: [2]Port{
			{Name: "west", Domain: Outside, IfID: 11, IfIDWide: 11},
			{Name: "east", Domain: Inside, IOAMEnabled: true, IfID: 12, IfIDWide: 12},
		},
		Namespaces: []Namespace{
			{ID: 123, Data: 0x1234, HasData: true},
			{ID: 7, Schema: &Schema{ID: 5, Data: []byte{1, 2, 3, 4, 5}}},
		},
		Routes: []Route{
			{Prefix: netip.MustParsePrefix("2001:db8:b::/48"), Mode: ModeEncap,
				TunDst: netip.MustParseAddr("2001:db8:ffff::4"), K: 1, N: 10,
				DEX: DEX{Namespace: 123, TraceType: 0xF00000, ExtFlags: 0xC0}},
			{Prefix: netip.MustParsePrefix("2001:db8:c::/48"), Mode: ModeAuto,
				TunDst: netip.MustParseAddr("2001:db8:ffff::4"), K: 1, N: 1,
				DEX: DEX{Namespace: 7, TraceType: 0x800000}},
			{Prefix: netip.MustParsePrefix("2001:db8:d::1/64"), Mode: ModeInline, K: 2, N: 3,
				DEX: DEX{Namespace: 7, TraceType: 0x800002}},
		},
		DecapEndpoints: []netip.Addr{netip.MustParseAddr("2001:db8:ffff::4")},
		Dataplane:      Dataplane{CPUs: []int{0, 1}},
		Options:        Options{MergeHbH: true, StripAtDecap: true},
	}
}

func TestNew(t *testing.T) {
	spec := testSpec()
	s, err := New(spec, nil)
	if err != nil {
		t.Fatal(err)
	}
	if s.Generation != 1 {
		t.Errorf("Generation = %d, want 1", s.Generation)
	}
	r, ok := s.Routes.LookupAddr(netip.MustParseAddr("2001:db8:c::5"))
	if !ok {
		t.Fatal("no route for 2001:db8:c::5")
	}
	if r.ID != 1 || r.Mode != ModeEncap || r.ConfiguredMode != ModeAuto {
		t.Errorf("auto route: ID %d Mode %v ConfiguredMode %v, want 1 encap auto", r.ID, r.Mode, r.ConfiguredMode)
	}
	if r.TunSrc != spec.Node.Address {
		t.Errorf("TunSrc = %v, want the node address %v", r.TunSrc, spec.Node.Address)
	}
	r, _ = s.Routes.LookupAddr(netip.MustParseAddr("2001:db8:d::99"))
	if r.Prefix != netip.MustParsePrefix("2001:db8:d::/64") || r.Sampler.K() != 2 || r.Sampler.N() != 3 {
		t.Errorf("inline route = %+v", r)
	}
	ns, ok := s.Namespaces.Lookup(7)
	if !ok || ns.Data != 0xFFFFFFFF || ns.DataWide != ^uint64(0) || len(ns.Schema.Data) != 8 {
		t.Errorf("namespace 7 = %+v (schema %+v)", ns, ns.Schema)
	}
	if _, ok := s.Namespaces.Lookup(8); ok {
		t.Error("namespace 8 found")
	}
	if !s.DecapEndpoints.Contains(netip.MustParseAddr("2001:db8:ffff::4").As16()) ||
		s.DecapEndpoints.Contains(netip.MustParseAddr("2001:db8:ffff::5").As16()) {
		t.Error("DecapEndpoints membership wrong")
	}
	// The snapshot must not share mutable memory with the spec.
	spec.Namespaces[1].Schema.Data[0] = 9
	spec.Dataplane.CPUs[0] = 9
	spec.Routes[0].K = 5
	if ns.Schema.Data[0] != 1 || s.Dataplane.CPUs[0] != 0 || s.Routes.Routes()[0].K != 1 {
		t.Error("snapshot aliases its spec")
	}
}

func TestNewCarriesSamplers(t *testing.T) {
	old, err := New(testSpec(), nil)
	if err != nil {
		t.Fatal(err)
	}
	for range 7 {
		old.Routes.Routes()[0].Sampler.Sample() // packets 0..6 of a 1/10 cycle
	}
	spec := testSpec()
	spec.Routes[0].K, spec.Routes[0].N = 2, 10                       // same prefix, new frequency
	spec.Routes[1].Prefix = netip.MustParsePrefix("2001:db8:e::/48") // replaced route
	s, err := New(spec, old)
	if err != nil {
		t.Fatal(err)
	}
	if s.Generation != 2 {
		t.Errorf("Generation = %d, want 2", s.Generation)
	}
	kept := s.Routes.Routes()[0].Sampler
	if kept.Count() != 7 || kept.K() != 2 {
		t.Errorf("carried sampler: Count %d K %d, want 7 and 2", kept.Count(), kept.K())
	}
	if old.Routes.Routes()[0].Sampler.K() != 1 {
		t.Error("reload changed the old snapshot's sampler")
	}
	if got := s.Routes.Routes()[1].Sampler.Count(); got != 0 {
		t.Errorf("new route's sampler Count = %d, want 0", got)
	}
	// 7, 8, 9 are outside the first 2 of the block; 10, 11 start the next.
	var got []bool
	for range 5 {
		got = append(got, kept.Sample())
	}
	if want := []bool{false, false, false, true, true}; !slices.Equal(got, want) {
		t.Errorf("selection after reload = %v, want %v", got, want)
	}
}

func TestNewErrors(t *testing.T) {
	tests := []struct {
		name   string
		mutate func(*Spec)
		is     error
		text   string
	}{
		{"node id", func(s *Spec) { s.Node.ID = 1 << 24 }, ErrNode, "id 0x1000000 exceeds 24 bits"},
		{"node id wide", func(s *Spec) { s.Node.IDWide = 1 << 56 }, ErrNode, "exceeds 56 bits"},
		{"port name", func(s *Spec) { s.Ports[1].Name = "west" }, ErrPort, `both ports are named "west"`},
		{"empty port", func(s *Spec) { s.Ports[0].Name = "" }, ErrPort, "port 0 has no name"},
		{"dup namespace", func(s *Spec) { s.Namespaces[1].ID = 123 }, ErrNamespace, "namespace 123 configured twice"},
		{"unknown namespace", func(s *Spec) { s.Routes[0].DEX.Namespace = 9 }, ErrNamespace, "namespace 9 is not configured"},
		{"schema too long", func(s *Spec) { s.Namespaces[1].Schema.Data = make([]byte, 1021) }, ErrNamespace, "1021 octets exceeds 1020"},
		{"k > n", func(s *Spec) { s.Routes[0].K = 11 }, ErrFreq, "11/10"},
		{"trace 0", func(s *Spec) { s.Routes[0].DEX.TraceType = 0 }, ErrTraceType, "no bit set"},
		{"trace bit 7", func(s *Spec) { s.Routes[0].DEX.TraceType = 0x810000 }, ErrTraceType, "bit 7"},
		{"trace bit 12", func(s *Spec) { s.Routes[0].DEX.TraceType = 0x800800 }, ErrTraceType, "bits 12-21"},
		{"trace bit 23", func(s *Spec) { s.Routes[0].DEX.TraceType = 0x800001 }, ErrTraceType, "bit 23"},
		{"inline tunsrc", func(s *Spec) { s.Routes[2].TunSrc = netip.MustParseAddr("2001:db8::1") }, ErrTunnel, "inline mode takes neither"},
		{"encap no tundst", func(s *Spec) { s.Routes[0].TunDst = netip.Addr{} }, ErrTunnel, "needs a unicast IPv6 tundst"},
		{"encap no tunsrc", func(s *Spec) { s.Node.Address = netip.Addr{} }, ErrTunnel, "needs tunsrc or the node address"},
		{"ipv4 prefix", func(s *Spec) { s.Routes[0].Prefix = netip.MustParsePrefix("192.0.2.0/24") }, ErrPrefix, "not an IPv6 prefix"},
		{"dup prefix", func(s *Spec) { s.Routes[1].Prefix = netip.MustParsePrefix("2001:db8:b::1/48") }, ErrPrefix, "duplicates route 0"},
		{"bad mode", func(s *Spec) { s.Routes[0].Mode = 0 }, ErrTunnel, "unknown mode 0"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			spec := testSpec()
			tc.mutate(&spec)
			s, err := New(spec, nil)
			if s != nil || !errors.Is(err, tc.is) || !strings.Contains(err.Error(), tc.text) {
				t.Errorf("New = %v, %v; want errors.Is %v containing %q", s, err, tc.is, tc.text)
			}
		})
	}
}

func TestNamespaceLookupAllocs(t *testing.T) {
	s, err := New(testSpec(), nil)
	if err != nil {
		t.Fatal(err)
	}
	if n := testing.AllocsPerRun(1000, func() { s.Namespaces.Lookup(123) }); n != 0 {
		t.Errorf("Namespaces.Lookup allocates %v times", n)
	}
	a := netip.MustParseAddr("2001:db8:ffff::4").As16()
	if n := testing.AllocsPerRun(1000, func() { s.DecapEndpoints.Contains(a) }); n != 0 {
		t.Errorf("DecapEndpoints.Contains allocates %v times", n)
	}
}

func TestRestartRequired(t *testing.T) {
	a, _ := New(testSpec(), nil)
	spec := testSpec()
	spec.Routes = spec.Routes[:1]
	spec.Options.MergeHbH = false
	b, _ := New(spec, a)
	if d := RestartRequired(a, b); len(d) != 0 {
		t.Errorf("route and option changes need a restart? %v", d)
	}
	spec.Ports[1].Name = "east2"
	spec.Dataplane.Queues = 4
	spec.Dataplane.CPUs = []int{3}
	c, _ := New(spec, b)
	d := RestartRequired(b, c)
	if len(d) != 3 || !strings.Contains(d[0], `ports[1].name "east" -> "east2"`) ||
		!strings.Contains(d[1], "dataplane.cpus [0 1] -> [3]") || !strings.Contains(d[2], "Queues:4") {
		t.Errorf("RestartRequired = %q", d)
	}
	if RestartRequired(nil, c) != nil {
		t.Error("nil old snapshot reported differences")
	}
}
