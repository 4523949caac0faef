package testutil

import (
	"encoding/hex"
	"strings"
	"testing"
)

// MustHex decodes a hex vector, ignoring spaces, newlines, tabs and '|'
// (so golden bytes can be laid out by field), and fails t on bad hex.
func MustHex(t testing.TB, s string) []byte {
	t.Helper()
	b, err := hex.DecodeString(strings.NewReplacer(" ", "", "\n", "", "\t", "", "|", "").Replace(s))
	if err != nil {
		t.Fatalf("bad hex %q: %v", s, err)
	}
	return b
}
