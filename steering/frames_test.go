package steering_test

import (
	"encoding/binary"
	"fmt"
	"net"
	"net/netip"
	"testing"

	"golang.org/x/sys/unix"

	"github.com/dexplane/dexplane/internal/testbed"
)

// Hand-built frames: run through a program with BPF_PROG_TEST_RUN
// (progrun_test.go), or injected on a veth with an AF_PACKET socket.

const (
	etIPv6 = 0x86dd
	etVLAN = 0x8100
	etLLDP = 0x88cc
)

// ether returns an Ethernet frame; vid > 0 adds an 802.1Q tag.
func ether(dst, src string, vid uint16, etype uint16, payload []byte) []byte {
	d, _ := net.ParseMAC(dst)
	s, _ := net.ParseMAC(src)
	b := append(append([]byte{}, d...), s...)
	if vid > 0 {
		b = binary.BigEndian.AppendUint16(b, etVLAN)
		b = binary.BigEndian.AppendUint16(b, vid)
	}
	b = binary.BigEndian.AppendUint16(b, etype)
	return append(b, payload...)
}

// ipv6 returns an IPv6 header with next header nh followed by payload.
func ipv6(nh uint8, src, dst netip.Addr, payload []byte) []byte {
	b := []byte{0x60, 0, 0, 0}
	b = binary.BigEndian.AppendUint16(b, uint16(len(payload)))
	b = append(b, nh, 64)
	s, d := src.As16(), dst.As16()
	b = append(append(b, s[:]...), d[:]...)
	return append(b, payload...)
}

// udp returns a UDP header (checksum left zero: the classifier never
// checks it and the receiving host just drops the datagram) and 8 octets.
func udp() []byte {
	return []byte{0x30, 0x39, 0x30, 0x39, 0, 16, 0, 0, 'd', 'e', 'x', 'p', 'l', 'a', 'n', 'e'}
}

// hbh returns a Hop-by-Hop header holding only a PadN, then payload.
func hbh(nh uint8, payload []byte) []byte {
	return append([]byte{nh, 0, 1, 4, 0, 0, 0, 0}, payload...)
}

// inject sends frames out of ifname in ns.
func inject(t *testing.T, ns *testbed.Netns, ifname string, frames ...[]byte) {
	t.Helper()
	err := ns.Do(func() error {
		ifc, err := net.InterfaceByName(ifname)
		if err != nil {
			return err
		}
		// Protocol 0: a send-only socket, it receives nothing.
		fd, err := unix.Socket(unix.AF_PACKET, unix.SOCK_RAW|unix.SOCK_CLOEXEC, 0)
		if err != nil {
			return fmt.Errorf("AF_PACKET socket: %w", err)
		}
		defer unix.Close(fd)
		sa := &unix.SockaddrLinklayer{Ifindex: ifc.Index}
		for i, f := range frames {
			if err := unix.Sendto(fd, f, 0, sa); err != nil {
				return fmt.Errorf("send frame %d: %w", i, err)
			}
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
}

func repeat(n int, f []byte) [][]byte {
	out := make([][]byte, n)
	for i := range out {
		out[i] = f
	}
	return out
}
