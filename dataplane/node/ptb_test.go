package node

import (
	"bytes"
	"encoding/binary"
	"net/netip"
	"testing"
	"time"

	"github.com/dexplane/dexplane/dataplane/handle"
	"github.com/dexplane/dexplane/dataplane/packet"
	"github.com/dexplane/dexplane/dataplane/policy"
)

// ptbSpec is an encapsulating node with Options.PacketTooBig, an encap
// route (ext flags 0: 56 octets of overhead) and egress MTU mtu.
func ptbSpec(mode policy.Mode, mtu int) policy.Spec {
	s := baseSpec(encapDir)
	s.Routes[0].Mode = mode
	if mode == policy.ModeEncap {
		s.Routes[0].TunDst = netip.MustParseAddr("2001:db8:ffff::2")
	}
	s.Ports[1].MTU = mtu
	s.Options.PacketTooBig = true
	return s
}

// checkPTBFrame checks that f holds the Packet Too Big answering the IPv6
// packet orig (as received on port 0 behind ethHeader) with MTU mtu.
func checkPTBFrame(t *testing.T, f *handle.Frame, orig []byte, mtu uint32) {
	t.Helper()
	fr := f.Buf[f.Off : f.Off+f.Len]
	if f.Len != 14+1280 {
		t.Fatalf("reply frame of %d octets, want 14+1280", f.Len)
	}
	if !bytes.Equal(fr[0:6], ethHeader[6:12]) || !bytes.Equal(fr[6:12], ethHeader[0:6]) {
		t.Errorf("Ethernet addresses not swapped: % x", fr[:14])
	}
	ip := fr[14:]
	node := netip.MustParseAddr("2001:db8:ffff::1").As16()
	if ip[6] != packet.ProtoICMPv6 || ip[7] != 64 || !bytes.Equal(ip[8:24], node[:]) || !bytes.Equal(ip[24:40], orig[8:24]) {
		t.Errorf("IPv6 header % x", ip[:40])
	}
	msg := ip[40:]
	if msg[0] != 2 || msg[1] != 0 || binary.BigEndian.Uint32(msg[4:]) != mtu {
		t.Errorf("ICMPv6 % x, want type 2 code 0 MTU %d", msg[:8], mtu)
	}
	if packet.ICMPv6Checksum(ip[8:24], ip[24:40], msg) != 0 {
		t.Errorf("checksum does not verify")
	}
	if !bytes.Equal(msg[8:], orig[:1232]) {
		t.Errorf("body is not the first 1232 octets of the packet")
	}
}

func TestPTBEncapTooBig(t *testing.T) {
	for _, tc := range []struct {
		name    string
		ext     uint8
		mtu     int
		size    int
		wantMTU uint32
	}{
		{"1400 mtu 1400", 0, 1400, 1400, 1344},
		{"1400 mtu 1400 ext", 0xC0, 1400, 1400, 1336},
		{"1500 mtu 1300 clamps to 1280", 0, 1300, 1500, 1280},
		{"1281 mtu 1300", 0, 1300, 1281, 1280},
	} {
		t.Run(tc.name, func(t *testing.T) {
			spec := ptbSpec(policy.ModeEncap, tc.mtu)
			spec.Routes[0].DEX.ExtFlags = tc.ext
			n, _ := newNode(t, spec)
			pkt := udpPacket("2001:db8::1", "2001:db8::2", 40000, 5001, tc.size)
			f := newFrame(pkt, 0)
			if v := n.Handle(f); v != handle.Reflect {
				t.Fatalf("verdict %v, want reflect", v)
			}
			checkPTBFrame(t, f, pkt, tc.wantMTU)
			wantCounters(t, n, map[string]uint64{"ptb_sent": 1, "skipped_mtu": 0, "forwarded": 0, "dropped": 0, "dex_inserted": 0})
			if len(records(n)) != 0 {
				t.Error("a record was exported for a packet answered with PTB")
			}
		})
	}
}

// TestPTBDefaultBehaviour: small packets, inline routes, the option off,
// fitting packets and packets RFC 4443 forbids answering keep today's
// behaviour.
func TestPTBDefaultBehaviour(t *testing.T) {
	udp := func(size int) []byte { return udpPacket("2001:db8::1", "2001:db8::2", 40000, 5001, size) }
	icmpErr := udp(1400)
	icmpErr[6], icmpErr[40] = packet.ProtoICMPv6, 1
	for _, tc := range []struct {
		name    string
		spec    policy.Spec
		pkt     []byte
		counter string
	}{
		{"1280 encap", ptbSpec(policy.ModeEncap, 1300), udp(1280), "skipped_mtu"},
		{"1250 encap", ptbSpec(policy.ModeEncap, 1300), udp(1250), "skipped_mtu"},
		{"1400 inline", ptbSpec(policy.ModeInline, 1400), udp(1400), "skipped_mtu"},
		{"option off", func() policy.Spec { s := ptbSpec(policy.ModeEncap, 1400); s.Options.PacketTooBig = false; return s }(), udp(1400), "skipped_mtu"},
		{"fits", ptbSpec(policy.ModeEncap, 1500), udp(1400), "dex_encapsulated"},
		{"icmp error", ptbSpec(policy.ModeEncap, 1400), icmpErr, "skipped_mtu"},
		{"multicast source", ptbSpec(policy.ModeEncap, 1400), udpPacket("ff02::1", "2001:db8::2", 1, 2, 1400), "skipped_mtu"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			n, _ := newNode(t, tc.spec)
			f := newFrame(tc.pkt, 0)
			if v := n.Handle(f); v != handle.Forward {
				t.Fatalf("verdict %v, want forward", v)
			}
			wantCounters(t, n, map[string]uint64{tc.counter: 1, "forwarded": 1, "ptb_sent": 0})
			if tc.counter == "skipped_mtu" && !bytes.Equal(ip6Of(f), tc.pkt) {
				t.Error("packet modified")
			}
		})
	}
}

func TestPTBRateLimit(t *testing.T) {
	n, _ := newNode(t, ptbSpec(policy.ModeEncap, 1400))
	pkt := udpPacket("2001:db8::1", "2001:db8::2", 40000, 5001, 1400)
	f := newFrame(pkt, 0)
	send := func(at int64) handle.Verdict {
		resetFrame(f, pkt)
		f.RxTime = at
		return n.Handle(f)
	}
	t0 := testNow
	// Burst: 10 answered, the rest forwarded without DEX.
	for i := 0; i < 15; i++ {
		want := handle.Reflect
		if i >= PTBBurst {
			want = handle.Forward
		}
		if v := send(t0); v != want {
			t.Fatalf("packet %d at t0: %v, want %v", i, v, want)
		}
	}
	wantCounters(t, n, map[string]uint64{"ptb_sent": 10, "ptb_rate_limited": 5, "skipped_mtu": 5, "forwarded": 5})
	if !bytes.Equal(ip6Of(f), pkt) {
		t.Error("rate-limited packet modified")
	}
	// 10 ms later exactly one token is back.
	if v := send(t0 + int64(10*time.Millisecond)); v != handle.Reflect {
		t.Errorf("after 10 ms: %v, want reflect", v)
	}
	if v := send(t0 + int64(10*time.Millisecond)); v != handle.Forward {
		t.Errorf("second after 10 ms: %v, want forward", v)
	}
	// A clock stepping back adds nothing.
	if v := send(t0 - int64(time.Second)); v != handle.Forward {
		t.Errorf("clock back: %v, want forward", v)
	}
	// One second later: a full burst again, not more.
	sent := 0
	for i := 0; i < 50; i++ {
		if send(t0+int64(2*time.Second)) == handle.Reflect {
			sent++
		}
	}
	if sent != PTBBurst {
		t.Errorf("after 2 s: %d answered, want the burst %d", sent, PTBBurst)
	}
	// Over 1 s of steady load at 1000/s about PTBRate are answered.
	sent = 0
	for i := 1; i <= 1000; i++ {
		if send(t0+int64(3*time.Second)+int64(i)*int64(time.Millisecond)) == handle.Reflect {
			sent++
		}
	}
	if sent < PTBRate || sent > PTBRate+PTBBurst {
		t.Errorf("1 s at 1000/s: %d answered, want %d..%d", sent, PTBRate, PTBRate+PTBBurst)
	}
}

// TestPTBAllocatesNothing: the path that builds a Packet Too Big does not
// allocate (the bucket is refilled each time by advancing RxTime).
func TestPTBAllocatesNothing(t *testing.T) {
	n, _ := newNode(t, ptbSpec(policy.ModeEncap, 1400))
	pkt := udpPacket("2001:db8::1", "2001:db8::2", 40000, 5001, 1400)
	f := newFrame(pkt, 0)
	n.Handle(f)
	now := testNow
	allocs := testing.AllocsPerRun(200, func() {
		resetFrame(f, pkt)
		now += int64(time.Second)
		f.RxTime = now
		if v := n.Handle(f); v != handle.Reflect {
			t.Fatalf("verdict %v", v)
		}
	})
	if allocs != 0 {
		t.Errorf("%v allocations per PTB, want 0", allocs)
	}
}

// BenchmarkHandlePTB measures the encapsulating node answering a
// 1400-octet packet with Packet Too Big (rate limit kept open).
func BenchmarkHandlePTB(b *testing.B) {
	n, _ := newNode(b, ptbSpec(policy.ModeEncap, 1400))
	pkt := udpPacket("2001:db8::1", "2001:db8::2", 40000, 5001, 1400)
	f := newFrame(pkt, 0)
	now := testNow
	b.ReportAllocs()
	for b.Loop() {
		resetFrame(f, pkt)
		now += int64(time.Second)
		f.RxTime = now
		n.Handle(f)
	}
}
