package xsk

import (
	"sync/atomic"
	"unsafe"

	"golang.org/x/sys/unix"
)

// ring is the shared part of the four AF_XDP rings: a power-of-two array in
// memory mapped from the socket, a producer and a consumer index written by
// opposite sides, and a flags word (XDP_RING_NEED_WAKEUP).
//
// Indices are free-running uint32 counters; slot = index & mask. The side that
// owns an index publishes it with a release store (atomic.StoreUint32) after
// writing or reading the descriptors, and reads the other side's index with an
// acquire load (atomic.LoadUint32) before touching descriptors. Go's atomics
// are sequentially consistent, which is at least as strong as the kernel's
// smp_load_acquire/smp_store_release pairing requires.
//
// cachedProd and cachedCons are this side's private copies, so the shared
// cache line is touched only when the cached view runs out.
type ring struct {
	producer   *uint32
	consumer   *uint32
	flags      *uint32
	mask       uint32
	size       uint32
	cachedProd uint32
	cachedCons uint32
	mem        []byte // the whole mapping, for munmap
}

// needWakeup reports whether the kernel set XDP_RING_NEED_WAKEUP on the ring.
func (r *ring) needWakeup() bool {
	return atomic.LoadUint32(r.flags)&unix.XDP_RING_NEED_WAKEUP != 0
}

// freeProd returns how many slots a producer may fill now, refreshing the
// consumer index from the kernel only when fewer than want are known free.
func (r *ring) freeProd(want uint32) uint32 {
	free := r.size - (r.cachedProd - r.cachedCons)
	if free >= want {
		return free
	}
	r.cachedCons = atomic.LoadUint32(r.consumer)
	return r.size - (r.cachedProd - r.cachedCons)
}

// availCons returns how many entries a consumer may read now, refreshing the
// producer index from the kernel only when the cached view is empty or
// smaller than want.
func (r *ring) availCons(want uint32) uint32 {
	n := r.cachedProd - r.cachedCons
	if n >= want {
		return n
	}
	r.cachedProd = atomic.LoadUint32(r.producer)
	return r.cachedProd - r.cachedCons
}

// submit publishes n produced entries to the kernel (release).
func (r *ring) submit(n uint32) {
	r.cachedProd += n
	atomic.StoreUint32(r.producer, r.cachedProd)
}

// release hands n consumed entries back to the kernel (release).
func (r *ring) release(n uint32) {
	r.cachedCons += n
	atomic.StoreUint32(r.consumer, r.cachedCons)
}

// pending is, for a ring this side produces, the number of entries the kernel
// has not consumed yet (fresh acquire load of the consumer index).
func (r *ring) pending() uint32 {
	r.cachedCons = atomic.LoadUint32(r.consumer)
	return r.cachedProd - r.cachedCons
}

// addrRing is a fill or completion ring: its entries are UMEM offsets.
type addrRing struct {
	ring
	addrs []uint64
}

// descRing is an RX or TX ring: its entries are descriptors.
type descRing struct {
	ring
	descs []unix.XDPDesc
}

// put writes the i-th descriptor after the cached producer index (not yet
// submitted): a frame of n octets at UMEM address addr.
func (r *descRing) put(i uint32, addr uint64, n int) {
	d := &r.descs[(r.cachedProd+i)&r.mask]
	d.Addr, d.Len, d.Options = addr, uint32(n), 0
}

// mapRing mmaps one ring of size entries of entrySize bytes at page offset
// pgoff of socket fd, using the kernel-reported offsets off.
func mapRing(fd int, pgoff int64, off unix.XDPRingOffset, size, entrySize uint32) (ring, unsafe.Pointer, error) {
	length := int(off.Desc) + int(size)*int(entrySize)
	mem, err := unix.Mmap(fd, pgoff, length, unix.PROT_READ|unix.PROT_WRITE, unix.MAP_SHARED|unix.MAP_POPULATE)
	if err != nil {
		return ring{}, nil, err
	}
	base := unsafe.Pointer(unsafe.SliceData(mem))
	r := ring{
		producer: (*uint32)(unsafe.Add(base, off.Producer)),
		consumer: (*uint32)(unsafe.Add(base, off.Consumer)),
		flags:    (*uint32)(unsafe.Add(base, off.Flags)),
		mask:     size - 1,
		size:     size,
		mem:      mem,
	}
	return r, unsafe.Add(base, off.Desc), nil
}

func mapAddrRing(fd int, pgoff int64, off unix.XDPRingOffset, size uint32) (addrRing, error) {
	r, d, err := mapRing(fd, pgoff, off, size, 8)
	if err != nil {
		return addrRing{}, err
	}
	return addrRing{ring: r, addrs: unsafe.Slice((*uint64)(d), size)}, nil
}

func mapDescRing(fd int, pgoff int64, off unix.XDPRingOffset, size uint32) (descRing, error) {
	r, d, err := mapRing(fd, pgoff, off, size, uint32(unsafe.Sizeof(unix.XDPDesc{})))
	if err != nil {
		return descRing{}, err
	}
	return descRing{ring: r, descs: unsafe.Slice((*unix.XDPDesc)(d), size)}, nil
}

// unmap releases the ring's mapping; safe to call on a zero ring.
func (r *ring) unmap() error {
	if r.mem == nil {
		return nil
	}
	err := unix.Munmap(r.mem)
	r.mem = nil
	r.producer, r.consumer, r.flags = nil, nil, nil
	return err
}
