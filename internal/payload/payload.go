// Package payload is dexplane's one self-checking test payload: the UDP
// payload that `dexplane probe`, the data plane's stream tests and the
// benchmark generator and sink send and verify.
//
// # Layout
//
// A payload is a 28-octet header followed by filler. All integers are
// big-endian:
//
//	offset 0   magic   uint16  0xDB5E
//	offset 2   check   uint16  chosen so that the ones-complement sum of
//	                           the 28 header octets, as 16-bit words, is 0xFFFF
//	offset 4   length  uint16  payload length in octets, header included
//	offset 6   zero    uint16  0; another value is another format (ErrMagic)
//	offset 8   stream  uint32  stream (flow) index chosen by the sender
//	offset 12  seq     uint32  per-stream sequence number, from 0
//	offset 16  run     uint32  sender instance id (0: none); a receiver may
//	                           treat payloads of another run as foreign
//	offset 20  time    uint64  sender's CLOCK_REALTIME in nanoseconds since
//	                           the Unix epoch when it wrote the header
//	                           (0: not stamped)
//	offset 28  filler  octet i of the payload (i ≥ 28) is Pattern(i)
//
// A receiver knows every octet but the header's stream, seq, run, time and
// check, so Verify detects corruption anywhere: the header by its check, the
// filler by comparing it with the pattern, truncation or padding by the
// length. The ones-complement check cannot see two header words swapped; a
// datagram's UDP checksum, which the receiving kernel verifies, can.
//
// The check field keeps the header's ones-complement sum constant, so a
// datagram's UDP checksum does not depend on the header's fields: a sender
// can build one frame per stream, checksum it once, and per packet only
// rewrite the header (Stamp) — that is how the benchmark generator reaches
// line rate. The filler does not depend on the sequence number for the same
// reason; two payloads of one length and stream differ only in the header.
package payload

import (
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"
)

// HeaderLen is the length of the payload header in octets, and the smallest
// payload.
const HeaderLen = 28

// Magic is the first two octets of every payload, big-endian.
const Magic = 0xDB5E

// MaxLen is the longest payload: the largest UDP payload.
const MaxLen = 65535 - 8

// Header is the decoded payload header.
type Header struct {
	Stream uint32 // stream (flow) index
	Seq    uint32 // per-stream sequence number
	Run    uint32 // sender instance id, 0 for none
	Time   uint64 // sender CLOCK_REALTIME, ns since the Unix epoch; 0: not stamped
}

// Pattern returns the filler octet at payload offset i (i ≥ HeaderLen).
func Pattern(i int) byte { return byte(i*7 + 0x5A) }

// pattern[i] = Pattern(i) for every payload offset: Verify compares the
// filler with one memory compare.
var pattern = func() []byte {
	p := make([]byte, MaxLen)
	for i := range p {
		p[i] = Pattern(i)
	}
	return p
}()

// Put writes a whole payload of len(b) octets into b: the header h and the
// filler. len(b) must be in HeaderLen..MaxLen.
func Put(b []byte, h Header) {
	copy(b[HeaderLen:], pattern[HeaderLen:len(b)])
	PutHeader(b, h, len(b))
}

// PutHeader writes the header h of a payload of length octets, with its
// check, into b[:HeaderLen] and leaves the filler alone.
func PutHeader(b []byte, h Header, length int) {
	b = b[:HeaderLen]
	binary.BigEndian.PutUint16(b[0:], Magic)
	binary.BigEndian.PutUint16(b[4:], uint16(length))
	binary.BigEndian.PutUint16(b[6:], 0)
	binary.BigEndian.PutUint32(b[8:], h.Stream)
	binary.BigEndian.PutUint32(b[12:], h.Seq)
	binary.BigEndian.PutUint32(b[16:], h.Run)
	binary.BigEndian.PutUint64(b[20:], h.Time)
	fixCheck(b)
}

// Stamp rewrites the sequence number and time of the header at b[:HeaderLen]
// and its check, leaving stream and run as they are: the per-packet update
// of a prebuilt frame. The header's ones-complement sum stays 0xFFFF, so an
// enclosing UDP checksum stays valid. It does not allocate.
func Stamp(b []byte, seq uint32, time uint64) {
	b = b[:HeaderLen]
	binary.BigEndian.PutUint32(b[12:], seq)
	binary.BigEndian.PutUint64(b[20:], time)
	fixCheck(b)
}

// fixCheck sets the check field of header b so that its words sum to 0xFFFF.
func fixCheck(b []byte) {
	b[2], b[3] = 0, 0
	binary.BigEndian.PutUint16(b[2:], ^onesSum(b))
}

// onesSum returns the folded ones-complement sum of the 14 big-endian words
// of a header.
func onesSum(b []byte) uint16 {
	b = b[:HeaderLen]
	var acc uint32
	for i := 0; i < HeaderLen; i += 2 {
		acc += uint32(b[i])<<8 | uint32(b[i+1])
	}
	for acc > 0xFFFF {
		acc = acc&0xFFFF + acc>>16
	}
	return uint16(acc)
}

// Sentinel errors of Parse (and Verify, which wraps them); callers branch on
// them with errors.Is.
var (
	// ErrShort means fewer than HeaderLen octets.
	ErrShort = errors.New("payload: shorter than the header")
	// ErrMagic means the payload does not start with Magic or its zero
	// field is not 0: not a dexplane test payload (other traffic).
	ErrMagic = errors.New("payload: bad magic")
	// ErrCheck means the header's ones-complement check does not hold: a
	// corrupted header.
	ErrCheck = errors.New("payload: header check failed")
	// ErrLength means the header's length is not the payload's: a
	// truncated or padded payload.
	ErrLength = errors.New("payload: length differs from the header's")
)

// Parse decodes and checks the header of payload b (magic, check, length);
// it does not look at the filler (see Verify). It returns ErrShort,
// ErrMagic, ErrCheck or ErrLength themselves, unwrapped, so that a receive
// hot path that counts them allocates nothing; Verify says more.
func Parse(b []byte) (Header, error) {
	if len(b) < HeaderLen {
		return Header{}, ErrShort
	}
	if binary.BigEndian.Uint16(b) != Magic || b[6]|b[7] != 0 {
		return Header{}, ErrMagic
	}
	if onesSum(b) != 0xFFFF {
		return Header{}, ErrCheck
	}
	h := Header{
		Stream: binary.BigEndian.Uint32(b[8:]),
		Seq:    binary.BigEndian.Uint32(b[12:]),
		Run:    binary.BigEndian.Uint32(b[16:]),
		Time:   binary.BigEndian.Uint64(b[20:]),
	}
	if int(binary.BigEndian.Uint16(b[4:])) != len(b) || len(b) > MaxLen {
		return h, ErrLength
	}
	return h, nil
}

// Valid reports whether payload b is intact, header and filler, without
// saying why not: the receive hot path's check, which never allocates.
func Valid(b []byte) bool {
	_, err := Parse(b)
	return err == nil && FillerOK(b)
}

// FillerOK reports whether the filler of payload b (octets HeaderLen to
// len(b)) is the pattern. len(b) ≤ HeaderLen is trivially true.
func FillerOK(b []byte) bool {
	if len(b) <= HeaderLen {
		return true
	}
	if len(b) > MaxLen {
		return false
	}
	return bytes.Equal(b[HeaderLen:], pattern[HeaderLen:len(b)])
}

// ErrPattern is returned by Verify when the filler differs from the
// pattern: a corrupted body.
var ErrPattern = errors.New("payload: filler differs from the pattern")

// Verify checks the whole payload b, header and filler, and returns its
// header. Errors wrap those of Parse or ErrPattern with the offending
// values.
func Verify(b []byte) (Header, error) {
	h, err := Parse(b)
	switch {
	case err == ErrShort:
		return h, fmt.Errorf("%w: %d octets, want ≥ %d", err, len(b), HeaderLen)
	case err == ErrMagic:
		return h, fmt.Errorf("%w: %#04x, zero field %#04x", err, binary.BigEndian.Uint16(b), binary.BigEndian.Uint16(b[6:]))
	case err == ErrCheck:
		return h, fmt.Errorf("%w: header words sum to %#04x", err, onesSum(b))
	case err == ErrLength:
		return h, fmt.Errorf("%w: stream %d seq %d: %d octets, header says %d", err, h.Stream, h.Seq, len(b), binary.BigEndian.Uint16(b[4:]))
	}
	if !FillerOK(b) {
		i := HeaderLen
		for b[i] == pattern[i] {
			i++
		}
		return h, fmt.Errorf("%w: stream %d seq %d: octet %d is %#02x, want %#02x", ErrPattern, h.Stream, h.Seq, i, b[i], pattern[i])
	}
	return h, nil
}
