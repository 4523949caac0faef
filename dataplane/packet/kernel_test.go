package packet

import (
	"bytes"
	"errors"
	"fmt"
	"net"
	"net/netip"
	"os"
	"strconv"
	"strings"
	"testing"
	"time"

	"golang.org/x/sys/unix"

	"github.com/dexplane/dexplane/internal/testbed"
)

// TestKernelJudge uses the Linux IPv6 receive path as an independent judge.
// Host A writes our frames with an AF_PACKET socket onto a veth; host B, in
// another network namespace, receives them on a UDP socket (inline DEX) or a
// raw IPPROTO_IPV6 socket (ip6ip6), both with IPV6_RECVHOPOPTS. The kernel
// must deliver every encoder output with exactly our Hop-by-Hop bytes and
// payload, and drop every malformed frame (misaligned IOAM, overrunning
// option, non-zero PadN, too much padding): each bad frame is followed by a
// plain marker datagram that must be the next thing B receives, and B's
// Ip6InHdrErrors counter must grow by the number of bad frames.
func TestKernelJudge(t *testing.T) {
	testbed.SkipIfNotRoot(t)
	a := testbed.NewNetns(t, "codec-a")
	b := testbed.NewNetns(t, "codec-b")
	testbed.Veth(t, a, "cdxa", net.HardwareAddr(judgeMACA).String(), b, "cdxb", net.HardwareAddr(judgeMACB).String())
	b.AddAddr(t, "cdxb", netip.MustParsePrefix("2001:db8::2/64"))
	b.AddAddr(t, "cdxb", netip.MustParsePrefix("2001:db8:ffff::2/64"))
	b.AddNeigh(t, "cdxb", netip.AddrFrom16(judgeSrc), judgeMACA)
	b.AddNeigh(t, "cdxb", netip.AddrFrom16(judgeTunS), judgeMACA)
	ifindex := a.MustIfindex(t, "cdxa")

	var tx, udp, raw int
	closeAll := func() {
		for _, fd := range []int{tx, udp, raw} {
			if fd > 0 {
				unix.Close(fd)
			}
		}
	}
	t.Cleanup(closeAll)
	if err := a.Do(func() (err error) {
		tx, err = unix.Socket(unix.AF_PACKET, unix.SOCK_RAW, 0) // send only: protocol 0 receives nothing
		return err
	}); err != nil {
		t.Fatalf("AF_PACKET socket: %v", err)
	}
	if err := b.Do(func() (err error) {
		if udp, err = recvSocket(unix.SOCK_DGRAM, 0, judgeDstPort, judgeDst); err != nil {
			return fmt.Errorf("udp: %w", err)
		}
		if raw, err = recvSocket(unix.SOCK_RAW, ProtoIPv6, 0, judgeTunD); err != nil {
			return fmt.Errorf("raw ip6ip6: %w", err)
		}
		return nil
	}); err != nil {
		t.Fatal(err)
	}
	send := func(f []byte) {
		t.Helper()
		sa := &unix.SockaddrLinklayer{Ifindex: ifindex, Protocol: htons(unix.ETH_P_IPV6), Halen: 6}
		copy(sa.Addr[:], f[:6])
		if err := unix.Sendto(tx, f, 0, sa); err != nil {
			t.Fatalf("AF_PACKET sendto: %v", err)
		}
	}

	good := judgeGood(t)
	delivered := 0
	for _, g := range good {
		fd := udp
		if g.tunnel {
			fd = raw
		}
		send(g.frame)
		payload, hbh, err := recvWithHopOpts(fd, 2*time.Second)
		if err != nil {
			t.Errorf("%s: not delivered by the kernel: %v\n%x", g.name, err, g.frame)
			continue
		}
		if !bytes.Equal(hbh, g.hbh) {
			t.Errorf("%s: kernel delivered Hop-by-Hop\n %x\nwant %x", g.name, hbh, g.hbh)
		}
		if !bytes.Equal(payload, g.payload) {
			t.Errorf("%s: kernel delivered payload\n %x\nwant %x", g.name, payload, g.payload)
		}
		delivered++
	}

	before, err := inHdrErrors(b)
	if err != nil {
		t.Fatal(err)
	}
	bad := judgeBad(t)
	for i, x := range bad {
		marker := []byte("marker after " + x.name)
		send(x.frame)
		send(udpFrame(uint16(43000+i), 0, 0, marker))
		payload, _, err := recvWithHopOpts(udp, 2*time.Second)
		switch {
		case err != nil:
			t.Errorf("%s: marker not received: %v", x.name, err)
		case !bytes.Equal(payload, marker):
			t.Errorf("%s: kernel delivered the malformed frame (got %q)\n%x", x.name, payload, x.frame)
		}
	}
	after, err := inHdrErrors(b)
	if err != nil {
		t.Fatal(err)
	}
	if after-before != uint64(len(bad)) {
		t.Errorf("Ip6InHdrErrors grew by %d, want %d (one per malformed frame)", after-before, len(bad))
	}
	t.Logf("kernel delivered %d/%d encoder frames with our exact HbH bytes and dropped %d/%d malformed frames (Ip6InHdrErrors +%d)",
		delivered, len(good), len(bad), len(bad), after-before)
}

func htons(v uint16) uint16 { return v<<8 | v>>8 }

// recvSocket opens an AF_INET6 socket of type typ/proto bound to addr:port
// with IPV6_RECVHOPOPTS set, in the calling thread's namespace.
func recvSocket(typ, proto, port int, addr [16]byte) (int, error) {
	fd, err := unix.Socket(unix.AF_INET6, typ|unix.SOCK_CLOEXEC, proto)
	if err != nil {
		return -1, err
	}
	if err := unix.SetsockoptInt(fd, unix.IPPROTO_IPV6, unix.IPV6_RECVHOPOPTS, 1); err != nil {
		unix.Close(fd)
		return -1, err
	}
	if err := unix.Bind(fd, &unix.SockaddrInet6{Port: port, Addr: addr}); err != nil {
		unix.Close(fd)
		return -1, err
	}
	return fd, nil
}

// recvWithHopOpts receives one datagram and returns it with the Hop-by-Hop
// header from its IPV6_HOPOPTS control message (nil when absent).
func recvWithHopOpts(fd int, timeout time.Duration) (payload, hbh []byte, err error) {
	tv := unix.NsecToTimeval(timeout.Nanoseconds())
	if err := unix.SetsockoptTimeval(fd, unix.SOL_SOCKET, unix.SO_RCVTIMEO, &tv); err != nil {
		return nil, nil, err
	}
	buf := make([]byte, 4096)
	oob := make([]byte, 1024)
	n, oobn, _, _, err := unix.Recvmsg(fd, buf, oob, 0)
	if err != nil {
		return nil, nil, err
	}
	msgs, err := unix.ParseSocketControlMessage(oob[:oobn])
	if err != nil {
		return nil, nil, err
	}
	for _, m := range msgs {
		if m.Header.Level == unix.IPPROTO_IPV6 && m.Header.Type == unix.IPV6_HOPOPTS {
			hbh = bytes.Clone(m.Data)
		}
	}
	return buf[:n], hbh, nil
}

// inHdrErrors reads Ip6InHdrErrors of namespace n.
func inHdrErrors(n *testbed.Netns) (uint64, error) {
	var v uint64
	err := n.Do(func() error {
		// /proc/thread-self follows this thread's network namespace.
		data, err := os.ReadFile("/proc/thread-self/net/snmp6")
		if err != nil {
			return err
		}
		for _, l := range strings.Split(string(data), "\n") {
			if f := strings.Fields(l); len(f) == 2 && f[0] == "Ip6InHdrErrors" {
				v, err = strconv.ParseUint(f[1], 10, 64)
				return err
			}
		}
		return errors.New("Ip6InHdrErrors not in snmp6")
	})
	return v, err
}
