package dataplane

import (
	"github.com/dexplane/dexplane/steering"

	"github.com/dexplane/dexplane/dataplane/checksum"
	"github.com/dexplane/dexplane/dataplane/xsk"
)

// PortCounters are the counters of one port, summed over workers.
type PortCounters struct {
	// Worker are the AF_XDP workers' counters for this port (frames
	// received from / transmitted to it, drops by reason), indexed by
	// xsk.Counter.
	Worker xsk.PortCounts
	// Socket are the kernel's AF_XDP socket counters (XDP_STATISTICS):
	// frames the kernel dropped before a worker saw them.
	Socket xsk.Stats
	// XDP are the steering program's counters by classification reason.
	XDP [steering.NumReasons]steering.Counter
	// RxQueues is the port's RX queue count as last read by
	// Engine.CheckQueues (0: unknown); a gauge.
	RxQueues int
	// Checksum counts frames received on the port whose transport
	// checksum was unfinished: completed, or left (completion off).
	Checksum checksum.Counts
	// RedirectErrors are the XDP redirects of frames received on the port
	// that the kernel refused (the frames were dropped), by target; valid
	// when RedirectCounted.
	RedirectErrors [steering.NumTargets]uint64
	// RedirectCounted is false when the kernel's refusals cannot be
	// counted (no tracefs; logged at start).
	RedirectCounted bool
}

// Counters is a point-in-time copy of the engine's counters. Values are
// monotonic over the engine's life; each is read atomically, the set is not
// one atomic snapshot.
type Counters struct {
	Ports [2]PortCounters
	// Workers[i][p] are worker i's counters for port p.
	Workers [][2]xsk.PortCounts
}

// Counters returns the current counters; after Stop, the last values read
// while stopping. Safe from any goroutine.
func (e *Engine) Counters() Counters {
	e.mu.Lock()
	defer e.mu.Unlock()
	if e.state == stateStopped {
		return e.final
	}
	return e.countersLocked()
}

func (e *Engine) countersLocked() Counters {
	var c Counters
	for _, w := range e.workers {
		s := w.Counters().Snapshot()
		c.Workers = append(c.Workers, s)
		for p := range 2 {
			c.Ports[p].Worker.Add(&s[p])
			if st, err := w.Socket(p).Stats(); err == nil {
				k := &c.Ports[p].Socket
				k.RxDropped += st.RxDropped
				k.RxInvalidDescs += st.RxInvalidDescs
				k.TxInvalidDescs += st.TxInvalidDescs
				k.RxRingFull += st.RxRingFull
				k.RxFillRingEmpty += st.RxFillRingEmpty
				k.TxRingEmptyDescs += st.TxRingEmptyDescs
			}
		}
	}
	for p := range 2 {
		c.Ports[p].RxQueues = int(e.rxQueues[p].Load())
		for _, h := range e.csum {
			v := h.Ports[p].Load()
			c.Ports[p].Checksum.Completed += v.Completed
			c.Ports[p].Checksum.Unfinished += v.Unfinished
		}
	}
	if e.xdp != nil {
		if x, err := e.xdp.Counters(); err == nil {
			for p := range 2 {
				c.Ports[p].XDP = x[p]
			}
		}
		if r, ok, err := e.xdp.RedirectErrors(); err == nil && ok {
			for p := range 2 {
				c.Ports[p].RedirectErrors, c.Ports[p].RedirectCounted = r[p], true
			}
		}
	}
	return c
}

// Lost returns, for port p, the frames received on p that the data plane
// knowingly did not deliver to the peer: dropped by the handler or invalid,
// dropped by the kernel before the worker (socket counters), or dropped by
// the device on transmit to p's peer (copy mode, EBUSY), dropped by the
// XDP program (malformed, or no peer port), or refused by the kernel when
// XDP redirected them to the peer port (socket refusals are already in the
// socket counters).
func (c *Counters) Lost(p int) uint64 {
	w, s := &c.Ports[p].Worker, &c.Ports[p].Socket
	return w[xsk.CtrDropped] + w[xsk.CtrInvalid] + s.RxDropped + s.RxRingFull + s.RxInvalidDescs +
		c.Ports[1-p].Worker[xsk.CtrTxDeviceDrop] + c.Ports[1-p].Socket.TxInvalidDescs +
		c.Ports[p].XDP[steering.ReasonNoPeer].Packets + c.Ports[p].XDP[steering.ReasonMalformed].Packets +
		c.Ports[p].RedirectErrors[steering.TargetPeer] + c.Ports[p].RedirectErrors[steering.TargetOther]
}

// Steered returns the frames received on port p that the XDP program sent
// to the workers (every classification for which steering.Reason.Steered).
func (c *Counters) Steered(p int) uint64 {
	var n uint64
	for r, v := range c.Ports[p].XDP {
		if steering.Reason(r).Steered() {
			n += v.Packets
		}
	}
	return n
}

// Crossed returns the frames received on port p that the XDP program let
// cross to the peer port in the kernel: the classifications neither steered
// nor dropped (not IPv6, ND, IPv6 nothing asked for, no route, not
// sampled). Frames steered to a queue without a socket (the
// steering.ReasonXSKMiss event) are counted under their steered reason.
func (c *Counters) Crossed(p int) uint64 {
	var n uint64
	for r, v := range c.Ports[p].XDP {
		if r := steering.Reason(r); r < steering.ReasonXSKMiss && !r.Steered() && !r.Dropped() {
			n += v.Packets
		}
	}
	return n
}
