package gen

import (
	"errors"
	"fmt"

	"github.com/asavie/xdp"
	"github.com/vishvananda/netlink"
	"golang.org/x/sys/unix"
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

// openTX binds TX-only sockets to queues 0..queues-1 of ifname in the
// calling thread's network namespace, one UMEM each. No XDP program is
// needed to transmit. On a veth, what is sent on TX queue q arrives on the
// peer's RX queue q.
func openTX(ifname string, queues int) (_ []*xsk, err error) {
	link, err := netlink.LinkByName(ifname)
	if err != nil {
		return nil, fmt.Errorf("find interface %q: %w", ifname, err)
	}
	var socks []*xsk
	defer func() {
		if err != nil {
			for _, x := range socks {
				x.close()
			}
		}
	}()
	for q := range max(queues, 1) {
		x, err := newXSK(link.Attrs().Index, xskConfig{Frames: umemFrames, FrameSize: frameSize,
			Fill: smallRing, Completion: umemFrames, TX: txRingSize, Queue: q})
		if err != nil {
			return nil, fmt.Errorf("AF_XDP TX socket on %s queue %d: %w", ifname, q, err)
		}
		socks = append(socks, x)
	}
	return socks, nil
}

// rxPort is a receive-only AF_XDP socket on each of queues 0..n-1 of an
// interface, with asavie/xdp's built-in XDP program redirecting each queue
// to its socket. The program also satisfies veth's rule that the peer of a
// device receiving bpf_redirect must have an XDP program attached.
type rxPort struct {
	ifindex int
	prog    *xdp.Program
	socks   []*xsk
}

// openRX attaches the redirect program to ifname (replacing any XDP program
// already there), binds a receive socket to each of queues 0..queues-1 and
// fills their fill rings.
func openRX(ifname string, queues int) (_ *rxPort, err error) {
	link, err := netlink.LinkByName(ifname)
	if err != nil {
		return nil, fmt.Errorf("find interface %q: %w", ifname, err)
	}
	queues = max(queues, 1)
	p := &rxPort{ifindex: link.Attrs().Index}
	defer func() {
		if err != nil {
			p.close()
		}
	}()
	if p.prog, err = xdp.NewProgram(queues); err != nil {
		return nil, fmt.Errorf("load XDP redirect program: %w", err)
	}
	if err = p.prog.Attach(p.ifindex); err != nil {
		return nil, fmt.Errorf("attach XDP program to %s: %w", ifname, err)
	}
	for q := range queues {
		x, err := newXSK(p.ifindex, xskConfig{Frames: sinkUmemFrames, FrameSize: frameSize,
			Fill: sinkUmemFrames, Completion: smallRing, RX: rxRingSize, Queue: q})
		if err != nil {
			return nil, fmt.Errorf("AF_XDP RX socket on %s queue %d: %w", ifname, q, err)
		}
		p.socks = append(p.socks, x)
		x.refill()
		if err = p.prog.Register(q, x.fd); err != nil {
			return nil, fmt.Errorf("register AF_XDP socket of %s queue %d: %w", ifname, q, err)
		}
	}
	return p, nil
}

// close detaches the program and releases the sockets; safe on a partly
// opened port.
func (p *rxPort) close() error {
	var errs []error
	if p.prog != nil {
		for q := range p.socks {
			_ = p.prog.Unregister(q)
		}
		if err := p.prog.Detach(p.ifindex); err != nil {
			errs = append(errs, fmt.Errorf("detach XDP program from ifindex %d: %w", p.ifindex, err))
		}
		if err := p.prog.Close(); err != nil {
			errs = append(errs, err)
		}
	}
	for _, x := range p.socks {
		if err := x.close(); err != nil {
			errs = append(errs, err)
		}
	}
	return errors.Join(errs...)
}

// waitAny blocks in poll(2) until one of socks can receive or timeoutMs
// passes.
func waitAny(socks []*xsk, timeoutMs int) error {
	if len(socks) == 1 {
		return socks[0].wait(timeoutMs)
	}
	fds := make([]unix.PollFd, len(socks))
	for i, x := range socks {
		fds[i] = unix.PollFd{Fd: int32(x.fd), Events: unix.POLLIN}
	}
	return pollIn(fds, timeoutMs)
}
