package gen

import (
	"errors"
	"fmt"

	"github.com/asavie/xdp"
	"github.com/vishvananda/netlink"
)

// UMEM and ring sizes. asavie/xdp's default of 128 frames let the fill
// ring run dry (2–9 % loss in a probe), so the generator uses 4096 frames
// and the sink 16384: on a shared 2-core machine the sink can be off the
// CPU for tens of milliseconds, and at 400 kpps its RX ring must hold what
// arrives meanwhile (8192 frames = 20 ms). The rings that carry frames
// hold all of them, so completions and fills never overflow.
const (
	umemFrames     = 4096
	sinkUmemFrames = 16384
	frameSize      = 2048
	txRingSize     = 2048
	rxRingSize     = 8192
	smallRing      = 64
)

// openTX binds a TX-only socket to queue 0 of ifname in the calling
// thread's network namespace. No XDP program is needed to transmit.
func openTX(ifname string) (*xsk, error) {
	link, err := netlink.LinkByName(ifname)
	if err != nil {
		return nil, fmt.Errorf("find interface %q: %w", ifname, err)
	}
	x, err := newXSK(link.Attrs().Index, xskConfig{Frames: umemFrames, FrameSize: frameSize,
		Fill: smallRing, Completion: umemFrames, TX: txRingSize})
	if err != nil {
		return nil, fmt.Errorf("AF_XDP TX socket on %s: %w", ifname, err)
	}
	return x, nil
}

// rxPort is a receive-only AF_XDP socket on queue 0 of an interface, with
// asavie/xdp's built-in XDP program redirecting that queue to it. The
// program also satisfies veth's rule that the peer of a device receiving
// bpf_redirect must have an XDP program attached.
type rxPort struct {
	ifindex int
	prog    *xdp.Program
	sock    *xsk
}

// openRX attaches the redirect program to ifname (replacing any XDP program
// already there), binds a receive socket to queue 0 and fills its fill ring.
func openRX(ifname string) (_ *rxPort, err error) {
	link, err := netlink.LinkByName(ifname)
	if err != nil {
		return nil, fmt.Errorf("find interface %q: %w", ifname, err)
	}
	p := &rxPort{ifindex: link.Attrs().Index}
	defer func() {
		if err != nil {
			p.close()
		}
	}()
	if p.prog, err = xdp.NewProgram(1); err != nil {
		return nil, fmt.Errorf("load XDP redirect program: %w", err)
	}
	if err = p.prog.Attach(p.ifindex); err != nil {
		return nil, fmt.Errorf("attach XDP program to %s: %w", ifname, err)
	}
	p.sock, err = newXSK(p.ifindex, xskConfig{Frames: sinkUmemFrames, FrameSize: frameSize,
		Fill: sinkUmemFrames, Completion: smallRing, RX: rxRingSize})
	if err != nil {
		return nil, fmt.Errorf("AF_XDP RX socket on %s: %w", ifname, err)
	}
	p.sock.refill()
	if err = p.prog.Register(0, p.sock.fd); err != nil {
		return nil, fmt.Errorf("register AF_XDP socket of %s: %w", ifname, err)
	}
	return p, nil
}

// close detaches the program and releases the socket; safe on a partly
// opened port.
func (p *rxPort) close() error {
	var errs []error
	if p.prog != nil {
		if p.sock != nil {
			_ = p.prog.Unregister(0)
		}
		if err := p.prog.Detach(p.ifindex); err != nil {
			errs = append(errs, fmt.Errorf("detach XDP program from ifindex %d: %w", p.ifindex, err))
		}
		if err := p.prog.Close(); err != nil {
			errs = append(errs, err)
		}
	}
	if p.sock != nil {
		if err := p.sock.close(); err != nil {
			errs = append(errs, err)
		}
	}
	return errors.Join(errs...)
}
