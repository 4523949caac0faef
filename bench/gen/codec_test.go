package gen

import (
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
