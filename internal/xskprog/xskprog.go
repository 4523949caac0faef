// Package xskprog builds the minimal XDP program that hands frames to
// AF_XDP sockets by RX queue, for users of package dataplane/xsk that are
// not the product's data plane (whose program is package steering's steer.c):
// the benchmark sink, which takes every frame, and the data plane's tests,
// which take IPv6 and pass the rest to the peer port.
//
// The program is assembled in Go (cilium/ebpf/asm), so it needs no
// compiler; it needs CAP_BPF and CAP_NET_ADMIN (root) and a kernel with
// XSKMAP (Linux ≥ 4.18) and bpf_link for XDP (≥ 5.9).
package xskprog

import (
	"errors"
	"fmt"

	"github.com/cilium/ebpf"
	"github.com/cilium/ebpf/asm"
	"github.com/cilium/ebpf/link"
	"github.com/vishvananda/netlink"
	"github.com/vishvananda/netlink/nl"
	"golang.org/x/sys/unix"
)

// Match selects which frames go to the sockets.
type Match int

const (
	// MatchAll sends every frame to the socket of its RX queue.
	MatchAll Match = iota
	// MatchIPv6 sends frames of ethertype 0x86dd (with a whole IPv6 header).
	MatchIPv6
	// MatchIPv6NoICMP sends IPv6 frames whose first next header is not
	// ICMPv6 (58), so neighbour discovery stays in the kernel.
	MatchIPv6NoICMP
)

// Config describes the program of one device.
type Config struct {
	Ifindex int   // device to attach to
	Queues  int   // XSKMAP size: queues 0..Queues-1 may hold a socket
	Match   Match // frames for the sockets
	// Peer, when positive, is the interface index frames that do not match
	// are bpf_redirect-ed to (a bump in the wire's other port); 0 passes
	// them to the kernel stack (XDP_PASS).
	Peer int
	// Flags are the attach flags, e.g. link.XDPGenericMode; 0 lets the
	// kernel choose (native where the driver supports it).
	Flags link.XDPAttachFlags
	// Replace, when set, takes the device over from an XDP program that
	// was attached by netlink rather than bpf_link (such as a testbed
	// host's XDP_PASS, which veth needs on the peer of a redirect target)
	// and puts that program back, in its mode, on Close. Without it,
	// Attach fails on a device that has a program.
	Replace bool
}

// Program is a loaded and attached redirect program with its XSKMAP.
// A matching frame whose queue has no socket registered is dropped.
type Program struct {
	Prog   *ebpf.Program
	XSKMap *ebpf.Map
	link   link.Link

	// Set when the program replaced a netlink-attached one (Config.Replace).
	ifindex  int
	nlFlags  int           // XDP_FLAGS_* mode both programs use
	replaced *ebpf.Program // the program to put back, or nil
}

// Attach loads the program and attaches it to cfg.Ifindex in the calling
// thread's network namespace (replacing nothing: attaching to a device that
// already has an XDP program fails).
func Attach(cfg Config) (*Program, error) {
	prog, m, err := load(cfg)
	if err != nil {
		return nil, err
	}
	l, err := link.AttachXDP(link.XDPOptions{Program: prog, Interface: cfg.Ifindex, Flags: cfg.Flags})
	if err == nil {
		return &Program{Prog: prog, XSKMap: m, link: l}, nil
	}
	if cfg.Replace && errors.Is(err, unix.EBUSY) {
		p := &Program{Prog: prog, XSKMap: m, ifindex: cfg.Ifindex}
		if err = p.replace(cfg.Flags); err == nil {
			return p, nil
		}
	}
	prog.Close()
	m.Close()
	return nil, fmt.Errorf("xskprog: attach to ifindex %d: %w", cfg.Ifindex, err)
}

// replace attaches p.Prog by netlink in place of the device's current
// program, remembering that one.
func (p *Program) replace(flags link.XDPAttachFlags) error {
	dev, err := netlink.LinkByIndex(p.ifindex)
	if err != nil {
		return err
	}
	p.nlFlags = unix.XDP_FLAGS_DRV_MODE
	if flags&link.XDPGenericMode != 0 {
		p.nlFlags = unix.XDP_FLAGS_SKB_MODE
	}
	if x := dev.Attrs().Xdp; x != nil && x.ProgId != 0 {
		switch x.AttachMode {
		case nl.XDP_ATTACHED_SKB:
			p.nlFlags = unix.XDP_FLAGS_SKB_MODE
		case nl.XDP_ATTACHED_DRV:
			p.nlFlags = unix.XDP_FLAGS_DRV_MODE
		}
		if p.replaced, err = ebpf.NewProgramFromID(ebpf.ProgramID(x.ProgId)); err != nil {
			return fmt.Errorf("open the attached XDP program %d: %w", x.ProgId, err)
		}
	}
	if err := netlink.LinkSetXdpFdWithFlags(dev, p.Prog.FD(), p.nlFlags); err != nil {
		if p.replaced != nil {
			p.replaced.Close()
			p.replaced = nil
		}
		return fmt.Errorf("replace the attached XDP program: %w", err)
	}
	return nil
}

// load builds the XSKMAP and loads the program for cfg without attaching it.
func load(cfg Config) (*ebpf.Program, *ebpf.Map, error) {
	m, err := ebpf.NewMap(&ebpf.MapSpec{
		Name: "dxp_xsks", Type: ebpf.XSKMap, KeySize: 4, ValueSize: 4, MaxEntries: uint32(max(cfg.Queues, 1)),
	})
	if err != nil {
		return nil, nil, fmt.Errorf("xskprog: XSKMAP of %d queues: %w", cfg.Queues, err)
	}
	insns := asm.Instructions{asm.Mov.Reg(asm.R6, asm.R1)}
	if cfg.Match != MatchAll {
		insns = append(insns,
			asm.LoadMem(asm.R2, asm.R1, 0, asm.Word), // data
			asm.LoadMem(asm.R3, asm.R1, 4, asm.Word), // data_end
			asm.Mov.Reg(asm.R4, asm.R2),
			asm.Add.Imm(asm.R4, 14+40),
			asm.JGT.Reg(asm.R4, asm.R3, "other"),
			asm.LoadMem(asm.R4, asm.R2, 12, asm.Half),
			asm.JNE.Imm(asm.R4, 0xdd86, "other"), // 0x86dd in network order, loaded little-endian
		)
		if cfg.Match == MatchIPv6NoICMP {
			insns = append(insns,
				asm.LoadMem(asm.R4, asm.R2, 14+6, asm.Byte),
				asm.JEq.Imm(asm.R4, 58, "other"),
			)
		}
	}
	insns = append(insns,
		asm.LoadMem(asm.R2, asm.R6, 16, asm.Word), // rx_queue_index
		asm.LoadMapPtr(asm.R1, m.FD()),
		asm.Mov.Imm(asm.R3, 1), // XDP_DROP when no socket is registered
		asm.FnRedirectMap.Call(),
		asm.Return(),
	)
	switch {
	case cfg.Match == MatchAll:
		// Nothing else: the verifier rejects unreachable instructions.
	case cfg.Peer > 0:
		insns = append(insns,
			asm.Mov.Imm(asm.R1, int32(cfg.Peer)).WithSymbol("other"),
			asm.Mov.Imm(asm.R2, 0),
			asm.FnRedirect.Call(),
			asm.Return(),
		)
	default:
		insns = append(insns,
			asm.Mov.Imm(asm.R0, 2).WithSymbol("other"), // XDP_PASS
			asm.Return(),
		)
	}
	prog, err := ebpf.NewProgram(&ebpf.ProgramSpec{Name: "dxp_xsk_redir", Type: ebpf.XDP, Instructions: insns, License: "GPL"})
	if err != nil {
		m.Close()
		return nil, nil, fmt.Errorf("xskprog: load redirect program: %w", err)
	}
	return prog, m, nil
}

// Register puts socket fd at XSKMAP[queue].
func (p *Program) Register(queue, fd int) error {
	if err := p.XSKMap.Put(uint32(queue), uint32(fd)); err != nil {
		return fmt.Errorf("xskprog: XSKMAP[%d] = fd %d: %w", queue, fd, err)
	}
	return nil
}

// Close detaches and unloads the program, putting back a program it
// replaced. It must run in the device's network namespace when the program
// replaced another.
func (p *Program) Close() error {
	var errs []error
	if p.link != nil {
		errs = append(errs, p.link.Close())
	} else {
		fd := -1
		if p.replaced != nil {
			fd = p.replaced.FD()
		}
		dev, err := netlink.LinkByIndex(p.ifindex)
		if err == nil {
			err = netlink.LinkSetXdpFdWithFlags(dev, fd, p.nlFlags)
		}
		if err != nil {
			errs = append(errs, fmt.Errorf("xskprog: restore the XDP program of ifindex %d: %w", p.ifindex, err))
		}
		if p.replaced != nil {
			errs = append(errs, p.replaced.Close())
		}
	}
	return errors.Join(append(errs, p.Prog.Close(), p.XSKMap.Close())...)
}
