package xskprog

import (
	"errors"
	"fmt"
	"os"
	"testing"

	"github.com/cilium/ebpf"

	"github.com/dexplane/dexplane/internal/testbed"
)

// XDP verdicts (uapi/linux/bpf.h).
const (
	xdpDrop     = 1
	xdpPass     = 2
	xdpRedirect = 4
)

// frame returns a 60-octet Ethernet frame of ethertype et whose IPv6 next
// header (octet 20) is nh.
func frame(et uint16, nh byte) []byte {
	f := make([]byte, 60)
	f[12], f[13] = byte(et>>8), byte(et)
	f[14] = 0x60
	f[20] = nh
	return f
}

// TestVerdicts runs each program variant on frames with BPF_PROG_TEST_RUN:
// matching frames are redirected into the XSKMAP (XDP_DROP while the queue
// has no socket), the others passed or redirected to the peer.
func TestVerdicts(t *testing.T) {
	if os.Geteuid() != 0 {
		t.Skip("needs root to load XDP programs")
	}
	udp6, icmp6, arp := frame(0x86dd, 17), frame(0x86dd, 58), frame(0x0806, 0)
	short := udp6[:14+39]
	for _, tc := range []struct {
		name  string
		cfg   Config
		frame []byte
		want  uint32
	}{
		{"all: ARP to the empty XSKMAP", Config{Match: MatchAll}, arp, xdpDrop},
		{"ipv6: UDP to the empty XSKMAP", Config{Match: MatchIPv6}, udp6, xdpDrop},
		{"ipv6: ARP passed", Config{Match: MatchIPv6}, arp, xdpPass},
		{"ipv6: short IPv6 passed", Config{Match: MatchIPv6}, short, xdpPass},
		{"ipv6: ICMPv6 to the XSKMAP", Config{Match: MatchIPv6}, icmp6, xdpDrop},
		{"no-icmp: ICMPv6 to the peer", Config{Match: MatchIPv6NoICMP, Peer: 1}, icmp6, xdpRedirect},
		{"no-icmp: UDP to the XSKMAP", Config{Match: MatchIPv6NoICMP, Peer: 1}, udp6, xdpDrop},
		{"no-icmp: ARP to the peer", Config{Match: MatchIPv6NoICMP, Peer: 1}, arp, xdpRedirect},
	} {
		t.Run(tc.name, func(t *testing.T) {
			tc.cfg.Queues = 1
			prog, m, err := load(tc.cfg)
			if err != nil {
				t.Fatal(err)
			}
			defer m.Close()
			defer prog.Close()
			got, err := prog.Run(&ebpf.RunOptions{Data: tc.frame})
			if err != nil {
				t.Fatal(err)
			}
			if got != tc.want {
				t.Fatalf("verdict %d, want %d", got, tc.want)
			}
		})
	}
}

// TestReplaceRestores attaches over a netlink-attached XDP_PASS (as a
// testbed host has): without Replace the device is refused, with it the
// program takes over and Close puts XDP_PASS back.
func TestReplaceRestores(t *testing.T) {
	ns := testbed.NewNetns(t, "xskprog")
	ns.MustRun(t, "ip", "link", "add", "v0", "type", "veth", "peer", "name", "v1")
	ns.MustRun(t, "ip", "link", "set", "v0", "up")
	ns.MustRun(t, "ip", "link", "set", "v1", "up")
	if err := ns.AttachPass("v0"); err != nil {
		t.Fatal(err)
	}
	pass, err := ns.XDPProgID("v0")
	if err != nil || pass == 0 {
		t.Fatalf("XDP_PASS not attached: id %d, %v", pass, err)
	}
	idx := ns.MustIfindex(t, "v0")
	cfg := Config{Ifindex: idx, Queues: 1, Match: MatchAll}
	err = ns.Do(func() error {
		if p, err := Attach(cfg); err == nil {
			p.Close()
			return errors.New("attached over XDP_PASS without Replace")
		}
		cfg.Replace = true
		p, err := Attach(cfg)
		if err != nil {
			return err
		}
		info, err := p.Prog.Info()
		if err != nil {
			return err
		}
		id, _ := info.ID()
		if now, err := ns.XDPProgID("v0"); err != nil || now != uint32(id) {
			p.Close()
			return fmt.Errorf("attached program %d, want ours %d (%v)", now, id, err)
		}
		return p.Close()
	})
	if err != nil {
		t.Fatal(err)
	}
	if now, err := ns.XDPProgID("v0"); err != nil || now != pass {
		t.Fatalf("after Close: program %d, want XDP_PASS %d back (%v)", now, pass, err)
	}
}
