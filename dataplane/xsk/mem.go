package xsk

import (
	"fmt"
	"log/slog"
	"sync/atomic"

	"github.com/dexplane/dexplane/dataplane/handle"
	"golang.org/x/sys/unix"
)

// MemKernel plays the kernel's side of a Worker made by NewMemWorker: it
// receives frames into the worker's RX rings from the fill rings, and takes
// transmitted frames from the TX rings to the completion rings, the way an
// AF_XDP socket does, but in Go memory and without a system call. It lets
// the real worker loop (Step), its handler and whatever consumes the
// handler's output run without a network device: for benchmarks of the
// whole per-packet pipeline and for tests.
//
// A MemKernel and its Worker are not safe for concurrent use: call Deliver,
// Step and Transmit from one goroutine (never run Run on a mem worker).
type MemKernel struct {
	w      *Worker
	rxOff  uint64 // where a received frame starts in its chunk
	frames uint32
}

// NewMemWorker returns a Worker whose two sockets have no file descriptor
// and whose rings and UMEM live in Go memory, and the MemKernel that drives
// it. cfg is defaulted and checked as by NewWorker; Ifindex, Mode,
// NoNeedWakeup, PinCPU and the timeouts are ignored. The sockets use
// need_wakeup and the MemKernel never requests a wakeup, so the worker makes
// no system call. Close on the worker is a no-op.
func NewMemWorker(cfg WorkerConfig) (*Worker, *MemKernel, error) {
	if cfg.Logger == nil {
		cfg.Logger = discardLogger
	}
	cfg, err := cfg.withDefaults()
	if err != nil {
		return nil, nil, err
	}
	fsize := uint64(cfg.Umem.FrameSize)
	if fsize != FrameSize2K && fsize != FrameSize4K {
		return nil, nil, fmt.Errorf("xsk: frame size %d: want %d or %d", fsize, FrameSize2K, FrameSize4K)
	}
	if cfg.Umem.Headroom+unix.XDP_PACKET_HEADROOM >= int(fsize) {
		return nil, nil, fmt.Errorf("xsk: headroom %d leaves no room in a %d-octet frame", cfg.Umem.Headroom, fsize)
	}
	for _, s := range []uint32{cfg.RxSize, cfg.TxSize, cfg.FillSize, cfg.CompletionSize} {
		if !isPowerOfTwo(s) {
			return nil, nil, fmt.Errorf("xsk: ring size %d is not a power of two", s)
		}
	}
	u := &Umem{area: make([]byte, cfg.Umem.NumFrames*int(fsize)), frameSize: fsize,
		numFrames: uint32(cfg.Umem.NumFrames), headroom: uint32(cfg.Umem.Headroom), fd: -1, fdTaken: true, closed: true}
	w := &Worker{cfg: cfg, log: cfg.Logger.With("worker", cfg.ID), handler: cfg.Handler, eventfd: -1,
		done: make(chan struct{}), umem: u, area: u.area, fsize: fsize, fmask: ^(fsize - 1), batch: uint32(cfg.BatchSize)}
	for p := range w.sock {
		s := &Socket{fd: -1, queue: cfg.ID, umem: u, needWakeup: true, closed: true}
		s.rx = descRing{ring: memRing(cfg.RxSize), descs: make([]unix.XDPDesc, cfg.RxSize)}
		s.tx = descRing{ring: memRing(cfg.TxSize), descs: make([]unix.XDPDesc, cfg.TxSize)}
		s.fill = addrRing{ring: memRing(cfg.FillSize), addrs: make([]uint64, cfg.FillSize)}
		s.comp = addrRing{ring: memRing(cfg.CompletionSize), addrs: make([]uint64, cfg.CompletionSize)}
		w.sock[p] = s
	}
	w.batchH, _ = w.handler.(handle.BatchHandler)
	w.initFrames()
	return w, &MemKernel{w: w, rxOff: uint64(cfg.Umem.Headroom) + unix.XDP_PACKET_HEADROOM, frames: u.numFrames}, nil
}

// memRing builds a ring whose producer, consumer and flags words live in Go
// memory, each on its own cache line as in a kernel mapping.
func memRing(size uint32) ring {
	idx := new([3 * 16]uint32)
	return ring{producer: &idx[0], consumer: &idx[16], flags: &idx[32], mask: size - 1, size: size}
}

// Step runs one iteration of the worker loop, exactly what Run repeats:
// reap completions, forward a batch each way through the handler, refill
// the fill rings, publish counters. It reports whether any frame moved.
func (k *MemKernel) Step() bool { return k.w.step() }

// Deliver receives up to n frames on port p (0 or 1), as the kernel does in
// copy mode: it takes a chunk from the port's fill ring and calls fill with
// the chunk from the receive offset (UMEM headroom + XDP_PACKET_HEADROOM) to
// its end; fill writes the frame (or the part of it that changed) and
// returns its length, which must be positive and fit. Deliver stops early
// when the fill ring is empty or the RX ring is full, and returns how many
// frames it delivered.
func (k *MemKernel) Deliver(p int, n int, fill func(buf []byte) int) int {
	s := k.w.sock[p&1]
	fr, rx := &s.fill.ring, &s.rx.ring
	fcons, fprod := atomic.LoadUint32(fr.consumer), atomic.LoadUint32(fr.producer)
	rprod, rcons := atomic.LoadUint32(rx.producer), atomic.LoadUint32(rx.consumer)
	got := 0
	for ; got < n && fcons != fprod && rprod-rcons != rx.size; got++ {
		addr := s.fill.addrs[fcons&fr.mask] + k.rxOff
		base := addr & k.w.fmask
		ln := fill(k.w.area[addr : base+k.w.fsize])
		if ln <= 0 || uint64(ln) > base+k.w.fsize-addr {
			panic(fmt.Sprintf("xsk: MemKernel.Deliver: fill returned length %d for %d octets", ln, base+k.w.fsize-addr))
		}
		s.rx.descs[rprod&rx.mask] = unix.XDPDesc{Addr: addr, Len: uint32(ln)}
		fcons++
		rprod++
	}
	atomic.StoreUint32(fr.consumer, fcons)
	atomic.StoreUint32(rx.producer, rprod)
	return got
}

// Transmit takes every frame queued on port p's TX ring, calls check (if
// not nil) with its packet bytes, and completes it, as the kernel does
// after sending; it stops early when the completion ring is full and
// returns how many frames it took.
func (k *MemKernel) Transmit(p int, check func(pkt []byte)) int {
	s := k.w.sock[p&1]
	tx, cr := &s.tx.ring, &s.comp.ring
	tcons, tprod := atomic.LoadUint32(tx.consumer), atomic.LoadUint32(tx.producer)
	cprod, ccons := atomic.LoadUint32(cr.producer), atomic.LoadUint32(cr.consumer)
	n := 0
	for ; tcons != tprod && cprod-ccons != cr.size; n++ {
		d := s.tx.descs[tcons&tx.mask]
		if check != nil {
			check(k.w.area[d.Addr : d.Addr+uint64(d.Len)])
		}
		s.comp.addrs[cprod&cr.mask] = d.Addr
		tcons++
		cprod++
	}
	atomic.StoreUint32(tx.consumer, tcons)
	atomic.StoreUint32(cr.producer, cprod)
	return n
}

// discardLogger is the logger of mem workers configured without one.
var discardLogger = slog.New(slog.DiscardHandler)
