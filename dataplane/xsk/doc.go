// Package xsk is dexplane's AF_XDP layer, and the only package with AF_XDP
// socket code: UMEM, the four rings, sockets bound to a (device, queue)
// pair, the per-queue Worker that forwards frames between the two ports of a
// bump in the wire, and Port, one socket on a UMEM of its own for a user
// that only sends or only receives (the benchmark generator and sink).
//
// # Why this package owns its AF_XDP code
//
// The project card names github.com/asavie/xdp v0.3.3. That module is
// archived and cannot do what a bump in the wire needs: it registers one UMEM
// per socket (no XDP_SHARED_UMEM, so forwarding from port A to port B would
// cost a copy per frame), reserves no UMEM headroom for headers the IOAM
// roles insert, reads and writes ring indices without memory ordering, and
// panics in Transmit on errnos a link flap produces. This package talks to
// the kernel directly with golang.org/x/sys/unix and orders ring indices
// with sync/atomic (acquire loads of the peer's index, release stores of our
// own), following the kernel's Documentation/networking/af_xdp.rst.
//
// # Kernel requirements
//
//   - Linux ≥ 5.10: XDP_SHARED_UMEM between sockets on different devices or
//     queues (each such socket brings its own fill and completion ring), and
//     the need_wakeup ring flags (≥ 5.4).
//   - CAP_NET_ADMIN and CAP_NET_RAW (AF_XDP sockets), and an XDP program that
//     redirects frames into an XSKMAP entry holding the socket (package steering).
//   - Zero-copy needs driver support; veth and every device in generic XDP
//     mode run in copy mode, which this package selects automatically.
//
// # Memory layout
//
// A UMEM is one anonymous mapping of NumFrames chunks of FrameSize bytes
// (aligned mode, FrameSize a power of two). The kernel places a received
// frame at chunk + Headroom + XDP_PACKET_HEADROOM (256), so a handler always
// has at least 256 octets in front of the packet to grow headers into.
// A descriptor's address is an offset into the UMEM, not a pointer.
//
// # Concurrency
//
// A Socket, its rings and a Worker's handler are used by one goroutine only
// (the worker's, locked to its OS thread). Counters are atomics and may be
// read from any goroutine at any time.
package xsk
