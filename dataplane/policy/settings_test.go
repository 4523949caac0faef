package policy

import (
	"errors"
	"fmt"
	"testing"
)

// TestKeywords: each setting's constants print as their configuration
// keyword (the keyword tables are indexed by value, so a table out of
// step with its constants shows here), and a value without one as
// "Type(n)".
func TestKeywords(t *testing.T) {
	for _, tc := range []struct {
		v    fmt.Stringer
		want string
	}{
		{Inside, "inside"}, {Outside, "outside"}, {Domain(2), "Domain(2)"},
		{ForeignDrop, "drop"}, {ForeignStrip, "strip"}, {ForeignForward, "forward"}, {ForeignIOAM(3), "ForeignIOAM(3)"},
		{ChecksumAuto, "auto"}, {ChecksumOn, "on"}, {ChecksumOff, "off"}, {ChecksumMode(3), "ChecksumMode(3)"},
		{Mode(0), "Mode(0)"}, {ModeInline, "inline"}, {ModeEncap, "encap"}, {ModeAuto, "auto"}, {Mode(4), "Mode(4)"},
		{FlowIDHash, "hash"}, {FlowIDMethod(1), "FlowIDMethod(1)"},
		{TransportUDP, "udp"}, {TransportTCP, "tcp"}, {TransportTLS, "tls"}, {Transport(3), "Transport(3)"},
		{OutputText, "text"}, {OutputJSON, "json"}, {OutputFormat(2), "OutputFormat(2)"},
		{PartitionNone, "none"}, {PartitionFlow, "flow"}, {Partition(255), "Partition(255)"},
		{AttachAuto, "auto"}, {AttachNative, "native"}, {AttachGeneric, "generic"}, {AttachMode(9), "AttachMode(9)"},
		{SteerAll, "all"}, {SteerSampled, "sampled"}, {Steer(9), "Steer(9)"},
	} {
		if got := tc.v.String(); got != tc.want {
			t.Errorf("%T %d: String() = %q, want %q", tc.v, tc.v, got, tc.want)
		}
	}
}

// TestParseKeywords: every AttachMode and Steer keyword parses to the value
// that prints as it, and an unknown keyword is ErrKeyword naming the
// offending value and the valid ones.
func TestParseKeywords(t *testing.T) {
	for _, w := range AttachModes.Words() {
		if got, err := ParseAttachMode(w); err != nil || got.String() != w {
			t.Errorf("ParseAttachMode(%q) = %v, %v", w, got, err)
		}
	}
	for _, w := range Steers.Words() {
		if got, err := ParseSteer(w); err != nil || got.String() != w {
			t.Errorf("ParseSteer(%q) = %v, %v", w, got, err)
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
}
