// Package steering holds dexplane's XDP programs (C, compiled by bpf2go; the
// generated *_bpfel.go and *_bpfel.o are committed, so building needs no
// clang) and the loader that attaches them to the two ports of a node.
//
// # Programs
//
// dxp_steer (steer.c) runs on each port and classifies every frame. Frames a
// worker must see are redirected to the AF_XDP socket of their RX queue;
// frames no IPv6 node accepts are dropped; all others (ARP, neighbour
// discovery, IPv4, LLDP, IPv6 that will not be touched) cross to the peer
// port through a devmap without leaving the kernel.
//
// In every mode dxp_steer first drops, as Linux ipv6_rcv does and as package
// node's malformed-packet table says, an EtherType-IPv6 frame (untagged or
// behind up to two VLAN tags of 0x8100, 0x88A8 or 0x9100, the stack package
// packet parses) whose VLAN tag or 40-octet IPv6 header is
// cut, whose version nibble is not 6, or whose Payload Length claims more
// octets than the frame holds after the IPv6 header (octets beyond it, such
// as Ethernet padding, are fine). These count as ReasonMalformed. Frames
// shorter than an Ethernet header, frames with three tags and non-IPv6
// EtherTypes (IPv4, ARP, LLDP, ...) are not IPv6 to us and cross
// (ReasonNotIPv6). ICMPv6 types 133-137 (ND) then cross in the kernel
// (ReasonND) in every mode. What goes to the workers depends on the
// Options.Steer (policy.Steer):
//
//   - policy.SteerAll: every other IPv6 frame (ReasonAll). The workers do the
//     route lookup and the k/n sampling (kernel semantics).
//   - policy.SteerSampled: the program decides. A frame with Payload Length 0 and
//     a Hop-by-Hop header (a jumbogram candidate) always goes up
//     (ReasonHbH), so the codec judges it. On an outside port the program
//     looks the destination up in an LPM trie (SetRoutes) and runs the
//     route's k/n sampler (ReasonSampled; ReasonUnsampled and ReasonNoRoute
//     cross); frames with a Hop-by-Hop header (ReasonHbH) or another Next
//     Header that is not a plain upper layer (ReasonExtHdr: IOAM in a
//     Destination Options header) also go up, so the node can apply its
//     foreign-IOAM policy (unless Options.PassForeignHbH).
//     On an inside port a frame goes up when it has a Hop-by-Hop header
//     (ReasonHbH), is ip6ip6 addressed to a decap endpoint
//     (SetDecapEndpoints, ReasonDecap), or otherwise has an IPv6 Next
//     Header that is not a plain upper-layer protocol (ReasonExtHdr); only
//     TCP (6), UDP (17), ICMPv6 (58, ND already excluded), SCTP (132) and
//     ESP (50) cross in the kernel (ReasonIPv6Pass).
//
// Design note on the inside-port rule: the program does not walk extension
// header chains; the codec does (package packet). A frame whose first
// header is not Hop-by-Hop can still hide IOAM (a second Hop-by-Hop header
// after Destination Options, DEX in a Destination Options header) or be
// malformed past the fixed header (a Routing or Fragment header cut short).
// Crossing in the kernel would carry such frames through transit nodes and
// out of the domain at the decapsulating node unchecked, so every Next
// Header value except the five above goes to a worker, which validates the
// chain and applies the node's policy: Routing, Fragment, Destination
// Options, AH (its ICV covers the headers, and it may be followed by
// anything), Mobility, HIP, Shim6, the experimental values, No Next Header
// (59), unknown protocols, and ip6ip6 (41) to an address that is not a decap
// endpoint (another tenant's tunnel). ESP stays in the kernel: what follows
// it is encrypted, so there is nothing the node could check or strip. Such
// frames are rare on a domain's inside links, so the cost is small; the bulk
// (TCP, UDP, ICMPv6) still never leaves the kernel unless sampled.
//
// k/n semantics in policy.SteerSampled are the kernel's (net/ipv6/ioam6_iptunnel.c)
// but 64 bits wide like package policy's Sampler, so steer: all and steer:
// sampled select the same frames however many a route sees: one counter
// per route, global (shared by all CPUs and both ports,
// updated with an atomic fetch-and-add, on its own cache line); a matching
// frame is selected iff counter++ % N < K, i.e. exactly the first K of every
// N frames in the order they reach the counter. Frames of a route that carry
// a Hop-by-Hop header advance the counter too.
//
// Order window (policy.SteerSampled, Options.OrderWindow > 0): a worker's path is
// slower than crossing in XDP, so the frames of a flow that follow one sent
// to a worker would overtake it. With a window, every frame sent to a worker
// in policy.SteerSampled records its flow (innermost IPv6 addresses, upper layer
// and ports, past one Hop-by-Hop header and an ip6ip6 outer header) in the
// LRU map order_hold with a deadline now+window; a frame that would cross
// (ReasonUnsampled, ReasonNoRoute, ReasonIPv6Pass) goes to the worker
// instead while its flow's deadline lies ahead (ReasonOrder), so the
// worker's queue keeps the flow in order. Held frames do not extend the
// deadline. The worker forwards them untouched (not selected).
//
// A frame classified for a worker whose queue has no socket in the XSKMAP
// crosses to the peer port instead (counted as ReasonXSKMiss), so the node
// stays transparent while workers start or restart.
//
// dxp_redirect sends every frame to the peer port: the "plain XDP
// redirect" benchmark ceiling. steer.c also holds dxp_tc_peer (TC ingress,
// AttachPortPeerViaTC) and dxp_redirect_err (tracepoint, RedirectErrors),
// each loaded on its own from the one object. dxp_pass (pass.c) returns
// XDP_PASS; testbeds attach it to the far end of veths that XDP redirects
// into. It is an object of its own without maps and without a Go loader,
// for ip(8) (scripts/testbed.sh).
//
// # Maps and keys
//
//   - xsks (XSKMAP, MaxPorts*MaxQueues entries): key XSKKey(port, queue) =
//     port*MaxQueues + queue, value an AF_XDP socket fd. One map for both
//     ports. See RegisterXSK and XSKMap.
//   - tx_ports (DEVMAP, MaxPorts): key port index, value the peer ifindex.
//   - order_hold (LRU_HASH, Options.OrderFlows): key {saddr, daddr [16]byte,
//     sport, dport network order, proto, port uint8, pad uint16}, value the
//     bpf_ktime_get_ns deadline (uint64).
//   - routes (LPM_TRIE): key {prefixlen uint32 host order, addr [16]byte
//     network order}, value {route id, K, N uint32 host order}.
//   - samplers (ARRAY, one 64-byte slot per route id): the k/n counters.
//     They survive SetRoutes, so a route that keeps its id keeps its phase.
//   - decap_addrs (HASH, MaxDecapEndpoints): key the 16-octet address.
//   - stats (PERCPU_ARRAY): key port*NumReasons + reason, value
//     {packets, bytes uint64}; Counters sums the CPUs.
//   - watch (HASH, 16) and redirect_errs (PERCPU_ARRAY, MaxPorts*NumTargets):
//     dxp_redirect_err's program id -> port index and its counts, key
//     port*NumTargets + target; RedirectErrors sums the CPUs.
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
// its "dxp_" name prefix and replaced.
package steering
