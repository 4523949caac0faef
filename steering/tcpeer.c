//go:build ignore

// SPDX-License-Identifier: GPL-2.0
// dxp_tc_peer moves every frame that reaches TC ingress of a port to the
// peer port. With AttachPortPeerViaTC, dxp_steer runs natively and lets the
// frames that cross the bump up with XDP_PASS (instead of a native
// redirect, which a veth refuses unless its neighbour runs XDP); this
// program redirects them on the skb path, which every device accepts and
// which keeps the skb's checksum state and GSO. Only steering/tcpeer.go loads it.
#include <linux/bpf.h>
#include <linux/pkt_cls.h>
#include <bpf/bpf_helpers.h>

volatile const __u32 peer_ifindex = 0;

SEC("tc")
int dxp_tc_peer(struct __sk_buff *skb)
{
	return bpf_redirect(peer_ifindex, 0);
}

char LICENSE[] SEC("license") = "GPL";
