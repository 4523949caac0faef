package xsk

import (
	"unsafe"

	"golang.org/x/sys/unix"
)

// setsockopt passes a struct option by pointer; x/sys has no typed helper
// for XDP_UMEM_REG.
func setsockopt(fd, level, name int, val unsafe.Pointer, size uintptr) error {
	_, _, e := unix.Syscall6(unix.SYS_SETSOCKOPT, uintptr(fd), uintptr(level), uintptr(name), uintptr(val), size, 0)
	if e != 0 {
		return e
	}
	return nil
}

// getsockopt reads a struct option by pointer and returns the length the
// kernel filled in, in bytes.
func getsockopt(fd, level, name int, val unsafe.Pointer, size uintptr) (uintptr, error) {
	l := uint32(size)
	_, _, e := unix.Syscall6(unix.SYS_GETSOCKOPT, uintptr(fd), uintptr(level), uintptr(name), uintptr(val), uintptr(unsafe.Pointer(&l)), 0)
	if e != 0 {
		return 0, e
	}
	return uintptr(l), nil
}

// kick asks the kernel to transmit from fd's TX ring (sendto with no data).
// It returns the raw errno (0 on success) so the hot path needs no error
// interface.
func kick(fd int) unix.Errno {
	_, _, e := unix.Syscall6(unix.SYS_SENDTO, uintptr(fd), 0, 0, unix.MSG_DONTWAIT, 0, 0)
	return e
}

// wakeRx asks the kernel to refill from the fill ring when it set
// need_wakeup there (recvfrom with no buffer, non-blocking).
func wakeRx(fd int) unix.Errno {
	_, _, e := unix.Syscall6(unix.SYS_RECVFROM, uintptr(fd), 0, 0, unix.MSG_DONTWAIT, 0, 0)
	return e
}

func isPowerOfTwo(v uint32) bool { return v != 0 && v&(v-1) == 0 }
