package node

import (
	"net/netip"
	"testing"

	"github.com/dexplane/dexplane/dataplane/policy"
)

// TestRouteCache: the cache answers what the table answers, for hits,
// misses and destinations without a route, including after entries are
// replaced, and forgets everything on reset.
func TestRouteCache(t *testing.T) {
	spec := func(prefixes ...string) *policy.RouteTable {
		s := policy.Spec{
			Node:       policy.Node{ID: 1},
			Namespaces: []policy.Namespace{{ID: 1}},
			Ports:      [2]policy.Port{{Name: "a", Domain: policy.Outside}, {Name: "b", Domain: policy.Inside}},
		}
		for _, p := range prefixes {
			s.Routes = append(s.Routes, policy.Route{Prefix: netip.MustParsePrefix(p), Mode: policy.ModeInline, K: 1, N: 1, DEX: policy.DEX{Namespace: 1, TraceType: 0x800000}})
		}
		snap, err := policy.New(s, nil)
		if err != nil {
			t.Fatal(err)
		}
		return snap.Routes
	}
	t1 := spec("2001:db8::/32", "2001:db8:1::/48")
	var c routeCache
	check := func(tab *policy.RouteTable, round int) {
		for i := range 1000 { // more destinations than entries: replacements
			a := netip.AddrFrom16([16]byte{0x20, 0x01, 0x0d, byte(0xb8 + i%3), 0, byte(i % 4), 15: byte(i)}).As16()
			a[14] = byte(i >> 8)
			got, gok := c.lookup(tab, a)
			want, wok := tab.Lookup(a)
			if got != want || gok != wok {
				t.Fatalf("round %d, %x: cache %v %v, table %v %v", round, a, got, gok, want, wok)
			}
		}
	}
	check(t1, 0)
	check(t1, 1) // now mostly hits
	c.reset()
	check(spec("2001:db9::/32"), 2) // another table after reset: no stale route
}
