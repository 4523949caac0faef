package xsktest

import (
	"net"
	"net/netip"
	"testing"
	"time"

	"github.com/dexplane/dexplane/internal/testbed"
	"github.com/dexplane/dexplane/internal/testbed/plan"
)

// NoTxChecksumOffload turns off TX checksum offload on the hosts' veths of
// tb. A veth hands its peer CHECKSUM_PARTIAL skbs whose L4 checksum was never
// computed; once an AF_XDP socket has copied the bytes out, that checksum is
// wrong on the wire (a real NIC would have filled it in), so every host that
// sends through an AF_XDP bump on veths needs this.
func NoTxChecksumOffload(t testing.TB, tb *testbed.Testbed) {
	t.Helper()
	for _, h := range []*testbed.Netns{tb.HostA, tb.HostB} {
		h.MustRun(t, "ethtool", "-K", plan.HostIf, "tx", "off")
	}
}

// UDPPair opens a receiver on dstAddr:port in namespace dst and a sender
// connected to it in namespace src, with 64 MiB socket buffers (a checker
// kept off the CPU for a second at 25 kpps must not overflow); both are
// closed by t.Cleanup.
func UDPPair(t testing.TB, src, dst *testbed.Netns, dstAddr netip.Addr, port int) (rx, tx *net.UDPConn) {
	t.Helper()
	addr := net.UDPAddrFromAddrPort(netip.AddrPortFrom(dstAddr, uint16(port)))
	if err := dst.Do(func() (err error) {
		rx, err = net.ListenUDP("udp", addr)
		return err
	}); err != nil {
		t.Fatal(err)
	}
	if err := src.Do(func() (err error) {
		tx, err = net.DialUDP("udp", nil, addr)
		return err
	}); err != nil {
		rx.Close()
		t.Fatal(err)
	}
	t.Cleanup(func() { rx.Close(); tx.Close() })
	for _, c := range []*net.UDPConn{rx, tx} {
		if err := SetBuffers(c, 64<<20); err != nil {
			t.Fatal(err)
		}
	}
	return rx, tx
}

// Stream sends cfg from src to dstAddr (in dst) on UDP port 9000+cfg.ID and
// returns the receiver once the stream is complete or idle for idle.
func Stream(t testing.TB, src, dst *testbed.Netns, dstAddr netip.Addr, cfg StreamConfig, idle time.Duration) (*Receiver, SendResult) {
	t.Helper()
	rx, tx := UDPPair(t, src, dst, dstAddr, 9000+int(cfg.ID))
	r := NewReceiver(cfg.ID, cfg.Count)
	done := make(chan struct{})
	go func() { r.Run(rx, idle); close(done) }()
	res, err := Send(tx, cfg)
	if err != nil {
		t.Error(err)
	}
	<-done
	return r, res
}

// Way is one direction across a testbed's data plane: from host Src to host
// Dst, whose address is Addr.
type Way struct {
	Src, Dst *testbed.Netns
	Addr     netip.Addr
}

// BothWays returns host-a → host-b and host-b → host-a of tb.
func BothWays(tb *testbed.Testbed) [2]Way {
	return [2]Way{{tb.HostA, tb.HostB, tb.AddrB}, {tb.HostB, tb.HostA, tb.AddrA}}
}

// Stream sends cfg along w (see Stream).
func (w Way) Stream(t testing.TB, cfg StreamConfig, idle time.Duration) (*Receiver, SendResult) {
	t.Helper()
	return Stream(t, w.Src, w.Dst, w.Addr, cfg, idle)
}
