package xsk

import (
	"errors"
	"fmt"
	"unsafe"

	"golang.org/x/sys/unix"
)

// ErrNoNeedWakeup is returned by HaveNeedWakeup on a kernel without the
// need_wakeup ring flags (before Linux 5.4).
var ErrNoNeedWakeup = errors.New("xsk: kernel has no need_wakeup ring flags")

// HaveSockets opens and closes an AF_XDP socket. It returns the errno
// (EAFNOSUPPORT: kernel without CONFIG_XDP_SOCKETS; EPERM: no CAP_NET_RAW)
// wrapped.
func HaveSockets() error {
	fd, err := unix.Socket(unix.AF_XDP, unix.SOCK_RAW|unix.SOCK_CLOEXEC, 0)
	if err != nil {
		return fmt.Errorf("xsk: socket(AF_XDP): %w", err)
	}
	return unix.Close(fd)
}

// HaveNeedWakeup asks an AF_XDP socket for its ring layout: kernels with
// need_wakeup (Linux 5.4) report a flags word for each ring, a longer
// struct xdp_mmap_offsets (4 rings × 4 × 8 octets) than before (4 × 3 × 8).
// It returns ErrNoNeedWakeup on an older kernel, or the socket's errno.
func HaveNeedWakeup() error {
	fd, err := unix.Socket(unix.AF_XDP, unix.SOCK_RAW|unix.SOCK_CLOEXEC, 0)
	if err != nil {
		return fmt.Errorf("xsk: socket(AF_XDP): %w", err)
	}
	defer unix.Close(fd)
	var off [16]uint64
	n, err := getsockopt(fd, unix.SOL_XDP, unix.XDP_MMAP_OFFSETS, unsafe.Pointer(&off[0]), unsafe.Sizeof(off))
	if err != nil {
		return fmt.Errorf("xsk: getsockopt XDP_MMAP_OFFSETS: %w", err)
	}
	if n < unsafe.Sizeof(off) {
		return fmt.Errorf("%w: xdp_mmap_offsets of %d octets", ErrNoNeedWakeup, n)
	}
	return nil
}
