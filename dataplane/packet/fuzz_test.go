package packet

import (
	"bytes"
	"encoding/binary"
	"encoding/hex"
	"slices"
	"testing"
)

// fuzzSeeds are Ethernet frames for the fuzzers' in-code seeds; the same
// frames (and more) are committed under testdata/fuzz/.
func fuzzSeeds() [][]byte {
	var out [][]byte
	for _, v := range []string{vecPlain, vecA, vecB, vecB2, vecB2NonCanonical, vecC, vecD, vecD0, vecE,
		vecDstOpts, vecHbHDstOpts, vecDstOptsKeep} {
		for _, l := range []string{ethHdr, ethVLANHdr, eth8021ad, ethQinQ} {
			b, _ := hex.DecodeString(l + v)
			out = append(out, b)
		}
	}
	return out
}

const fuzzHeadroom = 256

// normDEX is what Parse reports for a DEX built from d: fields absent from
// the wire read as zero and Trace-Type is 24 bits.
func normDEX(d DEX) DEX {
	d.TraceType &= 0xFFFFFF
	if !d.HasFlowID() {
		d.FlowID = 0
	}
	if !d.HasSeq() {
		d.Seq = 0
	}
	return d
}

// FuzzParse checks that Parse never panics and that what it reports is
// consistent: offsets inside the frame, IOAM options decodable again, and
// RemoveDEX on an accepted packet yields an accepted packet without IOAM.
func FuzzParse(f *testing.F) {
	for _, s := range fuzzSeeds() {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, frame []byte) {
		var p Packet
		_ = ParseIPv6(frame, 0, &p)
		err := Parse(frame, &p)
		if err != nil {
			if p.Detail(err) == nil {
				t.Fatal("Detail lost the error")
			}
			return
		}
		if p.End > len(frame) || p.L3+IPv6Len > p.End || p.HbH+p.HbHLen > p.End || p.L4 > p.End || p.Inner > p.End {
			t.Fatalf("offsets outside the packet: %+v (len %d)", p, len(frame))
		}
		for i := range p.NumIOAM {
			o := p.IOAM[i]
			if (o.Off-p.HbH)&3 != 0 || o.Off+2+int(o.DataLen) > p.HbH+p.HbHLen {
				t.Fatalf("IOAM option %+v outside or misaligned", o)
			}
		}
		if p.HasDEX {
			d, err := DecodeDEXOption(frame[p.IOAM[p.DEXOpt].Off:])
			if err != nil || d != p.DEX {
				t.Fatalf("DecodeDEXOption %+v %v, Parse %+v", d, err, p.DEX)
			}
		}
		if p.DstOptsDEX > 0 {
			// IOAM in Destination Options: removable, and what is left is
			// accepted, ends where it did, and no longer has IOAM in that
			// header (a later Destination Options header may have some).
			if p.DstOpts < p.L3+IPv6Len || p.DstOpts > p.End-8 {
				t.Fatalf("DstOpts %d outside the packet", p.DstOpts)
			}
			buf, off := frameIn(0, bytes.Clone(frame))
			no, nn, err := RemoveDstOptsDEX(buf, off, len(frame), &p)
			if err != nil {
				t.Fatalf("RemoveDstOptsDEX on an accepted packet: %v", err)
			}
			var q Packet
			if err := Parse(buf[no:no+nn], &q); err != nil {
				t.Fatalf("after RemoveDstOptsDEX: %v\nin  %x\nout %x", q.Detail(err), frame, buf[no:no+nn])
			}
			// Compacted in place (not removed whole): the header is still
			// at p.DstOpts and must hold no IOAM.
			hl := (int(frame[p.DstOpts+1]) + 1) << 3
			if q.DstOptsDEX != 0 && len(frame)-nn < hl && q.DstOpts == p.DstOpts {
				t.Fatalf("IOAM left in the Destination Options header\nin  %x\nout %x", frame, buf[no:no+nn])
			}
			if no+nn != off+len(frame) {
				t.Fatal("RemoveDstOptsDEX moved the payload end")
			}
		}
		if p.Inner != 0 {
			checkUpdate(t, "StripOuterUpdate", frame, p, StripOuter, StripOuterUpdate)
		}
		if p.NumIOAM == 0 {
			return
		}
		checkUpdate(t, "RemoveDEXUpdate", frame, p, RemoveDEX, RemoveDEXUpdate)
		buf, off := frameIn(0, bytes.Clone(frame))
		no, nn, err := RemoveDEX(buf, off, len(frame), &p)
		if err != nil {
			t.Fatalf("RemoveDEX on an accepted packet: %v", err)
		}
		var q Packet
		if err := Parse(buf[no:no+nn], &q); err != nil || q.NumIOAM != 0 {
			t.Fatalf("after RemoveDEX: %v, %d IOAM\nin  %x\nout %x", q.Detail(err), q.NumIOAM, frame, buf[no:no+nn])
		}
		if no+nn != off+len(frame) || !bytes.Equal(buf[p.End:], frame[p.End:]) {
			t.Fatal("RemoveDEX moved the payload end")
		}
	})
}

// checkUpdate fails t unless the editor update (RemoveDEXUpdate,
// StripOuterUpdate) edits frame, parsed into p, exactly as edit does, and,
// when it reports p up to date, leaves in p what Parse gives for the new
// frame.
func checkUpdate(t *testing.T, name string, frame []byte, p Packet,
	edit func(buf []byte, off, n int, p *Packet) (int, int, error),
	update func(buf []byte, off, n int, p *Packet) (int, int, bool, error)) {
	t.Helper()
	want, off := frameIn(8, bytes.Clone(frame))
	wo, wn, werr := edit(want, off, len(frame), &p)
	buf, _ := frameIn(8, bytes.Clone(frame))
	q := p
	no, nn, updated, err := update(buf, off, len(frame), &q)
	if err != werr || no != wo || nn != wn || !bytes.Equal(buf, want) {
		t.Fatalf("%s: (%d, %d, %v), the editor: (%d, %d, %v)\n got %x\nwant %x", name, no, nn, err, wo, wn, werr, buf, want)
	}
	switch {
	case err != nil && updated:
		t.Fatalf("%s: updated after %v", name, err)
	case !updated:
		return
	}
	var r Packet
	if err := Parse(buf[no:no+nn], &r); err != nil {
		t.Fatalf("%s: updated, but the frame does not parse: %v", name, r.Detail(err))
	}
	if q != r {
		t.Fatalf("%s: updated to\n%+v\nParse gives\n%+v\nframe %x", name, q, r, buf[no:no+nn])
	}
}

// fuzzDEXInput parses a fuzzed frame and returns the parse, the DEX of the
// fuzzed fields, and a copy of the frame behind fuzzHeadroom octets at
// buf[off:]; ok is false when the frame does not parse (nothing to edit).
func fuzzDEXInput(frame []byte, ns uint16, flags, ext uint8, trace, flow, seq uint32) (p Packet, d DEX, buf []byte, off int, ok bool) {
	if Parse(frame, &p) != nil {
		return p, d, nil, 0, false
	}
	d = DEX{Namespace: ns, Flags: flags, ExtFlags: ext, TraceType: trace, FlowID: flow, Seq: seq}
	buf, off = frameIn(fuzzHeadroom, frame)
	return p, d, buf, off, true
}

// unchangedOnError fails t unless an editor that refused a frame left the
// buffer holding it (got) as it was.
func unchangedOnError(t *testing.T, got, frame []byte) {
	t.Helper()
	if !bytes.Equal(got, frame) {
		t.Fatal("buffer modified on error")
	}
}

// dexEdit is one run of a DEX editor on a fuzzed frame (fuzzDEXEdit).
type dexEdit struct {
	frame  []byte // the fuzzed frame
	p      Packet // its parse
	d      DEX    // the fuzzed DEX
	buf    []byte // the frame was at buf[off:] and was edited in place
	off    int
	no, nn int // the edited frame is buf[no : no+nn]
}

// fuzzDEXEdit runs a fuzz target for a DEX editor (InsertDEXInline,
// MergeDEXIntoHbH): it seeds every fuzzSeeds frame with namespace 123, no
// flags, trace type bit 0 and ext, flow and seq, prepares each input with
// fuzzDEXInput (a frame that does not parse is skipped), runs edit, and
// requires the buffer unchanged where edit refused the frame with an error
// that refused accepts; any other error fails. A successful edit goes to
// check.
func fuzzDEXEdit(f *testing.F, ext uint8, flow, seq uint32, name string,
	edit func(buf []byte, off, n int, p *Packet, d *DEX) (int, int, error),
	refused func(err error, p *Packet) bool, check func(t *testing.T, e *dexEdit)) {
	for _, s := range fuzzSeeds() {
		f.Add(s, uint16(123), uint8(0), ext, uint32(0x800000), flow, seq)
	}
	f.Fuzz(func(t *testing.T, frame []byte, ns uint16, flags, ext uint8, trace, flow, seq uint32) {
		e := dexEdit{frame: frame}
		var ok bool
		e.p, e.d, e.buf, e.off, ok = fuzzDEXInput(frame, ns, flags, ext, trace, flow, seq)
		if !ok {
			return
		}
		var err error
		e.no, e.nn, err = edit(e.buf, e.off, len(frame), &e.p, &e.d)
		switch {
		case err != nil && refused(err, &e.p):
			unchangedOnError(t, e.buf[e.off:], frame)
			return
		case err != nil:
			t.Fatalf("%s: %v", name, err)
		}
		check(t, &e)
	})
}

// FuzzInsertRemove: InsertDEXInline then RemoveDEX restores the exact frame,
// and the inserted option parses back to d.
func FuzzInsertRemove(f *testing.F) {
	refused := func(err error, p *Packet) bool { return err == ErrHasHbH && p.HbH != 0 || err == ErrTooLong }
	fuzzDEXEdit(f, 0xC0, 0x12345678, 1, "InsertDEXInline", InsertDEXInline, refused, func(t *testing.T, e *dexEdit) {
		frame, p, d, buf, off, no, nn := e.frame, &e.p, e.d, e.buf, e.off, e.no, e.nn
		if nn-len(frame) != InlineOverhead(d.ExtFlags) || no+nn != off+len(frame) {
			t.Fatalf("grew by %d (want %d), end moved %d", nn-len(frame), InlineOverhead(d.ExtFlags), no+nn-off-len(frame))
		}
		var q Packet
		if err := Parse(buf[no:no+nn], &q); err != nil {
			t.Fatalf("inserted frame does not parse: %v\n%x", q.Detail(err), buf[no:no+nn])
		}
		if !q.HasDEX || q.DEX != normDEX(d) || q.IOAM[0].Off-q.HbH != 4 || q.NextHeader != p.NextHeader {
			t.Fatalf("parsed back %+v, want %+v", q.DEX, normDEX(d))
		}
		ro, rn, err := RemoveDEX(buf, no, nn, &q)
		if err != nil || ro != off || rn != len(frame) || !bytes.Equal(buf[ro:ro+rn], frame) {
			t.Fatalf("round trip: %v (%d,%d)\n got %x\nwant %x", err, ro, rn, buf[ro:ro+rn], frame)
		}
	})
}

// FuzzMergeRemove: MergeDEXIntoHbH then RemoveDEX keeps every other option
// at its offset and restores the exact frame when the original padding was
// canonical.
func FuzzMergeRemove(f *testing.F) {
	refused := func(err error, p *Packet) bool {
		return err == ErrNoHbH && p.HbH == 0 || err == ErrIOAMPresent && p.NumIOAM > 0 ||
			err == ErrTooLong || err == ErrTooManyOptions
	}
	fuzzDEXEdit(f, 0x80, 7, 8, "MergeDEXIntoHbH", MergeDEXIntoHbH, refused, func(t *testing.T, e *dexEdit) {
		frame, p, d, buf, off, no, nn := e.frame, &e.p, e.d, e.buf, e.off, e.no, e.nn
		var q Packet
		if err := Parse(buf[no:no+nn], &q); err != nil {
			t.Fatalf("merged frame does not parse: %v\n in %x\nout %x", q.Detail(err), frame, buf[no:no+nn])
		}
		if !q.HasDEX || q.DEX != normDEX(d) || q.NumIOAM != 1 || no+nn != off+len(frame) {
			t.Fatalf("parsed back %+v, want %+v", q.DEX, normDEX(d))
		}
		ro, rn, err := RemoveDEX(buf, no, nn, &q)
		h := p.HbH
		if len(options(frame[h:h+p.HbHLen])) == 0 {
			// Only padding was there: the whole header goes, as documented.
			want := bytes.Clone(frame[:h])
			want[p.L3+6] = frame[h]
			binary.BigEndian.PutUint16(want[p.L3+4:], uint16(p.PayloadLen-p.HbHLen))
			want = append(want, frame[h+p.HbHLen:]...)
			if err != nil || !bytes.Equal(buf[ro:ro+rn], want) {
				t.Fatalf("RemoveDEX: %v\n got %x\nwant %x", err, buf[ro:ro+rn], want)
			}
			return
		}
		if err != nil || ro != off || rn != len(frame) {
			t.Fatalf("RemoveDEX: %v (%d,%d)", err, ro, rn)
		}
		got := buf[ro : ro+rn]
		if !bytes.Equal(got[:h+2], frame[:h+2]) || !bytes.Equal(got[h+p.HbHLen:], frame[h+p.HbHLen:]) {
			t.Fatalf("headers or payload changed\n got %x\nwant %x", got, frame)
		}
		if !sameOptions(got[h:h+p.HbHLen], frame[h:h+p.HbHLen]) {
			t.Fatalf("options moved\n got %x\nwant %x", got, frame)
		}
		if canonicalPadding(frame[h:h+p.HbHLen]) && !bytes.Equal(got, frame) {
			t.Fatalf("canonical header not restored\n got %x\nwant %x", got, frame)
		}
	})
}

// FuzzPushStrip: PushIP6IP6 then StripOuter restores the exact frame, and
// the pushed packet parses as IPv6-in-IPv6 with d.
func FuzzPushStrip(f *testing.F) {
	for _, s := range fuzzSeeds() {
		f.Add(s, uint16(123), uint8(0), uint8(0xC0), uint32(0x800000), uint32(0x12345678), uint32(1), byte(0xfd))
	}
	f.Fuzz(func(t *testing.T, frame []byte, ns uint16, flags, ext uint8, trace, flow, seq uint32, a byte) {
		p, d, buf, off, ok := fuzzDEXInput(frame, ns, flags, ext, trace, flow, seq)
		if !ok {
			return
		}
		src := [16]byte{0: a, 15: 1}
		dst := [16]byte{0: a, 15: 2}
		no, nn, err := PushIP6IP6(buf, off, len(frame), &p, &d, src, dst)
		if err == ErrTooLong {
			return
		}
		if err != nil {
			t.Fatalf("PushIP6IP6: %v", err)
		}
		var q Packet
		if err := Parse(buf[no:no+nn], &q); err != nil {
			t.Fatalf("pushed frame does not parse: %v", q.Detail(err))
		}
		if q.Encap != EncapIP6IP6 || q.Inner != p.L3+EncapOverhead(ext) || q.DEX != normDEX(d) ||
			p.Inner == 0 && (q.L4Proto != p.L4Proto || q.SrcPort != p.SrcPort || q.DstPort != p.DstPort) {
			t.Fatalf("pushed layout %+v", q)
		}
		ro, rn, err := StripOuter(buf, no, nn, &q)
		if err != nil || ro != off || rn != len(frame) || !bytes.Equal(buf[ro:ro+rn], frame) {
			t.Fatalf("round trip: %v\n got %x\nwant %x", err, buf[ro:ro+rn], frame)
		}
	})
}

// FuzzEditorsGarbageLayout runs every editor with an arbitrary Packet over
// arbitrary bytes: no panic and no write outside buf, whatever p says.
func FuzzEditorsGarbageLayout(f *testing.F) {
	for _, s := range fuzzSeeds() {
		f.Add(s, 14, 54, 24, 0, 16)
	}
	f.Fuzz(func(t *testing.T, frame []byte, l3, hbh, hbhLen, inner, headroom int) {
		if headroom < 0 || headroom > 512 {
			return
		}
		p := Packet{L3: l3, HbH: hbh, HbHLen: hbhLen, Inner: inner}
		d := dexC
		buf, off := frameIn(headroom, frame)
		_, _, _ = InsertDEXInline(buf, off, len(frame), &p, &d)
		copy(buf[off:], frame)
		_, _, _ = MergeDEXIntoHbH(buf, off, len(frame), &p, &d)
		copy(buf[off:], frame)
		_, _, _ = PushIP6IP6(buf, off, len(frame), &p, &d, [16]byte{}, [16]byte{})
		copy(buf[off:], frame)
		_, _, _ = RemoveDEX(buf, off, len(frame), &p)
		copy(buf[off:], frame)
		_, _, _ = StripOuter(buf, off, len(frame), &p)
		_, _ = MergeOverhead(frame, &p, 0xC0)
		copy(buf[off:], frame)
		q := Packet{L3: l3, DstOpts: hbh, DstOptsDEX: 1}
		_, _, _ = RemoveDstOptsDEX(buf, off, len(frame), &q)
		// The updating editors trust more of p (the option count Parse
		// keeps): a Parse result with offsets from elsewhere.
		var r Packet
		_ = Parse(frame, &r)
		r.L3, r.HbH, r.HbHLen, r.Inner = l3, hbh, hbhLen, inner
		u := r
		copy(buf[off:], frame)
		_, _, _, _ = RemoveDEXUpdate(buf, off, len(frame), &u)
		u = r
		copy(buf[off:], frame)
		_, _, _, _ = StripOuterUpdate(buf, off, len(frame), &u)
	})
}

// sameOptions reports whether two Hop-by-Hop headers hold the same
// non-padding options at the same offsets.
func sameOptions(a, b []byte) bool { return slices.Equal(options(a), options(b)) }

// options lists "offset:bytes" of the non-padding options of header h.
func options(h []byte) []string {
	var out []string
	for o := 2; o < len(h); {
		if h[o] == OptPad1 {
			o++
			continue
		}
		l := int(h[o+1]) + 2
		if h[o] != OptPadN {
			out = append(out, hex.EncodeToString([]byte{byte(o)})+":"+hex.EncodeToString(h[o:o+l]))
		}
		o += l
	}
	return out
}

// canonicalPadding reports whether every run of padding in h is a single
// Pad1 (run of 1) or a single PadN (longer runs), as this package writes.
func canonicalPadding(h []byte) bool {
	isPad := func(o int) bool { return o < len(h) && (h[o] == OptPad1 || h[o] == OptPadN) }
	for o := 2; o < len(h); {
		l := 1
		if h[o] != OptPad1 {
			l = int(h[o+1]) + 2
		}
		if isPad(o) && isPad(o+l) {
			return false
		}
		o += l
	}
	return true
}
