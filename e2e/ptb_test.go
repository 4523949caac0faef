package e2e

// TestPTB: options.packet_too_big on the bitw testbed. The dut encapsulates
// host-a's traffic for host-b (mode encap, ext_flags 0: 56 octets) with an
// egress MTU of 1400 on its east port; a 1400-octet datagram from host-a no
// longer fits once encapsulated, so the dut answers with ICMPv6 Packet Too
// Big (MTU 1400 − 56 = 1344) out of its west port. host-a's kernel accepts
// the message (checksum, addresses, embedded header matching its socket)
// and records the path MTU in its route cache; its next 1400-octet datagram
// is fragmented locally to fit.

import (
	"fmt"
	"net"
	"net/netip"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/dexplane/dexplane/config"
	"github.com/dexplane/dexplane/internal/metrics"
	"github.com/dexplane/dexplane/internal/testbed"
)

func TestPTB(t *testing.T) {
	b := newFaultBed(t, testbed.Bitw)
	const egressMTU, overhead = 1400, 56
	const wantMTU = egressMTU - overhead
	cfg := b.writeConfig(1, "r1-ptb.yaml", func(c *config.Config) {
		r := &c.Routes[0]
		r.Mode, r.TunDst = "encap", netip.MustParseAddr("2001:db8:ffff::4") // R4 of the demo: not on bitw
		r.Freq = config.Freq{K: 1, N: 1}
		r.DEX.ExtFlags = 0
		c.Ports[1].MTU = egressMTU
		c.Options.PacketTooBig = true
	})
	dut := b.tb.DUT()
	n := b.start(dut, cfg)
	a := b.tb.HostA

	// A UDP socket in host-a: the kernel updates the path MTU from a PTB
	// only when the embedded header matches a socket.
	var conn *net.UDPConn
	err := a.Do(func() error {
		var err error
		conn, err = net.DialUDP("udp6", &net.UDPAddr{IP: b.tb.AddrA.AsSlice(), Port: 40123},
			&net.UDPAddr{IP: b.tb.AddrB.AsSlice(), Port: faultPort})
		return err
	})
	if err != nil {
		t.Fatalf("UDP socket in host-a: %v", err)
	}
	defer conn.Close()
	payload := make([]byte, 1400-40-8) // a 1400-octet IPv6 packet
	for i := range payload {
		payload[i] = byte(i)
	}

	routeMTU := regexp.MustCompile(`\bmtu (\d+)\b`)
	routeGet := func() string {
		return strings.TrimSpace(a.MustRun(t, "ip", "-6", "route", "get", b.tb.AddrB.String()))
	}
	var route string
	deadline := time.Now().Add(10 * time.Second)
	for time.Now().Before(deadline) {
		// The first datagrams may wait for neighbour discovery; send until
		// the route cache shows the learnt MTU. A connected socket reports
		// the PTB to its next call as EMSGSIZE; that is expected.
		if _, err := conn.Write(payload); err != nil && !strings.Contains(err.Error(), "message too long") {
			t.Fatalf("send: %v", err)
		}
		time.Sleep(200 * time.Millisecond)
		route = routeGet()
		if routeMTU.MatchString(route) {
			break
		}
	}
	m := routeMTU.FindStringSubmatch(route)
	if m == nil {
		t.Fatalf("host-a's route cache learnt no MTU from the dut: %q\ndut log:\n%s", route, n.Log.String())
	}
	if got, _ := strconv.Atoi(m[1]); got != wantMTU {
		t.Errorf("host-a learnt path MTU %d, want %d (egress %d − encapsulation %d): %q", got, wantMTU, egressMTU, overhead, route)
	}
	t.Logf("host-a: %s", route)

	// The next 1400-octet datagram is fragmented by host-a itself.
	frags := func() uint64 {
		v, ok := a.Snmp6(t)["Ip6FragCreates"]
		if !ok {
			t.Fatal("no Ip6FragCreates in host-a's /proc/net/snmp6")
		}
		return v
	}
	f0 := frags()
	var werr error
	for try := 0; try < 3; try++ { // a pending EMSGSIZE is reported once
		if _, werr = conn.Write(payload); werr == nil {
			break
		}
	}
	if werr != nil {
		t.Fatalf("send after PTB: %v", werr)
	}
	if f1 := frags(); f1 < f0+2 {
		t.Errorf("host-a created %d fragments for a 1400-octet datagram after the PTB, want ≥ 2", f1-f0)
	}

	// The dut did not fall back to forwarding without DEX: no skipped_mtu,
	// and the fragments (at most 1344 octets) were encapsulated.
	s, ok := b.waitStats(dut, 5*time.Second, func(s metrics.Stats) bool { return dexInserted(s) >= 2 })
	skipped := nodeSum(s, func(ns *metrics.NodeStats) uint64 { return ns.Skipped["encap"]["mtu"] })
	if !ok || skipped != 0 {
		t.Errorf("dut: dex inserted %d (want ≥ 2: the fragments), skipped mtu %d (want 0)", dexInserted(s), skipped)
	}
	alive(t, n)
	if err := n.stop(); err != nil {
		t.Error(err)
	}
	if t.Failed() {
		fmt.Println(n.Log.String())
	}
}
