package packet

import (
	"bytes"
	"testing"
)

// FuzzPTOFill feeds arbitrary trace options to FillPTO and PTONodes: no
// panic, and a write changes only the node's slot, the RemainingLen bits
// and nothing else; an overflow changes only the Overflow bit; any other
// result changes nothing.
func FuzzPTOFill(f *testing.F) {
	for _, v := range []string{vecE, vecP1, vecP2} {
		b := mustHex(f, v)
		f.Add(b[44:], uint8(64), uint32(0x12345), []byte{1, 2, 3, 4})
	}
	f.Add([]byte{0x31, 0x0a, 0, 0, 0, 1, 0x08, 0x7f, 0x80, 0, 0, 0}, uint8(1), uint32(1), []byte(nil))
	f.Fuzz(func(t *testing.T, opt []byte, hl uint8, id uint32, schema []byte) {
		if len(schema) > 1020 {
			schema = schema[:1020]
		}
		nd := NodeData{HopLimit: hl, NodeID: id, NodeIDWide: uint64(id) << 20, IfIn: 1, IfOut: 2,
			HasSchema: len(schema) > 0, SchemaID: id, SchemaData: schema[:len(schema)&^3]}
		before := append([]byte(nil), opt...)
		r := FillPTO(opt, &nd)
		switch r {
		case FillWritten:
			oldRem := int(before[7] & 0x7F)
			newRem := int(opt[7] & 0x7F)
			lo, hi := PTOHeaderLen+4*newRem, PTOHeaderLen+4*oldRem
			if newRem == oldRem && bytes.Equal(before, opt) {
				break // an empty node (trace type 0, NodeLen 0): nothing to write, as in Linux
			}
			if newRem >= oldRem || !bytes.Equal(before[:7], opt[:7]) || before[7]&0x80 != opt[7]&0x80 ||
				!bytes.Equal(before[8:lo], opt[8:lo]) || !bytes.Equal(before[hi:], opt[hi:]) {
				t.Fatalf("write outside the slot:\n%x\n%x", before, opt)
			}
		case FillOverflowed:
			want := append([]byte(nil), before...)
			want[6] |= 0x04
			if !bytes.Equal(want, opt) {
				t.Fatalf("overflow changed more than the flag")
			}
		default:
			if !bytes.Equal(before, opt) {
				t.Fatalf("%v changed the option", r)
			}
		}
		PTONodes(opt, func(PTONode) {})
	})
}

// FuzzPTOInsert inserts a trace (and optionally DEX) into arbitrary frames
// with both editors: no panic; on success the result parses and carries the
// trace with the requested header.
func FuzzPTOInsert(f *testing.F) {
	f.Add(mustHex(f, ethHdr+vecPlain), uint32(0x800000), uint8(3), false, false)
	f.Add(mustHex(f, ethHdr+vecPlain), uint32(0xFFF002), uint8(61), true, true)
	f.Add(mustHex(f, ethHdr+vecA), uint32(0xC00000), uint8(4), true, false)
	f.Fuzz(func(t *testing.T, frame []byte, tt uint32, rem uint8, encap, dex bool) {
		var p Packet
		if Parse(frame, &p) != nil {
			return
		}
		tt &= 0xFF1FFE &^ 0x000FFC
		if tt == 0 {
			tt = 0x800000
		}
		rem = rem%61 + 1
		ins := Insert{HasPTO: true, PTO: PTO{Namespace: 9, TraceType: tt, RemLen: rem},
			HasDEX: dex, DEX: DEX{Namespace: 9, TraceType: 0x800000, ExtFlags: 0xC0}}
		buf, off := frameIn(512, frame)
		var no, nn, pto int
		var err error
		if encap {
			no, nn, pto, err = PushIP6IP6IOAM(buf, off, len(frame), &p, &ins, [16]byte{1}, [16]byte{2})
		} else {
			no, nn, pto, err = InsertIOAMInline(buf, off, len(frame), &p, &ins)
		}
		if err != nil {
			return
		}
		FillPTO(buf[no+pto:no+nn], &NodeData{HopLimit: 9})
		var q Packet
		if err := Parse(buf[no:no+nn], &q); err != nil {
			t.Fatalf("result does not parse: %v\n%x", q.Detail(err), buf[no:no+nn])
		}
		if !q.HasPTO || q.PTO.TraceType != tt || q.PTO.Namespace != 9 || q.HasDEX != dex {
			t.Fatalf("result: %+v", q.PTO)
		}
	})
}
