package testutil

import (
	"net"
	"testing"
)

func TestFreeAddrs(t *testing.T) {
	for _, network := range []string{"tcp", "udp"} {
		a := FreeAddr(t, network)
		if !a.Addr().IsLoopback() || a.Port() == 0 {
			t.Errorf("FreeAddr(%s) = %v, want a loopback address and a port", network, a)
		}
	}
	addr := FreeAddr(t, "tcp").String()
	if _, err := net.Dial("tcp", addr); err == nil {
		t.Errorf("something listens on the free address %s", addr)
	}
	up := ListenAndClose(t, "127.0.0.1:0")
	c, err := net.Dial("tcp", up.String())
	if err != nil {
		t.Fatalf("ListenAndClose: %v", err)
	}
	c.Close()
}
