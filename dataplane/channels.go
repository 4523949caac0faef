package dataplane

import (
	"errors"
	"fmt"
	"unsafe"

	"golang.org/x/sys/unix"
)

// ErrNoChannels is returned by RxQueues for a device whose driver does not
// report its channels (ethtool -l answers "Operation not supported").
var ErrNoChannels = errors.New("device does not report its channel counts")

// ethtoolChannels is struct ethtool_channels of <linux/ethtool.h>.
type ethtoolChannels struct {
	Cmd                                         uint32
	MaxRx, MaxTx, MaxOther, MaxCombined         uint32
	RxCount, TxCount, OtherCount, CombinedCount uint32
}

// ifreqData is struct ifreq with ifr_data, as SIOCETHTOOL reads it.
type ifreqData struct {
	Name [unix.IFNAMSIZ]byte
	Data unsafe.Pointer
	_    [24 - unsafe.Sizeof(uintptr(0))]byte
}

// RxQueues returns how many RX queues device ifname delivers frames on: the
// sum of its combined and RX-only channel counts (ethtool -l). It asks the
// kernel of the calling thread's network namespace (ETHTOOL_GCHANNELS) and
// returns ErrNoChannels if the driver does not implement the query.
//
// A worker serves one queue, so a device with more RX queues than workers
// hands frames of the extra queues to no worker: the XDP program forwards
// them unmodified and counts them as xsk_miss.
func RxQueues(ifname string) (int, error) {
	if len(ifname) >= unix.IFNAMSIZ {
		return 0, fmt.Errorf("channels of %q: name longer than %d octets", ifname, unix.IFNAMSIZ-1)
	}
	fd, err := unix.Socket(unix.AF_INET, unix.SOCK_DGRAM|unix.SOCK_CLOEXEC, 0)
	if err != nil {
		fd, err = unix.Socket(unix.AF_INET6, unix.SOCK_DGRAM|unix.SOCK_CLOEXEC, 0)
		if err != nil {
			return 0, fmt.Errorf("channels of %s: socket: %w", ifname, err)
		}
	}
	defer unix.Close(fd)
	ch := ethtoolChannels{Cmd: unix.ETHTOOL_GCHANNELS}
	var ifr ifreqData
	copy(ifr.Name[:], ifname)
	ifr.Data = unsafe.Pointer(&ch)
	_, _, errno := unix.Syscall(unix.SYS_IOCTL, uintptr(fd), unix.SIOCETHTOOL, uintptr(unsafe.Pointer(&ifr)))
	switch errno {
	case 0:
	case unix.EOPNOTSUPP:
		return 0, fmt.Errorf("channels of %s: %w", ifname, ErrNoChannels)
	default:
		return 0, fmt.Errorf("channels of %s: ETHTOOL_GCHANNELS: %w", ifname, errno)
	}
	return int(ch.CombinedCount + ch.RxCount), nil
}
