// Package xsktest holds helpers for tests of the AF_XDP data plane: a
// minimal steering XDP program and a UDP stream generator and checker with a
// per-packet sequence number and checksum. It is imported by tests only.
package xsktest

import (
	"errors"
	"fmt"

	"github.com/cilium/ebpf"
	"github.com/cilium/ebpf/asm"
	"github.com/cilium/ebpf/link"
)

// SteerIPv6 selects which frames the test steering program sends to the
// XSKMAP; the rest is bpf_redirect-ed to the peer port.
type SteerIPv6 int

const (
	// SteerAllIPv6 sends every IPv6 frame (ethertype 0x86dd) to the socket.
	SteerAllIPv6 SteerIPv6 = iota
	// SteerIPv6NoICMP sends IPv6 frames whose first next header is not
	// ICMPv6 (58) to the socket, so neighbour discovery stays in the kernel.
	SteerIPv6NoICMP
)

// Steer is a test steering program attached to one port: IPv6 frames go to
// the AF_XDP socket registered for their RX queue, everything else is
// redirected to the peer port. It stands in for package ebpf in tests of
// package xsk.
type Steer struct {
	Prog   *ebpf.Program
	XSKMap *ebpf.Map
	link   link.Link
}

// AttachSteer loads the program for a port with interface index ifindex
// whose peer port has index peer, and attaches it with flags (for example
// link.XDPGenericMode). It must run on a thread inside the ports' network
// namespace. queues is the XSKMAP size.
func AttachSteer(ifindex, peer, queues int, what SteerIPv6, flags link.XDPAttachFlags) (*Steer, error) {
	m, err := ebpf.NewMap(&ebpf.MapSpec{
		Name: "dxp_t_xsks", Type: ebpf.XSKMap, KeySize: 4, ValueSize: 4, MaxEntries: uint32(queues),
	})
	if err != nil {
		return nil, fmt.Errorf("xsktest: XSKMAP: %w", err)
	}
	insns := asm.Instructions{
		asm.Mov.Reg(asm.R6, asm.R1),
		asm.LoadMem(asm.R2, asm.R1, 0, asm.Word), // data
		asm.LoadMem(asm.R3, asm.R1, 4, asm.Word), // data_end
		asm.Mov.Reg(asm.R4, asm.R2),
		asm.Add.Imm(asm.R4, 14+40),
		asm.JGT.Reg(asm.R4, asm.R3, "peer"),
		asm.LoadMem(asm.R4, asm.R2, 12, asm.Half),
		asm.JNE.Imm(asm.R4, 0xdd86, "peer"), // 0x86dd in network order, loaded little-endian
	}
	if what == SteerIPv6NoICMP {
		insns = append(insns,
			asm.LoadMem(asm.R4, asm.R2, 14+6, asm.Byte),
			asm.JEq.Imm(asm.R4, 58, "peer"),
		)
	}
	insns = append(insns,
		asm.LoadMem(asm.R2, asm.R6, 16, asm.Word), // rx_queue_index
		asm.LoadMapPtr(asm.R1, m.FD()),
		asm.Mov.Imm(asm.R3, 1), // XDP_DROP when no socket is registered
		asm.FnRedirectMap.Call(),
		asm.Return(),
		asm.Mov.Imm(asm.R1, int32(peer)).WithSymbol("peer"),
		asm.Mov.Imm(asm.R2, 0),
		asm.FnRedirect.Call(),
		asm.Return(),
	)
	prog, err := ebpf.NewProgram(&ebpf.ProgramSpec{Name: "dxp_t_steer", Type: ebpf.XDP, Instructions: insns, License: "GPL"})
	if err != nil {
		m.Close()
		return nil, fmt.Errorf("xsktest: load steering program: %w", err)
	}
	l, err := link.AttachXDP(link.XDPOptions{Program: prog, Interface: ifindex, Flags: flags})
	if err != nil {
		prog.Close()
		m.Close()
		return nil, fmt.Errorf("xsktest: attach to ifindex %d: %w", ifindex, err)
	}
	return &Steer{Prog: prog, XSKMap: m, link: l}, nil
}

// Register puts socket fd at XSKMAP[queue].
func (s *Steer) Register(queue, fd int) error {
	if err := s.XSKMap.Put(uint32(queue), uint32(fd)); err != nil {
		return fmt.Errorf("xsktest: XSKMAP[%d] = fd %d: %w", queue, fd, err)
	}
	return nil
}

// Close detaches and unloads the program.
func (s *Steer) Close() error {
	return errors.Join(s.link.Close(), s.Prog.Close(), s.XSKMap.Close())
}
