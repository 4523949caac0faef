package packet

import (
	"encoding/binary"
	"testing"
)

// Benchmarks run on a 1514-octet Ethernet frame (a 1500-octet IPv6/UDP
// packet) placed after 256 octets of headroom, like an AF_XDP UMEM chunk.
// The editors modify the frame, so each iteration first restores the
// octets the previous one overwrote (a copy of at most 80 octets, included
// in the timing); the payload is never touched.
//
//	go test -run '^$' -bench . -benchmem -benchtime 200ms ./dataplane/packet/

const benchHeadroom = 256

// benchFrame returns an Ethernet frame of 1514 octets built from the IPv6
// vector v by growing its UDP payload, and the buffer holding it.
func benchFrame(b *testing.B, v string) ([]byte, []byte, int) {
	b.Helper()
	pkt := mustHex(b, ethHdr+v)
	frame := make([]byte, 1514)
	copy(frame, pkt)
	grow := len(frame) - len(pkt)
	binary.BigEndian.PutUint16(frame[18:], binary.BigEndian.Uint16(frame[18:])+uint16(grow))
	var p Packet
	if err := Parse(frame, &p); err != nil {
		b.Fatal(p.Detail(err))
	}
	if p.Inner != 0 { // keep the inner length consistent for ip6ip6
		binary.BigEndian.PutUint16(frame[p.Inner+4:], binary.BigEndian.Uint16(frame[p.Inner+4:])+uint16(grow))
	}
	if err := Parse(frame, &p); err != nil {
		b.Fatal(p.Detail(err))
	}
	buf := make([]byte, benchHeadroom+len(frame))
	copy(buf[benchHeadroom:], frame)
	return frame, buf, benchHeadroom
}

func benchParse(b *testing.B, v string) {
	frame, _, _ := benchFrame(b, v)
	var p Packet
	b.ReportAllocs()
	for b.Loop() {
		if err := Parse(frame, &p); err != nil {
			b.Fatal(err)
		}
	}
}

func BenchmarkParsePlain(b *testing.B)  { benchParse(b, vecPlain) }
func BenchmarkParseInline(b *testing.B) { benchParse(b, vecB) }
func BenchmarkParseIP6IP6(b *testing.B) { benchParse(b, vecC) }

// benchEdit times edit on the frame built from v, restoring the first
// restore octets of the frame before each call.
func benchEdit(b *testing.B, v string, restore int, edit func(buf []byte, off, n int, p *Packet) (int, int, error)) {
	benchEditor(b, v, restore, false, func(buf []byte, off, n int, p *Packet) (int, int, bool, error) {
		o, l, err := edit(buf, off, n, p)
		return o, l, true, err
	})
}

// benchEditor times edit on the frame built from v, restoring the first
// restore octets of the frame before each call, and the Packet too when
// reset (the editors that keep it up to date change it); edit must report
// it updated.
func benchEditor(b *testing.B, v string, restore int, reset bool, edit func(buf []byte, off, n int, p *Packet) (int, int, bool, error)) {
	frame, buf, off := benchFrame(b, v)
	var p0, p Packet
	if err := Parse(frame, &p0); err != nil {
		b.Fatal(err)
	}
	p = p0
	hdr := frame[:restore]
	b.ReportAllocs()
	for b.Loop() {
		copy(buf[off:], hdr)
		if reset {
			p = p0
		}
		if _, _, updated, err := edit(buf, off, len(frame), &p); err != nil || !updated {
			b.Fatal(err, updated)
		}
	}
}

func BenchmarkInsertDEXInline(b *testing.B) {
	d := dexC
	benchEdit(b, vecPlain, 54, func(buf []byte, off, n int, p *Packet) (int, int, error) {
		return InsertDEXInline(buf, off, n, p, &d)
	})
}

func BenchmarkMergeDEXIntoHbH(b *testing.B) {
	d := dexC
	benchEdit(b, vecD0, 62, func(buf []byte, off, n int, p *Packet) (int, int, error) {
		return MergeDEXIntoHbH(buf, off, n, p, &d)
	})
}

func BenchmarkPushIP6IP6(b *testing.B) {
	d := dexC
	src, dst := [16]byte{0: 0xfd, 15: 1}, [16]byte{0: 0xfd, 15: 2}
	benchEdit(b, vecPlain, 14, func(buf []byte, off, n int, p *Packet) (int, int, error) {
		return PushIP6IP6(buf, off, n, p, &d, src, dst)
	})
}

func BenchmarkRemoveDEX(b *testing.B) { benchEdit(b, vecB, 78, RemoveDEX) }

func BenchmarkRemoveDEXRepad(b *testing.B) { benchEdit(b, vecD, 78, RemoveDEX) }

func BenchmarkStripOuter(b *testing.B) { benchEdit(b, vecC, 78, StripOuter) }

func BenchmarkRemoveDEXUpdate(b *testing.B) { benchEditor(b, vecB, 78, true, RemoveDEXUpdate) }

func BenchmarkStripOuterUpdate(b *testing.B) { benchEditor(b, vecC, 78, true, StripOuterUpdate) }
