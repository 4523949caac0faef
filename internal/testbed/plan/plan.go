// Package plan is the naming and addressing plan of dexplane's testbeds:
// interface names, MACs and addresses that internal/testbed (the Go
// builder, for tests), bench/scenario (the harness) and scripts/testbed.sh
// (the shell builder) all use. It holds values only and imports nothing of
// dexplane's, so that non-test code such as the benchmark harness can use it
// without importing "testing".
//
//	host-a eth0  02:00:00:00:00:0a  2001:db8:1::a/64  192.0.2.1/24
//	host-b eth0  02:00:00:00:00:0b  2001:db8:1::b/64  192.0.2.2/24      (bitw, domain4)
//	                                2001:db8:2::b/64  198.51.100.2/24   (router)
//	node N west  02:00:00:00:0N:01  (port 0, faces host-a)  dut is N=1, rN is N
//	node N east  02:00:00:00:0N:02  (port 1, faces host-b)
//	router dut:  west 2001:db8:1::1/64 192.0.2.254/24, east 2001:db8:2::1/64 198.51.100.254/24
//	ip6ip6:      outer source 2001:db8:ff::1 (the dut's node address),
//	             outer destination 2001:db8:ff::2 (the decapsulation endpoint)
package plan

import (
	"fmt"
	"net/netip"
)

// Interface names: a bump node's port 0 faces host-a, port 1 faces host-b;
// the hosts have one interface each.
const (
	West   = "west"
	East   = "east"
	HostIf = "eth0"
)

// MACs of the hosts' interfaces (locally administered).
const (
	HostAMAC = "02:00:00:00:00:0a"
	HostBMAC = "02:00:00:00:00:0b"
)

// Addresses of the hosts, the router dut and the ip6ip6 tunnel ends.
var (
	HostAAddr  = netip.MustParseAddr("2001:db8:1::a")
	HostBAddr  = netip.MustParseAddr("2001:db8:1::b") // bitw, domain4
	HostAAddr4 = netip.MustParseAddr("192.0.2.1")
	HostBAddr4 = netip.MustParseAddr("192.0.2.2") // bitw, domain4

	RouterHostBAddr  = netip.MustParseAddr("2001:db8:2::b")
	RouterHostBAddr4 = netip.MustParseAddr("198.51.100.2")
	RouterWestAddr   = netip.MustParseAddr("2001:db8:1::1")
	RouterEastAddr   = netip.MustParseAddr("2001:db8:2::1")
	RouterWestAddr4  = netip.MustParseAddr("192.0.2.254")
	RouterEastAddr4  = netip.MustParseAddr("198.51.100.254")

	// TunSrc and TunDst are the outer addresses of ip6ip6 traffic: the
	// dut's node address (encapsulation source) and the decapsulation
	// endpoint.
	TunSrc = netip.MustParseAddr("2001:db8:ff::1")
	TunDst = netip.MustParseAddr("2001:db8:ff::2")
)

// PortMAC returns the MAC of a bump node's port: node is 1 for the dut and
// N for rN; port 0 is west, 1 is east.
func PortMAC(node, port int) string {
	return fmt.Sprintf("02:00:00:00:%02x:%02x", node, port+1)
}
