package dataplane

import (
	"testing"

	dxebpf "github.com/dexplane/dexplane/ebpf"

	"github.com/dexplane/dexplane/dataplane/policy"
)

func TestChooseAttach(t *testing.T) {
	veth := Device{Driver: "veth"}
	ice := Device{Driver: "ice", Bus: "0000:3b:00.0"}
	for _, tc := range []struct {
		req    dxebpf.AttachMode
		egress Device
		want   attachPlan
		warn   bool
	}{
		{dxebpf.AttachAuto, veth, attachPlan{mode: dxebpf.AttachNative, viaTC: true}, false},
		{dxebpf.AttachAuto, ice, attachPlan{mode: dxebpf.AttachAuto}, false},
		{dxebpf.AttachAuto, Device{}, attachPlan{mode: dxebpf.AttachAuto}, false},
		{dxebpf.AttachNative, veth, attachPlan{mode: dxebpf.AttachNative}, true},
		{dxebpf.AttachNative, ice, attachPlan{mode: dxebpf.AttachNative}, false},
		{dxebpf.AttachGeneric, veth, attachPlan{mode: dxebpf.AttachGeneric}, false},
	} {
		got := chooseAttach(tc.req, tc.egress)
		if got.mode != tc.want.mode || got.viaTC != tc.want.viaTC || (got.warn != "") != tc.warn {
			t.Errorf("chooseAttach(%v, %q) = %+v, want %+v (warn %v)", tc.req, tc.egress.Driver, got, tc.want, tc.warn)
		}
	}
}

func TestFixChecksums(t *testing.T) {
	for _, tc := range []struct {
		mode  policy.ChecksumMode
		dev   Device
		known bool
		want  bool
	}{
		{policy.ChecksumAuto, Device{Driver: "veth"}, true, true},
		{policy.ChecksumAuto, Device{Driver: "tun", Bus: "tap"}, true, true},
		{policy.ChecksumAuto, Device{Driver: "virtio_net", Bus: "0000:00:03.0"}, true, true},
		{policy.ChecksumAuto, Device{Driver: "ice", Bus: "0000:3b:00.0"}, true, false},
		{policy.ChecksumAuto, Device{}, false, true}, // unknown driver: complete, it only costs a comparison
		{policy.ChecksumOn, Device{Driver: "ice", Bus: "0000:3b:00.0"}, true, true},
		{policy.ChecksumOff, Device{Driver: "veth"}, true, false},
	} {
		if got := fixChecksums(tc.mode, tc.dev, tc.known); got != tc.want {
			t.Errorf("fixChecksums(%v, %+v, %v) = %v, want %v", tc.mode, tc.dev, tc.known, got, tc.want)
		}
	}
}

func TestSkipChecksums(t *testing.T) {
	ice := Device{Driver: "ice", Bus: "0000:3b:00.0"}
	for _, tc := range []struct {
		mode  policy.ChecksumMode
		dev   Device
		known bool
		want  bool
	}{
		{policy.ChecksumAuto, ice, true, true}, // frames from the wire: nothing to complete or count
		{policy.ChecksumOff, ice, true, true},
		{policy.ChecksumOn, ice, true, false},                      // completes
		{policy.ChecksumAuto, Device{Driver: "veth"}, true, false}, // completes
		{policy.ChecksumOff, Device{Driver: "veth"}, true, false},  // counts and warns
		{policy.ChecksumOff, Device{Driver: "virtio_net", Bus: "0000:00:03.0"}, true, false},
		{policy.ChecksumOff, Device{}, false, false}, // unknown device: keep counting
	} {
		if got := skipChecksums(tc.mode, tc.dev, tc.known); got != tc.want {
			t.Errorf("skipChecksums(%v, %+v, %v) = %v, want %v", tc.mode, tc.dev, tc.known, got, tc.want)
		}
	}
}
