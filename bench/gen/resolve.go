package gen

import (
	"fmt"
	"net"
	"net/netip"

	"github.com/vishvananda/netlink"
)

// InNetns runs fn on a fresh OS thread inside the named network namespace
// ("" = current) and returns its error. The thread is discarded afterwards.
func InNetns(name string, fn func() error) error {
	return InNetnsOnCPUs(name, nil, fn)
}

// InNetnsOnCPUs is InNetns with the thread pinned to cpus (nil: not
// pinned), for long-running helpers that must stay off the DUT's CPU.
func InNetnsOnCPUs(name string, cpus []int, fn func() error) error {
	errc := make(chan error, 1)
	go func() {
		err := lockInNetns(name)
		if err == nil {
			err = pinThread(cpus)
		}
		if err != nil {
			errc <- err
			return
		}
		errc <- fn()
	}()
	return <-errc
}

// ResolveMACs returns, as seen inside netns, the MAC address of iface and
// that of the next hop towards dst: the route's gateway or dst itself,
// looked up in the neighbour table (the testbeds install permanent
// neighbours; nothing is resolved on the wire).
func ResolveMACs(netns, iface string, dst netip.Addr) (src, next net.HardwareAddr, err error) {
	err = InNetns(netns, func() error {
		link, err := netlink.LinkByName(iface)
		if err != nil {
			return fmt.Errorf("find interface %q: %w", iface, err)
		}
		src = link.Attrs().HardwareAddr
		hop := dst
		if routes, err := netlink.RouteGet(dst.AsSlice()); err == nil && len(routes) > 0 && routes[0].Gw != nil {
			if gw, ok := netip.AddrFromSlice(routes[0].Gw); ok {
				hop = gw
			}
		}
		neighs, err := netlink.NeighList(link.Attrs().Index, netlink.FAMILY_V6)
		if err != nil {
			return fmt.Errorf("list neighbours of %s: %w", iface, err)
		}
		for _, n := range neighs {
			if a, ok := netip.AddrFromSlice(n.IP); ok && a == hop && len(n.HardwareAddr) == 6 {
				next = n.HardwareAddr
				return nil
			}
		}
		return fmt.Errorf("no neighbour entry for next hop %v on %s (namespace %q); pass the MAC explicitly", hop, iface, netns)
	})
	return src, next, err
}
