// Package handle is the contract between the AF_XDP workers (package
// dataplane/xsk) and the per-frame handlers (the IOAM roles of package
// dataplane/node, the checksum stage): one received frame in its UMEM chunk,
// the handler's verdict, and the Handler interfaces. It imports nothing, so
// a handler depends on neither the syscall package nor the socket and ring
// code.
//
// Frame is a concrete struct, not an interface: a handler reads and writes
// Buf, Off and Len many times per packet, and field accesses inline where
// interface method calls would not. The worker reuses one Frame for every
// packet, so passing *Frame allocates nothing.
package handle

// Frame is one received frame in UMEM, valid only until Handler.Handle
// returns. The worker reuses one Frame value for every packet, so a handler
// must not keep the pointer or Buf.
type Frame struct {
	// Buf is the whole UMEM chunk (FrameSize bytes). The packet, starting with
	// its Ethernet header, is Buf[Off:Off+Len]; Buf[:Off] is headroom (at
	// least 256 octets on receive: the UMEM headroom plus the kernel's
	// XDP_PACKET_HEADROOM).
	Buf []byte
	// Off and Len locate the packet in Buf, in bytes. A handler may change
	// both (insert or strip headers) as long as 0 ≤ Off, 0 < Len and
	// Off+Len ≤ len(Buf); otherwise the worker drops the frame and counts
	// it as xsk.CtrInvalid.
	Off, Len int
	// Ingress is the port index (0 or 1) the frame arrived on; it leaves on
	// port 1-Ingress.
	Ingress int
	// Queue is the worker index, equal to the RX queue id on both ports.
	Queue int
	// RxTime is CLOCK_REALTIME in nanoseconds since the Unix epoch, taken
	// once per received batch.
	RxTime int64
	// TxQueueDepth is the number of frames outstanding in the egress port's
	// TX ring (queued by this worker, not yet taken by the kernel) when the
	// frame was handled; for IOAM trace bit 6 (queue depth).
	TxQueueDepth uint32
	// UmemInUse is the number of this worker's UMEM frames not in its free
	// list (held by the kernel in fill, RX, TX or completion rings, or being
	// handled); for IOAM trace bit 11 (buffer occupancy).
	UmemInUse uint32
}

// Packet returns the packet bytes Buf[Off:Off+Len].
func (f *Frame) Packet() []byte { return f.Buf[f.Off : f.Off+f.Len] }

// Verdict is a handler's decision about one frame.
type Verdict uint8

const (
	// Forward transmits Buf[Off:Off+Len] on the peer port, without a copy.
	Forward Verdict = iota
	// Drop returns the frame to the UMEM free list; the worker counts it as
	// xsk.CtrDropped.
	Drop
	// Reflect transmits Buf[Off:Off+Len] back out of the port it arrived
	// on (Frame.Ingress), without a copy: for a reply the handler built in
	// place, such as an ICMPv6 error to the sender. Both sockets of a worker
	// share one UMEM, so the chunk goes to the ingress port's TX ring and
	// its completion returns it to the worker's free list. Counted on the
	// ingress port as xsk.CtrReflected (and CtrTxFrames, CtrTxBytes); when
	// that TX ring is full the frame is dropped and counted as CtrDropped
	// and CtrTxRingFull.
	Reflect
)

// String returns "forward", "drop" or "reflect".
func (v Verdict) String() string {
	switch v {
	case Forward:
		return "forward"
	case Drop:
		return "drop"
	case Reflect:
		return "reflect"
	}
	return "Verdict(?)"
}

// Handler processes the frames of one worker. A handler is called from that
// worker's goroutine only and never shared between workers, so it needs no
// locks; it must not block and should not allocate.
type Handler interface {
	Handle(f *Frame) Verdict
}

// BatchHandler is a Handler that wants to know where the worker's batches
// begin and end: the worker calls BeginBatch before the first Handle of a
// batch of frames taken from one RX ring and EndBatch after the last, from
// its goroutine. A handler can keep per-packet bookkeeping (counters) in
// plain memory during a batch and publish it once at EndBatch.
type BatchHandler interface {
	Handler
	BeginBatch()
	EndBatch()
}

// HandlerFunc adapts a function to Handler.
type HandlerFunc func(f *Frame) Verdict

// Handle calls fn(f).
func (fn HandlerFunc) Handle(f *Frame) Verdict { return fn(f) }

// Identity is the Handler that forwards every frame unchanged.
type Identity struct{}

// Handle returns Forward.
func (Identity) Handle(*Frame) Verdict { return Forward }
