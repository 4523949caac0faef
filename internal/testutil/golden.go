package testutil

import (
	"bytes"
	"flag"
	"os"
	"path/filepath"
	"testing"
	"unicode/utf8"
)

// update is the -update flag of every test binary that imports testutil:
// Golden rewrites golden files instead of comparing with them.
var update = flag.Bool("update", false, "rewrite the golden files (testutil.Golden) instead of comparing with them")

// Golden compares got with the golden file at path and fails t if they
// differ; with the -update test flag it writes got to path instead,
// creating its directory. regen says how to rewrite the file ("go test
// ./pkg -run TestX -update"), for the failure message; a text file's
// failure shows both versions.
func Golden(t testing.TB, path string, got []byte, regen string) {
	t.Helper()
	golden(t, path, got, *update, regen)
}

// golden is Golden with the -update flag's value as update.
func golden(t testing.TB, path string, got []byte, update bool, regen string) {
	t.Helper()
	if update {
		if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(path, got, 0o644); err != nil {
			t.Fatal(err)
		}
		return
	}
	want, err := os.ReadFile(path)
	if err != nil {
		t.Fatalf("%v (%s writes it)", err, regen)
	}
	if bytes.Equal(got, want) {
		return
	}
	if utf8.Valid(got) && utf8.Valid(want) {
		t.Errorf("%s differs (rerun %s and review the diff):\n--- got\n%s--- want\n%s", path, regen, got, want)
		return
	}
	t.Errorf("%s differs (rerun %s and review the diff)", path, regen)
}
