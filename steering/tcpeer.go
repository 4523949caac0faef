package steering

//go:generate go run github.com/cilium/ebpf/cmd/bpf2go -cc clang -cflags "-O2 -g -Wall -Werror -I/usr/include/x86_64-linux-gnu" -target bpfel -no-global-types tcpeer tcpeer.c

import (
	"fmt"

	"github.com/cilium/ebpf"
	"github.com/cilium/ebpf/link"
)

// attachTCPeer attaches dxp_tc_peer to TC ingress (tcx, Linux ≥ 6.6) of
// ifindex, redirecting to peerIfindex.
func attachTCPeer(ifindex, peerIfindex int) (*ebpf.Program, link.Link, error) {
	spec, err := loadTcpeer()
	if err != nil {
		return nil, nil, fmt.Errorf("ebpf: parse tc object: %w", err)
	}
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
