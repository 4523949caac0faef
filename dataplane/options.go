package dataplane

import (
	"fmt"

	"github.com/dexplane/dexplane/dataplane/policy"
)

// OptionsFromSnapshot fills the port, steering and sizing fields of Options
// from a compiled snapshot (its Ports and Dataplane settings) and sets
// Policy to s. Handler and Logger are left for the caller. Zero settings
// keep the engine defaults.
func OptionsFromSnapshot(s *policy.Snapshot) (Options, error) {
	if s == nil {
		return Options{}, fmt.Errorf("%w: nil snapshot", ErrOptions)
	}
	d := s.Dataplane
	o := Options{
		Queues:         d.Queues,
		FrameSize:      d.FrameSize,
		Frames:         d.UmemFrames,
		BatchSize:      d.BatchSize,
		CPUs:           append([]int(nil), d.CPUs...),
		Policy:         s,
		PassForeignHbH: true,
		OrderWindow:    d.OrderWindow,
		BusyPoll:       d.BusyPoll,
		BusyPollBudget: d.BusyPollBudget,
	}
	for i, v := range []struct {
		dst *uint32
		v   int
	}{{&o.RxSize, d.RxRingSize}, {&o.TxSize, d.TxRingSize}, {&o.FillSize, d.FillRingSize}, {&o.CompletionSize, d.CompletionRingSize}} {
		if v.v < 0 || v.v > 1<<16 {
			return Options{}, fmt.Errorf("%w: ring size %d (ring %d) out of range", ErrOptions, v.v, i)
		}
		*v.dst = uint32(v.v)
	}
	if d.AttachMode > policy.AttachGeneric {
		return Options{}, fmt.Errorf("%w: attach mode %v", ErrOptions, d.AttachMode)
	}
	if d.Steer > policy.SteerSampled {
		return Options{}, fmt.Errorf("%w: steer %v", ErrOptions, d.Steer)
	}
	o.Attach, o.Steer = d.AttachMode, d.Steer
	for i, p := range s.Ports {
		o.Ports[i] = p.Name
		o.Checksums[i] = p.Checksums
		o.Roles[i] = p.Domain
		// Foreign IOAM that is dropped or stripped must reach a worker.
		if p.Domain == policy.Outside && p.ForeignIOAM != policy.ForeignForward {
			o.PassForeignHbH = false
		}
	}
	return o, nil
}
