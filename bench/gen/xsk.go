package gen

import (
	"errors"
	"fmt"
	"time"

	"github.com/vishvananda/netlink"

	"github.com/dexplane/dexplane/dataplane/xsk"
	"github.com/dexplane/dexplane/internal/xskprog"
)

// The generator and the sink are users of dataplane/xsk of another kind
// than the forwarding worker: each socket is an xsk.Port (one socket on a
// UMEM of its own) that only sends or only receives.
//
// UMEM and ring sizes. A 128-frame UMEM let the fill ring run dry (2–9 %
// loss in a probe), so the generator uses 4096 frames and the sink 16384:
// on a shared 2-core machine the sink can be off the CPU for tens of
// milliseconds, and at 400 kpps its RX ring must hold what arrives meanwhile
// (8192 frames = 20 ms). The rings that carry frames hold all of them, so
// completions and fills never overflow.
const (
	umemFrames     = 4096
	sinkUmemFrames = 16384
	frameSize      = xsk.FrameSize2K
	txRingSize     = 2048
	rxRingSize     = 8192
	smallRing      = 64
)

// bindRetry is how long a bind that fails with EBUSY is retried: the kernel
// releases a closed socket's queue asynchronously, and the harness opens and
// closes sockets on the same queues hundreds of times.
const bindRetry = 3 * time.Second

// openPort binds a port to queue q of ifindex with rings for a sender (its
// TX and completion rings hold every UMEM frame) or a receiver (its fill
// ring holds every frame).
func openPort(ifindex, q int, send bool) (*xsk.Port, error) {
	cfg := xsk.PortConfig{Ifindex: ifindex, Queue: q, BindRetry: bindRetry,
		Umem:   xsk.UmemConfig{FrameSize: frameSize, NumFrames: sinkUmemFrames},
		RxSize: rxRingSize, FillSize: sinkUmemFrames, CompletionSize: smallRing, TxSize: smallRing}
	if send {
		cfg.Umem.NumFrames = umemFrames
		cfg.RxSize, cfg.FillSize, cfg.CompletionSize, cfg.TxSize = smallRing, smallRing, umemFrames, txRingSize
	}
	return xsk.OpenPort(cfg)
}

// openTX binds send-only ports to queues 0..queues-1 of ifname in the
// calling thread's network namespace. No XDP program is needed to transmit.
// On a veth, what is sent on TX queue q arrives on the peer's RX queue q.
func openTX(ifname string, queues int) (_ []*xsk.Port, err error) {
	link, err := netlink.LinkByName(ifname)
	if err != nil {
		return nil, fmt.Errorf("find interface %q: %w", ifname, err)
	}
	var ports []*xsk.Port
	defer func() {
		if err != nil {
			for _, p := range ports {
				p.Close()
			}
		}
	}()
	for q := range max(queues, 1) {
		p, err := openPort(link.Attrs().Index, q, true)
		if err != nil {
			return nil, fmt.Errorf("AF_XDP TX socket on %s queue %d: %w", ifname, q, err)
		}
		ports = append(ports, p)
	}
	return ports, nil
}

// rxPort is a receive-only port on each of queues 0..n-1 of an interface,
// with an XDP program redirecting every frame of each queue to its socket.
// The program also satisfies veth's rule that the peer of a device
// receiving bpf_redirect must have an XDP program attached.
type rxPort struct {
	prog  *xskprog.Program
	ports []*xsk.Port
}

// openRX attaches the redirect program to ifname (in place of a program
// attached there by netlink, such as a testbed host's XDP_PASS, which close
// puts back), binds a receive port to each of queues 0..queues-1 and fills
// their fill rings.
func openRX(ifname string, queues int) (_ *rxPort, err error) {
	link, err := netlink.LinkByName(ifname)
	if err != nil {
		return nil, fmt.Errorf("find interface %q: %w", ifname, err)
	}
	queues = max(queues, 1)
	r := &rxPort{}
	defer func() {
		if err != nil {
			r.close()
		}
	}()
	if r.prog, err = xskprog.Attach(xskprog.Config{Ifindex: link.Attrs().Index, Queues: queues, Match: xskprog.MatchAll, Replace: true}); err != nil {
		return nil, fmt.Errorf("XDP redirect program on %s: %w", ifname, err)
	}
	for q := range queues {
		p, err := openPort(link.Attrs().Index, q, false)
		if err != nil {
			return nil, fmt.Errorf("AF_XDP RX socket on %s queue %d: %w", ifname, q, err)
		}
		r.ports = append(r.ports, p)
		p.Refill()
		if err = r.prog.Register(q, p.Socket().FD()); err != nil {
			return nil, fmt.Errorf("register AF_XDP socket of %s queue %d: %w", ifname, q, err)
		}
	}
	return r, nil
}

// close detaches the program and releases the ports; safe on a partly
// opened port.
func (r *rxPort) close() error {
	var errs []error
	if r.prog != nil {
		errs = append(errs, r.prog.Close())
	}
	for _, p := range r.ports {
		errs = append(errs, p.Close())
	}
	return errors.Join(errs...)
}
