package testutil

import (
	"path/filepath"
	"slices"
	"testing"
)

func TestLines(t *testing.T) {
	dir := t.TempDir()
	if got := Lines(filepath.Join(dir, "missing")); got != nil {
		t.Errorf("missing file: %q", got)
	}
	p := TempFile(t, "out", []byte("one\n\n  \ntwo\nthre"))
	if got, want := Lines(p), []string{"one", "two"}; !slices.Equal(got, want) {
		t.Errorf("Lines = %q, want %q (the unfinished last line left out)", got, want)
	}
}
