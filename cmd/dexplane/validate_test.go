package main

import (
	"bytes"
	"path/filepath"
	"strings"
	"testing"

	"github.com/dexplane/dexplane/internal/testutil"
)

// TestValidateGolden runs "dexplane validate" on example and broken files
// and compares exit code, stdout and stderr with testdata/validate/*.golden.
func TestValidateGolden(t *testing.T) {
	tests := []struct {
		name string
		args []string
		code int
	}{
		{"demo-r1", []string{"-c", "../../config/examples/demo-r1.yaml"}, 0},
		{"demo-r4", []string{"-c", "../../config/examples/demo-r4.yaml"}, 0},
		{"encap-edge", []string{"-c", "../../config/examples/encap-edge.yaml"}, 0},
		{"transit", []string{"-c", "../../config/examples/transit.yaml"}, 0},
		{"decap-edge", []string{"-c", "../../config/examples/decap-edge.yaml"}, 0},
		{"default", nil, 0},
		{"bad", []string{"-c", "testdata/validate/bad.yaml"}, 1},
		{"missing", []string{"-c", "testdata/validate/does-not-exist.yaml"}, 1},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			var stdout, stderr bytes.Buffer
			code := validate(tc.args, &stdout, &stderr)
			if code != tc.code {
				t.Errorf("exit code %d, want %d; stderr:\n%s", code, tc.code, stderr.String())
			}
			got := "exit " + string(rune('0'+code)) + "\n--- stdout\n" + stdout.String() + "--- stderr\n" + stderr.String()
			testutil.Golden(t, filepath.Join("testdata", "validate", tc.name+".golden"), []byte(got),
				"go test ./cmd/dexplane -run TestValidateGolden -update")
		})
	}
}

func TestValidateQuietAndUsage(t *testing.T) {
	var stdout, stderr bytes.Buffer
	if code := validate([]string{"-q", "-c", "../../config/examples/transit.yaml"}, &stdout, &stderr); code != 0 || stdout.Len() != 0 {
		t.Errorf("-q: exit %d, stdout %q", code, stdout.String())
	}
	stderr.Reset()
	if code := validate([]string{"extra"}, &stdout, &stderr); code != 2 || !strings.Contains(stderr.String(), "usage: dexplane validate") {
		t.Errorf("extra argument: exit %d, stderr %q", code, stderr.String())
	}
}
