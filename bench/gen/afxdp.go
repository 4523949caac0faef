package gen

import (
	"errors"
	"fmt"
	"sync/atomic"
	"time"
	"unsafe"

	"golang.org/x/sys/unix"
)

// This file is a small AF_XDP socket of our own (golang.org/x/sys/unix +
// sync/atomic) for the generator and the sink. asavie/xdp v0.3.3 was tried
// first: its Socket.Close never unmaps the four ring mappings, so a closed
// socket stays bound to its queue (the next bind fails with EBUSY) and its
// pinned UMEM is never released until the process exits, which a harness
// running hundreds of measurements cannot afford; it also accesses ring
// indices without atomics and panics in Transmit on unexpected errno.
// asavie's XDP program (redirect to the queue's socket) is still used.

// xskRing is one of the four AF_XDP rings mapped from the kernel. The
// producer and consumer indices are shared with the kernel and accessed
// atomically (sequentially consistent, stronger than the acquire/release
// the protocol needs).
type xskRing struct {
	prod, cons *uint32
	descs      unsafe.Pointer // [size]uint64 or [size]unix.XDPDesc
	mask       uint32
	mem        []byte // the mapping, for munmap
}

// umemAddr returns a pointer to fill/completion ring entry i.
func (r *xskRing) umemAddr(i uint32) *uint64 {
	return (*uint64)(unsafe.Add(r.descs, uintptr(i&r.mask)*8))
}

// desc returns a pointer to RX/TX ring entry i.
func (r *xskRing) desc(i uint32) *unix.XDPDesc {
	return (*unix.XDPDesc)(unsafe.Add(r.descs, uintptr(i&r.mask)*unsafe.Sizeof(unix.XDPDesc{})))
}

// xskConfig sizes a socket. All ring sizes must be powers of two; a zero
// RX or TX size leaves that ring out.
type xskConfig struct {
	Frames, FrameSize        int
	Fill, Completion, RX, TX int
	Queue                    int
}

// xsk is an AF_XDP socket with its own UMEM. It is not safe for
// concurrent use: one goroutine owns it.
type xsk struct {
	fd        int
	umem      []byte
	frameSize uint64
	fill      xskRing
	comp      xskRing
	rx        xskRing
	tx        xskRing
	// free is a stack of UMEM frame addresses owned by user space.
	free []uint64
}

// bindRetry is how long newXSK retries a bind that fails with EBUSY.
const bindRetry = 3 * time.Second

// errRingSize is returned for a ring size that is not a power of two.
var errRingSize = errors.New("AF_XDP ring size must be a power of two")

func isPow2(n int) bool { return n > 0 && n&(n-1) == 0 }

// newXSK creates an AF_XDP socket bound to (ifindex, cfg.Queue) in the
// calling thread's network namespace. Copy or zero-copy is left to the
// kernel (veth: copy).
func newXSK(ifindex int, cfg xskConfig) (_ *xsk, err error) {
	for _, n := range []int{cfg.Fill, cfg.Completion} {
		if !isPow2(n) {
			return nil, fmt.Errorf("%w: %d", errRingSize, n)
		}
	}
	for _, n := range []int{cfg.RX, cfg.TX} {
		if n != 0 && !isPow2(n) {
			return nil, fmt.Errorf("%w: %d", errRingSize, n)
		}
	}
	if !isPow2(cfg.FrameSize) || cfg.Frames <= 0 {
		return nil, fmt.Errorf("AF_XDP UMEM of %d frames of %d octets: frame size must be a power of two", cfg.Frames, cfg.FrameSize)
	}
	fd, err := unix.Socket(unix.AF_XDP, unix.SOCK_RAW|unix.SOCK_CLOEXEC, 0)
	if err != nil {
		return nil, fmt.Errorf("socket(AF_XDP): %w", err)
	}
	x := &xsk{fd: fd, frameSize: uint64(cfg.FrameSize)}
	defer func() {
		if err != nil {
			x.close()
		}
	}()
	x.umem, err = unix.Mmap(-1, 0, cfg.Frames*cfg.FrameSize, unix.PROT_READ|unix.PROT_WRITE,
		unix.MAP_PRIVATE|unix.MAP_ANONYMOUS|unix.MAP_POPULATE)
	if err != nil {
		return nil, fmt.Errorf("mmap UMEM of %d octets: %w", cfg.Frames*cfg.FrameSize, err)
	}
	reg := unix.XDPUmemReg{
		Addr: uint64(uintptr(unsafe.Pointer(&x.umem[0]))),
		Len:  uint64(len(x.umem)),
		Size: uint32(cfg.FrameSize),
	}
	if _, _, e := unix.Syscall6(unix.SYS_SETSOCKOPT, uintptr(fd), unix.SOL_XDP, unix.XDP_UMEM_REG,
		uintptr(unsafe.Pointer(&reg)), unsafe.Sizeof(reg), 0); e != 0 {
		return nil, fmt.Errorf("setsockopt XDP_UMEM_REG: %w", e)
	}
	sizes := []struct {
		opt, n int
	}{{unix.XDP_UMEM_FILL_RING, cfg.Fill}, {unix.XDP_UMEM_COMPLETION_RING, cfg.Completion},
		{unix.XDP_RX_RING, cfg.RX}, {unix.XDP_TX_RING, cfg.TX}}
	for _, s := range sizes {
		if s.n == 0 {
			continue
		}
		if err := unix.SetsockoptInt(fd, unix.SOL_XDP, s.opt, s.n); err != nil {
			return nil, fmt.Errorf("setsockopt AF_XDP ring %d size %d: %w", s.opt, s.n, err)
		}
	}
	var off unix.XDPMmapOffsets
	olen := uint32(unsafe.Sizeof(off))
	if _, _, e := unix.Syscall6(unix.SYS_GETSOCKOPT, uintptr(fd), unix.SOL_XDP, unix.XDP_MMAP_OFFSETS,
		uintptr(unsafe.Pointer(&off)), uintptr(unsafe.Pointer(&olen)), 0); e != 0 {
		return nil, fmt.Errorf("getsockopt XDP_MMAP_OFFSETS: %w", e)
	}
	mapRing := func(r *xskRing, pgoff int64, o unix.XDPRingOffset, n int, entry uintptr) error {
		mem, err := unix.Mmap(fd, pgoff, int(o.Desc)+n*int(entry), unix.PROT_READ|unix.PROT_WRITE,
			unix.MAP_SHARED|unix.MAP_POPULATE)
		if err != nil {
			return fmt.Errorf("mmap AF_XDP ring at %#x: %w", pgoff, err)
		}
		base := unsafe.Pointer(&mem[0])
		r.mem = mem
		r.prod = (*uint32)(unsafe.Add(base, o.Producer))
		r.cons = (*uint32)(unsafe.Add(base, o.Consumer))
		r.descs = unsafe.Add(base, o.Desc)
		r.mask = uint32(n - 1)
		return nil
	}
	if err := mapRing(&x.fill, unix.XDP_UMEM_PGOFF_FILL_RING, off.Fr, cfg.Fill, 8); err != nil {
		return nil, err
	}
	if err := mapRing(&x.comp, unix.XDP_UMEM_PGOFF_COMPLETION_RING, off.Cr, cfg.Completion, 8); err != nil {
		return nil, err
	}
	if cfg.RX > 0 {
		if err := mapRing(&x.rx, unix.XDP_PGOFF_RX_RING, off.Rx, cfg.RX, unsafe.Sizeof(unix.XDPDesc{})); err != nil {
			return nil, err
		}
	}
	if cfg.TX > 0 {
		if err := mapRing(&x.tx, unix.XDP_PGOFF_TX_RING, off.Tx, cfg.TX, unsafe.Sizeof(unix.XDPDesc{})); err != nil {
			return nil, err
		}
	}
	// The kernel releases a closed socket's queue binding asynchronously
	// (deferred work), so a bind right after a close may see EBUSY.
	sa := &unix.SockaddrXDP{Ifindex: uint32(ifindex), QueueID: uint32(cfg.Queue)}
	for deadline := time.Now().Add(bindRetry); ; {
		err := unix.Bind(fd, sa)
		if err == nil {
			break
		}
		if err != unix.EBUSY || time.Now().After(deadline) {
			return nil, fmt.Errorf("bind AF_XDP socket to ifindex %d queue %d: %w", ifindex, cfg.Queue, err)
		}
		time.Sleep(20 * time.Millisecond)
	}
	x.free = make([]uint64, 0, cfg.Frames)
	for i := cfg.Frames - 1; i >= 0; i-- {
		x.free = append(x.free, uint64(i)*x.frameSize)
	}
	return x, nil
}

// frame returns the UMEM bytes of the chunk holding addr, from addr on
// (addr may carry an offset into the chunk, as RX descriptors do).
func (x *xsk) frame(addr uint64, n uint32) []byte {
	return x.umem[addr : addr+uint64(n) : addr+uint64(n)]
}

// chunk returns the whole UMEM chunk starting at a chunk address.
func (x *xsk) chunk(addr uint64) []byte {
	return x.umem[addr : addr+x.frameSize : addr+x.frameSize]
}

// refill moves free frames onto the fill ring; it returns how many.
func (x *xsk) refill() int {
	prod := atomic.LoadUint32(x.fill.prod)
	cons := atomic.LoadUint32(x.fill.cons)
	room := int(x.fill.mask + 1 - (prod - cons))
	n := min(room, len(x.free))
	for i := 0; i < n; i++ {
		*x.fill.umemAddr(prod) = x.free[len(x.free)-1]
		x.free = x.free[:len(x.free)-1]
		prod++
	}
	if n > 0 {
		atomic.StoreUint32(x.fill.prod, prod)
	}
	return n
}

// receive calls fn for every descriptor on the RX ring, then returns the
// frames to the free list and releases the ring entries; it returns the
// number of frames received.
func (x *xsk) receive(fn func(frame []byte)) int {
	cons := atomic.LoadUint32(x.rx.cons)
	prod := atomic.LoadUint32(x.rx.prod)
	n := int(prod - cons)
	for i := cons; i != prod; i++ {
		d := x.rx.desc(i)
		fn(x.frame(d.Addr, d.Len))
		x.free = append(x.free, d.Addr&^(x.frameSize-1))
	}
	if n > 0 {
		atomic.StoreUint32(x.rx.cons, prod)
	}
	return n
}

// complete moves transmitted frames from the completion ring back to the
// free list; it returns how many.
func (x *xsk) complete() int {
	cons := atomic.LoadUint32(x.comp.cons)
	prod := atomic.LoadUint32(x.comp.prod)
	for i := cons; i != prod; i++ {
		x.free = append(x.free, *x.comp.umemAddr(i)&^(x.frameSize-1))
	}
	if prod != cons {
		atomic.StoreUint32(x.comp.cons, prod)
	}
	return int(prod - cons)
}

// txRoom returns how many descriptors the TX ring can take now.
func (x *xsk) txRoom() int {
	prod := atomic.LoadUint32(x.tx.prod)
	cons := atomic.LoadUint32(x.tx.cons)
	return int(x.tx.mask + 1 - (prod - cons))
}

// txPending returns how many descriptors the kernel has not consumed yet.
func (x *xsk) txPending() int {
	return int(atomic.LoadUint32(x.tx.prod) - atomic.LoadUint32(x.tx.cons))
}

// transmit queues up to n frames taken from the free list, letting fill
// write each one into its chunk and return its length; it returns how many
// were queued (limited by n, the free list and TX ring room). The frames
// are not sent until kick.
func (x *xsk) transmit(n int, fill func(i int, chunk []byte) int) int {
	n = min(n, len(x.free), x.txRoom())
	prod := atomic.LoadUint32(x.tx.prod)
	for i := 0; i < n; i++ {
		addr := x.free[len(x.free)-1]
		x.free = x.free[:len(x.free)-1]
		l := fill(i, x.chunk(addr))
		d := x.tx.desc(prod)
		d.Addr, d.Len, d.Options = addr, uint32(l), 0
		prod++
	}
	if n > 0 {
		atomic.StoreUint32(x.tx.prod, prod)
	}
	return n
}

// kick asks the kernel to send what is on the TX ring. In copy mode one
// sendto moves at most 32 frames, so kick repeats until the ring is empty
// or the kernel pushes back (EAGAIN, EBUSY, ENOBUFS: try again later). Other
// errors (ENETDOWN, ENXIO: the link is gone) are returned.
func (x *xsk) kick() error {
	for tries := 0; x.txPending() > 0 && tries < 64; tries++ {
		_, _, e := unix.Syscall6(unix.SYS_SENDTO, uintptr(x.fd), 0, 0, unix.MSG_DONTWAIT, 0, 0)
		switch e {
		case 0, unix.EINTR:
		case unix.EAGAIN, unix.EBUSY, unix.ENOBUFS:
			return nil
		default:
			return fmt.Errorf("AF_XDP sendto: %w", e)
		}
	}
	return nil
}

// wait blocks in poll(2) until frames can be received or timeoutMs passes.
func (x *xsk) wait(timeoutMs int) error {
	return pollIn([]unix.PollFd{{Fd: int32(x.fd), Events: unix.POLLIN}}, timeoutMs)
}

// pollIn waits in poll(2) for fds, retrying on EINTR.
func pollIn(fds []unix.PollFd, timeoutMs int) error {
	for {
		_, err := unix.Poll(fds, timeoutMs)
		if err == unix.EINTR {
			continue
		}
		if err != nil {
			return fmt.Errorf("poll AF_XDP sockets: %w", err)
		}
		return nil
	}
}

// stats returns the kernel's drop counters of the socket.
func (x *xsk) stats() (unix.XDPStatistics, error) {
	var st unix.XDPStatistics
	l := uint32(unsafe.Sizeof(st))
	if _, _, e := unix.Syscall6(unix.SYS_GETSOCKOPT, uintptr(x.fd), unix.SOL_XDP, unix.XDP_STATISTICS,
		uintptr(unsafe.Pointer(&st)), uintptr(unsafe.Pointer(&l)), 0); e != 0 {
		return st, fmt.Errorf("getsockopt XDP_STATISTICS: %w", e)
	}
	return st, nil
}

// close unmaps the rings and the UMEM and closes the socket; the kernel
// releases the queue binding once no mapping refers to the socket.
func (x *xsk) close() error {
	var errs []error
	for _, r := range []*xskRing{&x.fill, &x.comp, &x.rx, &x.tx} {
		if r.mem != nil {
			if err := unix.Munmap(r.mem); err != nil {
				errs = append(errs, fmt.Errorf("munmap AF_XDP ring: %w", err))
			}
			*r = xskRing{}
		}
	}
	if x.fd >= 0 {
		if err := unix.Close(x.fd); err != nil {
			errs = append(errs, fmt.Errorf("close AF_XDP socket: %w", err))
		}
		x.fd = -1
	}
	if x.umem != nil {
		if err := unix.Munmap(x.umem); err != nil {
			errs = append(errs, fmt.Errorf("munmap UMEM: %w", err))
		}
		x.umem = nil
	}
	return errors.Join(errs...)
}
