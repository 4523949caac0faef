package checksum

import (
	"bytes"
	"encoding/binary"
	"net"
	"strconv"
	"testing"

	"github.com/dexplane/dexplane/dataplane/handle"
	"github.com/dexplane/dexplane/internal/testbed/plan"
	"github.com/gopacket/gopacket"
	"github.com/gopacket/gopacket/layers"
)

// dexHbH is a Hop-by-Hop header (Next Header filled by gopacket) holding an
// IOAM DEX option (type 0x31, length 10: ns 123, trace type 0x800000,
// ext flags 0xc0, flow id and sequence number) and a PadN to 8n octets.
func dexOption() *layers.IPv6HopByHopOption {
	return &layers.IPv6HopByHopOption{
		OptionType: 0x31, OptionLength: 18,
		OptionData: []byte{4, 0, 0, 123, 0, 0xc0, 0x80, 0, 0, 0, 0, 0, 0, 1, 0, 0, 0, 7},
	}
}

// frame builds an Ethernet frame with a correct checksum (gopacket is the
// judge); shape selects what sits between Ethernet and the transport header.
func frame(t testing.TB, shape string, proto layers.IPProtocol, payload int) []byte {
	t.Helper()
	eth := &layers.Ethernet{SrcMAC: net.HardwareAddr{2, 0, 0, 0, 0, 1}, DstMAC: net.HardwareAddr{2, 0, 0, 0, 0, 2}, EthernetType: layers.EthernetTypeIPv6}
	inner := &layers.IPv6{Version: 6, HopLimit: 64, SrcIP: plan.HostAAddr.AsSlice(), DstIP: plan.HostBAddr.AsSlice(), NextHeader: proto}
	var ls []gopacket.SerializableLayer
	ls = append(ls, eth)
	switch shape {
	case "plain":
		ls = append(ls, inner)
	case "vlan2":
		eth.EthernetType = layers.EthernetTypeQinQ
		ls = append(ls, &layers.Dot1Q{VLANIdentifier: 10, Type: layers.EthernetTypeDot1Q}, &layers.Dot1Q{VLANIdentifier: 20, Type: layers.EthernetTypeIPv6}, inner)
	case "hbh-dex":
		inner.NextHeader = layers.IPProtocolIPv6HopByHop
		inner.HopByHop = &layers.IPv6HopByHop{}
		inner.HopByHop.NextHeader = proto
		inner.HopByHop.Options = []*layers.IPv6HopByHopOption{dexOption(), {OptionType: 1}}
		ls = append(ls, inner)
	case "ip6ip6-dex":
		outer := &layers.IPv6{Version: 6, HopLimit: 64, SrcIP: plan.TunSrc.AsSlice(), DstIP: plan.TunDst.AsSlice(), NextHeader: layers.IPProtocolIPv6HopByHop}
		outer.HopByHop = &layers.IPv6HopByHop{}
		outer.HopByHop.NextHeader = layers.IPProtocolIPv6
		outer.HopByHop.Options = []*layers.IPv6HopByHopOption{dexOption(), {OptionType: 1}}
		ls = append(ls, outer, inner)
	default:
		t.Fatalf("shape %q", shape)
	}
	data := make([]byte, payload)
	for i := range data {
		data[i] = byte(i*7 + 3)
	}
	switch proto {
	case layers.IPProtocolTCP:
		tcp := &layers.TCP{SrcPort: 40000, DstPort: 7000, Seq: 1, Ack: 2, PSH: true, ACK: true, Window: 512}
		tcp.SetNetworkLayerForChecksum(inner)
		ls = append(ls, tcp)
	case layers.IPProtocolUDP:
		udp := &layers.UDP{SrcPort: 40000, DstPort: 7000}
		udp.SetNetworkLayerForChecksum(inner)
		ls = append(ls, udp)
	case layers.IPProtocolICMPv6:
		icmp := &layers.ICMPv6{TypeCode: layers.CreateICMPv6TypeCode(layers.ICMPv6TypeEchoRequest, 0)}
		icmp.SetNetworkLayerForChecksum(inner)
		ls = append(ls, icmp, &layers.ICMPv6Echo{Identifier: 1, SeqNumber: 1})
	}
	ls = append(ls, gopacket.Payload(data))
	buf := gopacket.NewSerializeBuffer()
	if err := gopacket.SerializeLayers(buf, gopacket.SerializeOptions{FixLengths: true, ComputeChecksums: true}, ls...); err != nil {
		t.Fatal(err)
	}
	return buf.Bytes()
}

// l4 returns the offset of the checksum field of the frame frame built
// (found with gopacket, independently of the code under test).
func l4(t testing.TB, b []byte, proto layers.IPProtocol) int {
	t.Helper()
	p := gopacket.NewPacket(b, layers.LayerTypeEthernet, gopacket.Default)
	var tl gopacket.Layer
	switch proto {
	case layers.IPProtocolTCP:
		tl = p.Layer(layers.LayerTypeTCP)
	case layers.IPProtocolUDP:
		tl = p.Layer(layers.LayerTypeUDP)
	default:
		tl = p.Layer(layers.LayerTypeICMPv6)
	}
	if tl == nil {
		t.Fatalf("gopacket finds no %v layer: %v", proto, p)
	}
	off := len(b) - len(tl.LayerContents()) - len(tl.LayerPayload())
	switch proto {
	case layers.IPProtocolTCP:
		return off + 16
	case layers.IPProtocolUDP:
		return off + 6
	}
	return off + 2
}

// partial returns what a device with TX checksum offload hands over: the
// field holds the folded pseudo-header sum of the innermost IPv6 header
// (computed here word by word, as RFC 8200 §8.1 describes it).
func partial(b []byte, field int, proto layers.IPProtocol) []byte {
	p := gopacket.NewPacket(b, layers.LayerTypeEthernet, gopacket.Default)
	var ip *layers.IPv6
	for _, l := range p.Layers() {
		if v, ok := l.(*layers.IPv6); ok {
			ip = v
		}
	}
	var s uint32
	for i := 0; i < 16; i += 2 {
		s += uint32(ip.SrcIP[i])<<8 | uint32(ip.SrcIP[i+1])
		s += uint32(ip.DstIP[i])<<8 | uint32(ip.DstIP[i+1])
	}
	hdr := map[layers.IPProtocol]int{layers.IPProtocolTCP: 16, layers.IPProtocolUDP: 6, layers.IPProtocolICMPv6: 2}[proto]
	n := uint32(len(b) - (field - hdr))
	s += n>>16 + n&0xffff + uint32(proto)
	for s > 0xffff {
		s = s>>16 + s&0xffff
	}
	out := append([]byte(nil), b...)
	binary.BigEndian.PutUint16(out[field:], uint16(s))
	return out
}

func TestComplete(t *testing.T) {
	for _, shape := range []string{"plain", "vlan2", "hbh-dex", "ip6ip6-dex"} {
		for _, proto := range []layers.IPProtocol{layers.IPProtocolTCP, layers.IPProtocolUDP, layers.IPProtocolICMPv6} {
			for _, size := range []int{0, 1, 33, 1400} {
				t.Run(shape+"/"+proto.String()+"/"+string(rune('0'+size%10)), func(t *testing.T) {
					good := frame(t, shape, proto, size)
					field := l4(t, good, proto)
					part := partial(good, field, proto)
					if binary.BigEndian.Uint16(part[field:]) == binary.BigEndian.Uint16(good[field:]) {
						t.Skip("partial sum equals the full checksum for this payload")
					}
					if r := Check(part); r != Completed {
						t.Fatalf("Check(partial) = %v, want completed", r)
					}
					keep := append([]byte(nil), part...)
					if r := Check(part); r != Completed || string(part) != string(keep) {
						t.Fatal("Check changed the frame")
					}
					if r := Complete(part); r != Completed {
						t.Fatalf("Complete(partial) = %v, want completed", r)
					}
					if string(part) != string(good) {
						t.Fatalf("completed frame differs from gopacket's:\n got %x\nwant %x", part, good)
					}
					if r := Complete(good); r != AlreadyComplete {
						t.Fatalf("Complete(good) = %v, want already_complete", r)
					}
				})
			}
		}
	}
}

// plainUDP returns a plain UDP frame with n octets of payload and a correct
// checksum, the checksum's offset, and the same frame with the partial
// checksum a CHECKSUM_PARTIAL sender leaves.
func plainUDP(t *testing.T, n int) (good []byte, field int, part []byte) {
	t.Helper()
	good = frame(t, "plain", layers.IPProtocolUDP, n)
	field = l4(t, good, layers.IPProtocolUDP)
	return good, field, partial(good, field, layers.IPProtocolUDP)
}

func TestCompleteLeavesOthers(t *testing.T) {
	_, _, part := plainUDP(t, 64)
	for name, b := range map[string][]byte{
		"ipv4":      append(append([]byte(nil), part[:12]...), 0x08, 0x00),
		"truncated": part[:len(part)-1],
		"short":     part[:20],
		"empty":     nil,
	} {
		c := append([]byte(nil), b...)
		if r := Complete(c); r == Completed || string(c) != string(b) {
			t.Errorf("%s: Complete = %v, frame changed %v", name, r, string(c) != string(b))
		}
	}
	// A fragment is left alone even when its field looks partial.
	frag := append([]byte(nil), part...)
	frag[14+6] = 44
	if r := Complete(frag); r != NotApplicable {
		t.Errorf("fragment: %v", r)
	}
}

// TestCoincidence: a correct checksum that happens to equal the
// pseudo-header sum is not touched.
func TestCoincidence(t *testing.T) {
	good, field, part := plainUDP(t, 40)
	pseudo := binary.BigEndian.Uint16(part[field:])
	// Adjust two payload octets so the correct checksum equals pseudo.
	cur := binary.BigEndian.Uint16(good[field:])
	// Checksum c = ~S; we want c' = pseudo, so S' = ~pseudo; adding x to a
	// payload word adds x to S (ones' complement).
	diff := uint32(^pseudo) + uint32(0xffff-uint16(^cur))
	for diff > 0xffff {
		diff = diff>>16 + diff&0xffff
	}
	last := len(good) - 2
	w := uint32(binary.BigEndian.Uint16(good[last:])) + diff
	for w > 0xffff {
		w = w>>16 + w&0xffff
	}
	binary.BigEndian.PutUint16(good[last:], uint16(w))
	binary.BigEndian.PutUint16(good[field:], pseudo)
	// Verify word by word: pseudo-header plus segment sums to 0xffff.
	var v uint32
	for i := 14 + 8; i < 14+40; i += 2 {
		v += uint32(binary.BigEndian.Uint16(good[i:]))
	}
	v += uint32(len(good)-54) + 17
	for i := 54; i+1 < len(good); i += 2 {
		v += uint32(binary.BigEndian.Uint16(good[i:]))
	}
	for v > 0xffff {
		v = v>>16 + v&0xffff
	}
	if v != 0xffff || len(good)%2 != 0 {
		t.Fatalf("test frame does not verify: sum %#04x", v)
	}
	keep := append([]byte(nil), good...)
	if r := Complete(good); r != Coincidence || string(good) != string(keep) {
		t.Fatalf("Complete = %v, changed %v", r, string(good) != string(keep))
	}
}

func TestCompleteAllocs(t *testing.T) {
	good := frame(t, "ip6ip6-dex", layers.IPProtocolTCP, 1400)
	part := partial(good, l4(t, good, layers.IPProtocolTCP), layers.IPProtocolTCP)
	buf := append([]byte(nil), part...)
	if n := testing.AllocsPerRun(100, func() { copy(buf, part); Complete(buf) }); n != 0 {
		t.Fatalf("Complete allocates %v per frame", n)
	}
}

func FuzzComplete(f *testing.F) {
	for _, shape := range []string{"plain", "vlan2", "hbh-dex", "ip6ip6-dex"} {
		good := frame(f, shape, layers.IPProtocolTCP, 20)
		f.Add(good)
		f.Add(partial(good, l4(f, good, layers.IPProtocolTCP), layers.IPProtocolTCP))
	}
	f.Fuzz(func(t *testing.T, b []byte) {
		before := Check(b)
		c := append([]byte(nil), b...)
		r := Complete(c)
		if r != before {
			t.Fatalf("Check %v, Complete %v", before, r)
		}
		if r != Completed && string(c) != string(b) {
			t.Fatalf("Complete = %v changed the frame", r)
		}
		if r == Completed {
			if again := Complete(c); again == Completed {
				t.Fatal("completing twice")
			}
		}
	})
}

// BenchmarkComplete measures the per-frame cost: "complete" frames are
// what most traffic is (one comparison), "partial" frames are completed.
func BenchmarkComplete(b *testing.B) {
	for _, size := range []int{64, 1400} {
		good := frame(b, "hbh-dex", layers.IPProtocolTCP, size)
		part := partial(good, l4(b, good, layers.IPProtocolTCP), layers.IPProtocolTCP)
		buf := append([]byte(nil), good...)
		b.Run("copy-only/"+strconv.Itoa(len(buf)), func(b *testing.B) {
			// Baseline: the frame copy every case below also does.
			b.SetBytes(int64(len(buf)))
			for b.Loop() {
				copy(buf, good)
			}
		})
		for _, c := range []struct {
			name string
			src  []byte
		}{{"complete", good}, {"partial", part}} {
			buf := append([]byte(nil), c.src...)
			b.Run(c.name+"/"+strconv.Itoa(len(buf)), func(b *testing.B) {
				b.ReportAllocs()
				b.SetBytes(int64(len(buf)))
				for b.Loop() {
					copy(buf, c.src)
					Complete(buf)
				}
			})
		}
	}
}

// TestHandler: the stage completes on Fix ports, counts on the others,
// warns once per port, and allocates nothing per frame.
func TestHandler(t *testing.T) {
	good := frame(t, "plain", layers.IPProtocolTCP, 200)
	part := partial(good, l4(t, good, layers.IPProtocolTCP), layers.IPProtocolTCP)
	var warned []int
	h := &Handler{Fix: [2]bool{true, false}, OnUnfinished: func(p int) { warned = append(warned, p) }}
	buf, f := handleOnPorts(t, h, []int{0, 1, 1, 0}, part, good)
	if c := h.Ports[0].Load(); c.Completed != 2 || c.Unfinished != 0 {
		t.Errorf("port 0 counters %+v", c)
	}
	if c := h.Ports[1].Load(); c.Completed != 0 || c.Unfinished != 2 {
		t.Errorf("port 1 counters %+v", c)
	}
	if len(warned) != 1 || warned[0] != 1 {
		t.Errorf("warnings for ports %v, want [1]", warned)
	}
	f.Ingress = 0
	if n := testing.AllocsPerRun(100, func() { copy(buf[256:], part); h.Handle(f) }); n != 0 {
		t.Errorf("Handle allocates %v per frame", n)
	}
}

// TestHandlerOff: on an Off port the stage neither completes nor counts;
// Fix wins over Off.
func TestHandlerOff(t *testing.T) {
	good := frame(t, "plain", layers.IPProtocolTCP, 200)
	part := partial(good, l4(t, good, layers.IPProtocolTCP), layers.IPProtocolTCP)
	warned := 0
	h := &Handler{Fix: [2]bool{true, false}, Off: [2]bool{true, true}, OnUnfinished: func(int) { warned++ }}
	handleOnPorts(t, h, []int{0, 1}, part, good)
	if c := h.Ports[0].Load(); c.Completed != 1 || c.Unfinished != 0 {
		t.Errorf("port 0 (Fix and Off) counters %+v", c)
	}
	if c := h.Ports[1].Load(); c != (Counts{}) || warned != 0 {
		t.Errorf("port 1 (Off) counters %+v, %d warnings", c, warned)
	}
}

// handleOnPorts passes frame part through h once per port in ports and
// checks that it leaves completed (good) from port 0 and untouched from
// port 1. It returns the buffer and frame it used.
func handleOnPorts(t *testing.T, h *Handler, ports []int, part, good []byte) ([]byte, *handle.Frame) {
	t.Helper()
	buf := make([]byte, 2048)
	f := &handle.Frame{Buf: buf, Off: 256, Len: len(part)}
	for _, in := range ports {
		copy(buf[256:], part)
		f.Ingress = in
		if v := h.Handle(f); v != handle.Forward {
			t.Fatalf("verdict %v", v)
		}
		want := good
		if in == 1 {
			want = part
		}
		if !bytes.Equal(buf[256:256+len(part)], want) {
			t.Errorf("port %d: frame after the stage differs from the expected one", in)
		}
	}
	return buf, f
}
