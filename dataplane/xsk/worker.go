package xsk

import (
	"errors"
	"fmt"
	"log/slog"
	"runtime"
	"sync"
	"sync/atomic"
	"time"
	"unsafe"

	"github.com/dexplane/dexplane/dataplane/handle"
	"golang.org/x/sys/unix"
)

// Defaults for WorkerConfig fields left zero.
const (
	DefaultBatchSize   = 64
	DefaultIdleSpins   = 32
	DefaultIdleTimeout = 100 * time.Millisecond
	DefaultBusyTimeout = time.Millisecond
	DefaultDrainTime   = 500 * time.Millisecond
)

// WorkerConfig describes one worker: a queue of the two ports of a bump in
// the wire, sharing one UMEM.
type WorkerConfig struct {
	// ID is the worker index, reported to handlers as Frame.Queue. The
	// worker binds device queue ID on both ports.
	ID int
	// Ifindex are the two ports' interface indexes (port 0 and port 1).
	Ifindex [2]int
	// Umem sizes the shared UMEM. Zero fields get FrameSize2K,
	// DefaultHeadroom and 2×(FillSize+TxSize) frames.
	Umem UmemConfig
	// Ring sizes in entries, powers of two, per socket; 0 means
	// DefaultRingSize (DefaultFillSize for the fill ring).
	RxSize, TxSize, FillSize, CompletionSize uint32
	// Mode is the bind mode; ModeAuto tries zero-copy for the pair and falls
	// back to copy mode with a log line.
	Mode BindMode
	// NoNeedWakeup disables XDP_USE_NEED_WAKEUP.
	NoNeedWakeup bool
	// BatchSize is the most frames taken from one RX ring per loop
	// iteration; 0 means DefaultBatchSize.
	BatchSize int
	// BusyPoll, when positive, turns on preferred busy polling on both
	// sockets (SocketConfig.BusyPoll) and makes the worker drive the
	// device's NAPI itself: it calls recvfrom on a port whose RX ring is
	// empty. BusyPollBudget is the frames per poll; 0 means BatchSize.
	BusyPoll       time.Duration
	BusyPollBudget int
	// PinCPU pins the worker's OS thread to CPU.
	PinCPU bool
	CPU    int
	// IdleSpins is how many loop iterations without work the worker makes
	// before it sleeps in poll(2); 0 means DefaultIdleSpins.
	IdleSpins int
	// IdleTimeout bounds a poll(2) sleep when no transmitted frame awaits
	// completion; 0 means DefaultIdleTimeout. With frames in flight the
	// worker sleeps at most DefaultBusyTimeout so completions are reaped.
	IdleTimeout time.Duration
	// DrainTime bounds how long Run keeps forwarding after Stop until the
	// RX rings are empty and every transmitted frame completed; 0 means
	// DefaultDrainTime.
	DrainTime time.Duration
	// Handler processes every frame; nil means Identity.
	Handler handle.Handler
	// Logger receives lifecycle lines; nil means slog.Default().
	Logger *slog.Logger
}

// Worker forwards frames between two ports: a batch received on one port
// goes through the Handler and leaves on the other port from the same UMEM
// chunk, both directions, in one OS-thread-locked goroutine.
//
// Lifecycle: NewWorker → Run (blocks, in its own goroutine) → Stop (from any
// goroutine; Run drains and returns) → Close. Counters may be read at any
// time.
type Worker struct {
	cfg     WorkerConfig
	log     *slog.Logger
	umem    *Umem
	sock    [2]*Socket
	handler handle.Handler
	batchH  handle.BatchHandler // handler as a BatchHandler, or nil

	area  []byte
	fsize uint64
	fmask uint64 // ^(fsize-1): chunk base of an address
	batch uint32

	free     []uint64 // worker-local free list of chunk base addresses
	inFlight uint32   // frames queued for TX and not yet completed
	touched  byte     // sink of touch's loads, so they are not optimised away

	frame    handle.Frame
	local    [2]PortCounts // deltas since the last flush
	counters Counters

	pollfds [3]unix.PollFd // port 0, port 1, stop eventfd
	pollTS  unix.Timespec
	eventfd int

	stopping atomic.Bool
	running  atomic.Bool
	done     chan struct{} // closed when Run returns
	mu       sync.Mutex    // serialises Stop and Close
	closed   bool
}

// withDefaults fills the zero fields of cfg with their defaults and checks
// the sizes against each other.
func (cfg WorkerConfig) withDefaults() (WorkerConfig, error) {
	if cfg.FillSize == 0 {
		cfg.FillSize = DefaultFillSize
	}
	for _, p := range []*uint32{&cfg.RxSize, &cfg.TxSize, &cfg.FillSize, &cfg.CompletionSize} {
		if *p == 0 {
			*p = DefaultRingSize
		}
	}
	if cfg.Umem.FrameSize == 0 {
		cfg.Umem.FrameSize = FrameSize2K
	}
	if cfg.Umem.Headroom == 0 {
		cfg.Umem.Headroom = DefaultHeadroom
	}
	if cfg.Umem.NumFrames == 0 {
		cfg.Umem.NumFrames = 2 * int(cfg.FillSize+cfg.TxSize)
	}
	if cfg.BatchSize <= 0 {
		cfg.BatchSize = DefaultBatchSize
	}
	if cfg.BusyPoll > 0 && cfg.BusyPollBudget <= 0 {
		cfg.BusyPollBudget = cfg.BatchSize
	}
	if cfg.IdleSpins <= 0 {
		cfg.IdleSpins = DefaultIdleSpins
	}
	if cfg.IdleTimeout <= 0 {
		cfg.IdleTimeout = DefaultIdleTimeout
	}
	if cfg.DrainTime <= 0 {
		cfg.DrainTime = DefaultDrainTime
	}
	if cfg.Handler == nil {
		cfg.Handler = handle.Identity{}
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.Default()
	}
	if cfg.BatchSize > int(cfg.RxSize) || cfg.BatchSize > int(cfg.TxSize) {
		return cfg, fmt.Errorf("xsk: batch size %d exceeds RX ring %d or TX ring %d", cfg.BatchSize, cfg.RxSize, cfg.TxSize)
	}
	if cfg.Umem.NumFrames < int(cfg.FillSize)+cfg.BatchSize {
		return cfg, fmt.Errorf("xsk: %d UMEM frames cannot fill a %d-entry fill ring and keep a batch of %d in reserve", cfg.Umem.NumFrames, cfg.FillSize, cfg.BatchSize)
	}
	return cfg, nil
}

// NewWorker creates the UMEM and the two sockets of a worker and puts every
// frame either in a fill ring or in the free list. The sockets still need to
// be registered in the XDP program's XSKMAP (Socket(i).FD()).
func NewWorker(cfg WorkerConfig) (*Worker, error) {
	cfg, err := cfg.withDefaults()
	if err != nil {
		return nil, err
	}
	w := &Worker{cfg: cfg, log: cfg.Logger.With("worker", cfg.ID), handler: cfg.Handler, eventfd: -1, done: make(chan struct{})}
	mode := cfg.Mode
	err = w.open(mode)
	if err != nil && mode == ModeAuto {
		w.log.Info("xsk: zero-copy pair failed, retrying in copy mode", "err", err)
		w.closeSockets()
		err = w.open(ModeCopy)
	}
	if err != nil {
		w.closeSockets()
		return nil, err
	}
	efd, err := unix.Eventfd(0, unix.EFD_NONBLOCK|unix.EFD_CLOEXEC)
	if err != nil {
		w.closeSockets()
		return nil, fmt.Errorf("xsk: eventfd: %w", err)
	}
	w.eventfd = efd
	w.pollfds = [3]unix.PollFd{
		{Fd: int32(w.sock[0].fd), Events: unix.POLLIN},
		{Fd: int32(w.sock[1].fd), Events: unix.POLLIN},
		{Fd: int32(efd), Events: unix.POLLIN},
	}
	w.batchH, _ = w.handler.(handle.BatchHandler)
	w.initFrames()
	return w, nil
}

// open creates the UMEM and both sockets in mode.
func (w *Worker) open(mode BindMode) error {
	u, err := NewUmem(w.cfg.Umem)
	if err != nil {
		return err
	}
	w.umem = u
	for p := range w.sock {
		s, err := u.NewSocket(SocketConfig{
			Ifindex: w.cfg.Ifindex[p], Queue: w.cfg.ID,
			RxSize: w.cfg.RxSize, TxSize: w.cfg.TxSize,
			FillSize: w.cfg.FillSize, CompletionSize: w.cfg.CompletionSize,
			Mode: mode, NoNeedWakeup: w.cfg.NoNeedWakeup, Logger: w.log,
			BusyPoll: w.cfg.BusyPoll, BusyPollBudget: w.cfg.BusyPollBudget,
		})
		if err != nil {
			return fmt.Errorf("xsk: worker %d port %d: %w", w.cfg.ID, p, err)
		}
		w.sock[p] = s
	}
	w.area = u.area
	w.fsize = u.frameSize
	w.fmask = ^(u.frameSize - 1)
	w.batch = uint32(w.cfg.BatchSize)
	return nil
}

// initFrames gives each fill ring as many frames as it holds (the UMEM is
// split evenly if it is smaller) and keeps the rest in the free list.
func (w *Worker) initFrames() {
	n := w.umem.numFrames
	w.free = make([]uint64, 0, n)
	for i := n; i > 0; i-- {
		w.free = append(w.free, uint64(i-1)*w.fsize)
	}
	for p := range w.sock {
		w.refill(p, n/2)
	}
}

// Socket returns the socket of port (0 or 1), for XSKMAP registration and
// kernel statistics.
func (w *Worker) Socket(port int) *Socket { return w.sock[port&1] }

// Counters returns the worker's counters; safe from any goroutine.
func (w *Worker) Counters() *Counters { return &w.counters }

// ZeroCopy reports whether the worker's sockets run in zero-copy mode.
func (w *Worker) ZeroCopy() bool { return w.umem.zc }

// FrameSize returns the UMEM chunk size in bytes.
func (w *Worker) FrameSize() int { return int(w.fsize) }

// ErrRunning is returned by Run when the worker is running or has run, or
// was closed.
var ErrRunning = errors.New("xsk: worker already running or stopped")

// Run forwards frames until Stop is called, then drains for at most
// DrainTime: keeps forwarding until both RX rings are empty and every
// transmitted frame has completed. It locks the calling goroutine to its OS
// thread and pins it when configured. Run returns nil after a drain, or an
// error if the worker cannot run. A Stop that comes before Run (an engine
// stopped right after it started) is not an error: Run then only drains.
func (w *Worker) Run() error {
	w.mu.Lock()
	if w.closed || !w.running.CompareAndSwap(false, true) {
		w.mu.Unlock()
		return ErrRunning
	}
	w.mu.Unlock()
	defer close(w.done)
	runtime.LockOSThread()
	defer runtime.UnlockOSThread()
	if w.cfg.PinCPU {
		var set unix.CPUSet
		set.Set(w.cfg.CPU)
		if err := unix.SchedSetaffinity(0, &set); err != nil {
			w.log.Warn("xsk: cannot pin worker", "cpu", w.cfg.CPU, "err", err)
		}
	}
	idle := 0
	for !w.stopping.Load() {
		if w.step() {
			idle = 0
			continue
		}
		idle++
		if idle >= w.cfg.IdleSpins {
			w.sleep()
			idle = 0
		}
	}
	w.drain()
	return nil
}

// Stop asks Run to drain and return; safe from any goroutine, idempotent.
// It does not wait: Run's return is the signal.
func (w *Worker) Stop() {
	w.mu.Lock()
	defer w.mu.Unlock()
	if w.stopping.Swap(true) {
		return
	}
	if w.eventfd >= 0 {
		var one = [8]byte{1}
		_, _ = unix.Write(w.eventfd, one[:])
	}
}

// drain forwards until nothing is left or DrainTime passes.
func (w *Worker) drain() {
	deadline := time.Now().Add(w.cfg.DrainTime)
	quiet := 0
	for quiet < 3 && time.Now().Before(deadline) {
		if w.step() || w.inFlight > 0 {
			quiet = 0
			if w.inFlight > 0 {
				w.sleepFor(DefaultBusyTimeout / 10)
			}
			continue
		}
		quiet++
	}
	if w.inFlight > 0 {
		w.log.Warn("xsk: drain timed out", "in_flight", w.inFlight)
	}
}

// step is one loop iteration: reap completions, forward a batch each way,
// refill the fill rings, publish counters. It reports whether any frame
// moved.
func (w *Worker) step() bool {
	moved := w.reap(0) + w.reap(1)
	moved += w.forward(0, 1)
	moved += w.forward(1, 0)
	w.refill(0, w.sock[0].fill.size)
	w.refill(1, w.sock[1].fill.size)
	w.counters.flush(&w.local)
	return moved > 0
}

// reap moves completed TX frames of port p to the free list.
func (w *Worker) reap(p int) uint32 {
	cr := &w.sock[p].comp
	n := cr.availCons(1)
	if n == 0 {
		return 0
	}
	for i := uint32(0); i < n; i++ {
		w.free = append(w.free, cr.addrs[(cr.cachedCons+i)&cr.mask]&w.fmask)
	}
	cr.release(n)
	w.inFlight -= n
	w.local[p][CtrTxCompleted] += uint64(n)
	return n
}

// refill tops up port p's fill ring from the free list with at most max
// frames.
func (w *Worker) refill(p int, max uint32) {
	s := w.sock[p]
	fr := &s.fill
	room := fr.freeProd(fr.size)
	if room > max {
		room = max
	}
	n := uint32(len(w.free))
	if n > room {
		n = room
	}
	if n > 0 {
		for i := uint32(0); i < n; i++ {
			fr.addrs[(fr.cachedProd+i)&fr.mask] = w.free[len(w.free)-1-int(i)]
		}
		w.free = w.free[:len(w.free)-int(n)]
		fr.submit(n)
	}
	if n < room && fr.pending() == 0 {
		w.local[p][CtrFillEmpty]++
	}
	if s.needWakeup && n > 0 && fr.needWakeup() {
		// Zero-copy drivers may sleep until told the fill ring has frames.
		_ = wakeRx(s.fd)
	}
}

// forward moves one batch from port in's RX ring through the handler to
// port out's TX ring (frames the handler reflects go to port in's TX ring). It never waits: when out's TX ring is full the rest of
// the batch stays in in's RX ring and the event is counted.
func (w *Worker) forward(in, out int) uint32 {
	rx := &w.sock[in].rx
	n := rx.availCons(w.batch)
	if n == 0 && w.cfg.BusyPoll > 0 && w.sock[in].fd >= 0 {
		// Preferred busy polling: interrupts are deferred, so the worker
		// runs the device's NAPI itself, then looks again.
		_ = wakeRx(w.sock[in].fd)
		n = rx.availCons(w.batch)
	}
	if n == 0 {
		// Frames may still wait in the TX ring after an earlier partial kick.
		w.flushTx(out)
		return 0
	}
	if n > w.batch {
		n = w.batch
	}
	tx := &w.sock[out].tx
	if room := tx.freeProd(n); room < n {
		w.flushTx(out)
		w.reap(out)
		if room = tx.freeProd(n); room < n {
			w.local[out][CtrTxRingFull]++
			n = room
			if n == 0 {
				return 0
			}
		}
	}
	f := &w.frame
	f.Ingress = in
	f.Queue = w.cfg.ID
	f.RxTime = time.Now().UnixNano()
	f.TxQueueDepth = tx.pending()
	f.UmemInUse = w.umem.numFrames - uint32(len(w.free))
	fsize := int(w.fsize)
	// Reflected frames go to in's own TX ring (the UMEM is shared); they
	// are rare (handler replies), so room is checked per frame.
	rtx := &w.sock[in].tx
	w.touch(rx, n)
	var sent, rxBytes, txBytes, dropped, invalid, reflected, rBytes, rFull uint64
	if w.batchH != nil {
		w.batchH.BeginBatch()
	}
	for i := uint32(0); i < n; i++ {
		d := &rx.descs[(rx.cachedCons+i)&rx.mask]
		base := d.Addr & w.fmask
		f.Buf = w.area[base : base+w.fsize : base+w.fsize]
		f.Off = int(d.Addr - base)
		f.Len = int(d.Len)
		rxBytes += uint64(d.Len)
		v := w.handler.Handle(f)
		if v != handle.Forward && v != handle.Reflect {
			dropped++
			w.free = append(w.free, base)
			continue
		}
		if f.Off < 0 || f.Len <= 0 || f.Off+f.Len > fsize {
			invalid++
			w.free = append(w.free, base)
			continue
		}
		if v == handle.Reflect {
			if want := uint32(reflected) + 1; rtx.freeProd(want) < want {
				rFull++
				dropped++
				w.free = append(w.free, base)
				continue
			}
			rtx.put(uint32(reflected), base+uint64(f.Off), f.Len)
			reflected++
			rBytes += uint64(f.Len)
			continue
		}
		tx.put(uint32(sent), base+uint64(f.Off), f.Len)
		sent++
		txBytes += uint64(f.Len)
		f.TxQueueDepth++
	}
	if w.batchH != nil {
		w.batchH.EndBatch()
	}
	rx.release(n)
	l := &w.local[in]
	l[CtrRxFrames] += uint64(n)
	l[CtrRxBytes] += rxBytes
	l[CtrDropped] += dropped
	l[CtrInvalid] += invalid
	l[CtrTxRingFull] += rFull
	if reflected > 0 {
		rtx.submit(uint32(reflected))
		w.inFlight += uint32(reflected)
		l[CtrTxFrames] += reflected
		l[CtrTxBytes] += rBytes
		l[CtrReflected] += reflected
		w.flushTx(in)
	}
	if sent > 0 {
		tx.submit(uint32(sent))
		w.inFlight += uint32(sent)
		w.local[out][CtrTxFrames] += sent
		w.local[out][CtrTxBytes] += txBytes
		w.flushTx(out)
	}
	return n
}

// touch loads the first two cache lines of each of the next n frames of rx
// before any is handled. The loads do not depend on each other, so the CPU
// overlaps their cache misses (the frames were written by a copy-mode
// kernel on another CPU or by a NIC), where the handler's first load of each
// frame would otherwise take one miss per packet, serially. On this VM perf
// put that miss at about 220 ns per packet, dexplane's largest own cost in
// the veth harness.
func (w *Worker) touch(rx *descRing, n uint32) {
	var sum byte
	area := w.area
	for i := uint32(0); i < n; i++ {
		a := rx.descs[(rx.cachedCons+i)&rx.mask].Addr
		if a+64 < uint64(len(area)) {
			sum += area[a] + area[a+64]
		}
	}
	w.touched += sum
}

// maxKicks bounds the sendto calls per flush; copy mode sends at most 32
// frames per call unless XDP_MAX_TX_SKB_BUDGET was raised.
const maxKicks = 8

// flushTx wakes the kernel to transmit port p's queued frames. In copy mode
// each sendto transmits a budget of frames synchronously, so it kicks again
// while descriptors remain, up to maxKicks times; errors are counted and the
// rest is retried on the next iteration.
func (w *Worker) flushTx(p int) {
	s := w.sock[p]
	tx := &s.tx
	if tx.cachedProd == tx.cachedCons && tx.pending() == 0 {
		return
	}
	if s.needWakeup && !tx.needWakeup() {
		return
	}
	kicks := 1
	if !s.zeroCopy {
		kicks = maxKicks
	}
	for k := 0; k < kicks; k++ {
		switch e := kick(s.fd); e {
		case 0:
		case unix.EAGAIN, unix.ENOBUFS:
			w.local[p][CtrKickRetry]++
			return
		case unix.EBUSY:
			w.local[p][CtrTxDeviceDrop]++
		case unix.ENETDOWN, unix.ENXIO:
			w.local[p][CtrLinkDown]++
			return
		default:
			w.local[p][CtrKickError]++
			return
		}
		if tx.pending() == 0 {
			return
		}
	}
}

// sleep blocks in poll(2) until a port has received frames, Stop is called,
// or the timeout passes: DefaultBusyTimeout while frames are in flight (to
// reap their completions), IdleTimeout otherwise.
func (w *Worker) sleep() {
	d := w.cfg.IdleTimeout
	if w.inFlight > 0 {
		d = DefaultBusyTimeout
	}
	w.pollTS = unix.NsecToTimespec(int64(d))
	for i := range w.pollfds {
		w.pollfds[i].Revents = 0
	}
	_, _, e := unix.Syscall6(unix.SYS_PPOLL, uintptr(unsafe.Pointer(&w.pollfds[0])), uintptr(len(w.pollfds)),
		uintptr(unsafe.Pointer(&w.pollTS)), 0, 0, 0)
	if e != 0 {
		return // EINTR: just loop
	}
	bad := false
	for p := 0; p < 2; p++ {
		if w.pollfds[p].Revents&(unix.POLLERR|unix.POLLHUP|unix.POLLNVAL) != 0 {
			w.local[p][CtrPollError]++
			bad = true
		}
	}
	if w.pollfds[2].Revents&unix.POLLIN != 0 {
		var buf [8]byte
		_, _ = unix.Read(w.eventfd, buf[:])
	}
	if bad {
		// A socket in error (device gone) polls ready at once: back off
		// instead of spinning, and keep counting.
		w.counters.flush(&w.local)
		w.sleepFor(d)
	}
}

func (w *Worker) sleepFor(d time.Duration) {
	ts := unix.NsecToTimespec(int64(d))
	_ = unix.Nanosleep(&ts, nil)
}

// closeSockets closes whatever open created.
func (w *Worker) closeSockets() error {
	var errs []error
	for p, s := range w.sock {
		if s != nil {
			errs = append(errs, s.Close())
			w.sock[p] = nil
		}
	}
	if w.umem != nil {
		errs = append(errs, w.umem.Close())
		w.umem = nil
	}
	w.area = nil
	return errors.Join(errs...)
}

// Close stops the worker if it runs, waits for Run to return, and releases
// the sockets (removing them from any XSKMAP) and the UMEM. Safe from any
// goroutine; idempotent.
func (w *Worker) Close() error {
	w.Stop()
	if w.running.Load() {
		<-w.done
	}
	w.mu.Lock()
	defer w.mu.Unlock()
	if w.closed {
		return nil
	}
	w.closed = true
	err := w.closeSockets()
	if w.eventfd >= 0 {
		_ = unix.Close(w.eventfd)
		w.eventfd = -1
	}
	return err
}

// Done returns a channel closed when Run returns.
func (w *Worker) Done() <-chan struct{} { return w.done }
