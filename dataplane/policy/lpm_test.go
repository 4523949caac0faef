package policy

import (
	"math/rand/v2"
	"net/netip"
	"testing"
)

func mustPrefix(t testing.TB, s string) netip.Prefix {
	t.Helper()
	p, err := netip.ParsePrefix(s)
	if err != nil {
		t.Fatal(err)
	}
	return p.Masked()
}

func tableOf(t testing.TB, prefixes ...string) *RouteTable {
	t.Helper()
	routes := make([]Route, len(prefixes))
	for i, s := range prefixes {
		routes[i] = Route{ID: i, Prefix: mustPrefix(t, s)}
	}
	return newRouteTable(routes)
}

// naiveLookup is the reference: scan every route, keep the longest match.
func naiveLookup(routes []Route, a netip.Addr) int {
	best, bestBits := -1, -1
	for i, r := range routes {
		if r.Prefix.Contains(a) && r.Prefix.Bits() > bestBits {
			best, bestBits = i, r.Prefix.Bits()
		}
	}
	return best
}

func TestRouteTableLookup(t *testing.T) {
	tab := tableOf(t,
		"2001:db8::/32",
		"2001:db8:1::/48",
		"2001:db8:1:2::/64",
		"2001:db8:1:2::7/128",
		"2001:db8:8000::/33",
		"2001:db8:ff00::/40",
		"2001:db8:fe00::/39",
		"::/0",
		"2001:db8:1:2:0:0:0:80/121",
		"2001:db8:1:3::/63",
	)
	tests := []struct {
		addr string
		want string // prefix, or "" for no match
	}{
		{"2001:db8::1", "2001:db8::/32"},
		{"2001:db8:1::1", "2001:db8:1::/48"},
		{"2001:db8:1:2::1", "2001:db8:1:2::/64"},
		{"2001:db8:1:2::7", "2001:db8:1:2::7/128"},
		{"2001:db8:1:2::6", "2001:db8:1:2::/64"},
		{"2001:db8:1:2::80", "2001:db8:1:2::80/121"},
		{"2001:db8:1:2::ff", "2001:db8:1:2::80/121"},
		{"2001:db8:1:2::100", "2001:db8:1:2::/64"},
		{"2001:db8:1:3:ffff::", "2001:db8:1:2::/63"},
		{"2001:db8:ff12::", "2001:db8:ff00::/40"},
		{"2001:db8:fe12::", "2001:db8:fe00::/39"},
		{"2001:db8:ffff::", "2001:db8:ff00::/40"},
		{"2001:db8:8000::1", "2001:db8:8000::/33"},
		{"2001:db9::", "::/0"},
		{"::", "::/0"},
	}
	for _, tc := range tests {
		r, ok := tab.Lookup(netip.MustParseAddr(tc.addr).As16())
		if !ok {
			t.Errorf("Lookup(%s) missed, want %s", tc.addr, tc.want)
			continue
		}
		if got := r.Prefix; got != mustPrefix(t, tc.want) {
			t.Errorf("Lookup(%s) = %s, want %s", tc.addr, got, tc.want)
		}
	}
}

func TestRouteTableEmpty(t *testing.T) {
	var zero RouteTable
	if _, ok := zero.Lookup([16]byte{}); ok {
		t.Error("zero RouteTable matched")
	}
	tab := tableOf(t)
	if _, ok := tab.Lookup([16]byte{0x20, 0x01}); ok {
		t.Error("empty RouteTable matched")
	}
	tab = tableOf(t, "2001:db8::/32")
	if _, ok := tab.LookupAddr(netip.MustParseAddr("2001:db9::1")); ok {
		t.Error("non-covered address matched")
	}
	if _, ok := tab.LookupAddr(netip.MustParseAddr("192.0.2.1")); ok {
		t.Error("IPv4 address matched")
	}
}

// randomRoutes returns n distinct prefixes: mostly /48../64 inside
// 2001:db8::/32 with some shorter, some /128 and some anywhere.
func randomRoutes(rng *rand.Rand, n int) []Route {
	seen := map[netip.Prefix]bool{}
	routes := make([]Route, 0, n)
	for len(routes) < n {
		var a [16]byte
		for i := range a {
			a[i] = byte(rng.Uint32())
		}
		var bits int
		switch x := rng.IntN(10); {
		case x < 6:
			a[0], a[1], a[2], a[3] = 0x20, 0x01, 0x0d, 0xb8
			bits = 48 + rng.IntN(17)
		case x < 8:
			a[0], a[1], a[2], a[3] = 0x20, 0x01, 0x0d, 0xb8
			bits = 128
		case x == 8:
			// A dense nest of long prefixes under one /64.
			copy(a[:8], []byte{0x20, 0x01, 0x0d, 0xb8, 0xaa, 0xaa, 0xbb, 0xbb})
			a[8], a[9], a[10], a[11] = 0, 0, 0, 0
			bits = 64 + rng.IntN(65)
		default:
			bits = rng.IntN(129)
		}
		p := netip.PrefixFrom(netip.AddrFrom16(a), bits).Masked()
		if seen[p] {
			continue
		}
		seen[p] = true
		routes = append(routes, Route{ID: len(routes), Prefix: p})
	}
	return routes
}

// probe returns an address inside a random route (randomising the host
// bits), or a fully random one.
func probe(rng *rand.Rand, routes []Route) netip.Addr {
	var a [16]byte
	for i := range a {
		a[i] = byte(rng.Uint32())
	}
	if rng.IntN(4) == 0 || len(routes) == 0 {
		return netip.AddrFrom16(a)
	}
	p := routes[rng.IntN(len(routes))].Prefix
	base := p.Addr().As16()
	for i := range a {
		keep := p.Bits() - 8*i
		switch {
		case keep >= 8:
			a[i] = base[i]
		case keep > 0:
			m := byte(0xff << (8 - keep))
			a[i] = base[i]&m | a[i]&^m
		}
	}
	return netip.AddrFrom16(a)
}

func TestRouteTableMatchesNaive(t *testing.T) {
	rng := rand.New(rand.NewPCG(1, 2))
	for _, n := range []int{1, 2, 17, 300, 2000} {
		routes := randomRoutes(rng, n)
		tab := newRouteTable(append([]Route(nil), routes...))
		for range 5000 {
			a := probe(rng, routes)
			want := naiveLookup(routes, a)
			r, ok := tab.Lookup(a.As16())
			got := -1
			if ok {
				got = r.ID
			}
			if got != want {
				t.Fatalf("n=%d: Lookup(%s) = route %d, want %d", n, a, got, want)
			}
		}
	}
}

func TestRouteTableLookupAllocs(t *testing.T) {
	rng := rand.New(rand.NewPCG(3, 4))
	routes := randomRoutes(rng, 1000)
	tab := newRouteTable(routes)
	dst := probe(rng, routes).As16()
	if n := testing.AllocsPerRun(1000, func() { tab.Lookup(dst) }); n != 0 {
		t.Errorf("Lookup allocates %v times per call", n)
	}
}

func benchLookup(b *testing.B, n int) {
	rng := rand.New(rand.NewPCG(5, 6))
	routes := randomRoutes(rng, n)
	tab := newRouteTable(routes)
	const nprobe = 4096
	probes := make([][16]byte, nprobe)
	for i := range probes {
		probes[i] = probe(rng, routes).As16()
	}
	b.ReportAllocs()
	b.ResetTimer()
	hits := 0
	for i := 0; b.Loop(); i++ {
		if _, ok := tab.Lookup(probes[i&(nprobe-1)]); ok {
			hits++
		}
	}
	if hits == 0 {
		b.Fatal("no hits")
	}
}

// BenchmarkLookup measures Lookup over random addresses, three in four of
// them inside one of the table's prefixes.
func BenchmarkLookup10k(b *testing.B)  { benchLookup(b, 10000) }
func BenchmarkLookup100k(b *testing.B) { benchLookup(b, 100000) }
func BenchmarkLookup100(b *testing.B)  { benchLookup(b, 100) }

func BenchmarkBuild10k(b *testing.B) {
	routes := randomRoutes(rand.New(rand.NewPCG(7, 8)), 10000)
	b.ReportAllocs()
	for b.Loop() {
		newRouteTable(append([]Route(nil), routes...))
	}
}
