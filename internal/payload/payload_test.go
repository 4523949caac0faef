package payload

import (
	"bytes"
	"encoding/binary"
	"errors"
	"testing"

	"github.com/dexplane/dexplane/internal/testutil"
)

// golden is a 32-octet payload: stream 7, seq 0x01020304, run 0xCAFEF00D,
// time 1 800 000 000 123 456 789 ns. Checked by hand (python) against the
// layout in the package comment.
//
//	db5e              magic
//	01d1              check: the 14 header words sum to 0xffff
//	0020              length 32
//	0000              reserved
//	00000007          stream
//	01020304          seq
//	cafef00d          run
//	18fae2769b0fcd15  time
//	1e252c33          filler: Pattern(28..31) = byte(i*7 + 0x5a)
const golden = "db5e01d1" + "00200000" + "00000007" + "01020304" + "cafef00d" + "18fae2769b0fcd15" + "1e252c33"

var goldenHeader = Header{Stream: 7, Seq: 0x01020304, Run: 0xCAFEF00D, Time: 1_800_000_000_123_456_789}

func TestPutGolden(t *testing.T) {
	want := testutil.MustHex(t, golden)
	got := make([]byte, len(want))
	Put(got, goldenHeader)
	if !bytes.Equal(got, want) {
		t.Fatalf("Put:\n got %x\nwant %x", got, want)
	}
	h, err := Verify(want)
	if err != nil || h != goldenHeader {
		t.Fatalf("Verify(golden) = %+v, %v; want %+v", h, err, goldenHeader)
	}
}

func TestStampKeepsSumAndFields(t *testing.T) {
	b := testutil.MustHex(t, golden)
	for _, seq := range []uint32{0, 1, 0xFFFF, 0xFFFFFFFF} {
		Stamp(b, seq, uint64(seq)*1000)
		h, err := Verify(b)
		if err != nil {
			t.Fatalf("seq %d: %v", seq, err)
		}
		want := Header{Stream: 7, Seq: seq, Run: 0xCAFEF00D, Time: uint64(seq) * 1000}
		if h != want {
			t.Fatalf("seq %d: got %+v, want %+v", seq, h, want)
		}
	}
}

func TestVerifyRejects(t *testing.T) {
	good := testutil.MustHex(t, golden)
	flip := func(i int) []byte {
		b := bytes.Clone(good)
		b[i] ^= 0x10
		return b
	}
	swapWords := bytes.Clone(good) // stream and seq swapped: sum unchanged
	copy(swapWords[8:12], good[12:16])
	copy(swapWords[12:16], good[8:12])
	for _, tc := range []struct {
		name string
		b    []byte
		want error
	}{
		{"empty", nil, ErrShort},
		{"27 octets", good[:27], ErrShort},
		{"magic", flip(0), ErrMagic},
		{"check", flip(3), ErrCheck},
		{"zero field", flip(7), ErrMagic},
		{"length field", flip(5), ErrCheck},
		{"stream", flip(9), ErrCheck},
		{"seq", flip(15), ErrCheck},
		{"time", flip(24), ErrCheck},
		{"filler first", flip(28), ErrPattern},
		{"filler last", flip(31), ErrPattern},
		{"truncated", good[:30], ErrLength},
		{"padded", append(bytes.Clone(good), Pattern(32)), ErrLength},
		{"longer than MaxLen", longest(t), ErrLength},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := Verify(tc.b)
			if !errors.Is(err, tc.want) {
				t.Fatalf("Verify = %v, want %v", err, tc.want)
			}
			if Valid(tc.b) {
				t.Fatal("Valid = true for a bad payload")
			}
		})
	}
	// The ones-complement check cannot see reordered words; the limit is
	// documented, and this pins it so a stronger check is a visible change.
	if h, err := Verify(swapWords); err != nil || h.Stream != 0x01020304 || h.Seq != 7 {
		t.Fatalf("swapped words: %+v, %v", h, err)
	}
}

// longest returns a payload of MaxLen+1 octets whose length field, read
// modulo 2^16, matches.
func longest(t *testing.T) []byte {
	b := make([]byte, MaxLen+1)
	Put(b[:MaxLen], Header{})
	binary.BigEndian.PutUint16(b[4:], uint16(len(b)))
	fixCheck(b)
	return b
}

func TestHeaderOnlyPayload(t *testing.T) {
	b := make([]byte, HeaderLen)
	Put(b, Header{Stream: 1})
	if h, err := Verify(b); err != nil || h.Stream != 1 {
		t.Fatalf("Verify = %+v, %v", h, err)
	}
}

func TestNoAllocs(t *testing.T) {
	b := make([]byte, 1452)
	Put(b, goldenHeader)
	if n := testing.AllocsPerRun(100, func() {
		Stamp(b, 5, 6)
		if !Valid(b) {
			t.Fatal("invalid")
		}
		if _, err := Parse(b); err != nil {
			t.Fatal(err)
		}
	}); n != 0 {
		t.Fatalf("%v allocations per Stamp+Valid+Parse", n)
	}
}

// FuzzVerify feeds arbitrary octets to the parser: it must not panic, Valid
// must agree with Verify, and whatever verifies must re-encode to the same
// octets.
func FuzzVerify(f *testing.F) {
	f.Add(testutil.MustHex(f, golden))
	f.Add(testutil.MustHex(f, golden)[:HeaderLen])
	f.Add([]byte{0xDB, 0x5E})
	f.Fuzz(func(t *testing.T, b []byte) {
		h, err := Verify(b)
		if (err == nil) != Valid(b) {
			t.Fatalf("Verify err %v but Valid %v", err, Valid(b))
		}
		if err != nil {
			return
		}
		again := make([]byte, len(b))
		Put(again, h)
		if !bytes.Equal(again, b) {
			t.Fatalf("re-encoded\n %x\nfrom\n %x", again, b)
		}
	})
}

func BenchmarkStamp(b *testing.B) {
	p := make([]byte, 1452)
	Put(p, goldenHeader)
	b.ReportAllocs()
	for i := 0; b.Loop(); i++ {
		Stamp(p, uint32(i), uint64(i))
	}
}

func BenchmarkPut1452(b *testing.B) {
	p := make([]byte, 1452)
	b.ReportAllocs()
	b.SetBytes(int64(len(p)))
	for i := 0; b.Loop(); i++ {
		Put(p, Header{Stream: 1, Seq: uint32(i)})
	}
}

func BenchmarkValid1452(b *testing.B) {
	p := make([]byte, 1452)
	Put(p, goldenHeader)
	b.ReportAllocs()
	b.SetBytes(int64(len(p)))
	for b.Loop() {
		if !Valid(p) {
			b.Fatal("invalid")
		}
	}
}
