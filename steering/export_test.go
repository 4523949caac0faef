package steering

import (
	"encoding/binary"
	"fmt"

	"github.com/cilium/ebpf"
	"github.com/dexplane/dexplane/dataplane/policy"
)

// ProgramForTest loads port's copy of the selected program without
// attaching it, for BPF_PROG_TEST_RUN (Program.Run). The caller closes it.
func (o *Objects) ProgramForTest(port int, role policy.Domain) (*ebpf.Program, error) {
	return o.loadProgram(port, role, false)
}

// SamplerCount reads the k/n counter of route id (struct sampler.cnt).
func (o *Objects) SamplerCount(id uint32) (uint64, error) {
	var v [64]byte
	if err := o.maps.Samplers.Lookup(id, &v); err != nil {
		return 0, fmt.Errorf("sampler %d: %w", id, err)
	}
	return binary.NativeEndian.Uint64(v[:8]), nil
}

// SetSamplerCount sets the k/n counter of route id.
func (o *Objects) SetSamplerCount(id uint32, c uint64) error {
	var v [64]byte
	binary.NativeEndian.PutUint64(v[:8], c)
	return o.maps.Samplers.Put(id, v)
}

// SetPeerForTest makes ifindex port's peer in tx_ports, as AttachPort does,
// without attaching anything: under BPF_PROG_TEST_RUN a frame that crosses
// then returns XDP_REDIRECT instead of counting ReasonNoPeer.
func (o *Objects) SetPeerForTest(port, ifindex int) error {
	return o.maps.TxPorts.Put(uint32(port), uint32(ifindex))
}
