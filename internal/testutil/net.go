package testutil

import (
	"io"
	"net"
	"net/netip"
	"testing"
)

// FreeAddr returns a loopback address (127.0.0.1 and a port) on which
// nothing listens for network "tcp", or nothing is bound for "udp", right
// now: bound, then closed again. Another process may take the port before
// the caller uses it; tests use it for a peer that starts later or for a
// port that must refuse connections.
func FreeAddr(t testing.TB, network string) netip.AddrPort {
	t.Helper()
	var (
		sock io.Closer
		addr net.Addr
		err  error
	)
	switch network {
	case "tcp":
		var l net.Listener
		if l, err = net.Listen(network, "127.0.0.1:0"); err == nil {
			sock, addr = l, l.Addr()
		}
	case "udp":
		var pc net.PacketConn
		if pc, err = net.ListenPacket(network, "127.0.0.1:0"); err == nil {
			sock, addr = pc, pc.LocalAddr()
		}
	default:
		t.Fatalf("testutil.FreeAddr: network %q: want tcp or udp", network)
	}
	if err != nil {
		t.Fatal(err)
	}
	defer sock.Close()
	return netip.MustParseAddrPort(addr.String())
}

// ListenAndClose listens on TCP address addr ("127.0.0.1:0" for any port)
// and closes every connection it accepts at once, until the test ends: a
// collector that is up. It returns the address it listens on. Called inside
// testbed.Netns.Do, the socket belongs to that namespace.
func ListenAndClose(t testing.TB, addr string) *net.TCPAddr {
	t.Helper()
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { ln.Close() })
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			c.Close()
		}
	}()
	return ln.Addr().(*net.TCPAddr)
}
