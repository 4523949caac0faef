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
