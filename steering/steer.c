//go:build ignore

// SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause)
//
// dexplane's XDP programs. One copy of a program is loaded per port (the
// loader sets port_index and port_flags, which the verifier then treats as
// constants), all copies share the maps below.
//
//   dxp_steer     classifies every frame: frames a worker must see go to the
//                 AF_XDP socket of their RX queue (xsks), frames no IPv6 node
//                 would accept (truncated VLAN/IPv6 header, IP version != 6,
//                 Payload Length past the frame) are dropped, all others
//                 cross to the peer port through the devmap (tx_ports),
//                 untouched.
//   dxp_redirect  sends every frame to the peer port: the benchmark ceiling
//                 for "the bump does nothing".
//
// Two helpers share this object and are loaded on their own (the loader
// picks programs by name; a program brings only the maps it uses):
//
//   dxp_tc_peer       TC ingress: every frame to the peer port on the skb
//                     path (AttachPortPeerViaTC).
//   dxp_redirect_err  tracepoint xdp:xdp_redirect_err: counts the redirects
//                     of this node's dxp_steer copies that the kernel refused.
//
// Needs Linux >= 5.12 (BPF atomic fetch-and-add for the k/n samplers); uses
// only UAPI headers, no CO-RE. Multi-byte map fields are in host byte
// order; IPv6 addresses in keys are the 16 octets as on the wire.

#include <linux/bpf.h>
#include <linux/if_ether.h>
#include <linux/in.h>
#include <linux/ipv6.h>
#include <bpf/bpf_helpers.h>
#include <bpf/bpf_endian.h>

#include "steer_abi.h"

// Set by the loader before loading, per port copy.
volatile const __u32 port_index = 0;
volatile const __u32 port_flags = 0;
// Sampled mode: how long after a frame of a flow went to a worker the
// flow's other frames follow it there (0: never). A worker's path is slower
// than crossing in XDP; without this, frames overtake the one at the worker.
volatile const __u64 order_window_ns = 0;

struct counter {
	__u64 packets;
	__u64 bytes; // frame length from the Ethernet header on, no FCS
};

struct lpm_key {
	__u32 prefixlen; // host byte order, 0..128
	__u8 addr[16];   // network byte order
};

struct route {
	__u32 id; // index into samplers; the caller's route id
	__u32 k;  // select the first k of every n matching frames
	__u32 n;  // n >= 1, k <= n (checked by the loader)
};

// One global counter per route on its own cache line: all CPUs share it, as
// the kernel's ioam6 lwtunnel shares its atomic_t pkt_cnt. 64-byte values
// keep two routes' counters off one line. 64 bits wide, like the Go
// sampler (policy.Sampler), so that steer: all and steer: sampled select
// the same frames however many a route sees (a 32-bit counter breaks the
// k-of-n cycle at its wrap when n does not divide 2^32).
struct sampler {
	__u64 cnt;
	__u64 pad[7];
};

struct {
	__uint(type, BPF_MAP_TYPE_XSKMAP);
	__uint(max_entries, MAX_PORTS * MAX_QUEUES);
	__type(key, __u32);
	__type(value, __u32);
} xsks SEC(".maps");

// Key: port index; value: ifindex of that port's peer (where its frames go).
struct {
	__uint(type, BPF_MAP_TYPE_DEVMAP);
	__uint(max_entries, MAX_PORTS);
	__type(key, __u32);
	__type(value, __u32);
} tx_ports SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_LPM_TRIE);
	__uint(max_entries, 16384); // the loader may change it
	__uint(map_flags, BPF_F_NO_PREALLOC);
	__type(key, struct lpm_key);
	__type(value, struct route);
} routes SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__uint(max_entries, 16384); // same as routes
	__type(key, __u32);
	__type(value, struct sampler);
} samplers SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, MAX_DECAP);
	__type(key, struct in6_addr);
	__type(value, __u8);
} decap_addrs SEC(".maps");

// A flow as order_hold sees it: the innermost IPv6 addresses, the upper
// layer and its ports (TCP, UDP, SCTP; else 0), and the ingress port.
struct flow_key {
	__u8 saddr[16];
	__u8 daddr[16];
	__be16 sport;
	__be16 dport;
	__u8 proto;
	__u8 port;
	__u16 pad;
};

// Flows with a frame sent to a worker recently: value is the
// bpf_ktime_get_ns() until which their frames follow it (order_window_ns).
// LRU: an old flow makes room for a new one.
struct {
	__uint(type, BPF_MAP_TYPE_LRU_HASH);
	__uint(max_entries, 65536); // the loader may change it
	__type(key, struct flow_key);
	__type(value, __u64);
} order_hold SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__uint(max_entries, MAX_PORTS * NR_REASONS);
	__type(key, __u32);
	__type(value, struct counter);
} stats SEC(".maps");

struct vlan_hdr {
	__be16 tci;
	__be16 proto;
};

// VLAN tags looked through: the set of package packet (the limit,
// MAX_VLAN_TAGS, is in steer_abi.h).
#define ETH_P_QINQ_9100 0x9100

static __always_inline int is_vlan(__be16 proto)
{
	return proto == bpf_htons(ETH_P_8021Q) || proto == bpf_htons(ETH_P_8021AD) ||
	       proto == bpf_htons(ETH_P_QINQ_9100);
}

static __always_inline void count(__u32 reason, __u64 len)
{
	__u32 key = port_index * NR_REASONS + reason;
	struct counter *c = bpf_map_lookup_elem(&stats, &key);

	// Per-CPU slot: no other CPU writes it, plain adds are enough.
	if (c) {
		c->packets++;
		c->bytes += len;
	}
}

// peer_via_tc (set by the loader, AttachPortPeerViaTC, wire lane): native
// redirects to the peer port may be refused (a veth whose neighbour runs no
// XDP), so frames that cross go up with XDP_PASS and dxp_tc_peer (below)
// moves them to the peer port on the skb path.
volatile const __u32 peer_via_tc = 0;

static __always_inline int redirect_peer(__u64 len)
{
	if (peer_via_tc)
		return XDP_PASS;
	int act = bpf_redirect_map(&tx_ports, port_index, XDP_DROP);

	if (act != XDP_REDIRECT)
		count(R_NO_PEER, len);
	return act;
}

// drop discards a frame no IPv6 node would accept, as Linux ipv6_rcv does.
static __always_inline int drop(__u32 reason, __u64 len)
{
	count(reason, len);
	return XDP_DROP;
}

// plain_upper reports whether Next Header nh is an upper-layer protocol
// that carries no IOAM for the node to see and needs no header-chain check:
// TCP, UDP, ICMPv6 (ND is handled before), SCTP and ESP (what follows ESP
// is encrypted; nothing there is ours to strip). Everything else, every
// extension header (Hop-by-Hop, Routing, Fragment, Destination Options,
// AH, Mobility, HIP, Shim6, experimental 253/254), No Next Header, IPv6-in-
// IPv6 and unknown protocols, goes to a worker on inside ports, whose codec
// walks and validates the chain: an IOAM option behind an odd chain must not
// cross the domain or leave it unchecked.
static __always_inline int plain_upper(__u8 nh)
{
	return nh == IPPROTO_TCP || nh == IPPROTO_UDP || nh == IPPROTO_ICMPV6 ||
	       nh == IPPROTO_SCTP || nh == IPPROTO_ESP;
}

// to_peer sends a frame the workers need not see across the bump.
static __always_inline int to_peer(__u32 reason, __u64 len)
{
	count(reason, len);
	return redirect_peer(len);
}

// to_worker sends a frame to the AF_XDP socket of its RX queue, tagging it
// with struct meta. Without a socket on that queue the frame crosses to the
// peer port unmodified instead of being lost, so a node stays transparent
// while its workers start or restart (counted as R_XSK_MISS).
static __always_inline int to_worker(struct xdp_md *ctx, __u32 reason, __u32 route_id, __u64 len)
{
	__u32 q = ctx->rx_queue_index;
	struct meta *m;

	count(reason, len);
	if (q < MAX_QUEUES) {
		// Failing to make room only costs the worker the hint.
		if (bpf_xdp_adjust_meta(ctx, -(int)sizeof(*m)) == 0) {
			m = (void *)(long)ctx->data_meta;
			if ((void *)(m + 1) <= (void *)(long)ctx->data) {
				m->route_id = route_id;
				m->reason = reason;
				m->magic = META_MAGIC;
			}
		}
		// Fallback action 0 (XDP_ABORTED) tells us the queue has no socket.
		if (bpf_redirect_map(&xsks, port_index * MAX_QUEUES + q, 0) == XDP_REDIRECT)
			return XDP_REDIRECT;
	}
	count(R_XSK_MISS, len);
	return redirect_peer(len);
}

// flow_of fills k with the flow of the IPv6 packet at ip6, looking past one
// Hop-by-Hop header and into an IPv6-in-IPv6 inner header: a frame that got
// DEX (inline, or in an outer header) and the plain frames of its flow have
// the same key. It returns -1 if the headers it needs are cut.
static __always_inline int flow_of(struct ipv6hdr *ip6, void *end, struct flow_key *k)
{
	struct ipv6hdr *h = ip6;
	__u8 nh = ip6->nexthdr;
	void *p = ip6 + 1;

	if (nh == 0) {
		__u8 *hbh = p;

		if ((void *)(hbh + 2) > end)
			return -1;
		nh = hbh[0];
		p += ((__u32)hbh[1] + 1) * 8;
	}
	if (nh == IPPROTO_IPV6) {
		h = p;
		if ((void *)(h + 1) > end)
			return -1;
		nh = h->nexthdr;
		p = h + 1;
	}
	__builtin_memcpy(k->saddr, &h->saddr, sizeof(k->saddr));
	__builtin_memcpy(k->daddr, &h->daddr, sizeof(k->daddr));
	k->proto = nh;
	k->port = port_index;
	k->pad = 0;
	k->sport = 0;
	k->dport = 0;
	if (nh == IPPROTO_TCP || nh == IPPROTO_UDP || nh == IPPROTO_SCTP) {
		__be16 *ports = p;

		if ((void *)(ports + 2) > end)
			return -1;
		k->sport = ports[0];
		k->dport = ports[1];
	}
	return 0;
}

// to_worker_held is to_worker for sampled mode: with an order window, the
// frame's flow is remembered so its next frames follow it to the worker.
// It must run before to_worker moves the packet pointers (adjust_meta).
static __always_inline int to_worker_held(struct xdp_md *ctx, struct ipv6hdr *ip6, void *end,
					  __u32 reason, __u32 route_id, __u64 len)
{
	if (order_window_ns) {
		struct flow_key k;

		if (flow_of(ip6, end, &k) == 0) {
			__u64 until = bpf_ktime_get_ns() + order_window_ns;

			bpf_map_update_elem(&order_hold, &k, &until, BPF_ANY);
		}
	}
	return to_worker(ctx, reason, route_id, len);
}

// to_peer_held is to_peer for IPv6 in sampled mode: a frame whose flow has
// a frame at a worker (within the order window) follows it there instead.
static __always_inline int to_peer_held(struct xdp_md *ctx, struct ipv6hdr *ip6, void *end,
					__u32 reason, __u64 len)
{
	if (order_window_ns) {
		struct flow_key k;
		__u64 *until;

		if (flow_of(ip6, end, &k) == 0) {
			until = bpf_map_lookup_elem(&order_hold, &k);
			if (until && bpf_ktime_get_ns() < *until)
				return to_worker(ctx, R_ORDER, 0, len);
		}
	}
	return to_peer(reason, len);
}

SEC("xdp")
int dxp_steer(struct xdp_md *ctx)
{
	void *data = (void *)(long)ctx->data;
	void *end = (void *)(long)ctx->data_end;
	__u64 len = end - data;
	struct ethhdr *eth = data;
	struct ipv6hdr *ip6;
	__be16 proto;
	__u32 off = sizeof(*eth);
	__u64 plen;

	// Shorter than an Ethernet header: nothing to classify (devices do not
	// deliver such frames; AF_PACKET cannot send them).
	if ((void *)(eth + 1) > end)
		return to_peer(R_NOT_IPV6, len);
	proto = eth->h_proto;
	// The VLAN tag stack of package packet (IsVLANEtherType, MaxVLANTags):
	// up to two tags of 802.1Q, 802.1ad or 0x9100, in any order, kept in
	// the frame. A third tag leaves proto at a VLAN TPID: not IPv6 to
	// either classifier, the frame crosses.
#pragma unroll
	for (int i = 0; i < MAX_VLAN_TAGS; i++) {
		struct vlan_hdr *vh = data + off;

		if (!is_vlan(proto))
			break;
		if ((void *)(vh + 1) > end)
			return drop(R_MALFORMED, len);
		proto = vh->proto;
		off += sizeof(*vh);
	}
	if (proto != bpf_htons(ETH_P_IPV6))
		return to_peer(R_NOT_IPV6, len);

	// What Linux ipv6_rcv drops (and package node's malformed table): a
	// cut header, a version other than 6, a Payload Length claiming more
	// octets than the frame holds. Octets after the payload (Ethernet
	// padding) are fine. Payload Length 0 never trips the check; with a
	// Hop-by-Hop header it announces a jumbogram, which a worker judges.
	ip6 = data + off;
	if ((void *)(ip6 + 1) > end || ip6->version != 6)
		return drop(R_MALFORMED, len);
	plen = bpf_ntohs(ip6->payload_len);
	if (plen > len - off - sizeof(*ip6))
		return drop(R_MALFORMED, len);

	// Neighbour discovery stays in the kernel in every mode: the workers
	// would only forward it, and a slow or absent worker must not break the
	// hosts' neighbour caches. ND is sent without extension headers in
	// practice; one that has any is treated like other IPv6 (a worker
	// forwards it), which is harmless.
	if (ip6->nexthdr == IPPROTO_ICMPV6) {
		__u8 *type = (void *)(ip6 + 1);

		if ((void *)(type + 1) <= end && *type >= 133 && *type <= 137)
			return to_peer(R_ND, len);
	}

	if (port_flags & F_ALL)
		return to_worker(ctx, R_ALL, 0, len);

	// Jumbogram candidate (Payload Length 0, Hop-by-Hop header): the codec
	// decides, whatever the port (PassForeignHbH included).
	if (plen == 0 && ip6->nexthdr == 0)
		return to_worker_held(ctx, ip6, end, R_HBH, 0, len);

	if (port_flags & F_ROUTES) {
		struct lpm_key key = {.prefixlen = 128};
		struct route *r;

		__builtin_memcpy(key.addr, &ip6->daddr, sizeof(key.addr));
		r = bpf_map_lookup_elem(&routes, &key);
		if (r) {
			__u32 id = r->id, k = r->k, n = r->n;
			struct sampler *s = bpf_map_lookup_elem(&samplers, &id);

			// Kernel semantics (ioam6_output in net/ipv6/ioam6_iptunnel.c):
			// one counter per route shared by all CPUs, cnt = fetch_inc(),
			// selected iff cnt % n < k: the first k of every n frames in
			// the order they hit the counter. 64 bits (see struct
			// sampler). As in the kernel, frames that already carry a
			// Hop-by-Hop header advance the counter too.
			if (s && n) {
				__u64 cnt = __sync_fetch_and_add(&s->cnt, 1);

				if (cnt % n < k)
					return to_worker_held(ctx, ip6, end, R_SAMPLED, id, len);
			}
			if (ip6->nexthdr == 0 && (port_flags & F_HBH))
				return to_worker_held(ctx, ip6, end, R_HBH, 0, len);
			if ((port_flags & F_EXT_HDR) && !plain_upper(ip6->nexthdr))
				return to_worker_held(ctx, ip6, end, R_EXT_HDR, 0, len);
			return to_peer_held(ctx, ip6, end, R_UNSAMPLED, len);
		}
		if (ip6->nexthdr == 0 && (port_flags & F_HBH))
			return to_worker_held(ctx, ip6, end, R_HBH, 0, len);
		if ((port_flags & F_EXT_HDR) && !plain_upper(ip6->nexthdr))
			return to_worker_held(ctx, ip6, end, R_EXT_HDR, 0, len);
		return to_peer_held(ctx, ip6, end, R_NO_ROUTE, len);
	}

	if (ip6->nexthdr == 0 && (port_flags & F_HBH))
		return to_worker_held(ctx, ip6, end, R_HBH, 0, len);

	if (ip6->nexthdr == IPPROTO_IPV6 && (port_flags & F_DECAP)) {
		struct in6_addr dst;

		__builtin_memcpy(&dst, &ip6->daddr, sizeof(dst));
		if (bpf_map_lookup_elem(&decap_addrs, &dst))
			return to_worker_held(ctx, ip6, end, R_DECAP, 0, len);
	}

	// Extension headers (other than a first Hop-by-Hop), ip6ip6 to another
	// address, unknown protocols: a worker validates the chain.
	if ((port_flags & F_EXT_HDR) && !plain_upper(ip6->nexthdr))
		return to_worker_held(ctx, ip6, end, R_EXT_HDR, 0, len);
	return to_peer_held(ctx, ip6, end, R_IPV6_PASS, len);
}

SEC("xdp")
int dxp_redirect(struct xdp_md *ctx)
{
	return bpf_redirect_map(&tx_ports, port_index, XDP_DROP);
}

// dxp_tc_peer moves every frame that reaches TC ingress of a port to the
// peer port. With AttachPortPeerViaTC, dxp_steer runs natively and lets the
// frames that cross the bump up with XDP_PASS (instead of a native
// redirect, which a veth refuses unless its neighbour runs XDP); this
// program redirects them on the skb path, which every device accepts and
// which keeps the skb's checksum state and GSO. Loaded by attachTCPeer
// (tcpeer.go), one copy per port.
volatile const __u32 peer_ifindex = 0;

SEC("tc")
int dxp_tc_peer(struct __sk_buff *skb)
{
	return bpf_redirect(peer_ifindex, 0);
}

// dxp_redirect_err counts the XDP redirects of this node's dxp_steer
// programs that the kernel refused (tracepoint xdp:xdp_redirect_err), by
// port and target: a veth whose peer has no XDP program and no GRO refuses
// native redirects, an AF_XDP socket whose RX ring is full refuses frames.
// Loaded once per node by loadRedirectWatch (redirerr.go).

// Layout of /sys/kernel/tracing/events/xdp/xdp_redirect_err/format
// (stable since Linux 4.18).
struct redirect_err_args {
	__u64 common;
	int prog_id;
	__u32 act;
	int ifindex;
	int err;
	int to_ifindex;
	__u32 map_id;
	int map_index;
};

// Targets, the second index of redirect_errs.
#define TGT_PEER 0  /* the peer port (tx_ports devmap) */
#define TGT_XSK 1   /* an AF_XDP socket (xsks map) */
#define TGT_OTHER 2 /* anything else */
#define NUM_TGT 3

// Map ids of tx_ports and xsks as the kernel numbered them (set by the
// loader).
volatile const __u32 peer_map_id = 0;
volatile const __u32 xsk_map_id = 0;

// watch: program id of a port's dxp_steer -> port index.
struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, 16);
	__type(key, __u32);
	__type(value, __u32);
} watch SEC(".maps");

// redirect_errs[port*NUM_TGT + target]: refused redirects, per CPU.
struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__uint(max_entries, MAX_PORTS * NUM_TGT);
	__type(key, __u32);
	__type(value, __u64);
} redirect_errs SEC(".maps");

SEC("tracepoint/xdp/xdp_redirect_err")
int dxp_redirect_err(struct redirect_err_args *ctx)
{
	__u32 id = ctx->prog_id;
	__u32 *port = bpf_map_lookup_elem(&watch, &id);
	if (!port || *port >= MAX_PORTS)
		return 0;
	__u32 tgt = TGT_OTHER;
	if (ctx->map_id == peer_map_id)
		tgt = TGT_PEER;
	else if (ctx->map_id == xsk_map_id)
		tgt = TGT_XSK;
	__u32 key = *port * NUM_TGT + tgt;
	__u64 *n = bpf_map_lookup_elem(&redirect_errs, &key);
	if (n)
		__sync_fetch_and_add(n, 1);
	return 0;
}

char LICENSE[] SEC("license") = "Dual BSD/GPL";
