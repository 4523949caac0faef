package xsk

import (
	"errors"
	"fmt"
	"unsafe"

	"golang.org/x/sys/unix"
)

// Frame sizes a UMEM chunk may have (aligned mode).
const (
	FrameSize2K = 2048
	FrameSize4K = 4096
)

// DefaultHeadroom is the UMEM headroom in octets dexplane registers by
// default. The kernel adds XDP_PACKET_HEADROOM (256) on top of it, so
// received packets start 512 octets into their chunk.
const DefaultHeadroom = 256

// ErrClosed is returned for operations on a closed UMEM or socket.
var ErrClosed = errors.New("xsk: closed")

// UmemConfig sizes a UMEM.
type UmemConfig struct {
	// FrameSize is the chunk size in bytes: FrameSize2K or FrameSize4K.
	FrameSize int
	// NumFrames is the number of chunks; at least the sum of the fill ring
	// sizes of every socket sharing the UMEM plus their TX ring sizes, or the
	// fill rings run dry under load.
	NumFrames int
	// Headroom in bytes the kernel leaves free in front of every received
	// frame, in addition to XDP_PACKET_HEADROOM. Must leave room for an
	// MTU-sized frame: FrameSize - Headroom - 256 ≥ MTU + 14.
	Headroom int
}

// Umem is a registered packet buffer area shared by the sockets of one
// worker. Descriptors carry offsets into it. A Umem and its sockets are not
// safe for concurrent use.
type Umem struct {
	area      []byte
	frameSize uint64
	numFrames uint32
	headroom  uint32

	// fd is the socket that holds the XDP_UMEM_REG registration. The first
	// socket opened on the UMEM takes it over (fdTaken); later sockets bind
	// with XDP_SHARED_UMEM referring to it.
	fd      int
	fdTaken bool
	primary *Socket
	zc      bool // the primary socket bound in zero-copy mode
	wakeup  bool // the primary socket uses need_wakeup
	closed  bool
}

// NewUmem maps and registers a UMEM. It needs CAP_NET_ADMIN (or
// CAP_NET_RAW) and RLIMIT_MEMLOCK large enough for the area on old kernels.
func NewUmem(cfg UmemConfig) (*Umem, error) {
	if cfg.FrameSize != FrameSize2K && cfg.FrameSize != FrameSize4K {
		return nil, fmt.Errorf("xsk: frame size %d: must be %d or %d", cfg.FrameSize, FrameSize2K, FrameSize4K)
	}
	if cfg.NumFrames <= 0 || cfg.NumFrames > 1<<22 {
		return nil, fmt.Errorf("xsk: frame count %d: must be in 1..%d", cfg.NumFrames, 1<<22)
	}
	if cfg.Headroom < 0 || cfg.Headroom > cfg.FrameSize-unix.XDP_PACKET_HEADROOM-1514 {
		return nil, fmt.Errorf("xsk: headroom %d: must be in 0..%d for %d-byte frames", cfg.Headroom, cfg.FrameSize-unix.XDP_PACKET_HEADROOM-1514, cfg.FrameSize)
	}
	size := cfg.FrameSize * cfg.NumFrames
	area, err := unix.Mmap(-1, 0, size, unix.PROT_READ|unix.PROT_WRITE, unix.MAP_PRIVATE|unix.MAP_ANONYMOUS|unix.MAP_POPULATE)
	if err != nil {
		return nil, fmt.Errorf("xsk: mmap UMEM of %d bytes: %w", size, err)
	}
	fd, err := unix.Socket(unix.AF_XDP, unix.SOCK_RAW|unix.SOCK_CLOEXEC, 0)
	if err != nil {
		_ = unix.Munmap(area)
		return nil, fmt.Errorf("xsk: socket(AF_XDP): %w", err)
	}
	reg := unix.XDPUmemReg{
		Addr:     uint64(uintptr(unsafe.Pointer(unsafe.SliceData(area)))),
		Len:      uint64(size),
		Size:     uint32(cfg.FrameSize),
		Headroom: uint32(cfg.Headroom),
	}
	if err := setsockopt(fd, unix.SOL_XDP, unix.XDP_UMEM_REG, unsafe.Pointer(&reg), unsafe.Sizeof(reg)); err != nil {
		_ = unix.Close(fd)
		_ = unix.Munmap(area)
		return nil, fmt.Errorf("xsk: XDP_UMEM_REG %d×%d bytes, headroom %d: %w", cfg.NumFrames, cfg.FrameSize, cfg.Headroom, err)
	}
	return &Umem{
		area:      area,
		frameSize: uint64(cfg.FrameSize),
		numFrames: uint32(cfg.NumFrames),
		headroom:  uint32(cfg.Headroom),
		fd:        fd,
	}, nil
}

// FrameSize returns the chunk size in bytes.
func (u *Umem) FrameSize() int { return int(u.frameSize) }

// NumFrames returns the number of chunks.
func (u *Umem) NumFrames() int { return int(u.numFrames) }

// Headroom returns the registered UMEM headroom in bytes (the kernel adds
// XDP_PACKET_HEADROOM to it for received frames).
func (u *Umem) Headroom() int { return int(u.headroom) }

// ZeroCopy reports whether the sockets on this UMEM run in zero-copy mode;
// meaningful after the first socket is bound.
func (u *Umem) ZeroCopy() bool { return u.zc }

// Chunk returns the chunk that holds UMEM offset addr, as a slice of
// FrameSize bytes aliasing the UMEM.
func (u *Umem) Chunk(addr uint64) []byte {
	base := addr &^ (u.frameSize - 1)
	return u.area[base : base+u.frameSize : base+u.frameSize]
}

// Close releases the UMEM. Close the sockets first; the kernel keeps the
// pages pinned until the last socket referring to the UMEM is closed.
func (u *Umem) Close() error {
	if u.closed {
		return nil
	}
	u.closed = true
	var errs []error
	if !u.fdTaken {
		if err := unix.Close(u.fd); err != nil {
			errs = append(errs, fmt.Errorf("xsk: close UMEM socket %d: %w", u.fd, err))
		}
	}
	if err := unix.Munmap(u.area); err != nil {
		errs = append(errs, fmt.Errorf("xsk: munmap UMEM: %w", err))
	}
	u.area = nil
	return errors.Join(errs...)
}
