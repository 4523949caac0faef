package steering

import (
	"fmt"

	"github.com/cilium/ebpf"
	"github.com/cilium/ebpf/link"
)

// attachTCPeer loads dxp_tc_peer from spec (a copy of the node's, which it
// changes) and attaches it to TC ingress (tcx, Linux ≥ 6.6) of ifindex,
// redirecting to peerIfindex. It uses no maps.
func attachTCPeer(spec *ebpf.CollectionSpec, ifindex, peerIfindex int) (*ebpf.Program, link.Link, error) {
	if err := spec.Variables["peer_ifindex"].Set(uint32(peerIfindex)); err != nil {
		return nil, nil, fmt.Errorf("ebpf: set peer_ifindex: %w", err)
	}
	var objs struct {
		P *ebpf.Program `ebpf:"dxp_tc_peer"`
	}
	if err := spec.LoadAndAssign(&objs, nil); err != nil {
		return nil, nil, fmt.Errorf("ebpf: load dxp_tc_peer: %w", err)
	}
	l, err := link.AttachTCX(link.TCXOptions{Interface: ifindex, Program: objs.P, Attach: ebpf.AttachTCXIngress})
	if err != nil {
		objs.P.Close()
		return nil, nil, fmt.Errorf("ebpf: attach dxp_tc_peer to tc ingress of ifindex %d: %w", ifindex, err)
	}
	return objs.P, l, nil
}
