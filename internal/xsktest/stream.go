package xsktest

import (
	"errors"
	"fmt"
	"net"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	"golang.org/x/sys/unix"

	"github.com/dexplane/dexplane/internal/payload"
)

// A stream packet's UDP payload is an internal/payload payload of stream
// id and sequence number seq. Its size varies with the sequence number
// between MinSize and MaxSize, so a stream exercises many frame lengths.

// MinPayload is the smallest payload a stream packet may have.
const MinPayload = payload.HeaderLen

// maxLag is how far a paced sender may fall behind before it gives up
// catching up.
const maxLag = 5 * time.Millisecond

// PayloadSize returns the payload size of packet seq for sizes in [min, max].
func PayloadSize(seq uint64, min, max int) int {
	if max <= min {
		return min
	}
	return min + int((seq*2654435761)%uint64(max-min+1))
}

// Fill writes the payload of packet seq of stream id into buf (its whole
// length); the same octets every time.
func Fill(buf []byte, id uint32, seq uint64) {
	payload.Put(buf, payload.Header{Stream: id, Seq: uint32(seq)})
}

// ErrCorrupt is returned by Check for a payload that is not a payload of
// the stream (wrapping the payload package's reason).
var ErrCorrupt = errors.New("xsktest: corrupt payload")

// Check verifies that buf is an intact payload of stream id and returns its
// sequence number.
func Check(buf []byte, id uint32) (uint64, error) {
	h, err := payload.Verify(buf)
	if err != nil {
		return uint64(h.Seq), fmt.Errorf("%w: %w", ErrCorrupt, err)
	}
	if h.Stream != id {
		return uint64(h.Seq), fmt.Errorf("%w: stream %d, want %d", ErrCorrupt, h.Stream, id)
	}
	return uint64(h.Seq), nil
}

// StreamConfig describes one UDP stream.
type StreamConfig struct {
	ID      uint32 // stream id, written into every payload
	Count   int    // packets
	MinSize int    // payload bytes, ≥ MinPayload
	MaxSize int    // payload bytes, ≥ MinSize, ≤ 1452 for a 1500-byte MTU
	// Rate in packets per second; 0 sends as fast as the socket allows.
	// A sender that falls more than 5 ms behind (descheduled) restarts its
	// schedule rather than bursting to catch up.
	Rate int
	// Duration, when positive, stops the stream after this long even if
	// fewer than Count packets were sent.
	Duration time.Duration
}

// SendResult is what a sender did.
type SendResult struct {
	Sent    int           // packets handed to the kernel
	Retries int           // sends retried after ENOBUFS/EAGAIN
	Elapsed time.Duration // first to last send
}

// Send sends the stream on a connected UDP socket. Every sequence number is
// sent exactly once; transient errors (ENOBUFS, EAGAIN) are retried.
func Send(conn *net.UDPConn, cfg StreamConfig) (SendResult, error) {
	var res SendResult
	if cfg.MinSize < MinPayload || cfg.MaxSize < cfg.MinSize {
		return res, fmt.Errorf("xsktest: payload sizes %d..%d: need %d ≤ min ≤ max", cfg.MinSize, cfg.MaxSize, MinPayload)
	}
	buf := make([]byte, cfg.MaxSize)
	start := time.Now()
	pace, paceSeq := start, uint64(0)
	for seq := uint64(0); seq < uint64(cfg.Count); seq++ {
		if cfg.Duration > 0 && seq%64 == 0 && time.Since(start) >= cfg.Duration {
			break
		}
		if cfg.Rate > 0 && seq%32 == 0 {
			due := pace.Add(time.Duration(float64(seq-paceSeq) / float64(cfg.Rate) * float64(time.Second)))
			if d := time.Until(due); d > 0 {
				time.Sleep(d)
			} else if d < -maxLag {
				// The sender was kept off the CPU: restart the schedule
				// instead of catching up with a burst at full speed.
				pace, paceSeq = time.Now(), seq
			}
		}
		p := buf[:PayloadSize(seq, cfg.MinSize, cfg.MaxSize)]
		Fill(p, cfg.ID, seq)
		for {
			_, err := conn.Write(p)
			if err == nil {
				break
			}
			if errors.Is(err, syscall.ENOBUFS) || errors.Is(err, syscall.EAGAIN) || errors.Is(err, syscall.ECONNREFUSED) {
				res.Retries++
				time.Sleep(50 * time.Microsecond)
				continue
			}
			res.Elapsed = time.Since(start)
			return res, fmt.Errorf("xsktest: send seq %d: %w", seq, err)
		}
		res.Sent++
	}
	res.Elapsed = time.Since(start)
	return res, nil
}

// Receiver counts and checks the packets of one stream.
type Receiver struct {
	id    uint32
	count int

	mu   sync.Mutex
	seen []bool

	Received   atomic.Int64 // distinct, intact packets of the stream
	Duplicates atomic.Int64
	Corrupt    atomic.Int64 // packets that fail Check
	Reordered  atomic.Int64 // packets with a sequence number below the highest seen
	FirstErr   atomic.Pointer[error]
	// LastArrival is the receive time of the latest intact packet, Unix ns.
	LastArrival atomic.Int64
	// MaxGap is the longest time between two intact packets, in ns.
	MaxGap atomic.Int64
}

// NewReceiver returns a checker for count packets of stream id.
func NewReceiver(id uint32, count int) *Receiver {
	return &Receiver{id: id, count: count, seen: make([]bool, count)}
}

// Run reads from conn until it is closed or idle for idle after the first
// packet (or 5 s before it), checking every datagram.
func (r *Receiver) Run(conn *net.UDPConn, idle time.Duration) {
	buf := make([]byte, 65536)
	var high int64 = -1
	first := true
	for {
		d := idle
		if first {
			d = 5 * time.Second
		}
		_ = conn.SetReadDeadline(time.Now().Add(d))
		n, err := conn.Read(buf)
		if err != nil {
			return
		}
		first = false
		seq, err := Check(buf[:n], r.id)
		if err != nil {
			r.Corrupt.Add(1)
			r.FirstErr.CompareAndSwap(nil, &err)
			continue
		}
		if seq >= uint64(r.count) {
			r.Corrupt.Add(1)
			continue
		}
		if int64(seq) < high {
			r.Reordered.Add(1)
		} else {
			high = int64(seq)
		}
		r.mu.Lock()
		dup := r.seen[seq]
		r.seen[seq] = true
		r.mu.Unlock()
		if dup {
			r.Duplicates.Add(1)
			continue
		}
		now := time.Now().UnixNano()
		if prev := r.LastArrival.Swap(now); prev != 0 && now-prev > r.MaxGap.Load() {
			r.MaxGap.Store(now - prev)
		}
		if r.Received.Add(1) == int64(r.count) {
			return
		}
	}
}

// Missing returns up to max sequence numbers below sent not received.
func (r *Receiver) Missing(sent, max int) []uint64 {
	r.mu.Lock()
	defer r.mu.Unlock()
	var m []uint64
	for i, ok := range r.seen[:min(sent, len(r.seen))] {
		if !ok {
			m = append(m, uint64(i))
			if len(m) == max {
				break
			}
		}
	}
	return m
}

// Err returns the first checking error, if any.
func (r *Receiver) Err() error {
	if p := r.FirstErr.Load(); p != nil {
		return *p
	}
	return nil
}

// SetBuffers sets a UDP socket's send and receive buffers to bytes, beyond
// the sysctl limits (SO_RCVBUFFORCE/SO_SNDBUFFORCE, needs CAP_NET_ADMIN).
func SetBuffers(conn *net.UDPConn, bytes int) error {
	rc, err := conn.SyscallConn()
	if err != nil {
		return err
	}
	var serr error
	err = rc.Control(func(fd uintptr) {
		serr = errors.Join(
			unix.SetsockoptInt(int(fd), unix.SOL_SOCKET, unix.SO_RCVBUFFORCE, bytes),
			unix.SetsockoptInt(int(fd), unix.SOL_SOCKET, unix.SO_SNDBUFFORCE, bytes),
		)
	})
	return errors.Join(err, serr)
}
