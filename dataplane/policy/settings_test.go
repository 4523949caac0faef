package policy

import (
	"errors"
	"testing"
)

// TestParseKeywords: every AttachMode and Steer parses back from its
// String, and an unknown keyword is ErrKeyword naming the offending value
// and the valid ones.
func TestParseKeywords(t *testing.T) {
	for _, m := range AttachModes() {
		if got, err := ParseAttachMode(m.String()); err != nil || got != m {
			t.Errorf("ParseAttachMode(%q) = %v, %v; want %v", m, got, err, m)
		}
	}
	for _, s := range Steers() {
		if got, err := ParseSteer(s.String()); err != nil || got != s {
			t.Errorf("ParseSteer(%q) = %v, %v; want %v", s, got, err, s)
		}
	}
	for _, tc := range []struct {
		name string
		err  error
		want string
	}{
		{"attach", func() error { _, err := ParseAttachMode("hw"); return err }(), `attach mode "hw": unknown keyword: want one of auto, native, generic`},
		{"attach case", func() error { _, err := ParseAttachMode("Native"); return err }(), `attach mode "Native": unknown keyword: want one of auto, native, generic`},
		{"steer", func() error { _, err := ParseSteer(""); return err }(), `steer "": unknown keyword: want one of all, sampled`},
	} {
		if !errors.Is(tc.err, ErrKeyword) || tc.err.Error() != tc.want {
			t.Errorf("%s: %v, want %s (wrapping ErrKeyword)", tc.name, tc.err, tc.want)
		}
	}
	if AttachMode(9).String() != "AttachMode(9)" || Steer(9).String() != "Steer(9)" {
		t.Errorf("out-of-range names: %s %s", AttachMode(9), Steer(9))
	}
}
