package node

import (
	"sync/atomic"
	"testing"

	"github.com/dexplane/dexplane/dataplane/policy"
)

// TestRawSectionMode checks when records carry the raw header section:
// always by default, never with RawNever, and with RawForJSON only while
// the snapshot has a JSON local output (following a reload).
func TestRawSectionMode(t *testing.T) {
	withJSON := func() policy.Spec {
		s := encapSpec(policy.ModeInline, 1, 1)()
		s.Export.Outputs = []policy.LocalOutput{{Format: policy.OutputText}, {Format: policy.OutputJSON, Path: "-"}}
		return s
	}
	for _, tc := range []struct {
		name string
		mode RawSectionMode
		spec func() policy.Spec
		want bool
	}{
		{"always", RawAlways, encapSpec(policy.ModeInline, 1, 1), true},
		{"never", RawNever, withJSON, false},
		{"json/none", RawForJSON, encapSpec(policy.ModeInline, 1, 1), false},
		{"json/json", RawForJSON, withJSON, true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			s, err := policy.New(tc.spec(), nil)
			if err != nil {
				t.Fatal(err)
			}
			var ptr atomic.Pointer[policy.Snapshot]
			ptr.Store(s)
			n, err := New(Config{Policy: &ptr, RingSize: 16, RawSection: tc.mode})
			if err != nil {
				t.Fatal(err)
			}
			n.Handle(newFrame(plain1500(t), 0))
			recs := records(n)
			if len(recs) != 1 {
				t.Fatalf("%d records", len(recs))
			}
			if got := recs[0].RawLen > 0; got != tc.want {
				t.Errorf("raw section %d octets, want present=%v", recs[0].RawLen, tc.want)
			}
			if tc.mode == RawForJSON {
				// A reload flips it.
				other := withJSON
				if tc.want {
					other = encapSpec(policy.ModeInline, 1, 1)
				}
				s2, err := policy.New(other(), s)
				if err != nil {
					t.Fatal(err)
				}
				ptr.Store(s2)
				n.Handle(newFrame(plain1500(t), 0))
				if r := records(n); len(r) != 1 || (r[0].RawLen > 0) == tc.want {
					t.Errorf("after reload: %d records, raw %d octets", len(r), r[0].RawLen)
				}
			}
		})
	}
}
