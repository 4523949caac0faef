package testutil

import (
	"net"
	"testing"
)

func TestFreeAddrs(t *testing.T) {
	if p := FreeUDPPort(t); p <= 0 || p > 65535 {
		t.Errorf("FreeUDPPort = %d", p)
	}
	addr := FreeTCPAddr(t)
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
