package dataplane

import (
	"encoding/binary"
	"testing"

	"github.com/dexplane/dexplane/dataplane/handle"
	"github.com/dexplane/dexplane/dataplane/node"
	"github.com/dexplane/dexplane/steering"
)

// TestPresampled: the XDP decision is read from the metadata in front of
// the frame; every steered reason other than ReasonSampled is a decision
// (not selected), and a frame without metadata is PresampleMissing, never
// PresampleNone (which would sample it a second time in Go).
func TestPresampled(t *testing.T) {
	frame := func(meta bool, r steering.Reason) *handle.Frame {
		buf := make([]byte, 256)
		if meta {
			m := buf[64-steering.MetaLen : 64]
			binary.NativeEndian.PutUint32(m, 7)
			binary.NativeEndian.PutUint16(m[4:], uint16(r))
			binary.NativeEndian.PutUint16(m[6:], 0xd7e5)
		}
		return &handle.Frame{Buf: buf, Off: 64, Len: 64}
	}
	for _, tc := range []struct {
		name string
		f    *handle.Frame
		want node.Presample
	}{
		{"sampled", frame(true, steering.ReasonSampled), node.PresampleSelected},
		{"hbh", frame(true, steering.ReasonHbH), node.PresampleNotSelected},
		{"ext hdr", frame(true, steering.ReasonExtHdr), node.PresampleNotSelected},
		{"order", frame(true, steering.ReasonOrder), node.PresampleNotSelected},
		{"no metadata", frame(false, 0), node.PresampleMissing},
		{"no headroom", &handle.Frame{Buf: make([]byte, 64), Off: 4, Len: 60}, node.PresampleMissing},
	} {
		if got := Presampled(tc.f); got != tc.want {
			t.Errorf("%s: %v, want %v", tc.name, got, tc.want)
		}
	}
}
