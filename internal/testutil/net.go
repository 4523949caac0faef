package testutil

import (
	"net"
	"testing"
)

// FreeTCPAddr returns a loopback TCP address ("127.0.0.1:port") that nobody
// listens on right now: bound, then closed again. Another process may take
// the port before the caller uses it; tests use it for a peer that starts
// later or for a port that must refuse connections.
func FreeTCPAddr(t testing.TB) string {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	return l.Addr().String()
}

// FreeUDPPort returns a loopback UDP port that nobody has bound right now
// (see FreeTCPAddr for the caveat).
func FreeUDPPort(t testing.TB) int {
	t.Helper()
	pc, err := net.ListenPacket("udp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer pc.Close()
	return pc.LocalAddr().(*net.UDPAddr).Port
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
