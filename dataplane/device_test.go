package dataplane

import (
	"testing"

	"github.com/dexplane/dexplane/dataplane/policy"
)

func TestChooseAttach(t *testing.T) {
	veth := Device{Driver: "veth"}
	ice := Device{Driver: "ice", Bus: "0000:3b:00.0"}
	for _, tc := range []struct {
		req    policy.AttachMode
		egress Device
		want   attachPlan
		warn   bool
	}{
		{policy.AttachAuto, veth, attachPlan{mode: policy.AttachNative, viaTC: true}, false},
		{policy.AttachAuto, ice, attachPlan{mode: policy.AttachAuto}, false},
		{policy.AttachAuto, Device{}, attachPlan{mode: policy.AttachAuto}, false},
		{policy.AttachNative, veth, attachPlan{mode: policy.AttachNative}, true},
		{policy.AttachNative, ice, attachPlan{mode: policy.AttachNative}, false},
		{policy.AttachGeneric, veth, attachPlan{mode: policy.AttachGeneric}, false},
	} {
		got := chooseAttach(tc.req, tc.egress)
		if got.mode != tc.want.mode || got.viaTC != tc.want.viaTC || (got.warn != "") != tc.warn {
			t.Errorf("chooseAttach(%v, %q) = %+v, want %+v (warn %v)", tc.req, tc.egress.Driver, got, tc.want, tc.warn)
		}
	}
}

// TestChecksumStage: per checksum mode and device, whether the port
// completes unfinished checksums (fixChecksums) and whether it skips the
// stage altogether (skipChecksums).
func TestChecksumStage(t *testing.T) {
	ice := Device{Driver: "ice", Bus: "0000:3b:00.0"}
	for _, tc := range []struct {
		mode      policy.ChecksumMode
		dev       Device
		known     bool
		fix, skip bool
	}{
		{policy.ChecksumAuto, Device{Driver: "veth"}, true, true, false},
		{policy.ChecksumAuto, Device{Driver: "tun", Bus: "tap"}, true, true, false},
		{policy.ChecksumAuto, Device{Driver: "virtio_net", Bus: "0000:00:03.0"}, true, true, false},
		{policy.ChecksumAuto, ice, true, false, true},       // frames from the wire: nothing to complete or count
		{policy.ChecksumAuto, Device{}, false, true, false}, // unknown driver: complete, it only costs a comparison
		{policy.ChecksumOn, ice, true, true, false},
		{policy.ChecksumOff, ice, true, false, true},
		{policy.ChecksumOff, Device{Driver: "veth"}, true, false, false}, // counts and warns
		{policy.ChecksumOff, Device{Driver: "virtio_net", Bus: "0000:00:03.0"}, true, false, false},
		{policy.ChecksumOff, Device{}, false, false, false}, // unknown device: keep counting
	} {
		fix, skip := fixChecksums(tc.mode, tc.dev, tc.known), skipChecksums(tc.mode, tc.dev, tc.known)
		if fix != tc.fix || skip != tc.skip {
			t.Errorf("%v, %+v, known %v: fix %v skip %v, want %v %v", tc.mode, tc.dev, tc.known, fix, skip, tc.fix, tc.skip)
		}
	}
}
