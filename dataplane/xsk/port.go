package xsk

import (
	"errors"
	"fmt"
	"log/slog"
	"time"

	"github.com/dexplane/dexplane/dataplane/handle"
	"golang.org/x/sys/unix"
)

// PortConfig describes a Port: one AF_XDP socket on its own UMEM.
type PortConfig struct {
	Ifindex int // device the socket binds to
	Queue   int // device queue id
	// Umem sizes the port's UMEM. Zero fields get FrameSize2K, no headroom
	// and FillSize+TxSize frames.
	Umem UmemConfig
	// Ring sizes in entries, powers of two; 0 means DefaultRingSize
	// (DefaultFillSize for the fill ring). A sender needs a large TX and
	// completion ring and may keep RX and fill small; a receiver the
	// reverse.
	RxSize, TxSize, FillSize, CompletionSize uint32
	// Mode is the bind mode (ModeAuto: zero-copy where the driver can).
	Mode BindMode
	// BindRetry is how long OpenPort retries a bind that fails with EBUSY:
	// the kernel releases a closed socket's queue asynchronously, so a
	// bind right after a close may find the queue still held. 0: no retry.
	BindRetry time.Duration
	// Logger receives the bind line; nil discards it.
	Logger *slog.Logger
}

// Port is an AF_XDP socket with a UMEM of its own, for a user that only
// sends or only receives on a queue — a traffic generator or a sink —
// rather than forwarding between two ports as a Worker does. It keeps its
// free UMEM frames itself: Transmit takes frames from the free list and
// Complete returns them; Refill hands free frames to the kernel and Receive
// returns them once the callback has seen the packet.
//
// A Port is not safe for concurrent use: one goroutine owns it. None of its
// methods but OpenPort and Close allocate.
type Port struct {
	umem *Umem
	sock *Socket
	area []byte
	// fmask is ^(FrameSize-1): the chunk base of an address.
	fmask uint64
	fsize uint64
	free  []uint64     // chunk base addresses owned by user space
	frame handle.Frame // reused by Receive
}

// OpenPort creates the UMEM and binds the socket in the calling thread's
// network namespace. Every UMEM frame starts in the free list; call Refill
// before receiving. A receiving port still needs an XDP program that
// redirects its queue into an XSKMAP holding Socket().FD().
func OpenPort(cfg PortConfig) (*Port, error) {
	if cfg.FillSize == 0 {
		cfg.FillSize = DefaultFillSize
	}
	for _, p := range []*uint32{&cfg.RxSize, &cfg.TxSize, &cfg.CompletionSize} {
		if *p == 0 {
			*p = DefaultRingSize
		}
	}
	if cfg.Umem.FrameSize == 0 {
		cfg.Umem.FrameSize = FrameSize2K
	}
	if cfg.Umem.NumFrames == 0 {
		cfg.Umem.NumFrames = int(cfg.FillSize + cfg.TxSize)
	}
	if cfg.Logger == nil {
		cfg.Logger = discardLogger
	}
	deadline := time.Now().Add(cfg.BindRetry)
	for {
		p, err := openPort(cfg)
		if err == nil {
			return p, nil
		}
		if !errors.Is(err, unix.EBUSY) || time.Now().After(deadline) {
			return nil, err
		}
		time.Sleep(20 * time.Millisecond)
	}
}

func openPort(cfg PortConfig) (*Port, error) {
	u, err := NewUmem(cfg.Umem)
	if err != nil {
		return nil, err
	}
	s, err := u.NewSocket(SocketConfig{Ifindex: cfg.Ifindex, Queue: cfg.Queue,
		RxSize: cfg.RxSize, TxSize: cfg.TxSize, FillSize: cfg.FillSize, CompletionSize: cfg.CompletionSize,
		Mode: cfg.Mode, Logger: cfg.Logger})
	if err != nil {
		_ = u.Close()
		return nil, err
	}
	p := &Port{umem: u, sock: s, area: u.area, fsize: u.frameSize, fmask: ^(u.frameSize - 1),
		free: make([]uint64, 0, u.numFrames)}
	for i := u.numFrames; i > 0; i-- {
		p.free = append(p.free, uint64(i-1)*p.fsize)
	}
	return p, nil
}

// Socket returns the port's socket, for XSKMAP registration and kernel
// statistics.
func (p *Port) Socket() *Socket { return p.sock }

// Free returns the number of UMEM frames in the free list.
func (p *Port) Free() int { return len(p.free) }

// Refill moves free frames onto the fill ring, as many as fit, and wakes
// the kernel if it asked for it; it returns how many.
func (p *Port) Refill() int {
	fr := &p.sock.fill
	n := min(fr.freeProd(fr.size), uint32(len(p.free)))
	if n == 0 {
		return 0
	}
	top := len(p.free) - 1
	for i := uint32(0); i < n; i++ {
		fr.addrs[(fr.cachedProd+i)&fr.mask] = p.free[top-int(i)]
	}
	p.free = p.free[:len(p.free)-int(n)]
	fr.submit(n)
	if p.sock.needWakeup && fr.needWakeup() {
		_ = wakeRx(p.sock.fd)
	}
	return int(n)
}

// Receive calls fn with every frame on the RX ring, returns their chunks to
// the free list and the ring entries to the kernel; it returns how many
// frames it took. fn gets one reused Frame with Buf (the whole UMEM chunk,
// headroom and XDP metadata in front of the packet), Off, Len and Queue
// set; it is valid only during the call, and what fn changes is ignored.
// Call Refill to hand the chunks back to the kernel.
func (p *Port) Receive(fn func(f *handle.Frame)) int {
	rx := &p.sock.rx
	n := rx.availCons(rx.size)
	f := &p.frame
	f.Queue = p.sock.queue
	for i := uint32(0); i < n; i++ {
		d := &rx.descs[(rx.cachedCons+i)&rx.mask]
		base := d.Addr & p.fmask
		f.Buf = p.area[base : base+p.fsize : base+p.fsize]
		f.Off, f.Len = int(d.Addr-base), int(d.Len)
		fn(f)
		p.free = append(p.free, base)
	}
	if n > 0 {
		rx.release(n)
	}
	return int(n)
}

// Complete moves transmitted frames from the completion ring to the free
// list; it returns how many.
func (p *Port) Complete() int {
	cr := &p.sock.comp
	n := cr.availCons(cr.size)
	for i := uint32(0); i < n; i++ {
		p.free = append(p.free, cr.addrs[(cr.cachedCons+i)&cr.mask]&p.fmask)
	}
	if n > 0 {
		cr.release(n)
	}
	return int(n)
}

// Transmit queues up to n frames on the TX ring, each in a frame taken from
// the free list: fill writes packet i (0, 1, …) into chunk, a whole UMEM
// frame, and returns its length in octets (1..len(chunk)). It returns how
// many frames it queued, fewer than n when the free list or the TX ring
// runs out. Nothing is sent before Kick.
func (p *Port) Transmit(n int, fill func(i int, chunk []byte) int) int {
	tx := &p.sock.tx
	m := min(uint32(max(n, 0)), uint32(len(p.free)))
	m = min(m, tx.freeProd(m))
	for i := uint32(0); i < m; i++ {
		addr := p.free[len(p.free)-1]
		p.free = p.free[:len(p.free)-1]
		l := fill(int(i), p.area[addr:addr+p.fsize:addr+p.fsize])
		tx.put(i, addr, l)
	}
	if m > 0 {
		tx.submit(m)
	}
	return int(m)
}

// TxPending returns how many queued TX descriptors the kernel has not
// taken yet.
func (p *Port) TxPending() int { return int(p.sock.tx.pending()) }

// maxPortKicks bounds the sendto calls of one Kick; copy mode moves a
// budget of frames per call (32 before Linux 6.17's XDP_MAX_TX_SKB_BUDGET).
const maxPortKicks = 64

// Kick asks the kernel to send what is on the TX ring, repeating while
// descriptors remain (copy mode sends a budget per call) until the kernel
// pushes back: EAGAIN, EBUSY and ENOBUFS mean "later" and return nil.
// Other errors (ENETDOWN, ENXIO: the link is gone) are returned.
func (p *Port) Kick() error {
	s := p.sock
	for k := 0; k < maxPortKicks && s.tx.pending() > 0; k++ {
		if s.needWakeup && !s.tx.needWakeup() {
			return nil
		}
		switch e := kick(s.fd); e {
		case 0, unix.EINTR:
		case unix.EAGAIN, unix.EBUSY, unix.ENOBUFS:
			return nil
		default:
			return fmt.Errorf("xsk: sendto on ifindex %d queue %d: %w", s.ifindex, s.queue, e)
		}
	}
	return nil
}

// Close releases the socket and the UMEM.
func (p *Port) Close() error {
	return errors.Join(p.sock.Close(), p.umem.Close())
}

// WaitRx blocks in poll(2) until one of ports has received frames or
// timeout passes; EINTR counts as a wake-up. Poll errors on a socket
// (POLLERR: device gone) are returned.
func WaitRx(ports []*Port, timeout time.Duration) error {
	var one [1]unix.PollFd
	fds := one[:0]
	if len(ports) > 1 {
		fds = make([]unix.PollFd, 0, len(ports))
	}
	for _, p := range ports {
		fds = append(fds, unix.PollFd{Fd: int32(p.sock.fd), Events: unix.POLLIN})
	}
	ts := unix.NsecToTimespec(int64(timeout))
	if _, err := unix.Ppoll(fds, &ts, nil); err != nil && err != unix.EINTR {
		return fmt.Errorf("xsk: poll %d AF_XDP sockets: %w", len(fds), err)
	}
	for i, f := range fds {
		if f.Revents&(unix.POLLERR|unix.POLLNVAL) != 0 {
			s := ports[i].sock
			return fmt.Errorf("xsk: poll: socket on ifindex %d queue %d in error (revents %#x)", s.ifindex, s.queue, f.Revents)
		}
	}
	return nil
}
