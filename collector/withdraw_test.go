package collector

import (
	"bytes"
	"encoding/binary"
	"encoding/hex"
	"net/netip"
	"testing"

	"github.com/dexplane/dexplane/exporter"
	"github.com/dexplane/dexplane/internal/ipfixtest"
	"github.com/dexplane/dexplane/internal/testutil"
)

// unhex decodes hex with white space and '|' separators.
var unhex = testutil.MustHex

// splitTemplate returns the template set and the data set of a message the
// Encoder produced (header, one template set, one data set).
func splitTemplate(t *testing.T, m []byte) (hdr, tmpl, data []byte) {
	t.Helper()
	tl := int(binary.BigEndian.Uint16(m[18:]))
	if binary.BigEndian.Uint16(m[16:]) != 2 || 16+tl >= len(m) {
		t.Fatalf("message does not start with a template set followed by data: % x", m[:24])
	}
	return m[:16], m[16 : 16+tl], m[16+tl:]
}

// message builds an IPFIX message from a header and sets, fixing Length.
func message(hdr []byte, sets ...[]byte) []byte {
	m := bytes.Clone(hdr)
	for _, s := range sets {
		m = append(m, s...)
	}
	binary.BigEndian.PutUint16(m[2:], uint16(len(m)))
	return m
}

// TestDecodeTemplateWithdrawal: a message holding a template withdrawal
// (RFC 7011 §8.1) is accepted, the template is removed in message order
// (data before the withdrawal decodes, data after it does not), and the
// Template ID can be defined again. On main before this change the whole
// message was refused with ErrTemplate.
func TestDecodeTemplateWithdrawal(t *testing.T) {
	r := ipfixtest.Record(42)
	msgs := ipfixtest.Encode(t, 7, exporter.FieldsStandard, r)
	hdr, tmpl, data := splitTemplate(t, msgs[0])
	tid := binary.BigEndian.Uint16(tmpl[4:])
	src := netip.MustParseAddrPort("[2001:db8::9]:4739")

	// Withdrawal of template tid: Set ID 2, Length 8 | Template ID, Field Count 0.
	wd := unhex(t, "0002 0008 | "+hex.EncodeToString([]byte{byte(tid >> 8), byte(tid)})+" 0000")
	// Withdrawal of all templates of the domain: Set ID 2, Length 8 | Template ID 2, Field Count 0.
	wdAll := unhex(t, "0002 0008 | 0002 0000")
	// Options template withdrawal: Set ID 3, Length 8 | Template ID 0x0200, Field Count 0.
	wdOpts := unhex(t, "0003 0008 | 0200 0000")

	for _, tc := range []struct {
		name        string
		msgs        [][]byte
		wantEvents  int
		wantMissing uint64
	}{
		{"template, data, withdrawal, data", [][]byte{message(hdr, tmpl, data, wd, data)}, 1, 1},
		{"withdrawal alone, then data", [][]byte{msgs[0], message(hdr, wd), message(hdr, data)}, 1, 1},
		{"withdraw all, then data", [][]byte{msgs[0], message(hdr, wdAll), message(hdr, data)}, 1, 1},
		{"withdrawal, redefinition, data", [][]byte{msgs[0], message(hdr, wd, tmpl, data)}, 2, 0},
		{"options withdrawal leaves templates", [][]byte{msgs[0], message(hdr, wdOpts, data)}, 2, 0},
		{"withdrawal of an unknown template", [][]byte{message(hdr, wd), msgs[0]}, 1, 0},
	} {
		t.Run(tc.name, func(t *testing.T) {
			d := NewDecoder()
			events := 0
			for i, m := range tc.msgs {
				err := d.Decode(src, m, func(ev *Event) {
					events++
					if ev.Record.FlowID != r.FlowID || ev.Record.Seq != r.Seq || ev.Record.OSSLen != r.OSSLen || ev.Domain != 7 {
						t.Errorf("decoded %+v", ev)
					}
				})
				if err != nil {
					t.Fatalf("message %d: %v", i, err)
				}
			}
			if events != tc.wantEvents || d.MissingTemplate != tc.wantMissing {
				t.Errorf("%d events, %d without template; want %d, %d", events, d.MissingTemplate, tc.wantEvents, tc.wantMissing)
			}
			if d.Withdrawn == 0 {
				t.Error("Withdrawn not counted")
			}
		})
	}
}
