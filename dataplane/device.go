package dataplane

import (
	"fmt"
	"slices"

	"golang.org/x/sys/unix"

	"github.com/dexplane/dexplane/dataplane/policy"
)

// Device is what the kernel says about a port's driver (ethtool -i).
type Device struct {
	// Driver is the driver name, e.g. "veth", "ice", "virtio_net".
	Driver string
	// Bus is the bus address; empty for software devices.
	Bus string
}

// DeviceInfo asks the kernel for ifname's driver (ETHTOOL_GDRVINFO), in
// the calling thread's network namespace.
func DeviceInfo(ifname string) (Device, error) {
	fd, err := unix.Socket(unix.AF_INET, unix.SOCK_DGRAM|unix.SOCK_CLOEXEC, 0)
	if err != nil {
		return Device{}, fmt.Errorf("dataplane: ethtool socket: %w", err)
	}
	defer unix.Close(fd)
	info, err := unix.IoctlGetEthtoolDrvinfo(fd, ifname)
	if err != nil {
		return Device{}, fmt.Errorf("dataplane: %s: ethtool driver info: %w", ifname, err)
	}
	return Device{Driver: unix.ByteSliceToString(info.Driver[:]), Bus: unix.ByteSliceToString(info.Bus_info[:])}, nil
}

// paravirtual lists drivers of devices that have a bus address but take
// frames from a host's or hypervisor's software stack, which may hand
// over unfinished checksums.
var paravirtual = []string{"virtio_net", "tun", "xen-netfront", "hv_netvsc", "vmxnet3"}

// Virtual reports whether the device is a software or paravirtual device,
// one that may hand over frames whose transport checksum is unfinished
// (CHECKSUM_PARTIAL from a local sender with TX checksum offload).
func (d Device) Virtual() bool {
	return d.Bus == "" || d.Bus == "tap" || slices.Contains(paravirtual, d.Driver)
}

// NativeRedirectUnsafe reports whether frames XDP redirects natively to
// this device can be refused for reasons outside dexplane's control: a veth
// accepts them only while its peer has an XDP program or GRO enabled, and
// drops them otherwise (counted as xdp_redirect_peer).
func (d Device) NativeRedirectUnsafe() bool { return d.Driver == "veth" }

// attachPlan is how a port is attached.
type attachPlan struct {
	mode  policy.AttachMode
	viaTC bool   // native, frames that cross go through TC (AttachPortPeerViaTC)
	warn  string // why an explicit native attach may not deliver
}

// chooseAttach plans the attachment of a port whose crossing frames leave
// through egress. auto on a veth egress means native with the crossing
// frames moved by TC: native redirects to a veth are refused unless its
// neighbour runs XDP or GRO, and generic attach would hand the workers the
// neighbour's GSO frames (up to 64 KiB, larger than a UMEM chunk), which
// native attach makes the kernel segment. Elsewhere auto is native with a
// generic fallback.
func chooseAttach(requested policy.AttachMode, egress Device) attachPlan {
	switch {
	case requested == policy.AttachAuto && egress.NativeRedirectUnsafe():
		return attachPlan{mode: policy.AttachNative, viaTC: true}
	case requested == policy.AttachNative && egress.NativeRedirectUnsafe():
		return attachPlan{mode: requested, warn: "native XDP redirects to a veth are dropped unless the veth's peer has an XDP program or GRO on"}
	}
	return attachPlan{mode: requested}
}

// fixChecksums decides whether a port with device d completes checksums.
func fixChecksums(m policy.ChecksumMode, d Device, known bool) bool {
	switch m {
	case policy.ChecksumOn:
		return true
	case policy.ChecksumOff:
		return false
	}
	return !known || d.Virtual()
}

// skipChecksums decides whether a port with device d that does not
// complete checksums (fixChecksums false) skips the check too: a known
// physical device never hands over a frame with an unfinished checksum
// (its frames come from the wire), so there is nothing to count or warn
// about, and the per-frame check would be pure cost.
func skipChecksums(m policy.ChecksumMode, d Device, known bool) bool {
	return !fixChecksums(m, d, known) && known && !d.Virtual()
}
