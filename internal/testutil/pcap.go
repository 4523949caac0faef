package testutil

import (
	"bytes"
	"testing"
	"time"

	"github.com/gopacket/gopacket"
	"github.com/gopacket/gopacket/layers"
	"github.com/gopacket/gopacket/pcapgo"
)

// Capture says how WriteCapture lays out a capture file.
type Capture struct {
	// LinkType is the link type of every frame (LINKTYPE_*).
	LinkType layers.LinkType
	// NG writes pcapng instead of pcap.
	NG bool
	// Truncate maps a frame's index to its capture length: the file holds
	// only that many octets of the frame (its original length stays).
	Truncate map[int]int
}

// WriteCapture writes frames to the capture file path as c says and
// returns path; it fails t if it cannot. Frame i is stamped 1700000000 s
// plus i milliseconds (UTC), so files are the same on every run.
func WriteCapture(t testing.TB, path string, c Capture, frames [][]byte) string {
	t.Helper()
	var buf bytes.Buffer
	var write func(gopacket.CaptureInfo, []byte) error
	flush := func() error { return nil }
	if c.NG {
		w, err := pcapgo.NewNgWriter(&buf, c.LinkType)
		if err != nil {
			t.Fatal(err)
		}
		write, flush = w.WritePacket, w.Flush
	} else {
		w := pcapgo.NewWriter(&buf)
		if err := w.WriteFileHeader(65535, c.LinkType); err != nil {
			t.Fatal(err)
		}
		write = w.WritePacket
	}
	ts := time.Unix(1700000000, 0)
	for i, f := range frames {
		ci := gopacket.CaptureInfo{Timestamp: ts.Add(time.Duration(i) * time.Millisecond), CaptureLength: len(f), Length: len(f)}
		if n, ok := c.Truncate[i]; ok {
			ci.CaptureLength, f = n, f[:n]
		}
		if err := write(ci, f); err != nil {
			t.Fatal(err)
		}
	}
	if err := flush(); err != nil {
		t.Fatal(err)
	}
	return WriteFile(t, path, buf.Bytes())
}
