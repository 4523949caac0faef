//go:build ignore

// SPDX-License-Identifier: GPL-2.0
// dxp_redirect_err counts the XDP redirects of this node's dxp_steer
// programs that the kernel refused (tracepoint xdp:xdp_redirect_err), by
// port and target: a veth whose peer has no XDP program and no GRO refuses
// native redirects, an AF_XDP socket whose RX ring is full refuses frames.
// Only steering/redirerr.go loads it; it shares nothing with steer.c.
#include <linux/bpf.h>
#include <bpf/bpf_helpers.h>

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
	__uint(max_entries, 2 * NUM_TGT);
	__type(key, __u32);
	__type(value, __u64);
} redirect_errs SEC(".maps");

SEC("tracepoint/xdp/xdp_redirect_err")
int dxp_redirect_err(struct redirect_err_args *ctx)
{
	__u32 id = ctx->prog_id;
	__u32 *port = bpf_map_lookup_elem(&watch, &id);
	if (!port || *port > 1)
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

char LICENSE[] SEC("license") = "GPL";
