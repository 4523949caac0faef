package e2e

import (
	"encoding/binary"
	"fmt"
	"net/netip"
	"slices"
	"testing"
	"time"

	"golang.org/x/sys/unix"

	"github.com/dexplane/dexplane/dataplane/packet"
	"github.com/dexplane/dexplane/dataplane/policy"
	"github.com/dexplane/dexplane/dataplane/telemetry"
	"github.com/dexplane/dexplane/internal/hostile"
	"github.com/dexplane/dexplane/internal/testbed"
	"github.com/dexplane/dexplane/internal/testbed/plan"
	"github.com/dexplane/dexplane/steering"
)

// This file runs the hostile-traffic table (package internal/hostile) through
// the real data plane. The table's node-level tests live in that package.

// hostileCapture is an AF_PACKET socket on host-b's eth0 that returns received
// frames with their 802.1Q/802.1ad tag put back (the receive path moves
// it into the packet's metadata before packet sockets see the frame).
type hostileCapture struct{ fd int }

// openHostileCapture opens the capture socket on host interface eth0 of ns.
func openHostileCapture(t *testing.T, ns *testbed.Netns) *hostileCapture {
	t.Helper()
	ifindex := ns.MustIfindex(t, plan.HostIf)
	var fd int
	err := ns.Do(func() error {
		var err error
		proto := int(hostileHtons(unix.ETH_P_ALL))
		if fd, err = unix.Socket(unix.AF_PACKET, unix.SOCK_RAW|unix.SOCK_CLOEXEC, proto); err != nil {
			return fmt.Errorf("hostileCapture socket: %w", err)
		}
		if err := unix.SetsockoptInt(fd, unix.SOL_PACKET, unix.PACKET_AUXDATA, 1); err != nil {
			return fmt.Errorf("PACKET_AUXDATA: %w", err)
		}
		return unix.Bind(fd, &unix.SockaddrLinklayer{Protocol: hostileHtons(unix.ETH_P_ALL), Ifindex: ifindex})
	})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { unix.Close(fd) })
	return &hostileCapture{fd: fd}
}

// hostileHtons converts a 16-bit value to network byte order.
func hostileHtons(v uint16) uint16 { return v<<8 | v>>8 }

// next returns the next frame received (not sent) on the interface, or nil
// after timeout.
func (c *hostileCapture) next(timeout time.Duration) ([]byte, error) {
	deadline := time.Now().Add(timeout)
	buf := make([]byte, 4096)
	oob := make([]byte, 256)
	for {
		left := time.Until(deadline)
		if left <= 0 {
			return nil, nil
		}
		tv := unix.NsecToTimeval(max(left.Nanoseconds(), int64(time.Millisecond)))
		if err := unix.SetsockoptTimeval(c.fd, unix.SOL_SOCKET, unix.SO_RCVTIMEO, &tv); err != nil {
			return nil, fmt.Errorf("SO_RCVTIMEO: %w", err)
		}
		n, oobn, _, from, err := unix.Recvmsg(c.fd, buf, oob, 0)
		if err == unix.EAGAIN || err == unix.EINTR {
			continue
		}
		if err != nil {
			return nil, fmt.Errorf("hostileCapture: %w", err)
		}
		if ll, ok := from.(*unix.SockaddrLinklayer); ok && ll.Pkttype == unix.PACKET_OUTGOING {
			continue
		}
		frame := slices.Clone(buf[:n])
		msgs, err := unix.ParseSocketControlMessage(oob[:oobn])
		if err != nil {
			return nil, fmt.Errorf("hostileCapture: control messages: %w", err)
		}
		for _, m := range msgs {
			if m.Header.Level != unix.SOL_PACKET || m.Header.Type != unix.PACKET_AUXDATA || len(m.Data) < 20 {
				continue
			}
			// struct tpacket_auxdata: status u32, len u32, snaplen u32,
			// mac u16, net u16, vlan_tci u16, vlan_tpid u16 (host order).
			status := binary.NativeEndian.Uint32(m.Data[0:])
			if status&unix.TP_STATUS_VLAN_VALID == 0 || len(frame) < 12 {
				continue
			}
			tpid := uint16(0x8100)
			if status&unix.TP_STATUS_VLAN_TPID_VALID != 0 {
				tpid = binary.NativeEndian.Uint16(m.Data[18:])
			}
			tag := binary.BigEndian.AppendUint16(binary.BigEndian.AppendUint16(nil, tpid), binary.NativeEndian.Uint16(m.Data[16:]))
			frame = slices.Concat(frame[:12], tag, frame[12:])
		}
		return frame, nil
	}
}

// hostileSender is an AF_PACKET socket on host-a's eth0 that sends raw frames.
type hostileSender struct {
	fd int
	to unix.SockaddrLinklayer
}

// openHostileSender opens the sending socket on host interface eth0 of ns.
func openHostileSender(t *testing.T, ns *testbed.Netns) *hostileSender {
	t.Helper()
	s := &hostileSender{to: unix.SockaddrLinklayer{Ifindex: ns.MustIfindex(t, plan.HostIf), Halen: 6}}
	copy(s.to.Addr[:], hostile.HostBMAC)
	err := ns.Do(func() error {
		var err error
		// Protocol 0: the socket sends only and never receives.
		s.fd, err = unix.Socket(unix.AF_PACKET, unix.SOCK_RAW|unix.SOCK_CLOEXEC, 0)
		return err
	})
	if err != nil {
		t.Fatalf("hostileSender socket: %v", err)
	}
	t.Cleanup(func() { unix.Close(s.fd) })
	return s
}

// send puts frame on the wire as is.
func (s *hostileSender) send(frame []byte) error { return unix.Sendto(s.fd, frame, 0, &s.to) }

// hostileKernelPath lists the steering reasons under which dxp_steer sends a
// frame to the peer port itself, and the node never sees it.
var hostileKernelPath = []steering.Reason{
	steering.ReasonNotIPv6, steering.ReasonND,
	steering.ReasonIPv6Pass, steering.ReasonNoRoute, steering.ReasonUnsampled,
}

// hostileKernelDrop lists the steering reasons under which dxp_steer drops
// a frame itself, and the node never sees it.
var hostileKernelDrop = []steering.Reason{steering.ReasonMalformed}

// hostileClass is dxp_steer's classification of a frame as package steering
// documents it, in every steering mode.
type hostileClass uint8

const (
	hostileNotIPv6 hostileClass = iota // not IPv6 to dxp_steer: crosses
	hostileDrop                        // malformed IPv6: dropped in XDP
	hostileND                          // neighbour discovery: crosses
	hostileIPv6                        // IPv6 the mode's rules then judge
)

// hostileClassify returns the class of frame b and, for IPv6, the offset of
// its IPv6 header. EtherType IPv6 (behind at most two 802.1Q/802.1ad/0x9100
// tags) with a cut tag or header, a version other than 6 or a Payload Length past
// the frame is dropped.
func hostileClassify(b []byte) (hostileClass, int) {
	if len(b) < 14 {
		return hostileNotIPv6, 0
	}
	l3, et := 14, binary.BigEndian.Uint16(b[12:])
	for range packet.MaxVLANTags {
		if !packet.IsVLANEtherType(et) {
			break
		}
		if len(b) < l3+4 {
			return hostileDrop, 0
		}
		l3, et = l3+4, binary.BigEndian.Uint16(b[l3+2:])
	}
	switch {
	case et != 0x86dd:
		return hostileNotIPv6, 0
	case len(b) < l3+40 || b[l3]>>4 != 6:
		return hostileDrop, 0
	case int(binary.BigEndian.Uint16(b[l3+4:])) > len(b)-l3-40:
		return hostileDrop, 0
	case b[l3+6] == packet.ProtoICMPv6 && len(b) > l3+40 && b[l3+40] >= 133 && b[l3+40] <= 137:
		return hostileND, l3
	}
	return hostileIPv6, l3
}

// hostileSteeredSampled models dxp_steer in steer: sampled, as package steering
// documents it, for a frame arriving on port 0 in role r under hostile.Spec(r):
// whether it goes to the worker. A Payload Length 0 frame with a Hop-by-Hop
// header (jumbogram candidate) always goes up. On the outside port so does a
// frame whose destination a route covers (the suite's k/n is 1/1); on every
// port a frame with a Hop-by-Hop header and any frame whose Next Header is
// not TCP, UDP, ICMPv6, SCTP or ESP (foreign IOAM is not forwarded, so the
// outside port steers them like an inside port).
// Non-IPv6, malformed and neighbour-discovery frames never go up.
func hostileSteeredSampled(b []byte, r telemetry.Role) bool {
	class, l3 := hostileClassify(b)
	if class != hostileIPv6 {
		return false
	}
	nh := b[l3+6]
	if nh == packet.ProtoHopByHop {
		return true
	}
	dst := netip.AddrFrom16([16]byte(b[l3+24 : l3+40]))
	spec := hostile.Spec(r)
	if r == telemetry.RoleEncap && spec.Routes[0].Prefix.Contains(dst) {
		return true
	}
	switch nh {
	case packet.ProtoTCP, packet.ProtoUDP, packet.ProtoICMPv6, 132 /* SCTP */, 50 /* ESP */ :
		return false
	}
	return true // ip6ip6 to a decap endpoint or not, every extension header, unknown
}

// TestHostileDataPlane sends every frame of the table from host-a through
// the engine running the node roles in the dut of a bitw testbed, one
// engine start per role and steering mode, and checks what host-b receives
// and which counter moved. In both modes dxp_steer drops malformed IPv6
// (cut tag or header, version ≠ 6, Payload Length past the frame) itself;
// the test checks it drops exactly those. In steer: all every other IPv6
// frame but neighbour discovery reaches the node, so the table applies as
// written. In steer:
// sampled dxp_steer forwards what the node need not see itself; the test
// checks that exactly the frames package steering documents are steered, that
// the others cross unchanged, and logs each row whose documented node
// outcome is therefore not applied.
func TestHostileDataPlane(t *testing.T) {
	testbed.SkipIfNotRoot(t)
	tb := testbed.New(t, testbed.Bitw)
	// Quiet hosts: without IPv6 on their eth0 they send nothing (no MLD,
	// ND or ICMPv6 errors), so only the table's frames cross the bump.
	for _, h := range []*testbed.Netns{tb.HostA, tb.HostB} {
		h.Sysctl(t, "net.ipv6.conf."+plan.HostIf+".disable_ipv6", "1")
	}
	tx := openHostileSender(t, tb.HostA)
	rx := openHostileCapture(t, tb.HostB)
	for _, steer := range []policy.Steer{policy.SteerAll, policy.SteerSampled} {
		for r := range hostile.NumRoles {
			t.Run(steer.String()+"/"+r.String(), func(t *testing.T) { hostileRole(t, tb, r, steer, tx, rx) })
		}
	}
}

// hostileRole runs the table through one engine start in role r.
func hostileRole(t *testing.T, tb *testbed.Testbed, r telemetry.Role, steer policy.Steer, tx *hostileSender, rx *hostileCapture) {
	e, n := startNode(t, tb.DUT(), hostile.Spec(r), steer)
	for f, err := rx.next(50 * time.Millisecond); f != nil || err != nil; f, err = rx.next(50 * time.Millisecond) {
		if err != nil {
			t.Fatal(err)
		}
	}
	xdpCount := func() (kernel, dropped uint64) {
		c := e.Counters()
		for _, reason := range hostileKernelPath {
			kernel += c.Ports[0].XDP[reason].Packets
		}
		for _, reason := range hostileKernelDrop {
			dropped += c.Ports[0].XDP[reason].Packets
		}
		return kernel, dropped
	}
	for _, f := range hostile.Frames() {
		if f.NoInject != "" {
			continue
		}
		var c hostile.Checker
		before := hostile.SnapshotCounters(n)
		kBefore, dBefore := xdpCount()
		if err := tx.send(f.Bytes); err != nil {
			t.Fatalf("%s: send: %v", f.Name, err)
		}
		// Wait until the node or the steering program has handled it.
		var viaKernel, xdpDropped bool
		for deadline := time.Now().Add(2 * time.Second); ; {
			now := hostile.SnapshotCounters(n)
			if now["forwarded"]+now["dropped"] > before["forwarded"]+before["dropped"] {
				break
			}
			if k, d := xdpCount(); k > kBefore || d > dBefore {
				viaKernel, xdpDropped = k > kBefore, d > dBefore
				break
			}
			if time.Now().After(deadline) {
				c.Errorf("%s/%v: neither the node nor the steering program counted the frame", f.Name, r)
				break
			}
			time.Sleep(time.Millisecond)
		}
		wait := 50 * time.Millisecond
		if (f.Expect[r].Outcome != hostile.Dropped && !xdpDropped) || viaKernel {
			wait = time.Second
		}
		out, err := rx.next(wait)
		if err != nil {
			t.Fatal(err)
		}
		bug := f.RealBug
		if f.Bug != "" {
			bug = f.Bug
		}
		class, _ := hostileClassify(f.Bytes)
		if xdpDropped != (class == hostileDrop) {
			c.Errorf("%s/%v: dropped by dxp_steer %v, want %v (package steering)", f.Name, r, xdpDropped, class == hostileDrop)
		}
		if steer == policy.SteerSampled && !xdpDropped && viaKernel == hostileSteeredSampled(f.Bytes, r) {
			c.Errorf("%s/%v: steered to the worker %v, want %v (package steering, steer: sampled)", f.Name, r, !viaKernel, hostileSteeredSampled(f.Bytes, r))
		}
		if steer == policy.SteerAll && viaKernel && class == hostileIPv6 {
			c.Errorf("%s/%v: IPv6 crossed in the kernel in steer: all", f.Name, r)
		}
		switch {
		case xdpDropped:
			// Dropped in XDP as malformed: nothing may leave, the table
			// must say dropped, and the node never saw the frame.
			if out != nil {
				c.Errorf("%s/%v: dxp_steer dropped the frame, yet %x left", f.Name, r, out)
			}
			if f.Expect[r].Outcome != hostile.Dropped {
				c.Errorf("%s/%v: want %v, dxp_steer dropped it in the kernel", f.Name, r, f.Expect[r].Outcome)
			}
			if d := hostile.DeltaCounters(before, hostile.SnapshotCounters(n)); len(d) != 0 {
				c.Errorf("%s/%v: node counters moved for a frame it never saw: %v", f.Name, r, d)
			}
		case viaKernel:
			// dxp_steer redirected the frame to east itself. host-b's stack
			// may discard a frame it cannot untag before packet sockets
			// see it, so the steering counter is the evidence it was sent.
			if out == nil {
				out = f.Bytes
			}
			if !slices.Equal(out, f.Bytes) {
				c.Errorf("%s/%v: frame forwarded by the steering program changed", f.Name, r)
			}
			switch {
			case f.Expect[r].Outcome == hostile.Unchanged:
			case steer == policy.SteerSampled && f.RealBug == "":
				t.Logf("steer: sampled: %s/%v crosses in the kernel: documented node outcome %q not applied", f.Name, r, f.Expect[r].Outcome)
				bug = "" // the node never saw it: its own bug cannot show
			default:
				c.Errorf("%s/%v: want %v, dxp_steer forwarded it in the kernel", f.Name, r, f.Expect[r].Outcome)
			}
			if d := hostile.DeltaCounters(before, hostile.SnapshotCounters(n)); len(d) != 0 {
				c.Errorf("%s/%v: node counters moved for a frame it never saw: %v", f.Name, r, d)
			}
		default:
			hostile.CheckOutput(&c, &f, r, f.Bytes, out)
			hostile.CheckCounters(&c, &f, r, hostile.DeltaCounters(before, hostile.SnapshotCounters(n)))
		}
		c.Settle(t, bug)
	}
	if f, err := rx.next(100 * time.Millisecond); f != nil || err != nil {
		t.Errorf("stray frame after the table: %x (%v)", f, err)
	}
	t.Logf("engine counters: %+v", e.Counters())
}
