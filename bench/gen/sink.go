package gen

import (
	"context"
	"errors"
	"sync"
	"sync/atomic"
	"time"

	"golang.org/x/sys/unix"

	"github.com/dexplane/dexplane/dataplane/handle"
	"github.com/dexplane/dexplane/dataplane/xsk"
)

// SinkConfig configures a Sink.
type SinkConfig struct {
	// Netns is the network namespace to receive in ("" = current) and
	// Iface the interface in it.
	Netns, Iface string
	// Flows is the number of flows to track (flow indexes ≥ Flows are
	// counted as foreign).
	Flows int
	// Run, if non-zero, is the generator run id to accept; frames of
	// other runs are foreign.
	Run uint32
	// CPUs pins the sink's thread (nil: not pinned).
	CPUs []int
	// Queues is how many RX queues of Iface (0, 1, …) the sink receives
	// on, one socket each, all served by its one thread; 0 means 1.
	Queues int
}

// SinkCounters are the sink's cumulative counters.
type SinkCounters struct {
	// Received counts valid generator frames, Bytes their frame octets.
	Received, Bytes uint64
	// WithDEX counts received frames carrying a DEX option, Encapsulated
	// those in IPv6-in-IPv6.
	WithDEX, Encapsulated uint64
	// Corrupt counts generator frames failing the header check or the
	// payload pattern; Foreign counts frames that are not from this run
	// (ND, other traffic, other run ids).
	Corrupt, Foreign uint64
	// Late counts frames whose sequence number was below the flow's next
	// expected one (reordered or duplicated); Gaps counts sequence numbers
	// skipped (lost, or reordered and counted again in Late).
	Late, Gaps uint64
}

// SocketDrops are the kernel's drop counters of the sink's AF_XDP socket:
// frames the kernel could not hand to the sink (RX ring full, fill ring
// empty). Non-zero values mean the sink, not the DUT, lost frames.
type SocketDrops struct {
	// Dropped counts frames dropped for want of a free UMEM frame (fill
	// ring empty); FillRingEmpty counts the kernel finding the fill ring
	// empty (overlaps Dropped); RxRingFull counts frames dropped because
	// the RX ring was full.
	Dropped, RxRingFull, FillRingEmpty uint64
}

// Total returns the frames the sink's socket lost: Dropped + RxRingFull.
func (d SocketDrops) Total() uint64 { return d.Dropped + d.RxRingFull }

// FlowStats is the sink's view of one flow.
type FlowStats struct {
	Received uint64
	// Next is one more than the highest sequence number seen.
	Next uint32
	Late uint64
	Gaps uint64
}

// Sink receives generator frames on an AF_XDP socket and checks them.
type Sink struct {
	cfg   SinkConfig
	flows []FlowStats

	received, bytes, dex, encap, corrupt, foreign, late, gaps atomic.Uint64

	// kstats holds the socket's kernel statistics, read when it stops.
	kstats SocketDrops

	mu sync.Mutex // guards flows and kstats; held by the receive loop
	thread
}

// NewSink prepares a sink; Start opens its socket.
func NewSink(cfg SinkConfig) *Sink {
	if cfg.Flows <= 0 {
		cfg.Flows = 1
	}
	return &Sink{cfg: cfg, flows: make([]FlowStats, cfg.Flows),
		thread: newThread()}
}

// Counters returns a snapshot of the counters; safe from any goroutine.
func (s *Sink) Counters() SinkCounters {
	return SinkCounters{Received: s.received.Load(), Bytes: s.bytes.Load(), WithDEX: s.dex.Load(),
		Encapsulated: s.encap.Load(), Corrupt: s.corrupt.Load(), Foreign: s.foreign.Load(),
		Late: s.late.Load(), Gaps: s.gaps.Load()}
}

// Drops returns the sink socket's kernel drop counters; call it after Wait.
func (s *Sink) Drops() SocketDrops {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.kstats
}

// Flows returns a copy of the per-flow statistics; call it after Wait.
func (s *Sink) Flows() []FlowStats {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]FlowStats(nil), s.flows...)
}

// Start attaches the sink's XDP program, opens its socket and starts
// receiving until ctx ends. It returns once the socket is ready.
func (s *Sink) Start(ctx context.Context) error {
	return s.start(s.cfg.Netns, s.cfg.CPUs, func(ready func()) error {
		port, err := openRX(s.cfg.Iface, s.cfg.Queues)
		if err != nil {
			return err
		}
		// The sink sleeps in poll(2) most of the time; a higher priority
		// lets it run as soon as frames arrive instead of after the busy
		// generator and DUT threads' time slices, so that it is not the
		// bottleneck. Failure (no CAP_SYS_NICE) only costs that margin.
		_ = unix.Setpriority(unix.PRIO_PROCESS, unix.Gettid(), sinkNice)
		ready()
		err = s.loop(ctx, port.ports)
		var kd SocketDrops
		for _, x := range port.ports {
			if st, serr := x.Socket().Stats(); serr == nil {
				kd.Dropped += st.RxDropped
				kd.RxRingFull += st.RxRingFull
				kd.FillRingEmpty += st.RxFillRingEmpty
			}
		}
		s.mu.Lock()
		s.kstats = kd
		s.mu.Unlock()
		return errors.Join(err, port.close())
	})
}

// sinkNice is the nice value of the sink's thread.
const sinkNice = -10

// pollTimeout bounds how long the sink sleeps in poll(2) before it looks
// at its context again.
const pollTimeout = 50 * time.Millisecond

func (s *Sink) loop(ctx context.Context, socks []*xsk.Port) error {
	var (
		c SinkCounters
		r Parsed
	)
	account := func(f *handle.Frame) { s.account(f.Packet(), &r, &c) }
	s.mu.Lock()
	defer s.mu.Unlock()
	for ctx.Err() == nil {
		got := 0
		for _, sock := range socks {
			sock.Refill()
			got += sock.Receive(account)
		}
		if got == 0 {
			if err := xsk.WaitRx(socks, pollTimeout); err != nil {
				return err
			}
			continue
		}
		s.received.Store(c.Received)
		s.bytes.Store(c.Bytes)
		s.dex.Store(c.WithDEX)
		s.encap.Store(c.Encapsulated)
		s.corrupt.Store(c.Corrupt)
		s.foreign.Store(c.Foreign)
		s.late.Store(c.Late)
		s.gaps.Store(c.Gaps)
	}
	return nil
}

// account checks one received frame and updates the counters.
func (s *Sink) account(frame []byte, r *Parsed, c *SinkCounters) {
	switch err := Parse(frame, r); {
	case err == nil:
	case errors.Is(err, ErrNotOurs):
		c.Foreign++
		return
	default:
		c.Corrupt++
		return
	}
	if (s.cfg.Run != 0 && r.Run != s.cfg.Run) || int(r.Flow) >= len(s.flows) {
		c.Foreign++
		return
	}
	if !CheckPattern(frame, r) {
		c.Corrupt++
		return
	}
	c.Received++
	c.Bytes += uint64(len(frame))
	if r.HasDEX {
		c.WithDEX++
	}
	if r.Encapsulated {
		c.Encapsulated++
	}
	fs := &s.flows[r.Flow]
	fs.Received++
	switch {
	case r.Seq == fs.Next:
		fs.Next++
	case int32(r.Seq-fs.Next) > 0:
		g := uint64(r.Seq - fs.Next)
		fs.Gaps += g
		c.Gaps += g
		fs.Next = r.Seq + 1
	default:
		fs.Late++
		c.Late++
	}
}
