package xsk

import (
	"errors"
	"fmt"
	"log/slog"
	"time"
	"unsafe"

	"golang.org/x/sys/unix"

	"github.com/dexplane/dexplane/internal/enum"
)

// BindMode selects how a socket is bound to its device queue.
type BindMode int

const (
	// ModeAuto tries zero-copy and falls back to copy mode, logging which.
	ModeAuto BindMode = iota
	// ModeCopy forces copy mode (XDP_COPY); works on every device.
	ModeCopy
	// ModeZeroCopy requires zero-copy (XDP_ZEROCOPY) and fails without
	// driver support.
	ModeZeroCopy
)

// String returns "auto", "copy" or "zerocopy".
func (m BindMode) String() string { return enum.Name(m, bindModeNames[:], "BindMode") }

var bindModeNames = [...]string{ModeAuto: "auto", ModeCopy: "copy", ModeZeroCopy: "zerocopy"}

// DefaultRingSize is the default number of entries of the RX, TX and
// completion rings.
const DefaultRingSize = 2048

// DefaultFillSize is the default number of entries of a fill ring: twice
// the RX ring, so that a worker kept off the CPU for a while (shared cores)
// finds the kernel still holding buffers; at 100 kpps it covers 40 ms.
const DefaultFillSize = 2 * DefaultRingSize

// SocketConfig describes one AF_XDP socket.
type SocketConfig struct {
	Ifindex int // device the socket binds to
	Queue   int // device RX/TX queue id

	// Ring sizes in entries, powers of two; 0 means DefaultRingSize
	// (DefaultFillSize for the fill ring).
	RxSize, TxSize, FillSize, CompletionSize uint32

	// Mode applies to the first socket of a UMEM; later sockets inherit
	// the UMEM's mode (the kernel rejects mode flags with XDP_SHARED_UMEM).
	Mode BindMode
	// NoNeedWakeup disables XDP_USE_NEED_WAKEUP (then every TX needs a kick
	// and the kernel may spin on the fill ring). First socket only.
	NoNeedWakeup bool
	// Logger receives the line saying which bind mode was obtained; nil
	// means slog.Default().
	Logger *slog.Logger
	// BusyPoll, when positive, sets SO_PREFER_BUSY_POLL, SO_BUSY_POLL (this,
	// rounded down to µs, at least 1) and SO_BUSY_POLL_BUDGET
	// (BusyPollBudget, default 64) on the socket (Linux ≥ 5.11): a
	// recvfrom, sendto or poll on it then runs the device queue's NAPI in
	// the caller's context. With the queue's napi_defer_hard_irqs and
	// gro_flush_timeout set, interrupts stay off while the application
	// keeps polling.
	BusyPoll       time.Duration
	BusyPollBudget int
}

// Socket options of preferred busy polling (asm-generic/socket.h; not in
// golang.org/x/sys/unix).
const (
	soBusyPoll       = 46 // SO_BUSY_POLL
	soPreferBusyPoll = 69 // SO_PREFER_BUSY_POLL
	soBusyPollBudget = 70 // SO_BUSY_POLL_BUDGET
)

// setBusyPoll applies cfg's busy-polling options to fd.
func setBusyPoll(fd int, cfg *SocketConfig) error {
	us := max(int(cfg.BusyPoll/time.Microsecond), 1)
	budget := cfg.BusyPollBudget
	if budget <= 0 {
		budget = DefaultBatchSize
	}
	for _, o := range []struct {
		name, val int
		what      string
	}{{soPreferBusyPoll, 1, "SO_PREFER_BUSY_POLL"}, {soBusyPoll, us, "SO_BUSY_POLL"}, {soBusyPollBudget, budget, "SO_BUSY_POLL_BUDGET"}} {
		if err := unix.SetsockoptInt(fd, unix.SOL_SOCKET, o.name, o.val); err != nil {
			return fmt.Errorf("xsk: setsockopt %s=%d on ifindex %d queue %d: %w", o.what, o.val, cfg.Ifindex, cfg.Queue, err)
		}
	}
	return nil
}

// Socket is an AF_XDP socket bound to one device queue, with its own RX and TX
// ring and, on its device queue, its own fill and completion ring over the
// shared UMEM. Not safe for concurrent use.
type Socket struct {
	fd      int
	ifindex int
	queue   int
	umem    *Umem

	rx, tx     descRing
	fill, comp addrRing

	zeroCopy   bool
	needWakeup bool
	txBudget   bool // XDP_MAX_TX_SKB_BUDGET raised to the TX ring size
	closed     bool
}

// NewSocket creates a socket bound to cfg.Ifindex/cfg.Queue on this UMEM.
// The first socket registers the UMEM's fill and completion ring; every later
// socket binds with XDP_SHARED_UMEM and its own fill and completion ring, so
// the sockets of a worker may sit on different devices and still exchange
// frames without a copy.
func (u *Umem) NewSocket(cfg SocketConfig) (*Socket, error) {
	if u.closed {
		return nil, ErrClosed
	}
	if cfg.FillSize == 0 {
		cfg.FillSize = DefaultFillSize
	}
	for _, p := range []*uint32{&cfg.RxSize, &cfg.TxSize, &cfg.FillSize, &cfg.CompletionSize} {
		if *p == 0 {
			*p = DefaultRingSize
		}
		if !isPowerOfTwo(*p) {
			return nil, fmt.Errorf("xsk: ring size %d: must be a power of two", *p)
		}
	}
	if cfg.Ifindex <= 0 || cfg.Queue < 0 {
		return nil, fmt.Errorf("xsk: bad device %d queue %d", cfg.Ifindex, cfg.Queue)
	}
	log := cfg.Logger
	if log == nil {
		log = slog.Default()
	}

	shared := u.primary != nil
	fd := u.fd
	if shared {
		var err error
		fd, err = unix.Socket(unix.AF_XDP, unix.SOCK_RAW|unix.SOCK_CLOEXEC, 0)
		if err != nil {
			return nil, fmt.Errorf("xsk: socket(AF_XDP): %w", err)
		}
	}
	s := &Socket{fd: fd, ifindex: cfg.Ifindex, queue: cfg.Queue, umem: u}
	fail := func(err error) (*Socket, error) {
		s.unmapAll()
		if shared {
			_ = unix.Close(fd)
		}
		return nil, err
	}

	opts := []struct {
		name int
		size uint32
		what string
	}{
		{unix.XDP_RX_RING, cfg.RxSize, "XDP_RX_RING"},
		{unix.XDP_TX_RING, cfg.TxSize, "XDP_TX_RING"},
		{unix.XDP_UMEM_FILL_RING, cfg.FillSize, "XDP_UMEM_FILL_RING"},
		{unix.XDP_UMEM_COMPLETION_RING, cfg.CompletionSize, "XDP_UMEM_COMPLETION_RING"},
	}
	for _, o := range opts {
		if err := unix.SetsockoptInt(fd, unix.SOL_XDP, o.name, int(o.size)); err != nil {
			return fail(fmt.Errorf("xsk: setsockopt %s=%d on ifindex %d queue %d: %w", o.what, o.size, cfg.Ifindex, cfg.Queue, err))
		}
	}
	var off unix.XDPMmapOffsets
	if _, err := getsockopt(fd, unix.SOL_XDP, unix.XDP_MMAP_OFFSETS, unsafe.Pointer(&off), unsafe.Sizeof(off)); err != nil {
		return fail(fmt.Errorf("xsk: getsockopt XDP_MMAP_OFFSETS: %w", err))
	}
	var err error
	if s.rx, err = mapDescRing(fd, unix.XDP_PGOFF_RX_RING, off.Rx, cfg.RxSize); err != nil {
		return fail(fmt.Errorf("xsk: mmap RX ring (%d entries): %w", cfg.RxSize, err))
	}
	if s.tx, err = mapDescRing(fd, unix.XDP_PGOFF_TX_RING, off.Tx, cfg.TxSize); err != nil {
		return fail(fmt.Errorf("xsk: mmap TX ring (%d entries): %w", cfg.TxSize, err))
	}
	if s.fill, err = mapAddrRing(fd, unix.XDP_UMEM_PGOFF_FILL_RING, off.Fr, cfg.FillSize); err != nil {
		return fail(fmt.Errorf("xsk: mmap fill ring (%d entries): %w", cfg.FillSize, err))
	}
	if s.comp, err = mapAddrRing(fd, unix.XDP_UMEM_PGOFF_COMPLETION_RING, off.Cr, cfg.CompletionSize); err != nil {
		return fail(fmt.Errorf("xsk: mmap completion ring (%d entries): %w", cfg.CompletionSize, err))
	}

	sa := unix.SockaddrXDP{Ifindex: uint32(cfg.Ifindex), QueueID: uint32(cfg.Queue)}
	if shared {
		sa.Flags = unix.XDP_SHARED_UMEM
		sa.SharedUmemFD = uint32(u.primary.fd)
		if err := unix.Bind(fd, &sa); err != nil {
			return fail(fmt.Errorf("xsk: bind ifindex %d queue %d sharing the UMEM of ifindex %d queue %d (%s mode): %w",
				cfg.Ifindex, cfg.Queue, u.primary.ifindex, u.primary.queue, modeName(u.zc), err))
		}
		s.zeroCopy, s.needWakeup = u.zc, u.wakeup
		log.Info("xsk: socket bound with shared UMEM", "ifindex", cfg.Ifindex, "queue", cfg.Queue,
			"umem_of_ifindex", u.primary.ifindex, "mode", modeName(s.zeroCopy))
	} else {
		var wake uint16
		if !cfg.NoNeedWakeup {
			wake = unix.XDP_USE_NEED_WAKEUP
		}
		switch cfg.Mode {
		case ModeZeroCopy, ModeAuto:
			sa.Flags = unix.XDP_ZEROCOPY | wake
			err = unix.Bind(fd, &sa)
			if err == nil {
				s.zeroCopy = true
				break
			}
			if cfg.Mode == ModeZeroCopy {
				return fail(fmt.Errorf("xsk: bind ifindex %d queue %d in zero-copy mode: %w", cfg.Ifindex, cfg.Queue, err))
			}
			log.Info("xsk: zero-copy unavailable, using copy mode", "ifindex", cfg.Ifindex, "queue", cfg.Queue, "reason", err)
			fallthrough
		case ModeCopy:
			sa.Flags = unix.XDP_COPY | wake
			if err := unix.Bind(fd, &sa); err != nil {
				return fail(fmt.Errorf("xsk: bind ifindex %d queue %d in copy mode: %w", cfg.Ifindex, cfg.Queue, err))
			}
		default:
			return fail(fmt.Errorf("xsk: bind mode %v: unknown", cfg.Mode))
		}
		s.needWakeup = !cfg.NoNeedWakeup
		u.zc, u.wakeup = s.zeroCopy, s.needWakeup
		u.primary = s
		u.fdTaken = true
		log.Info("xsk: socket bound", "ifindex", cfg.Ifindex, "queue", cfg.Queue, "mode", modeName(s.zeroCopy), "need_wakeup", s.needWakeup)
	}
	if cfg.BusyPoll > 0 {
		if err := setBusyPoll(fd, &cfg); err != nil {
			return fail(err)
		}
	}
	if !s.zeroCopy {
		// Copy mode transmits at most a budget of frames per sendto (32 by
		// default); raise it to the ring size where the kernel allows
		// (XDP_MAX_TX_SKB_BUDGET, Linux ≥ 6.17). Failure is harmless.
		s.txBudget = unix.SetsockoptInt(fd, unix.SOL_XDP, unix.XDP_MAX_TX_SKB_BUDGET, int(cfg.TxSize)) == nil
	}
	return s, nil
}

func modeName(zc bool) string {
	if zc {
		return "zero-copy"
	}
	return "copy"
}

// FD returns the socket's file descriptor, for the XSKMAP.
func (s *Socket) FD() int { return s.fd }

// Ifindex returns the device the socket is bound to.
func (s *Socket) Ifindex() int { return s.ifindex }

// Queue returns the device queue the socket is bound to.
func (s *Socket) Queue() int { return s.queue }

// ZeroCopy reports whether the socket is bound in zero-copy mode.
func (s *Socket) ZeroCopy() bool { return s.zeroCopy }

// Stats are the kernel's per-socket counters (XDP_STATISTICS), in frames
// (descriptors) since the socket was bound.
type Stats struct {
	RxDropped        uint64 // dropped for reasons other than the two below (e.g. too large)
	RxInvalidDescs   uint64 // bad fill ring addresses
	TxInvalidDescs   uint64 // bad TX descriptors
	RxRingFull       uint64 // dropped because the RX ring was full
	RxFillRingEmpty  uint64 // times the fill ring was found empty (Linux ≥ 5.9)
	TxRingEmptyDescs uint64 // times the TX ring was found empty on a kick (Linux ≥ 5.9)
}

// Stats reads the kernel's socket counters. Safe to call from any goroutine
// while the socket is open (the socket's fd is only read).
func (s *Socket) Stats() (Stats, error) {
	if s.closed {
		return Stats{}, ErrClosed
	}
	var st unix.XDPStatistics
	if _, err := getsockopt(s.fd, unix.SOL_XDP, unix.XDP_STATISTICS, unsafe.Pointer(&st), unsafe.Sizeof(st)); err != nil {
		return Stats{}, fmt.Errorf("xsk: XDP_STATISTICS on ifindex %d queue %d: %w", s.ifindex, s.queue, err)
	}
	return Stats{
		RxDropped:        st.Rx_dropped,
		RxInvalidDescs:   st.Rx_invalid_descs,
		TxInvalidDescs:   st.Tx_invalid_descs,
		RxRingFull:       st.Rx_ring_full,
		RxFillRingEmpty:  st.Rx_fill_ring_empty_descs,
		TxRingEmptyDescs: st.Tx_ring_empty_descs,
	}, nil
}

func (s *Socket) unmapAll() {
	_ = s.rx.unmap()
	_ = s.tx.unmap()
	_ = s.fill.unmap()
	_ = s.comp.unmap()
}

// Close unmaps the rings and closes the socket, which removes it from any
// XSKMAP. Frames the kernel still holds return to the UMEM implicitly.
func (s *Socket) Close() error {
	if s.closed {
		return nil
	}
	s.closed = true
	var errs []error
	for _, r := range []*ring{&s.rx.ring, &s.tx.ring, &s.fill.ring, &s.comp.ring} {
		if err := r.unmap(); err != nil {
			errs = append(errs, err)
		}
	}
	if err := unix.Close(s.fd); err != nil {
		errs = append(errs, err)
	}
	if err := errors.Join(errs...); err != nil {
		return fmt.Errorf("xsk: close socket on ifindex %d queue %d: %w", s.ifindex, s.queue, err)
	}
	return nil
}
