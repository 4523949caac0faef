#!/usr/bin/env bash
# testbed.sh — build or remove a dexplane netns testbed (needs root and iproute2).
#
#   scripts/testbed.sh up   TOPOLOGY [PREFIX]   build it (removes an old one with the same prefix first)
#   scripts/testbed.sh down TOPOLOGY [PREFIX]   remove it; succeeds when nothing is there
#
# TOPOLOGY is bitw, router or domain4; PREFIX (default "dx") starts every
# namespace name, so parallel testbeds with different prefixes never collide.
# Namespaces: PREFIX-host-a, PREFIX-host-b and PREFIX-dut (bitw, router) or
# PREFIX-r1 .. PREFIX-r4 (domain4). The Go helper internal/testbed builds the
# same topologies for tests (see its topology.go):
#
#   bitw:    host-a ── dut ── host-b          one L2 segment through the bump
#   domain4: host-a ── r1 ── r2 ── r3 ── r4 ── host-b
#   router:  host-a ── dut ── host-b          the dut routes in the kernel (baseline)
#
#   host-a eth0  02:00:00:00:00:0a  2001:db8:1::a/64  192.0.2.1/24
#   host-b eth0  02:00:00:00:00:0b  2001:db8:1::b/64  192.0.2.2/24     (bitw, domain4)
#                                   2001:db8:2::b/64  198.51.100.2/24  (router)
#   node N west  02:00:00:00:0N:01  port 0, faces host-a (dut is N=1, rN is N)
#   node N east  02:00:00:00:0N:02  port 1, faces host-b
#   router dut:  west 2001:db8:1::1/64 192.0.2.254/24, east 2001:db8:2::1/64 198.51.100.254/24
#
# TESTBED_MGMT=1 (domain4) adds a management network outside the data plane:
# namespace PREFIX-coll with interface mN at 2001:db8:ee:N::1/64, linked to
# interface mgmt at 2001:db8:ee:N::2/64 in rN (the demo's and the soak's
# collector network: export traffic never crosses a port dexplane could add
# DEX to). down removes PREFIX-coll too.
#
# Every veth has one TX and one RX queue (TESTBED_QUEUES=N: N of each; a
# sender's TX queue q arrives on the peer's RX queue q), addrgenmode none, nodad addresses;
# the hosts have permanent IPv6 neighbours (IPv4 uses ARP). Bump ports carry
# no address and have IPv6 disabled. The hosts' eth0 gets an XDP_PASS
# program (steering/pass_bpfel.o) so that frames a bump redirects with native
# XDP into its port are accepted by the veth; without the object file the
# script enables GRO on eth0 instead, which has the same effect on veth.
# Without a forwarding program on the bump nodes, bitw and domain4 have no
# connectivity.
set -euo pipefail

usage() { echo "usage: $0 up|down bitw|router|domain4 [PREFIX]" >&2; exit 2; }
(($# >= 2)) || usage
action=$1 topo=$2 prefix=${3:-dx}
case $topo in
bitw | router) bumps=(dut) ;;
domain4) bumps=(r1 r2 r3 r4) ;;
*) usage ;;
esac
[[ $prefix =~ ^[A-Za-z0-9_.-]+$ ]] || { echo "testbed: bad prefix '$prefix'" >&2; exit 2; }
queues=${TESTBED_QUEUES:-1}
[[ $queues =~ ^[1-9][0-9]?$ ]] || { echo "testbed: bad TESTBED_QUEUES '$queues' (1 to 99)" >&2; exit 2; }
[[ $(id -u) -eq 0 ]] || { echo "testbed: needs root" >&2; exit 1; }

here=$(cd "$(dirname "$0")" && pwd)
pass_obj=$here/../steering/pass_bpfel.o
nodes=(host-a "${bumps[@]}" host-b)
ns() { echo "$prefix-$1"; }

down() {
	local n
	for n in "${nodes[@]}" coll; do
		if ip netns list | awk '{print $1}' | grep -qxF -- "$(ns "$n")"; then
			ip netns del "$(ns "$n")"
		fi
	done
}

# veth NS_A IF_A MAC_A NS_B IF_B MAC_B: $queues queue pairs per end, no SLAAC.
veth() {
	ip -n "$1" link add "$2" numtxqueues "$queues" numrxqueues "$queues" address "$3" type veth \
		peer name "$5" numtxqueues "$queues" numrxqueues "$queues" address "$6" netns "$4"
	ip -n "$1" link set "$2" addrgenmode none up
	ip -n "$4" link set "$5" addrgenmode none up
}

pass() { # NS IF: accept frames redirected into the peer by native XDP
	if [[ -f $pass_obj ]] && ip -n "$1" link set dev "$2" xdpdrv obj "$pass_obj" sec xdp 2>/dev/null; then
		return
	fi
	echo "testbed: no XDP_PASS object, enabling GRO on $1 $2 instead" >&2
	ip netns exec "$1" ethtool -K "$2" gro on >/dev/null
}

port_mac() { printf '02:00:00:00:%02x:%02x' "$1" $(($2 + 1)); }

up() {
	down
	local n i a b
	for n in "${nodes[@]}"; do
		ip netns add "$(ns "$n")"
		ip -n "$(ns "$n")" link set lo up
	done
	a=$(ns host-a) b=$(ns host-b)
	veth "$a" eth0 02:00:00:00:00:0a "$(ns "${bumps[0]}")" west "$(port_mac 1 0)"
	for ((i = 0; i + 1 < ${#bumps[@]}; i++)); do
		veth "$(ns "${bumps[i]}")" east "$(port_mac $((i + 1)) 1)" "$(ns "${bumps[i + 1]}")" west "$(port_mac $((i + 2)) 0)"
	done
	n=${#bumps[@]}
	veth "$(ns "${bumps[n - 1]}")" east "$(port_mac "$n" 1)" "$b" eth0 02:00:00:00:00:0b

	ip -n "$a" addr add 2001:db8:1::a/64 dev eth0 nodad
	ip -n "$a" addr add 192.0.2.1/24 dev eth0
	if [[ $topo == router ]]; then
		local d
		d=$(ns dut)
		ip -n "$d" addr add 2001:db8:1::1/64 dev west nodad
		ip -n "$d" addr add 192.0.2.254/24 dev west
		ip -n "$d" addr add 2001:db8:2::1/64 dev east nodad
		ip -n "$d" addr add 198.51.100.254/24 dev east
		ip -n "$b" addr add 2001:db8:2::b/64 dev eth0 nodad
		ip -n "$b" addr add 198.51.100.2/24 dev eth0
		ip -n "$a" route add default via 2001:db8:1::1 dev eth0
		ip -n "$a" route add default via 192.0.2.254 dev eth0
		ip -n "$b" route add default via 2001:db8:2::1 dev eth0
		ip -n "$b" route add default via 198.51.100.254 dev eth0
		ip -n "$a" neigh replace 2001:db8:1::1 lladdr "$(port_mac 1 0)" dev eth0 nud permanent
		ip -n "$d" neigh replace 2001:db8:1::a lladdr 02:00:00:00:00:0a dev west nud permanent
		ip -n "$d" neigh replace 2001:db8:2::b lladdr 02:00:00:00:00:0b dev east nud permanent
		ip -n "$b" neigh replace 2001:db8:2::1 lladdr "$(port_mac 1 1)" dev eth0 nud permanent
		ip netns exec "$d" sysctl -qw net.ipv6.conf.all.forwarding=1 net.ipv4.ip_forward=1
	else
		ip -n "$b" addr add 2001:db8:1::b/64 dev eth0 nodad
		ip -n "$b" addr add 192.0.2.2/24 dev eth0
		ip -n "$a" neigh replace 2001:db8:1::b lladdr 02:00:00:00:00:0b dev eth0 nud permanent
		ip -n "$b" neigh replace 2001:db8:1::a lladdr 02:00:00:00:00:0a dev eth0 nud permanent
		for n in "${bumps[@]}"; do
			ip netns exec "$(ns "$n")" sysctl -qw net.ipv6.conf.west.disable_ipv6=1 net.ipv6.conf.east.disable_ipv6=1
		done
	fi
	pass "$a" eth0
	pass "$b" eth0
	# Hosts compute their own L4 checksums: a veth hands a frame with a
	# pending (CHECKSUM_PARTIAL) checksum to an AF_XDP data plane as is, and
	# the receiving host would count every such datagram as a checksum error.
	ip netns exec "$a" ethtool -K eth0 tx off >/dev/null
	ip netns exec "$b" ethtool -K eth0 tx off >/dev/null
	[[ ${TESTBED_MGMT:-0} == 1 && $topo == domain4 ]] && mgmt
	echo "testbed: $topo up: namespaces ${nodes[*]/#/$prefix-}"
}

# mgmt builds the management network (TESTBED_MGMT=1, see the header).
mgmt() {
	local c n r
	c=$(ns coll)
	ip netns add "$c"
	ip -n "$c" link set lo up
	for n in 1 2 3 4; do
		r=$(ns "r$n")
		ip link add "m$n" netns "$c" type veth peer name mgmt netns "$r"
		ip -n "$c" addr add "2001:db8:ee:$n::1/64" dev "m$n" nodad
		ip -n "$r" addr add "2001:db8:ee:$n::2/64" dev mgmt nodad
		ip -n "$c" link set "m$n" up
		ip -n "$r" link set mgmt up
	done
}

case $action in
up) up ;;
down) down ;;
*) usage ;;
esac
