package checksum

import (
	"sync/atomic"

	"github.com/dexplane/dexplane/dataplane/handle"
)

// PortCounters count, for frames received on one port, what the checksum
// stage found. Safe for concurrent reads while a worker adds.
type PortCounters struct {
	// Completed counts frames whose transport checksum was finished.
	Completed atomic.Uint64
	// Unfinished counts frames that arrived with only the pseudo-header sum
	// on a port where completion is off (they leave with a bad checksum).
	Unfinished atomic.Uint64
}

// Counts is a plain copy of PortCounters.
type Counts struct {
	Completed, Unfinished uint64
}

// Load returns a copy.
func (c *PortCounters) Load() Counts {
	return Counts{Completed: c.Completed.Load(), Unfinished: c.Unfinished.Load()}
}

// Handler is an handle.Handler that finishes the transport checksum of every
// frame received on a port whose Fix flag is set (Complete) and counts, on
// other ports, the frames that needed it (Check), before passing the frame
// to Next; on a port whose Off flag is set it does neither. Like any
// handle.Handler it belongs to one worker; its counters may be read from
// any goroutine.
type Handler struct {
	// Next handles the frame afterwards; nil means handle.Identity.
	Next handle.Handler
	// Fix[p] enables completion on frames received on port p.
	Fix [2]bool
	// Off[p] (when Fix[p] is not set) skips the stage for frames received
	// on port p: for a device that never hands over an unfinished
	// checksum, such as a physical NIC, whose frames come from the wire.
	// The check costs a header walk and a pseudo-header sum per frame
	// (about 0.5-1 of the pipeline benchmark's frame copies).
	Off [2]bool
	// OnUnfinished, if set, is called from the worker's goroutine with the
	// port index the first time a frame with an unfinished checksum
	// arrives on a port whose Fix flag is off (once per Handler and port).
	OnUnfinished func(port int)
	// Ports are the counters, by ingress port.
	Ports [2]PortCounters

	warned [2]bool
}

// Handle implements handle.Handler.
func (h *Handler) Handle(f *handle.Frame) handle.Verdict {
	p := f.Ingress & 1
	b := f.Buf[f.Off : f.Off+f.Len]
	if h.Fix[p] {
		if Complete(b) == Completed {
			h.Ports[p].Completed.Add(1)
		}
	} else if !h.Off[p] && Check(b) == Completed {
		h.Ports[p].Unfinished.Add(1)
		if !h.warned[p] {
			h.warned[p] = true
			if h.OnUnfinished != nil {
				h.OnUnfinished(p)
			}
		}
	}
	if h.Next == nil {
		return handle.Forward
	}
	return h.Next.Handle(f)
}

// BeginBatch passes the start of a worker batch on to Next when it is an
// handle.BatchHandler (a node keeps its per-packet counts in plain memory
// during a batch). With EndBatch it implements handle.BatchHandler.
func (h *Handler) BeginBatch() {
	if b, ok := h.Next.(handle.BatchHandler); ok {
		b.BeginBatch()
	}
}

// EndBatch passes the end of a worker batch on to Next when it is an
// handle.BatchHandler.
func (h *Handler) EndBatch() {
	if b, ok := h.Next.(handle.BatchHandler); ok {
		b.EndBatch()
	}
}
