// Package ebpf holds dexplane's XDP programs (C, compiled by bpf2go; the
// generated *_bpfel.go and *_bpfel.o are committed, so building needs no
// clang) and the loader that attaches them to the two ports of a node.
//
// # Programs
//
// dxp_steer (steer.c) runs on each port and classifies every frame. Frames a
// worker must see are redirected to the AF_XDP socket of their RX queue; all
// others (ARP, neighbour discovery, IPv4, LLDP, IPv6 that will not be
// touched) cross to the peer port through a devmap without leaving the
// kernel. What goes to the workers depends on the SteerMode:
//
//   - SteerAll: every IPv6 frame except ICMPv6 types 133-137 (ND). The
//     workers do the route lookup and the k/n sampling (kernel semantics).
//   - SteerSampled: the program decides. On an outside port it looks the
//     destination up in an LPM trie (SetRoutes) and runs the route's k/n
//     sampler; frames with a Hop-by-Hop header also go up, so the node can
//     apply its foreign-IOAM policy (unless Options.PassForeignHbH). On an
//     inside port frames with a Hop-by-Hop header and ip6ip6 frames
//     addressed to a decap endpoint (SetDecapEndpoints) go up.
//
// k/n semantics in SteerSampled are the kernel's (net/ipv6/ioam6_iptunnel.c):
// one 32-bit counter per route, global (shared by all CPUs and both ports,
// updated with an atomic fetch-and-add, on its own cache line); a matching
// frame is selected iff counter++ % N < K, i.e. exactly the first K of every
// N frames in the order they reach the counter. Frames of a route that carry
// a Hop-by-Hop header advance the counter too.
//
// A frame classified for a worker whose queue has no socket in the XSKMAP
// crosses to the peer port instead (counted as ReasonXSKMiss), so the node
// stays transparent while workers start or restart.
//
// dxp_redirect sends every frame to the peer port: the "plain XDP
// redirect" benchmark ceiling. dxp_pass (pass.c) returns XDP_PASS; testbeds
// attach it to the far end of veths that XDP redirects into.
//
// # Maps and keys
//
//   - xsks (XSKMAP, MaxPorts*MaxQueues entries): key XSKKey(port, queue) =
//     port*MaxQueues + queue, value an AF_XDP socket fd. One map for both
//     ports. See RegisterXSK and XSKMap.
//   - tx_ports (DEVMAP, MaxPorts): key port index, value the peer ifindex.
//   - routes (LPM_TRIE): key {prefixlen uint32 host order, addr [16]byte
//     network order}, value {route id, K, N uint32 host order}.
//   - samplers (ARRAY, one 64-byte slot per route id): the k/n counters.
//     They survive SetRoutes, so a route that keeps its id keeps its phase.
//   - decap_addrs (HASH, MaxDecapEndpoints): key the 16-octet address.
//   - stats (PERCPU_ARRAY): key port*NumReasons + reason, value
//     {packets, bytes uint64}; Counters sums the CPUs.
//
// Frames steered to a worker carry 8 octets of XDP metadata (see Meta)
// right before the packet in the UMEM chunk, telling the worker why.
//
// # Requirements
//
// Linux >= 5.12 (bpf_link XDP attachment, BPF atomic fetch-and-add),
// CAP_BPF + CAP_NET_ADMIN (or root). Attachments use bpf_link, so the
// kernel detaches them when the process dies; a dexplane program left
// attached through netlink (older runs, scripts, testbeds) is recognised by
// its "dxp_" name prefix and replaced. Importers usually alias this package
// (for example dxebpf) since cilium/ebpf is also named ebpf.
package ebpf
