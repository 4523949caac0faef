package exporter

import (
	"bytes"
	"encoding/binary"
	"encoding/hex"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/vmware/go-ipfix/pkg/entities"

	"github.com/dexplane/dexplane/dataplane/telemetry"
	"github.com/dexplane/dexplane/internal/testutil"
)

// goldenF is spec §7 (f): one DEX event (ns 123, Hop_Lim 63, node_id 1,
// Flow ID 0x12345678, Seq 1) in the ULiège template, big-endian, 82 octets.
var goldenF = strings.Join([]string{
	// Message header
	"000a",     // Version 10
	"0052",     // Length 82
	"6553f100", // Export Time 1700000000
	"00000000", // Sequence Number 0
	"00000001", // Observation Domain ID 1
	// Template Set
	"0002 0030",          // Set ID 2, length 48
	"0125 0005",          // Template ID 293, 5 fields
	"8000 0002 0000288f", // E|0 ioamNamespaceId, 2 octets, PEN 10383
	"8001 0001 0000288f", // E|1 ioamHopLim, 1 octet
	"8002 0003 0000288f", // E|2 ioamNodeId, 3 octets
	"800f 0004 0000288f", // E|15 ioamDexFlowId, 4 octets
	"8010 0004 0000288f", // E|16 ioamDexSequenceNumber, 4 octets
	// Data Set
	"0125 0012", // Set ID 293, length 18
	"007b",      // namespace 123
	"3f",        // Hop_Lim 63
	"000001",    // node_id 1, big-endian
	"12345678",  // Flow ID
	"00000001",  // Sequence Number 1
}, "")

var mustHex = testutil.MustHex

func fixedClock(sec int64) func() time.Time {
	return func() time.Time { return time.Unix(sec, 0) }
}

// sink collects emitted messages.
type sink struct {
	msgs    [][]byte
	records []int
	refuse  bool
}

func (s *sink) emit(msg []byte, n int) bool {
	if s.refuse {
		return false
	}
	s.msgs = append(s.msgs, bytes.Clone(msg))
	s.records = append(s.records, n)
	return true
}

func recordF() telemetry.Record {
	return telemetry.Record{
		Namespace: 123, TraceType: telemetry.TraceHopLimNodeID, ExtFlags: telemetry.ExtFlowID | telemetry.ExtSeq,
		HopLimit: 63, NodeID: 1, HasFlowID: true, FlowID: 0x12345678, HasSeq: true, Seq: 1,
	}
}

func TestGoldenSpec7f(t *testing.T) {
	want := mustHex(t, goldenF)
	if len(want) != 82 {
		t.Fatalf("golden is %d octets", len(want))
	}
	var s sink
	enc, err := NewEncoder(EncoderConfig{ObservationDomain: 1, TemplateIDBase: 293, Fields: FieldsLiege,
		Now: fixedClock(1700000000), Emit: s.emit})
	if err != nil {
		t.Fatal(err)
	}
	r := recordF()
	if err := enc.Encode(&r); err != nil {
		t.Fatal(err)
	}
	enc.Flush()
	if len(s.msgs) != 1 {
		t.Fatalf("%d messages, want 1", len(s.msgs))
	}
	if !bytes.Equal(s.msgs[0], want) {
		t.Fatalf("message differs from spec §7 (f)\n got %x\nwant %x", s.msgs[0], want)
	}
	if enc.SequenceNumber() != 1 {
		t.Fatalf("sequence number after one record = %d, want 1", enc.SequenceNumber())
	}
}

// TestTemplateMatchesGoIPFIX encodes the same template with go-ipfix's
// entities and message writer and compares the octets with ours.
func TestTemplateMatchesGoIPFIX(t *testing.T) {
	for _, fs := range []FieldSet{FieldsLiege, FieldsStandard, FieldsStandard | FieldsRaw} {
		r := recordF()
		r.TraceType = 0xFFF002 &^ telemetry.TraceChecksumCompl
		r.RawLen = 40
		mask := fieldMask(&r, fs)
		ours := newTemplate(300, mask)
		var ies []*entities.InfoElement
		for i := range numFields {
			if mask&(1<<i) != 0 {
				ie := Fields[i].InfoElement
				if ie.DataType == entities.DateTimeNanoseconds {
					// go-ipfix v0.17.0 cannot build values of this type; the
					// data type is not on the wire, so use one it can.
					ie.DataType = entities.Unsigned64
				}
				ies = append(ies, &ie)
			}
		}
		set, err := entities.MakeTemplateSet(300, ies)
		if err != nil {
			t.Fatal(err)
		}
		set.UpdateLenInHeader()
		if h := set.GetHeaderBuffer(); binary.BigEndian.Uint16(h) != templateSetID ||
			int(binary.BigEndian.Uint16(h[2:])) != setHeaderLen+len(ours.record) {
			t.Errorf("fields %d: go-ipfix set header %x, our template record is %d octets", fs, h, len(ours.record))
		}
		got, err := set.GetRecords()[0].GetBuffer()
		if err != nil {
			t.Fatal(err)
		}
		if !bytes.Equal(got, ours.record) {
			t.Errorf("fields %d: template record differs from go-ipfix\n ours %x\n go-ipfix %x", fs, ours.record, got)
		}
	}
}

func TestEncoderBatchesAndSequence(t *testing.T) {
	var s sink
	enc, err := NewEncoder(EncoderConfig{ObservationDomain: 7, Fields: FieldsStandard, Now: fixedClock(1700000000), Emit: s.emit})
	if err != nil {
		t.Fatal(err)
	}
	r := recordF()
	const n = 100
	for i := range n {
		r.Seq = uint32(i)
		if i%10 == 5 { // a second field set interleaved: its own template and set
			r.TraceType = telemetry.TraceHopLimNodeID | telemetry.TraceTimestampSec | telemetry.TraceTimestampFrac
		} else {
			r.TraceType = telemetry.TraceHopLimNodeID
		}
		if err := enc.Encode(&r); err != nil {
			t.Fatal(err)
		}
	}
	enc.Flush()
	if enc.Templates() != 2 {
		t.Fatalf("templates = %d, want 2", enc.Templates())
	}
	total := 0
	for i, m := range s.msgs {
		if len(m) > DefaultMessageSize {
			t.Errorf("message %d is %d octets > %d", i, len(m), DefaultMessageSize)
		}
		if got := binary.BigEndian.Uint16(m[2:]); int(got) != len(m) {
			t.Errorf("message %d length field %d != %d", i, got, len(m))
		}
		if got := binary.BigEndian.Uint32(m[8:]); got != uint32(total) {
			t.Errorf("message %d sequence %d, want %d", i, got, total)
		}
		if got := binary.BigEndian.Uint32(m[12:]); got != 7 {
			t.Errorf("domain %d", got)
		}
		// walk the sets: lengths must tile the message exactly
		off := msgHeaderLen
		for off < len(m) {
			l := int(binary.BigEndian.Uint16(m[off+2:]))
			if l < setHeaderLen || off+l > len(m) {
				t.Fatalf("message %d: bad set length %d at %d", i, l, off)
			}
			off += l
		}
		total += s.records[i]
	}
	if total != n {
		t.Fatalf("records emitted %d, want %d", total, n)
	}
	if len(s.msgs) < 2 {
		t.Fatalf("expected several messages, got %d", len(s.msgs))
	}
	// templates are only in the first message (no refresh configured)
	if bytes.Contains(s.msgs[len(s.msgs)-1][16:20], []byte{0, 2}) {
		t.Errorf("last message starts with a template set")
	}
}

func TestEncoderRefreshAndDrop(t *testing.T) {
	var s sink
	now := time.Unix(1700000000, 0)
	enc, _ := NewEncoder(EncoderConfig{Fields: FieldsLiege, TemplateRefresh: 10 * time.Second,
		Now: func() time.Time { return now }, Emit: s.emit})
	r := recordF()
	hasTemplate := func(m []byte) bool { return binary.BigEndian.Uint16(m[16:]) == templateSetID }

	enc.Encode(&r)
	enc.Flush()
	now = now.Add(5 * time.Second)
	enc.Encode(&r)
	enc.Flush()
	now = now.Add(6 * time.Second)
	enc.Encode(&r)
	enc.Flush()
	if len(s.msgs) != 3 || !hasTemplate(s.msgs[0]) || hasTemplate(s.msgs[1]) || !hasTemplate(s.msgs[2]) {
		t.Fatalf("template refresh pattern wrong: %d messages", len(s.msgs))
	}
	// A dropped message does not advance the sequence and re-announces templates.
	s.refuse = true
	seq := enc.SequenceNumber()
	enc.ResetSession()
	enc.Encode(&r)
	enc.Flush()
	if enc.SequenceNumber() != 0 || seq != 3 {
		t.Fatalf("seq after reset+drop = %d (before %d)", enc.SequenceNumber(), seq)
	}
	s.refuse = false
	enc.Encode(&r)
	enc.Flush()
	if last := s.msgs[len(s.msgs)-1]; !hasTemplate(last) || binary.BigEndian.Uint32(last[8:]) != 0 {
		t.Fatalf("message after a dropped one lacks the template or has seq %d", binary.BigEndian.Uint32(last[8:]))
	}
}

func TestEncoderTemplateLimit(t *testing.T) {
	var s sink
	enc, _ := NewEncoder(EncoderConfig{MaxTemplates: 2, Emit: s.emit})
	r := recordF()
	for i, tt := range []uint32{telemetry.TraceHopLimNodeID, telemetry.TraceIfIDs, telemetry.TraceQueueDepth} {
		r.TraceType = tt
		err := enc.Encode(&r)
		if (i < 2) != (err == nil) || i == 2 && !errors.Is(err, ErrTooManyTemplates) {
			t.Fatalf("record %d: err %v", i, err)
		}
	}
}

func TestVariableLengthAndReducedSize(t *testing.T) {
	var s sink
	enc, _ := NewEncoder(EncoderConfig{Fields: FieldsRaw, Now: fixedClock(1), Emit: s.emit})
	r := telemetry.Record{Namespace: 1, TraceType: telemetry.TraceHopLimNodeIDWide | telemetry.TraceOSS,
		HopLimit: 9, NodeIDWide: 0x00112233445566, SchemaID: 0xABCDEF, OSSLen: 8, RawLen: 3}
	copy(r.OSSData[:], "oss-data")
	copy(r.RawSection[:], "\x60\x00\x00")
	if err := enc.Encode(&r); err != nil {
		t.Fatal(err)
	}
	enc.Flush()
	m := s.msgs[0]
	want := mustHex(t, "0001"+"09"+"00112233445566"+"abcdef"+"08"+hex.EncodeToString([]byte("oss-data"))+"03600000"+"0003")
	if !bytes.HasSuffix(m, want) {
		t.Fatalf("data record\n got %x\nwant suffix %x", m, want)
	}
	var b [310]byte
	if n := putVar(b[:], make([]byte, 300)); n != 303 || b[0] != 0xFF || binary.BigEndian.Uint16(b[1:]) != 300 {
		t.Fatalf("long varlen prefix %x n=%d", b[:3], n)
	}
}

func TestPutNTP(t *testing.T) {
	var b [8]byte
	putNTP(b[:], 1700000000*1e9+500_000_000)
	if got := hex.EncodeToString(b[:]); got != "e8fe6f8080000000" {
		t.Fatalf("NTP encoding %s", got)
	}
}

func TestEncoderAllocs(t *testing.T) {
	enc, _ := NewEncoder(EncoderConfig{Fields: FieldsStandard, Emit: func([]byte, int) bool { return true }})
	r := recordF()
	enc.Encode(&r)
	if a := testing.AllocsPerRun(1000, func() {
		r.Seq++
		enc.Encode(&r)
	}); a != 0 {
		t.Fatalf("allocs per record = %v", a)
	}
}

// BenchmarkEncoder measures records/s through the IPFIX encoder on one core
// (standard + ULiège fields, trace type 0xF00000, flow id + seq).
func BenchmarkEncoder(b *testing.B) {
	octets := 0
	enc, _ := NewEncoder(EncoderConfig{Fields: FieldsStandard, TemplateRefresh: time.Minute,
		Emit: func(m []byte, _ int) bool { octets += len(m); return true }})
	r := recordF()
	r.TraceType = 0xF00000
	b.ReportAllocs()
	for i := 0; b.Loop(); i++ {
		r.Seq = uint32(i)
		enc.Encode(&r)
	}
	b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "records/s")
}

// TestPutFieldMatchesTable checks the encoder's switch against the field
// table's writers for every field, on a record with every field set.
func TestPutFieldMatchesTable(t *testing.T) {
	r := recordF()
	r.TraceType = 0xFFF002
	r.NodeIDWide, r.NamespaceDataWide = 0x00112233445566, 0x8899AABBCCDDEEFF
	r.QueueDepth, r.BufferOccupancy, r.SchemaID = 5, 6, 0x123456
	r.OSSLen = 8
	copy(r.OSSData[:], "abcdefgh")
	r.RawLen = 40
	for i := range r.RawSection[:40] {
		r.RawSection[i] = byte(i)
	}
	for i := range numFields {
		want, got := make([]byte, 300), make([]byte, 300)
		nw := Fields[i].put(want, &r)
		ng := putField(uint8(i), got, &r)
		if nw != ng || !bytes.Equal(want, got) {
			t.Errorf("field %d (%s): switch wrote %d octets %x, table %d octets %x", i, Fields[i].Name, ng, got[:ng], nw, want[:nw])
		}
	}
}

// TestEncodeDataMatchesTable checks the encoder's straight-line writer
// against the field table's writers in template order, for every single
// field, the standard group whole and in part, and random field sets.
func TestEncodeDataMatchesTable(t *testing.T) {
	r := recordF()
	r.NodeIDWide, r.NamespaceDataWide = 0x00112233445566, 0x8899AABBCCDDEEFF
	r.QueueDepth, r.SchemaID, r.OSSLen, r.RawLen = 5, 0x123456, 8, 40
	copy(r.OSSData[:], "abcdefgh")
	for i := range r.RawSection[:40] {
		r.RawSection[i] = byte(i)
	}
	masks := []uint32{1<<numFields - 1, standardMask | 1, 1<<fSrcAddr | 1<<fObservationTime}
	for i := range numFields {
		masks = append(masks, 1<<i)
	}
	rnd := uint32(12345)
	for range 2000 {
		rnd = rnd*1664525 + 1013904223
		masks = append(masks, rnd&(1<<numFields-1))
	}
	for _, m := range masks {
		want, got := make([]byte, 1024), make([]byte, 1024)
		nw := 0
		for i := range numFields {
			if m&(1<<i) != 0 {
				nw += Fields[i].put(want[nw:], &r)
			}
		}
		ng := encodeData(m, got, &r)
		if nw != ng || !bytes.Equal(want, got) {
			t.Fatalf("mask %#x: wrote %d octets %x, table %d octets %x", m, ng, got[:ng], nw, want[:nw])
		}
	}
}
