package packet

import (
	"bytes"
	"encoding/binary"
	"encoding/hex"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/dexplane/dexplane/internal/testutil"
)

// ptbNode is the answering node's address in these tests.
const ptbNode = "20010db8ffff00000000000000000009" // 2001:db8:ffff::9

var ptbNodeAddr = func() (a [16]byte) {
	b, _ := hex.DecodeString(ptbNode)
	copy(a[:], b)
	return a
}()

// vecPTBPlain is the Packet Too Big message answering ethHdr+vecPlain with
// MTU 1344, as an Ethernet frame.
const vecPTBPlain = "" +
	"020000000001" + "020000000002" + "86dd" + // Ethernet: addresses swapped
	"60000000" + "003c" + "3a" + "40" + // ver 6 TC 0 FL 0 | payload 8+52 | NH ICMPv6 | HL 64
	ptbNode + ip6Src + // 2001:db8:ffff::9 -> 2001:db8::1 (the invoking source)
	"02" + "00" + "2b9e" + "00000540" + // type 2 code 0 | checksum | MTU 1344
	vecPlain // the whole invoking packet (52 octets)

// naiveChecksum is an independent RFC 1071 computation for the tests: the
// pseudo-header is built as bytes and summed 16 bits at a time.
func naiveChecksum(src, dst, msg []byte) uint16 {
	var ph []byte
	ph = append(ph, src...)
	ph = append(ph, dst...)
	ph = binary.BigEndian.AppendUint32(ph, uint32(len(msg)))
	ph = append(ph, 0, 0, 0, ProtoICMPv6)
	ph = append(ph, msg...)
	if len(ph)%2 == 1 {
		ph = append(ph, 0)
	}
	var s uint32
	for i := 0; i < len(ph); i += 2 {
		s += uint32(ph[i])<<8 | uint32(ph[i+1])
	}
	for s > 0xFFFF {
		s = s>>16 + s&0xFFFF
	}
	return ^uint16(s)
}

// checkPTB checks a built message against the invoking IPv6 packet ip6
// (without link header): headers, checksum (independently computed, and
// verifying to 0xFFFF), body = leading octets of ip6, total ≤ MinMTU.
func checkPTB(t *testing.T, out []byte, l3 int, ip6 []byte, mtu uint32) {
	t.Helper()
	ip := out[l3:]
	if len(ip) > MinMTU {
		t.Fatalf("message of %d octets exceeds %d", len(ip), MinMTU)
	}
	want := min(len(ip6), MinMTU-48)
	if len(ip) != 48+want {
		t.Fatalf("IPv6 message length %d, want %d", len(ip), 48+want)
	}
	if ip[0] != 0x60 || ip[6] != ProtoICMPv6 || ip[7] != PTBHopLimit || int(binary.BigEndian.Uint16(ip[4:])) != len(ip)-40 {
		t.Errorf("IPv6 header % x", ip[:8])
	}
	if !bytes.Equal(ip[8:24], ptbNodeAddr[:]) || !bytes.Equal(ip[24:40], ip6[8:24]) {
		t.Errorf("addresses %x -> %x", ip[8:24], ip[24:40])
	}
	msg := ip[40:]
	if msg[0] != 2 || msg[1] != 0 || binary.BigEndian.Uint32(msg[4:]) != mtu {
		t.Errorf("ICMPv6 header % x, want type 2 code 0 mtu %d", msg[:8], mtu)
	}
	got := binary.BigEndian.Uint16(msg[2:])
	z := append([]byte(nil), msg...)
	z[2], z[3] = 0, 0
	if w := naiveChecksum(ip[8:24], ip[24:40], z); got != w {
		t.Errorf("checksum %#04x, independent computation %#04x", got, w)
	}
	if naiveChecksum(ip[8:24], ip[24:40], msg) != 0 {
		t.Errorf("checksum does not verify: sum over the message is not 0xFFFF")
	}
	if !bytes.Equal(msg[8:], ip6[:want]) {
		t.Errorf("body is not the leading %d octets of the invoking packet", want)
	}
	var p Packet
	if err := Parse(out, &p); err != nil || p.L4Proto != ProtoICMPv6 {
		t.Errorf("reply does not parse as ICMPv6: %v %+v", err, p)
	}
}

func TestBuildPacketTooBigGolden(t *testing.T) {
	for _, headroom := range []int{256, 48, 10, 0} {
		frame := mustHex(t, ethHdr+vecPlain)
		var p Packet
		if err := Parse(frame, &p); err != nil {
			t.Fatal(err)
		}
		buf := make([]byte, headroom+len(frame)+48)
		copy(buf[headroom:], frame)
		off, n, err := BuildPacketTooBig(buf, headroom, len(frame), &p, 1344, ptbNodeAddr)
		if err != nil {
			t.Fatalf("headroom %d: %v", headroom, err)
		}
		if want := mustHex(t, vecPTBPlain); !bytes.Equal(buf[off:off+n], want) {
			t.Errorf("headroom %d: got\n%x\nwant\n%x", headroom, buf[off:off+n], want)
		}
		if headroom >= 48 && off != headroom-48 {
			t.Errorf("headroom %d: offset %d, want the packet left in place", headroom, off)
		}
		checkPTB(t, buf[off:off+n], 14, mustHex(t, vecPlain), 1344)
	}
}

// bigPacket returns an Ethernet (+ optional 802.1Q) frame holding an
// IPv6/UDP packet of ipLen octets with a payload pattern, plus Ethernet
// padding of pad octets.
func bigPacket(t testing.TB, link string, ipLen, pad int) []byte {
	hdr := mustHex(t, link+vecPlain)[:len(link)/2+40]
	frame := make([]byte, len(hdr), len(hdr)+ipLen+pad)
	copy(frame, hdr)
	frame = append(frame, make([]byte, ipLen-40+pad)...)
	l3 := len(link) / 2
	binary.BigEndian.PutUint16(frame[l3+4:], uint16(ipLen-40))
	u := frame[l3+40:]
	binary.BigEndian.PutUint16(u[0:], 40000)
	binary.BigEndian.PutUint16(u[2:], 5001)
	binary.BigEndian.PutUint16(u[4:], uint16(ipLen-40))
	for i := 8; i < ipLen-40; i++ {
		u[i] = byte(i * 7)
	}
	return frame
}

func TestBuildPacketTooBigTruncates(t *testing.T) {
	for _, tc := range []struct {
		link      string
		ipLen     int
		pad       int
		headroom  int
		tailSpace int
	}{
		{ethHdr, 1400, 0, 256, 0},
		{ethVLANHdr, 1500, 0, 256, 0},
		{ethHdr, 1281, 3, 256, 0},
		{ethHdr, 1232, 0, 256, 0}, // exactly fits: 1280-octet message
		{ethHdr, 1233, 0, 256, 0}, // one octet cut
		{ethHdr, 200, 6, 256, 0},
		{ethHdr, 1400, 0, 0, 0},  // no headroom, truncation leaves room
		{ethHdr, 1000, 0, 0, 48}, // no headroom, room at the end
	} {
		frame := bigPacket(t, tc.link, tc.ipLen, tc.pad)
		l3 := len(tc.link) / 2
		ip6 := append([]byte(nil), frame[l3:l3+tc.ipLen]...)
		var p Packet
		if err := Parse(frame, &p); err != nil {
			t.Fatal(p.Detail(err))
		}
		buf := make([]byte, tc.headroom+len(frame)+tc.tailSpace)
		copy(buf[tc.headroom:], frame)
		off, n, err := BuildPacketTooBig(buf, tc.headroom, len(frame), &p, 1400, ptbNodeAddr)
		if err != nil {
			t.Fatalf("%+v: %v", tc, err)
		}
		out := buf[off : off+n]
		if !bytes.Equal(out[:12], append(frame[6:12:12], frame[0:6]...)) || !bytes.Equal(out[12:l3], frame[12:l3]) {
			t.Errorf("%+v: link header % x", tc, out[:l3])
		}
		checkPTB(t, out, l3, ip6, 1400)
	}
}

func TestBuildPacketTooBigRefuses(t *testing.T) {
	mk := func(edit func(ip []byte)) ([]byte, Packet) {
		frame := bigPacket(t, ethHdr, 1400, 0)
		edit(frame[14:])
		var p Packet
		if err := Parse(frame, &p); err != nil {
			t.Fatal(p.Detail(err))
		}
		return frame, p
	}
	icmpErr := func(typ byte) func(ip []byte) {
		return func(ip []byte) { ip[6] = ProtoICMPv6; ip[40] = typ }
	}
	for name, tc := range map[string]struct {
		edit     func(ip []byte)
		headroom int
		want     error
	}{
		"unspecified source": {func(ip []byte) { clear(ip[8:24]) }, 256, ErrICMPSuppressed},
		"multicast source":   {func(ip []byte) { ip[8] = 0xFF }, 256, ErrICMPSuppressed},
		"icmp error":         {icmpErr(1), 256, ErrICMPSuppressed},
		"icmp ptb":           {icmpErr(2), 256, ErrICMPSuppressed},
		"no room":            {func(ip []byte) {}, 10, ErrNoRoom},
	} {
		frame, p := mk(tc.edit)
		// "no room": no headroom and the frame truncated to a small packet
		// would still need to grow.
		if name == "no room" {
			frame = bigPacket(t, ethHdr, 300, 0)
			_ = Parse(frame, &p)
		}
		buf := make([]byte, tc.headroom+len(frame))
		copy(buf[tc.headroom:], frame)
		orig := append([]byte(nil), buf...)
		off, n, err := BuildPacketTooBig(buf, tc.headroom, len(frame), &p, 1280, ptbNodeAddr)
		if err != tc.want || off != tc.headroom || n != len(frame) || !bytes.Equal(buf, orig) {
			t.Errorf("%s: %d %d %v, want %v and the buffer untouched", name, off, n, err, tc.want)
		}
	}
	// An ICMPv6 informational message (echo request) is answered.
	frame, p := mk(icmpErr(128))
	buf := make([]byte, 256+len(frame))
	copy(buf[256:], frame)
	if _, _, err := BuildPacketTooBig(buf, 256, len(frame), &p, 1280, ptbNodeAddr); err != nil {
		t.Errorf("echo request: %v", err)
	}
	// A stale layout is refused.
	var stale Packet
	_ = Parse(mustHex(t, ethHdr+vecA), &stale)
	if _, _, err := BuildPacketTooBig(buf, 256, len(frame), &stale, 1280, ptbNodeAddr); err != ErrLayout {
		t.Errorf("stale layout: %v, want ErrLayout", err)
	}
}

func TestICMPv6ChecksumOddLengths(t *testing.T) {
	src, dst := ptbNodeAddr[:], mustHex(t, ip6Src)
	msg := make([]byte, 70)
	for i := range msg {
		msg[i] = byte(0xF0 + i*13)
	}
	for n := 0; n <= len(msg); n++ {
		if got, want := ICMPv6Checksum(src, dst, msg[:n]), naiveChecksum(src, dst, msg[:n]); got != want {
			t.Errorf("len %d: %#04x, want %#04x", n, got, want)
		}
	}
}

func TestBuildPacketTooBigAllocatesNothing(t *testing.T) {
	frame := bigPacket(t, ethHdr, 1400, 0)
	var p Packet
	if err := Parse(frame, &p); err != nil {
		t.Fatal(err)
	}
	buf := make([]byte, 256+len(frame))
	allocs := testing.AllocsPerRun(100, func() {
		copy(buf[256:], frame)
		if _, _, err := BuildPacketTooBig(buf, 256, len(frame), &p, 1344, ptbNodeAddr); err != nil {
			t.Fatal(err)
		}
	})
	if allocs != 0 {
		t.Errorf("%v allocations, want 0", allocs)
	}
}

// TestBuildPacketTooBigTshark writes replies to a pcap and asks tshark to
// decode them with checksum validation: each must be an ICMPv6 Packet Too
// Big with a good checksum and the expected MTU. Skipped without tshark.
func TestBuildPacketTooBigTshark(t *testing.T) {
	testutil.NeedTool(t, "tshark", "apt-get install -y tshark")
	var frames [][]byte
	for _, ipLen := range []int{52, 1233, 1400} {
		frame := bigPacket(t, ethHdr, ipLen, 0)
		var p Packet
		if err := Parse(frame, &p); err != nil {
			t.Fatal(err)
		}
		buf := make([]byte, 256+len(frame))
		copy(buf[256:], frame)
		off, n, err := BuildPacketTooBig(buf, 256, len(frame), &p, 1344, ptbNodeAddr)
		if err != nil {
			t.Fatal(err)
		}
		frames = append(frames, buf[off:off+n])
	}
	path := filepath.Join(t.TempDir(), "ptb.pcap")
	var pc bytes.Buffer
	hdr := make([]byte, 24)
	binary.LittleEndian.PutUint32(hdr[0:], 0xa1b2c3d4)
	binary.LittleEndian.PutUint16(hdr[4:], 2)
	binary.LittleEndian.PutUint16(hdr[6:], 4)
	binary.LittleEndian.PutUint32(hdr[16:], 65535)
	binary.LittleEndian.PutUint32(hdr[20:], 1) // Ethernet
	pc.Write(hdr)
	for i, f := range frames {
		rec := make([]byte, 16)
		binary.LittleEndian.PutUint32(rec[0:], uint32(i+1))
		binary.LittleEndian.PutUint32(rec[8:], uint32(len(f)))
		binary.LittleEndian.PutUint32(rec[12:], uint32(len(f)))
		pc.Write(rec)
		pc.Write(f)
	}
	if err := os.WriteFile(path, pc.Bytes(), 0o644); err != nil {
		t.Fatal(err)
	}
	out, err := exec.Command("tshark", "-r", path, "-o", "icmpv6.checksum_status:TRUE", "-T", "fields",
		"-e", "icmpv6.type", "-e", "icmpv6.code", "-e", "icmpv6.mtu", "-e", "icmpv6.checksum.status", "-e", "_ws.expert.severity").Output()
	if err != nil {
		// Older tshark versions lack the preference; retry without it.
		out, err = exec.Command("tshark", "-r", path, "-T", "fields",
			"-e", "icmpv6.type", "-e", "icmpv6.code", "-e", "icmpv6.mtu", "-e", "icmpv6.checksum.status").Output()
		if err != nil {
			t.Skipf("tshark: %v\n%s", err, out)
		}
	}
	lines := strings.Split(strings.TrimSpace(string(out)), "\n")
	if len(lines) != len(frames) {
		t.Fatalf("tshark printed %d lines for %d frames:\n%s", len(lines), len(frames), out)
	}
	for i, l := range lines {
		f := strings.Split(l, "\t")
		if len(f) < 4 || f[0] != "2" || f[1] != "0" || f[2] != "1344" || f[3] != "1" {
			t.Errorf("frame %d: tshark says %q, want type 2 code 0 mtu 1344 checksum status 1 (good)", i, l)
		}
	}
}

// BenchmarkBuildPacketTooBig answers a 1500-octet packet (the message
// carries 1232 octets of it; the checksum covers 1240).
func BenchmarkBuildPacketTooBig(b *testing.B) {
	frame := bigPacket(b, ethHdr, 1500, 0)
	var p Packet
	if err := Parse(frame, &p); err != nil {
		b.Fatal(err)
	}
	buf := make([]byte, benchHeadroom+len(frame))
	copy(buf[benchHeadroom:], frame)
	b.ReportAllocs()
	b.SetBytes(MinMTU)
	for b.Loop() {
		// Restore the Ethernet header the previous iteration overwrote.
		copy(buf[benchHeadroom:benchHeadroom+14], frame[:14])
		if _, _, err := BuildPacketTooBig(buf, benchHeadroom, len(frame), &p, 1344, ptbNodeAddr); err != nil {
			b.Fatal(err)
		}
	}
}

// FuzzPacketTooBig builds a Packet Too Big message for whatever Parse
// accepts, with varying headroom, and checks the round trip: the reply
// parses, is at most MinMTU octets of IPv6, has a checksum that verifies
// and carries the leading octets of the invoking packet; on error the
// buffer is untouched.
func FuzzPacketTooBig(f *testing.F) {
	for _, s := range fuzzSeeds() {
		f.Add(s, uint8(64))
	}
	f.Fuzz(func(t *testing.T, frame []byte, headroom uint8) {
		var p Packet
		if Parse(frame, &p) != nil {
			return
		}
		ip6 := append([]byte(nil), frame[p.L3:p.End]...)
		buf := make([]byte, int(headroom)+len(frame))
		copy(buf[headroom:], frame)
		orig := append([]byte(nil), buf...)
		off, n, err := BuildPacketTooBig(buf, int(headroom), len(frame), &p, 1300, ptbNodeAddr)
		if err != nil {
			if off != int(headroom) || n != len(frame) || !bytes.Equal(buf, orig) {
				t.Fatalf("error %v modified the frame", err)
			}
			return
		}
		out := buf[off : off+n]
		checkPTB(t, out, p.L3, ip6, 1300)
	})
}
