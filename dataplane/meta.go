package dataplane

import (
	"github.com/dexplane/dexplane/steering"

	"github.com/dexplane/dexplane/dataplane/handle"
	"github.com/dexplane/dexplane/dataplane/node"
)

// Presampled reads the XDP program's decision in steer: sampled from the
// metadata in front of the frame, so the route's k/n runs exactly once: a
// frame steered as sampled was selected, one steered for another reason
// (Hop-by-Hop, extension headers, order window) was not, and one without
// metadata is node.PresampleMissing (counted, not selected, never sampled
// again). It is node.Config.Presampled for steer: sampled; in steer: all
// the workers are the only samplers and install none. It does not allocate.
func Presampled(f *handle.Frame) node.Presample {
	if f.Off < steering.MetaLen {
		return node.PresampleMissing
	}
	m, ok := steering.ParseMeta(f.Buf[f.Off-steering.MetaLen : f.Off])
	if !ok {
		return node.PresampleMissing
	}
	if m.Reason == steering.ReasonSampled {
		return node.PresampleSelected
	}
	return node.PresampleNotSelected
}
