//go:build ignore

// SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause)
//
// dxp_pass hands every frame to the kernel stack. A veth accepts frames
// that XDP redirects into its peer (ndo_xdp_xmit) only while this end has a
// native XDP program (or GRO), so testbeds attach this to the far ends of
// the ports dexplane forwards into. Kept in its own object, without maps, so
// `ip link set dev X xdpdrv obj pass_bpfel.o sec xdp` can load it too.

#include <linux/bpf.h>
#include <bpf/bpf_helpers.h>

SEC("xdp")
int dxp_pass(struct xdp_md *ctx)
{
	return XDP_PASS;
}

char LICENSE[] SEC("license") = "Dual BSD/GPL";
