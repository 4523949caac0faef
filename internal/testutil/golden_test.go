package testutil

import (
	"os"
	"path/filepath"
	"testing"
)

// recorder is a testing.TB that records failures instead of stopping.
type recorder struct {
	testing.TB
	failed bool
}

func (r *recorder) Errorf(string, ...any) { r.failed = true }
func (r *recorder) Fatalf(string, ...any) { r.failed = true }
func (r *recorder) Helper()               {}

func TestGolden(t *testing.T) {
	path := filepath.Join(t.TempDir(), "sub", "x.golden")
	r := &recorder{TB: t}
	golden(r, path, []byte("one\n"), true, "update")
	if b, err := os.ReadFile(path); r.failed || err != nil || string(b) != "one\n" {
		t.Fatalf("update wrote %q, %v (failed %v)", b, err, r.failed)
	}
	golden(r, path, []byte("one\n"), false, "update")
	if r.failed {
		t.Error("equal contents reported as different")
	}
	golden(r, path, []byte("two\n"), false, "update")
	if !r.failed {
		t.Error("different contents passed")
	}
}
