package gen

import (
	"context"
	"errors"
	"fmt"
	"sync/atomic"
	"time"

	"github.com/dexplane/dexplane/dataplane/xsk"
)

// GenConfig configures a Generator.
type GenConfig struct {
	// Netns is the network namespace to send from ("" = current) and
	// Iface the interface in it.
	Netns, Iface string
	// Stream describes the packets.
	Stream StreamSpec
	// Rate is the target in packets per second; 0 sends flat out.
	Rate float64
	// Batch is the number of frames queued per loop (default 64).
	Batch int
	// Count stops after this many packets (0 = until the context ends).
	Count uint64
	// CPUs pins the generator's thread (nil: not pinned).
	CPUs []int
	// Queues is how many TX queues of Iface (0, 1, …) the generator sends
	// on, one socket each, from its one thread; 0 means 1. Flow f always
	// leaves on queue f mod Queues, so a flow stays on one queue (and on
	// one RX queue of a veth peer), as RSS keeps it on a NIC.
	Queues int
}

// GenCounters are the generator's cumulative counters.
type GenCounters struct {
	// Sent is the number of frames queued to the kernel, SentDEX those
	// carrying DEX, Bytes their frame octets.
	Sent, SentDEX, Bytes uint64
	// RingFull counts loops that found the TX ring or UMEM exhausted
	// (the kernel or the peer is not keeping up with the generator).
	RingFull uint64
	// Errors counts failed kicks (sendto errors other than EAGAIN, EBUSY,
	// ENOBUFS: link down, device gone); the generator retries 1000 times.
	Errors uint64
}

// Generator sends one stream on one AF_XDP socket per TX queue.
type Generator struct {
	cfg                              GenConfig
	ts                               *Templates
	sent, sentDEX, bytes, full, errs atomic.Uint64
	// perQueue[q] counts the frames sent on queue q; flowsOn[q] is the
	// number of flows that queue carries.
	perQueue []atomic.Uint64
	flowsOn  []uint64
	thread
}

// NewGenerator validates cfg and builds the stream's templates.
func NewGenerator(cfg GenConfig) (*Generator, error) {
	if cfg.Batch <= 0 {
		cfg.Batch = 64
	}
	if cfg.Batch > txRingSize/2 {
		cfg.Batch = txRingSize / 2
	}
	if cfg.Rate < 0 {
		return nil, fmt.Errorf("%w: rate %v pps", ErrSpec, cfg.Rate)
	}
	if cfg.Stream.Size+ethLen > frameSize {
		return nil, fmt.Errorf("%w: size %d does not fit a %d-octet UMEM frame", ErrSpec, cfg.Stream.Size, frameSize)
	}
	if cfg.Queues <= 0 {
		cfg.Queues = 1
	}
	ts, err := Build(cfg.Stream)
	if err != nil {
		return nil, err
	}
	if cfg.Queues > ts.Flows {
		return nil, fmt.Errorf("%w: %d queues for %d flows: a queue would carry none", ErrSpec, cfg.Queues, ts.Flows)
	}
	g := &Generator{cfg: cfg, ts: ts, thread: newThread(),
		perQueue: make([]atomic.Uint64, cfg.Queues), flowsOn: make([]uint64, cfg.Queues)}
	for f := range ts.Flows {
		g.flowsOn[f%cfg.Queues]++
	}
	return g, nil
}

// Templates returns the generator's prebuilt frames.
func (g *Generator) Templates() *Templates { return g.ts }

// Counters returns a snapshot of the counters; safe from any goroutine.
func (g *Generator) Counters() GenCounters {
	return GenCounters{Sent: g.sent.Load(), SentDEX: g.sentDEX.Load(), Bytes: g.bytes.Load(),
		RingFull: g.full.Load(), Errors: g.errs.Load()}
}

// SentPerFlow returns how many packets flow f has been sent so far: each
// queue sends its flows (f mod Queues = queue) round-robin.
func (g *Generator) SentPerFlow(f int) uint64 {
	nq := len(g.perQueue)
	q, j := f%nq, uint64(f/nq)
	total, m := g.perQueue[q].Load(), g.flowsOn[q]
	c := total / m
	if j < total%m {
		c++
	}
	return c
}

// Start opens the socket in the configured namespace and sends until ctx
// ends or Count packets are sent. It returns once the socket is open (or
// failed to open); Wait returns the final error.
func (g *Generator) Start(ctx context.Context) error {
	return g.start(g.cfg.Netns, g.cfg.CPUs, func(ready func()) error {
		socks, err := openTX(g.cfg.Iface, g.cfg.Queues)
		if err != nil {
			return err
		}
		ready()
		errs := []error{g.loop(ctx, socks)}
		for _, x := range socks {
			errs = append(errs, x.Close())
		}
		return errors.Join(errs...)
	})
}

// Done is closed when the generator has stopped.
func (g *Generator) Done() <-chan struct{} { return g.done }

// maxConsecutiveErrors bounds how long the generator retries a failing
// transmit (link down, device gone) before giving up.
const maxConsecutiveErrors = 1000

func (g *Generator) loop(ctx context.Context, socks []*xsk.Port) error {
	var (
		ts              = g.ts
		nq              = uint64(len(socks))
		k, n            = uint64(ts.K), uint64(ts.N)
		sent, dex, octs uint64
		fails           int
		start           = time.Now()
		rate            = g.cfg.Rate
		batch           = uint64(g.cfg.Batch)
		q               uint64 // queue being filled
		onQ             = make([]uint64, nq)
		stamped         uint64 // frames stamped, for the k-of-n DEX choice
	)
	// stamp writes the next packet of queue q into chunk and returns its
	// length: queue q's packet number p belongs to its flow p mod m (of
	// the m flows f ≡ q mod nq) and is that flow's packet p / m.
	stamp := func(i int, chunk []byte) int {
		p, m := onQ[q]+uint64(i), g.flowsOn[q]
		f := q + (p%m)*nq
		t := &ts.Plain[f]
		if n > 0 && stamped%n < k {
			t = &ts.WithDEX[f]
			dex++
		}
		stamped++
		copy(chunk, t.Frame)
		t.Stamp(chunk[:len(t.Frame)], uint32(p/m))
		octs += uint64(len(t.Frame))
		return len(t.Frame)
	}
	// flush sends what is still on the TX rings when the generator stops,
	// so the last frames are not lost in its own rings.
	flush := func() error {
		deadline := time.Now().Add(100 * time.Millisecond)
		for _, x := range socks {
			for x.TxPending() > 0 && time.Now().Before(deadline) {
				if err := x.Kick(); err != nil {
					return err
				}
				x.Complete()
			}
		}
		return nil
	}
	for {
		select {
		case <-ctx.Done():
			return flush()
		default:
		}
		if g.cfg.Count > 0 && sent >= g.cfg.Count {
			return flush()
		}
		for _, x := range socks {
			x.Complete()
			if x.TxPending() > 0 && x != socks[q] {
				_ = x.Kick() // leftovers of an earlier turn; errors surface on its own turn
			}
		}
		want := batch
		if g.cfg.Count > 0 {
			want = min(want, g.cfg.Count-sent)
		}
		if rate > 0 {
			due := uint64(rate * time.Since(start).Seconds())
			if due <= sent {
				// Ahead of schedule: sleep about one batch's time.
				wait := time.Duration(float64(batch) / rate * float64(time.Second))
				time.Sleep(min(max(wait, 50*time.Microsecond), 10*time.Millisecond))
				continue
			}
			want = min(want, due-sent)
		}
		// One batch per loop, on the queues in turn.
		sock := socks[q]
		c := uint64(sock.Transmit(int(want), stamp))
		if c < want {
			g.full.Add(1)
		}
		sent += c
		onQ[q] += c
		g.perQueue[q].Store(onQ[q])
		q = (q + 1) % nq
		if err := sock.Kick(); err != nil {
			g.errs.Add(1)
			if fails++; fails > maxConsecutiveErrors {
				return err
			}
			time.Sleep(time.Millisecond)
		} else {
			fails = 0
		}
		g.sent.Store(sent)
		g.sentDEX.Store(dex)
		g.bytes.Store(octs)
	}
}
