package xsk

import "sync/atomic"

// Counter names one per-port counter of a worker. Frame counters count
// frames, byte counters count packet bytes (Ethernet header included),
// event counters count occurrences.
type Counter uint8

const (
	CtrRxFrames     Counter = iota // frames taken from the port's RX ring
	CtrRxBytes                     // bytes of those frames
	CtrTxFrames                    // frames queued on the port's TX ring
	CtrTxBytes                     // bytes of those frames (after the handler)
	CtrTxCompleted                 // frames the kernel returned on the completion ring
	CtrDropped                     // frames received on the port that the handler dropped
	CtrInvalid                     // frames received on the port the handler left with a bad Off/Len; dropped
	CtrTxRingFull                  // events: the port's TX ring had no room for a whole batch; frames waited in the peer's RX ring
	CtrFillEmpty                   // events: the port's fill ring was empty after refilling (UMEM frames exhausted)
	CtrKickRetry                   // TX kicks answered EAGAIN or ENOBUFS (retried later)
	CtrTxDeviceDrop                // TX kicks answered EBUSY: in copy mode the device dropped one frame
	CtrLinkDown                    // TX kicks or polls answered ENETDOWN or ENXIO (retried later)
	CtrKickError                   // TX kicks answered another errno
	CtrPollError                   // POLLERR, POLLHUP or POLLNVAL on the port's socket
	CtrReflected                   // frames received on the port that the handler sent back out of it (Reflect); also in the port's tx_frames
	NumCounters                    // number of counters
)

var counterNames = [NumCounters]string{
	"rx_frames", "rx_bytes", "tx_frames", "tx_bytes", "tx_completed",
	"dropped", "invalid", "tx_ring_full", "fill_empty",
	"kick_retry", "tx_device_drop", "link_down", "kick_error", "poll_error",
	"reflected",
}

// String returns the counter's snake_case name, e.g. "rx_frames".
func (c Counter) String() string {
	if c < NumCounters {
		return counterNames[c]
	}
	return "unknown"
}

// Counters are one worker's per-port counters. The worker adds to them once
// per loop iteration; any goroutine may read them at any time.
type Counters struct {
	_ [64]byte // keep other workers' hot data off these cache lines
	v [2][NumCounters]atomic.Uint64
	_ [64]byte
}

// Load returns one counter of port (0 or 1).
func (c *Counters) Load(port int, ctr Counter) uint64 { return c.v[port&1][ctr].Load() }

// PortCounts is a plain copy of one port's counters, indexed by Counter.
type PortCounts [NumCounters]uint64

// Add adds o to p element-wise.
func (p *PortCounts) Add(o *PortCounts) {
	for i := range p {
		p[i] += o[i]
	}
}

// Snapshot copies both ports' counters. The copy is not atomic as a whole:
// each counter is read atomically, one after the other.
func (c *Counters) Snapshot() [2]PortCounts {
	var s [2]PortCounts
	for p := range s {
		for i := range s[p] {
			s[p][i] = c.v[p][i].Load()
		}
	}
	return s
}

// flush adds the worker-local deltas and zeroes them.
func (c *Counters) flush(local *[2]PortCounts) {
	for p := range local {
		for i, d := range local[p] {
			if d != 0 {
				c.v[p][i].Add(d)
				local[p][i] = 0
			}
		}
	}
}
