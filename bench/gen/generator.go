package gen

import (
	"context"
	"errors"
	"fmt"
	"sync/atomic"
	"time"
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

// Generator sends one stream on an AF_XDP socket.
type Generator struct {
	cfg                              GenConfig
	ts                               *Templates
	sent, sentDEX, bytes, full, errs atomic.Uint64
	done                             chan struct{}
	err                              error
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
	ts, err := Build(cfg.Stream)
	if err != nil {
		return nil, err
	}
	return &Generator{cfg: cfg, ts: ts, done: make(chan struct{})}, nil
}

// Templates returns the generator's prebuilt frames.
func (g *Generator) Templates() *Templates { return g.ts }

// Counters returns a snapshot of the counters; safe from any goroutine.
func (g *Generator) Counters() GenCounters {
	return GenCounters{Sent: g.sent.Load(), SentDEX: g.sentDEX.Load(), Bytes: g.bytes.Load(),
		RingFull: g.full.Load(), Errors: g.errs.Load()}
}

// SentPerFlow returns how many packets flow f has been sent when total
// packets were sent (packets go to flows round-robin).
func (g *Generator) SentPerFlow(total uint64, f int) uint64 {
	n := uint64(g.ts.Flows)
	c := total / n
	if uint64(f) < total%n {
		c++
	}
	return c
}

// Start opens the socket in the configured namespace and sends until ctx
// ends or Count packets are sent. It returns once the socket is open (or
// failed to open); Wait returns the final error.
func (g *Generator) Start(ctx context.Context) error {
	ready := make(chan error, 1)
	go g.run(ctx, ready)
	return <-ready
}

// Wait blocks until the generator has stopped and returns its error.
func (g *Generator) Wait() error {
	<-g.done
	return g.err
}

// Done is closed when the generator has stopped.
func (g *Generator) Done() <-chan struct{} { return g.done }

func (g *Generator) run(ctx context.Context, ready chan<- error) {
	defer close(g.done)
	err := lockInNetns(g.cfg.Netns)
	if err == nil {
		err = pinThread(g.cfg.CPUs)
	}
	if err != nil {
		ready <- err
		g.err = err
		return
	}
	sock, err := openTX(g.cfg.Iface)
	if err != nil {
		ready <- err
		g.err = err
		return
	}
	ready <- nil
	g.err = errors.Join(g.loop(ctx, sock), sock.close())
}

// maxConsecutiveErrors bounds how long the generator retries a failing
// transmit (link down, device gone) before giving up.
const maxConsecutiveErrors = 1000

func (g *Generator) loop(ctx context.Context, sock *xsk) error {
	var (
		ts              = g.ts
		flows           = uint64(ts.Flows)
		k, n            = uint64(ts.K), uint64(ts.N)
		sent, dex, octs uint64
		fails           int
		start           = time.Now()
		rate            = g.cfg.Rate
		batch           = uint64(g.cfg.Batch)
	)
	// stamp writes packet number sent+i into chunk and returns its length.
	stamp := func(i int, chunk []byte) int {
		idx := sent + uint64(i)
		f := idx % flows
		t := &ts.Plain[f]
		if n > 0 && idx%n < k {
			t = &ts.WithDEX[f]
			dex++
		}
		copy(chunk, t.Frame)
		t.Stamp(chunk[:len(t.Frame)], uint32(idx/flows))
		octs += uint64(len(t.Frame))
		return len(t.Frame)
	}
	for {
		select {
		case <-ctx.Done():
			return nil
		default:
		}
		if g.cfg.Count > 0 && sent >= g.cfg.Count {
			return nil
		}
		sock.complete()
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
		q := sock.transmit(int(want), stamp)
		if q < int(want) {
			g.full.Add(1)
		}
		sent += uint64(q)
		if err := sock.kick(); err != nil {
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
