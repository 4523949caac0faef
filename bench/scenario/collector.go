package scenario

import (
	"fmt"
	"sync/atomic"

	"golang.org/x/sys/unix"

	"github.com/dexplane/dexplane/bench/gen"
)

// CollectorPort is where generated DUT configs export IPFIX: UDP
// [::1]:4739 inside the dut namespace.
const CollectorPort = 4739

// collector drains the DUT's IPFIX export so that exporting costs what it
// costs against a live collector: without a listener every datagram draws
// an ICMP port unreachable and the exporter counts the collector as down.
// It counts datagrams and octets and decodes nothing.
type collector struct {
	stop         atomic.Bool
	msgs, octets atomic.Uint64
	done         chan error
}

// startCollector binds the collector socket in namespace ns and drains it
// on its own thread, pinned to cpus (nil: not pinned).
func startCollector(ns string, cpus []int) (*collector, error) {
	c := &collector{done: make(chan error, 1)}
	ready := make(chan error, 1)
	go func() {
		started := false
		err := gen.InNetnsOnCPUs(ns, cpus, func() error {
			started = true
			fd, err := unix.Socket(unix.AF_INET6, unix.SOCK_DGRAM|unix.SOCK_CLOEXEC, 0)
			if err != nil {
				ready <- fmt.Errorf("collector socket: %w", err)
				return nil
			}
			defer unix.Close(fd)
			tv := unix.Timeval{Usec: 100000}
			if err := unix.SetsockoptTimeval(fd, unix.SOL_SOCKET, unix.SO_RCVTIMEO, &tv); err != nil {
				ready <- fmt.Errorf("collector socket timeout: %w", err)
				return nil
			}
			_ = unix.SetsockoptInt(fd, unix.SOL_SOCKET, unix.SO_RCVBUF, 4<<20)
			if err := unix.Bind(fd, &unix.SockaddrInet6{Port: CollectorPort, Addr: [16]byte{15: 1}}); err != nil {
				ready <- fmt.Errorf("collector bind [::1]:%d in %s: %w", CollectorPort, ns, err)
				return nil
			}
			ready <- nil
			buf := make([]byte, 65536)
			for !c.stop.Load() {
				n, _, err := unix.Recvfrom(fd, buf, 0)
				switch {
				case err == nil:
					c.msgs.Add(1)
					c.octets.Add(uint64(n))
				case err == unix.EAGAIN || err == unix.EINTR:
				default:
					return fmt.Errorf("collector receive: %w", err)
				}
			}
			return nil
		})
		if !started {
			ready <- err // the namespace or the pinning failed
		}
		c.done <- err
	}()
	if err := <-ready; err != nil {
		return nil, err
	}
	return c, nil
}

// close stops the collector and returns the datagrams and octets received.
func (c *collector) close() (msgs, octets uint64, err error) {
	c.stop.Store(true)
	err = <-c.done
	return c.msgs.Load(), c.octets.Load(), err
}
