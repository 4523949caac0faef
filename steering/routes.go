package steering

import (
	"errors"
	"fmt"
	"net/netip"

	"github.com/cilium/ebpf"
)

// SteerRoute is one destination prefix whose frames an outside port
// samples in policy.SteerSampled.
type SteerRoute struct {
	// Prefix is an IPv6 prefix; host bits must be zero.
	Prefix netip.Prefix
	// RouteID indexes the route's k/n counter (0 <= RouteID < MaxRoutes).
	// Keep a route's id across SetRoutes calls to keep its sampling phase;
	// two routes may share an id, and then a counter.
	RouteID uint32
	// K of every N matching frames are steered; 0 <= K <= N, N >= 1.
	K, N uint32
}

// lpmKey is struct lpm_key of steer.c.
type lpmKey struct {
	PrefixLen uint32 // host byte order
	Addr      [16]byte
}

// routeVal is struct route of steer.c.
type routeVal struct {
	ID, K, N uint32
}

// SetRoutes replaces the steering routes. Each route is updated
// atomically, the set as a whole is not: during the call a frame may see a
// mix of old and new routes. Counters of kept route ids are not reset.
func (o *Objects) SetRoutes(routes []SteerRoute) error {
	want := make(map[netip.Prefix]routeVal, len(routes))
	for _, r := range routes {
		if !r.Prefix.IsValid() || !r.Prefix.Addr().Is6() {
			return fmt.Errorf("ebpf: route %v: not an IPv6 prefix", r.Prefix)
		}
		if r.Prefix.Masked() != r.Prefix {
			return fmt.Errorf("ebpf: route %v: host bits set (want %v)", r.Prefix, r.Prefix.Masked())
		}
		if r.N == 0 || r.K > r.N {
			return fmt.Errorf("ebpf: route %v: k/n %d/%d: want 0 <= k <= n, n >= 1", r.Prefix, r.K, r.N)
		}
		if int(r.RouteID) >= o.opts.MaxRoutes {
			return fmt.Errorf("ebpf: route %v: id %d >= MaxRoutes %d", r.Prefix, r.RouteID, o.opts.MaxRoutes)
		}
		if _, dup := want[r.Prefix]; dup {
			return fmt.Errorf("ebpf: route %v: duplicate prefix", r.Prefix)
		}
		want[r.Prefix] = routeVal{ID: r.RouteID, K: r.K, N: r.N}
	}
	if len(want) > o.opts.MaxRoutes {
		return fmt.Errorf("ebpf: %d routes > MaxRoutes %d", len(want), o.opts.MaxRoutes)
	}
	o.mu.Lock()
	defer o.mu.Unlock()
	if o.closed {
		return ErrClosed
	}
	for p, v := range want {
		if err := o.maps.Routes.Put(keyOf(p), v); err != nil {
			return fmt.Errorf("ebpf: set route %v: %w", p, err)
		}
		o.routes[p] = struct{}{}
	}
	for p := range o.routes {
		if _, keep := want[p]; keep {
			continue
		}
		if err := o.maps.Routes.Delete(keyOf(p)); err != nil && !errors.Is(err, ebpf.ErrKeyNotExist) {
			return fmt.Errorf("ebpf: delete route %v: %w", p, err)
		}
		delete(o.routes, p)
	}
	return nil
}

func keyOf(p netip.Prefix) lpmKey {
	return lpmKey{PrefixLen: uint32(p.Bits()), Addr: p.Addr().As16()}
}

// SetDecapEndpoints replaces the set of addresses whose ip6ip6 frames inside
// ports steer to the workers in policy.SteerSampled (the tunnel endpoints this node
// terminates).
func (o *Objects) SetDecapEndpoints(addrs []netip.Addr) error {
	want := make(map[netip.Addr]struct{}, len(addrs))
	for _, a := range addrs {
		if !a.Is6() || a.Is4In6() {
			return fmt.Errorf("ebpf: decap endpoint %v: not an IPv6 address", a)
		}
		want[a.WithZone("")] = struct{}{}
	}
	if len(want) > MaxDecapEndpoints {
		return fmt.Errorf("ebpf: %d decap endpoints > %d", len(want), MaxDecapEndpoints)
	}
	o.mu.Lock()
	defer o.mu.Unlock()
	if o.closed {
		return ErrClosed
	}
	for a := range want {
		if err := o.maps.DecapAddrs.Put(a.As16(), uint8(1)); err != nil {
			return fmt.Errorf("ebpf: add decap endpoint %v: %w", a, err)
		}
		o.decap[a] = struct{}{}
	}
	for a := range o.decap {
		if _, keep := want[a]; keep {
			continue
		}
		if err := o.maps.DecapAddrs.Delete(a.As16()); err != nil && !errors.Is(err, ebpf.ErrKeyNotExist) {
			return fmt.Errorf("ebpf: delete decap endpoint %v: %w", a, err)
		}
		delete(o.decap, a)
	}
	return nil
}
