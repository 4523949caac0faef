package probe

import (
	"context"
	"errors"
	"net"
	"net/netip"
	"testing"
	"time"
)

func TestFillVerify(t *testing.T) {
	b := make([]byte, 100)
	Fill(b, 7, 42)
	flow, seq, err := Verify(b)
	if err != nil || flow != 7 || seq != 42 {
		t.Fatalf("Verify = %d, %d, %v; want 7, 42, nil", flow, seq, err)
	}
	tests := []struct {
		name string
		mut  func([]byte) []byte
		want error
	}{
		{"short", func(b []byte) []byte { return b[:HeaderLen-1] }, ErrShort},
		{"magic", func(b []byte) []byte { b[0] ^= 1; return b }, ErrMagic},
		{"payload bit", func(b []byte) []byte { b[60] ^= 0x10; return b }, ErrChecksum},
		{"seq field", func(b []byte) []byte { b[11]++; return b }, ErrChecksum},
		{"truncated payload", func(b []byte) []byte { return b[:90] }, ErrChecksum},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			c := append([]byte(nil), b...)
			if _, _, err := Verify(tc.mut(c)); !errors.Is(err, tc.want) {
				t.Fatalf("Verify = %v, want %v", err, tc.want)
			}
		})
	}
}

func TestReceiverAccounting(t *testing.T) {
	r := NewReceiver()
	b := make([]byte, 32)
	for _, s := range []uint32{0, 1, 3, 2, 3} {
		Fill(b, 1, s)
		r.Add(b)
	}
	r.Add([]byte("garbage-garbage-garbage"))
	got := r.Report()
	want := Report{Received: 4, Corrupt: 1, Duplicates: 1, Reordered: 1, Flows: 1}
	if got != want {
		t.Fatalf("report = %+v, want %+v", got, want)
	}
}

func TestSendListenLoopback(t *testing.T) {
	conn, err := net.ListenUDP("udp6", &net.UDPAddr{IP: net.IPv6loopback})
	if err != nil {
		t.Skipf("no IPv6 loopback: %v", err)
	}
	defer conn.Close()
	conn.SetReadBuffer(4 << 20)
	to := netip.MustParseAddrPort(conn.LocalAddr().String())
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	done := make(chan Report, 1)
	go func() {
		rep, _ := Listen(ctx, conn, 300*time.Millisecond)
		done <- rep
	}()
	n, err := Send(ctx, SendOptions{To: to, Flows: 4, BasePort: 41000, Count: 400, Size: 200, Rate: 20000})
	if err != nil || n != 400 {
		t.Fatalf("Send = %d, %v", n, err)
	}
	rep := <-done
	if rep.Received != 400 || rep.Flows != 4 || rep.Corrupt != 0 || rep.Duplicates != 0 {
		t.Fatalf("report %v, want 400 received over 4 flows", rep)
	}
}
