package packet

import (
	"bytes"
	"encoding/binary"
	"fmt"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/gopacket/gopacket/layers"

	"github.com/dexplane/dexplane/internal/testutil"
)

// This file builds the frames the independent judges (tshark here, the
// Linux kernel in kernel_test.go) look at: outputs of our encoder and
// editors, plus malformed frames the judges must reject.

// Judge addressing: host A (sender) and host B (receiver).
var (
	judgeMACA = []byte{0x02, 0, 0, 0, 0xdd, 0x01}
	judgeMACB = []byte{0x02, 0, 0, 0, 0xdd, 0x02}
	judgeSrc  = [16]byte{0x20, 0x01, 0x0d, 0xb8, 15: 1}             // 2001:db8::1
	judgeDst  = [16]byte{0x20, 0x01, 0x0d, 0xb8, 15: 2}             // 2001:db8::2
	judgeTunS = [16]byte{0x20, 0x01, 0x0d, 0xb8, 0xff, 0xff, 15: 1} // 2001:db8:ffff::1
	judgeTunD = [16]byte{0x20, 0x01, 0x0d, 0xb8, 0xff, 0xff, 15: 2} // 2001:db8:ffff::2
)

const judgeDstPort = 5001

// judgeFrame is one Ethernet frame for the judges.
type judgeFrame struct {
	name  string
	frame []byte
	// tunnel: the frame is IPv6-in-IPv6 addressed to judgeTunD; otherwise
	// UDP to judgeDst:judgeDstPort.
	tunnel bool
	// hbh is the Hop-by-Hop header the receiver must see (nil: none).
	hbh []byte
	// payload is what the receiving socket must return: the UDP payload, or
	// the inner IPv6 packet for a tunnel.
	payload []byte
	sport   uint16
}

// udpFrame returns an Ethernet frame A -> B carrying IPv6/UDP from sport to
// judgeDstPort with the given payload, traffic class and flow label, and a
// correct UDP checksum.
func udpFrame(sport uint16, tc uint8, flow uint32, payload []byte) []byte {
	ulen := 8 + len(payload)
	f := make([]byte, 14+40+ulen)
	copy(f, judgeMACB)
	copy(f[6:], judgeMACA)
	binary.BigEndian.PutUint16(f[12:], EtherTypeIPv6)
	ip := f[14:]
	binary.BigEndian.PutUint32(ip, 6<<28|uint32(tc)<<20|flow&0xFFFFF)
	binary.BigEndian.PutUint16(ip[4:], uint16(ulen))
	ip[6], ip[7] = ProtoUDP, 64
	copy(ip[8:], judgeSrc[:])
	copy(ip[24:], judgeDst[:])
	u := ip[40:]
	binary.BigEndian.PutUint16(u, sport)
	binary.BigEndian.PutUint16(u[2:], judgeDstPort)
	binary.BigEndian.PutUint16(u[4:], uint16(ulen))
	copy(u[8:], payload)
	binary.BigEndian.PutUint16(u[6:], udpChecksum(judgeSrc, judgeDst, u))
	return f
}

// udpChecksum computes the UDP checksum over the IPv6 pseudo-header (RFC
// 8200 §8.1) and the datagram u, whose checksum field must be zero.
func udpChecksum(src, dst [16]byte, u []byte) uint16 {
	var sum uint32
	add := func(b []byte) {
		for len(b) >= 2 {
			sum += uint32(binary.BigEndian.Uint16(b))
			b = b[2:]
		}
		if len(b) == 1 {
			sum += uint32(b[0]) << 8
		}
	}
	add(src[:])
	add(dst[:])
	sum += uint32(len(u)) + ProtoUDP
	add(u)
	for sum > 0xFFFF {
		sum = sum&0xFFFF + sum>>16
	}
	c := ^uint16(sum)
	if c == 0 {
		c = 0xFFFF
	}
	return c
}

// judgeGood returns encoder outputs every judge must accept.
func judgeGood(t testing.TB) []judgeFrame {
	t.Helper()
	var out []judgeFrame
	sport := uint16(41000)
	next := func(name string) (uint16, []byte) {
		sport++
		return sport, []byte("dexplane judge " + name)
	}
	edit := func(name string, f []byte, fn func(buf []byte, off, n int, p *Packet) (int, int, error)) []byte {
		t.Helper()
		var p Packet
		if err := Parse(f, &p); err != nil {
			t.Fatalf("%s: input: %v", name, p.Detail(err))
		}
		buf, off := frameIn(128, f)
		no, nn, err := fn(buf, off, len(f), &p)
		if err != nil {
			t.Fatalf("%s: %v", name, err)
		}
		res := buf[no : no+nn]
		if err := Parse(res, &p); err != nil {
			t.Fatalf("%s: output does not parse: %v", name, p.Detail(err))
		}
		return res
	}
	hbhOf := func(f []byte) []byte {
		var p Packet
		_ = Parse(f, &p)
		if p.HbH == 0 {
			return nil
		}
		return bytes.Clone(f[p.HbH : p.HbH+p.HbHLen])
	}
	add := func(name string, f []byte, tunnel bool, payload []byte, sp uint16) {
		out = append(out, judgeFrame{name: name, frame: f, tunnel: tunnel, hbh: hbhOf(f), payload: payload, sport: sp})
	}

	for _, ext := range []uint8{0x00, 0x80, 0x40, 0xC0, 0x20, 0xE0} {
		name := fmt.Sprintf("inline-ext%02x", ext)
		sp, pl := next(name)
		d := DEX{Namespace: 123, ExtFlags: ext, TraceType: 0xB00000, FlowID: 0x12345678, Seq: uint32(sp)}
		f := edit(name, udpFrame(sp, 0x20, 0x12345, pl), func(b []byte, o, n int, p *Packet) (int, int, error) {
			return InsertDEXInline(b, o, n, p, &d)
		})
		add(name, f, false, pl, sp)
	}
	{ // a 1400-octet datagram, so the result is a 1448-octet IPv6 packet
		sp, pl := next("inline-large")
		pl = append(pl, bytes.Repeat([]byte{0xa5}, 1400-len(pl))...)
		d := dexC
		f := edit("inline-large", udpFrame(sp, 0, 0, pl), func(b []byte, o, n int, p *Packet) (int, int, error) {
			return InsertDEXInline(b, o, n, p, &d)
		})
		add("inline-large", f, false, pl, sp)
	}
	// Merging into an existing HbH holding RFC 3692 experimental option 0x1E.
	withOpt := func(sp uint16, pl []byte) []byte {
		f := udpFrame(sp, 0, 0, pl)
		g := make([]byte, 0, len(f)+8)
		g = append(g, f[:54]...)
		g = append(g, ProtoUDP, 0, 0x1e, 0x02, 0xab, 0xcd, OptPadN, 0)
		g = append(g, f[54:]...)
		g[14+6] = ProtoHopByHop
		binary.BigEndian.PutUint16(g[14+4:], uint16(len(f)-54+8))
		return g
	}
	for _, ext := range []uint8{0x00, 0xC0, 0x80} {
		name := fmt.Sprintf("merge-ext%02x", ext)
		sp, pl := next(name)
		d := DEX{Namespace: 7, ExtFlags: ext, TraceType: 0x800000, FlowID: 9, Seq: 10}
		f := edit(name, withOpt(sp, pl), func(b []byte, o, n int, p *Packet) (int, int, error) {
			return MergeDEXIntoHbH(b, o, n, p, &d)
		})
		add(name, f, false, pl, sp)
		// ...and removing it again leaves the 0x1E option alone.
		r := edit(name+"-removed", bytes.Clone(f), RemoveDEX)
		add(name+"-removed", r, false, pl, sp)
	}
	for _, ext := range []uint8{0x00, 0xC0} {
		name := fmt.Sprintf("ip6ip6-ext%02x", ext)
		sp, pl := next(name)
		inner := udpFrame(sp, 0x22, 0xabcde, pl)
		d := DEX{Namespace: 123, ExtFlags: ext, TraceType: 0x800000, FlowID: 0x12345678, Seq: 1}
		f := edit(name, bytes.Clone(inner), func(b []byte, o, n int, p *Packet) (int, int, error) {
			return PushIP6IP6(b, o, n, p, &d, judgeTunS, judgeTunD)
		})
		add(name, f, true, inner[14:], sp)
		s := edit(name+"-stripped", bytes.Clone(f), StripOuter)
		add(name+"-stripped", s, false, pl, sp)
	}
	{
		sp, pl := next("inline-removed")
		d := dexB2
		f := edit("inline", udpFrame(sp, 0, 0, pl), func(b []byte, o, n int, p *Packet) (int, int, error) {
			return InsertDEXInline(b, o, n, p, &d)
		})
		add("inline-removed", edit("inline-removed", f, RemoveDEX), false, pl, sp)
	}
	{ // The non-canonical ULiège TRex layout (Opt Data Len covering the PadN).
		sp, pl := next("noncanonical")
		d := dexB2
		f := edit("noncanonical", udpFrame(sp, 0, 0, pl), func(b []byte, o, n int, p *Packet) (int, int, error) {
			return InsertDEXInline(b, o, n, p, &d)
		})
		f[14+40+5] = 0x12
		add("noncanonical", f, false, pl, sp)
	}
	return out
}

// judgeBad returns malformed variants of an inline DEX frame that Linux
// drops while parsing the Hop-by-Hop header, each with the sentinel Parse
// must return.
func judgeBad(t testing.TB) []struct {
	name  string
	frame []byte
	err   error
} {
	t.Helper()
	base := func(sport uint16, hbh []byte) []byte {
		f := udpFrame(sport, 0, 0, []byte("must be dropped"))
		g := append(append(bytes.Clone(f[:54]), hbh...), f[54:]...)
		g[14+6] = ProtoHopByHop
		binary.BigEndian.PutUint16(g[14+4:], uint16(len(g)-54))
		return g
	}
	opt := mustHex(t, optA)
	cat := func(parts ...[]byte) []byte { return bytes.Join(parts, nil) }
	type bad = struct {
		name  string
		frame []byte
		err   error
	}
	flow := mustHex(t, "310e0004"+"007b0080"+"80000000"+"12345678") // DEX with Flow ID
	return []bad{
		// IOAM at Hop-by-Hop offset 5 (PadN(3) in front), padded to 24.
		{"misaligned", base(42001, cat([]byte{ProtoUDP, 2, OptPadN, 1, 0}, opt, []byte{OptPadN, 5, 0, 0, 0, 0, 0})), ErrIOAMMisaligned},
		// IOAM at offset 2.
		{"misaligned-2", base(42002, cat([]byte{ProtoUDP, 1}, opt, []byte{OptPadN, 0})), ErrIOAMMisaligned},
		// Opt Data Len 10 but only 4 octets left in the 8-octet header.
		{"overrun", base(42003, cat([]byte{ProtoUDP, 0, OptPadN, 0}, opt[:4])), ErrOptOverrun},
		// The trailing PadN(4) carries a non-zero octet.
		{"padn-nonzero", base(42004, cat([]byte{ProtoUDP, 2, OptPadN, 0}, flow, []byte{OptPadN, 2, 0, 1})), ErrPadNNonZero},
		// PadN(8) in front of an option: more than 7 padding octets.
		{"pad-too-long", base(42005, cat([]byte{ProtoUDP, 1, OptPadN, 6, 0, 0, 0, 0, 0, 0}, []byte{0x1e, 4, 0, 0, 0, 0})), ErrPadTooLong},
	}
}

// TestJudgeBadFramesParse checks that Parse rejects the judge's bad frames
// with the expected sentinel (the kernel must drop the same frames).
func TestJudgeBadFramesParse(t *testing.T) {
	for _, b := range judgeBad(t) {
		var p Packet
		if err := Parse(b.frame, &p); err != b.err {
			t.Errorf("%s: Parse = %v, want %v", b.name, p.Detail(err), b.err)
		}
	}
}

// tsharkVerdicts runs tshark over a pcap and returns, per frame, the
// problems it reports: malformed, any expert info other than the note
// tshark 4.0 gives every DEX body ("Unknown Data (not interpreted)", it does
// not know IOAM Option-Type 4), and a UDP checksum status other than Good.
func tsharkVerdicts(t *testing.T, path string, n int) []string {
	t.Helper()
	cmd := exec.Command("tshark", "-n", "-r", path, "-o", "udp.check_checksum:TRUE",
		"-T", "fields", "-E", "separator=|", "-E", "occurrence=a", "-E", "aggregator=;",
		"-e", "frame.number", "-e", "_ws.malformed", "-e", "_ws.expert.message", "-e", "udp.checksum.status")
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	if err != nil {
		t.Fatalf("tshark: %v: %s", err, stderr.String())
	}
	lines := strings.Split(strings.TrimSpace(string(out)), "\n")
	if len(lines) != n {
		t.Fatalf("tshark printed %d lines for %d frames:\n%s", len(lines), n, out)
	}
	verdicts := make([]string, n)
	for i, l := range lines {
		f := strings.Split(l, "|")
		if len(f) != 4 {
			t.Fatalf("tshark line %q", l)
		}
		var probs []string
		if f[1] != "" {
			probs = append(probs, "malformed")
		}
		for _, m := range strings.Split(f[2], ";") {
			if m != "" && m != "Unknown Data (not interpreted)" {
				probs = append(probs, "expert: "+m)
			}
		}
		// PROTO_CHECKSUM_E_GOOD is 1 (0 bad, 2 unverified, 3 not present).
		if f[3] != "1" {
			probs = append(probs, "udp.checksum.status="+f[3])
		}
		verdicts[i] = strings.Join(probs, ", ")
	}
	return verdicts
}

// TestTsharkJudge has tshark dissect our encoder's outputs: no malformed
// packet, no expert info beyond tshark 4.0's DEX "not interpreted" note, and
// a Good UDP checksum (inner checksum for ip6ip6). A negative control shows
// the same check catches broken frames.
func TestTsharkJudge(t *testing.T) {
	testutil.NeedTool(t, "tshark", "apt-get install -y tshark")
	dir := t.TempDir()
	good := judgeGood(t)
	var frames [][]byte
	for _, g := range good {
		frames = append(frames, g.frame)
	}
	path := filepath.Join(dir, "encoder.pcap")
	testutil.WriteCapture(t, path, testutil.Capture{LinkType: layers.LinkTypeEthernet}, frames)
	for i, v := range tsharkVerdicts(t, path, len(frames)) {
		if v != "" {
			t.Errorf("%s: tshark: %s\n%x", good[i].name, v, good[i].frame)
		}
	}

	// Negative control: PadN with a non-zero octet, a payload length one
	// octet too long, a broken UDP checksum.
	f0 := good[0].frame
	padn := bytes.Clone(f0)
	padn[14+40+3] = 1 // PadN(2) -> PadN with length 1 running into the IOAM option
	plen := bytes.Clone(f0)
	binary.BigEndian.PutUint16(plen[14+4:], binary.BigEndian.Uint16(plen[14+4:])+1)
	csum := bytes.Clone(f0)
	csum[len(csum)-1] ^= 0xff
	bad := [][]byte{padn, plen, csum}
	path = filepath.Join(dir, "control.pcap")
	testutil.WriteCapture(t, path, testutil.Capture{LinkType: layers.LinkTypeEthernet}, bad)
	for i, v := range tsharkVerdicts(t, path, len(bad)) {
		if v == "" {
			t.Errorf("negative control %d not flagged by tshark", i)
		}
	}
}
