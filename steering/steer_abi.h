// SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause)
//
// The interface between dxp_steer (steer.c) and its Go loader and workers:
// the limits the maps are sized by, the port_flags bits the loader sets,
// the counter reasons and the metadata in front of a steered frame. This
// header is the one source of these values; the Go side (steering/abi.go,
// steering/stats.go) is checked against it by TestABIMatchesHeader, which parses
// this file, and by TestMetaFromProgram, which decodes the metadata the
// loaded program writes (BPF_PROG_TEST_RUN). Change both together.
//
// Only constants, one enum and one struct: the test's parser reads
// `#define NAME VALUE` (decimal, hex or (1u << N)), `enum reason { ... }` in
// order, and the fields of `struct meta` in order.

#ifndef DEXPLANE_STEER_ABI_H
#define DEXPLANE_STEER_ABI_H

#include <linux/types.h>

// Limits. Go: MaxPorts, MaxQueues, MaxDecapEndpoints.
#define MAX_PORTS 2
#define MAX_QUEUES 64 // per port; XSKMAP key = port * MAX_QUEUES + rx queue
#define MAX_DECAP 256

// port_flags bits: what a port steers to userspace. Go: flagAll ...
// flagExtHdr.
#define F_ALL (1u << 0)     // every IPv6 frame except ND ("steer: all")
#define F_ROUTES (1u << 1)  // destination LPM + k/n sampler (outside ports)
#define F_HBH (1u << 2)     // frames with a Hop-by-Hop header
#define F_DECAP (1u << 3)   // ip6ip6 addressed to a decap endpoint (inside ports)
#define F_EXT_HDR (1u << 4) // IPv6 whose Next Header is not a plain upper layer (inside
                            // ports; outside ports unless foreign IOAM is forwarded,
                            // so foreign IOAM in a Destination Options header meets
                            // the foreign_ioam policy in both steer modes)

// VLAN tags looked through: the same set and limit as package packet
// (packet.MaxVLANTags).
#define MAX_VLAN_TAGS 2

// Counter index within a port. Every frame is counted under exactly one
// classification reason (R_NOT_IPV6 .. R_ORDER), so their sum is the number
// of frames the port received; R_XSK_MISS and R_NO_PEER additionally count
// what then happened to some of them. Go: Reason (steering/stats.go).
enum reason {
	R_NOT_IPV6 = 0, // ARP, IPv4, LLDP, anything not IPv6 → peer
	R_ND,           // ICMPv6 133-137 (RS, RA, NS, NA, redirect) → peer
	R_MALFORMED,    // truncated VLAN or IPv6 header, IP version != 6,
	                // Payload Length past the frame → dropped
	R_IPV6_PASS,    // IPv6 nobody asked for (sampled mode) → peer
	R_NO_ROUTE,     // outside port: destination matches no steering route → peer
	R_UNSAMPLED,    // outside port: route matched, k/n did not select → peer
	R_ALL,          // steer all: IPv6 → worker
	R_SAMPLED,      // outside port: route matched and k/n selected → worker
	R_HBH,          // Hop-by-Hop header present → worker
	R_DECAP,        // ip6ip6 to a decap endpoint → worker
	R_EXT_HDR,      // Next Header not a plain upper layer → worker
	R_ORDER,        // sampled mode: would cross, but a frame of its flow went
	                // to a worker less than order_window_ns ago → worker, so
	                // the flow stays in order
	R_XSK_MISS,     // event: wanted a worker, no socket on this queue → peer instead
	R_NO_PEER,      // event: no peer in tx_ports → dropped
	NR_REASONS,
};

// Metadata placed in front of a frame steered to a socket
// (bpf_xdp_adjust_meta), so the worker knows why it got the frame; AF_XDP
// copies it into the UMEM chunk right before the packet. Best effort:
// drivers without metadata room deliver frames without it, hence the magic.
// Fields in host byte order. Go: MetaLen, Meta, ParseMeta (steering/abi.go).
#define META_MAGIC 0xd7e5
struct meta {
	__u32 route_id; // LPM route id for R_SAMPLED, else 0
	__u16 reason;   // enum reason
	__u16 magic;    // META_MAGIC
};

#endif // DEXPLANE_STEER_ABI_H
