package testutil

import (
	"bytes"
	"os"
	"strings"
)

// Lines returns the non-empty complete lines (each ended by a newline) of
// the file at path, without their newlines; a missing file has none. A
// line another process is still writing is left out, so a test can poll a
// peer's output file while the peer writes it.
func Lines(path string) []string {
	b, _ := os.ReadFile(path)
	if i := bytes.LastIndexByte(b, '\n'); i >= 0 {
		b = b[:i+1]
	} else {
		b = nil
	}
	var out []string
	for _, l := range strings.Split(string(b), "\n") {
		if strings.TrimSpace(l) != "" {
			out = append(out, l)
		}
	}
	return out
}
