package policy

import "github.com/dexplane/dexplane/internal/enum"

// ChecksumMode says whether a port finishes the transport checksums of
// frames that arrive with only the pseudo-header sum in them
// (CHECKSUM_PARTIAL frames of a virtual device with TX checksum offload;
// see package dataplane/checksum).
type ChecksumMode uint8

const (
	// ChecksumAuto completes on virtual devices (veth, tun/tap, virtio,
	// macvlan, …) and not on physical NICs, which never hand them over.
	ChecksumAuto ChecksumMode = iota
	// ChecksumOn always completes.
	ChecksumOn
	// ChecksumOff never completes; on a virtual device such frames are
	// counted and a warning names the port once (a physical NIC, which
	// never hands them over, is not checked at all).
	ChecksumOff
)

// String returns "auto", "on" or "off".
func (m ChecksumMode) String() string { return enum.Name(m, checksumModeNames[:], "ChecksumMode") }

var checksumModeNames = [...]string{ChecksumAuto: "auto", ChecksumOn: "on", ChecksumOff: "off"}
