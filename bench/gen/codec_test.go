package gen

import (
	"net/netip"
	"testing"

	"github.com/dexplane/dexplane/dataplane/packet"
)

// The generator's frames must be what dexplane's own codec (the parser the
// DUT runs) accepts, with the DEX fields the stream asked for.
func TestTemplatesParseWithDataplaneCodec(t *testing.T) {
	for _, mode := range []packet.Encap{packet.EncapNone, packet.EncapInline, packet.EncapIP6IP6} {
		for _, ext := range []uint8{0x00, 0x80, 0x40, 0xC0} {
			ts, err := Build(dexSpec(mode, 1500, DEX{DEX: packet.DEX{Namespace: 123, ExtFlags: ext, TraceType: 0xF00000, FlowID: 0x1000}}))
			if err != nil {
				t.Fatal(err)
			}
			all := append(append([]Template(nil), ts.Plain...), ts.WithDEX...)
			for i, tp := range all {
				f := append([]byte(nil), tp.Frame...)
				tp.Stamp(f, 42)
				var p packet.Packet
				if err := packet.Parse(f, &p); err != nil {
					t.Fatalf("%v ext %#x tmpl %d: %v", mode, ext, i, p.Detail(err))
				}
				if p.L4Proto != 17 || !p.HasPorts || p.End != len(f) {
					t.Errorf("%v ext %#x tmpl %d: L4 %d ports %v end %d/%d", mode, ext, i, p.L4Proto, p.HasPorts, p.End, len(f))
				}
				if p.HasDEX != tp.HasDEX {
					t.Errorf("%v ext %#x tmpl %d: codec HasDEX %v, template %v", mode, ext, i, p.HasDEX, tp.HasDEX)
					continue
				}
				if !p.HasDEX {
					continue
				}
				want := packet.DEX{Namespace: 123, ExtFlags: ext, TraceType: 0xF00000}
				if ext&0x80 != 0 {
					want.FlowID = 0x1000 + uint32(i%ts.Flows)
				}
				if ext&0x40 != 0 {
					want.Seq = 42
				}
				if p.DEX != want {
					t.Errorf("%v ext %#x tmpl %d: codec DEX %+v, want %+v", mode, ext, i, p.DEX, want)
				}
				wantEncap := packet.EncapInline
				if mode == packet.EncapIP6IP6 {
					wantEncap = packet.EncapIP6IP6
				}
				if p.Encap != wantEncap {
					t.Errorf("%v ext %#x tmpl %d: encap %v", mode, ext, i, p.Encap)
				}
			}
		}
	}
}

// TestTraceTemplates: the generator's Pre-allocated Trace packets (the
// bench harness's PTO rows) parse with dexplane's codec as an empty trace of
// the requested size, and their Hop-by-Hop header is octet for octet what
// dexplane's encapsulating node (the kernel's layout) inserts.
func TestTraceTemplates(t *testing.T) {
	for _, c := range []struct {
		size int
		tt   uint32
	}{{12, 0x800000}, {48, 0xC00000}} {
		for _, mode := range []packet.Encap{packet.EncapInline, packet.EncapIP6IP6} {
			s := testSpec()
			s.Size, s.Mode = 1500, mode
			s.DEX = DEX{DEX: packet.DEX{Namespace: 123, TraceType: c.tt}, TraceSize: c.size}
			s.TunSrc = netip.MustParseAddr("2001:db8:ffff::1")
			s.TunDst = netip.MustParseAddr("2001:db8:ffff::2")
			ts, err := Build(s)
			if err != nil {
				t.Fatal(err)
			}
			if len(ts.WithDEX) == 0 {
				t.Fatal("no trace template")
			}
			f := append([]byte(nil), ts.WithDEX[0].Frame...)
			var p packet.Packet
			if err := packet.Parse(f, &p); err != nil {
				t.Fatalf("size %d %v: %v", c.size, mode, p.Detail(err))
			}
			if !p.HasPTO || p.HasDEX || int(p.PTO.RemLen)*4 != c.size || p.PTO.DataLen != c.size ||
				int(p.PTO.NodeLen) != packet.PTONodeLen(c.tt) || p.PTO.TraceType != c.tt || p.End != len(f) {
				t.Errorf("size %d %v: %+v", c.size, mode, p.PTO)
			}
			// The same header from dexplane's editor, on the inner packet.
			inner := f[14+40+p.HbHLen:]
			if mode == packet.EncapInline { // the packet without its Hop-by-Hop header
				inner = append(append([]byte(nil), f[14:14+40]...), inner...)
				inner[6] = f[14+40]
				inner[4], inner[5] = byte((len(inner)-40)>>8), byte(len(inner)-40)
			}
			var q packet.Packet
			if err := packet.ParseIPv6(inner, 0, &q); err != nil {
				t.Fatal(err)
			}
			buf := make([]byte, 256+len(inner))
			copy(buf[256:], inner)
			ins := packet.Insert{HasPTO: true, PTO: packet.PTO{Namespace: 123, TraceType: c.tt, RemLen: uint8(c.size / 4)}}
			off, n, _, err := packet.InsertIOAMInline(buf, 256, len(inner), &q, &ins)
			if err != nil {
				t.Fatal(err)
			}
			if got, want := f[14+40:14+40+p.HbHLen], buf[off+40:off+40+p.HbHLen]; string(got[2:]) != string(want[2:]) || n-len(inner) != p.HbHLen {
				t.Errorf("size %d %v: Hop-by-Hop\n gen %x\n dxp %x", c.size, mode, got, want)
			}
		}
	}
}
