package config

import (
	"errors"
	"os"
	"path/filepath"
	"strings"
	"sync/atomic"
	"testing"

	"github.com/dexplane/dexplane/dataplane/policy"
)

// TestReloadAllOrNothing checks that a broken file never replaces the
// running snapshot, and that a good one does and keeps the counters of
// surviving routes.
func TestReloadAllOrNothing(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "node.yaml")
	write := func(s string) {
		t.Helper()
		if err := os.WriteFile(path, []byte(s), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	var cur atomic.Pointer[policy.Snapshot]

	write(base)
	_, s1, err := Reload(path, &cur)
	if err != nil {
		t.Fatal(err)
	}
	r1 := s1.Routes.Routes()[0].Sampler
	for range 3 {
		r1.Sample()
	}

	// A file with an error anywhere, even after valid routes: nothing changes.
	write(strings.Replace(base, "freq: 1/10", "freq: 1/5", 1) + "flows: {seq_start: 7}\n")
	if _, _, err := Reload(path, &cur); !errors.Is(err, ErrInvalid) {
		t.Fatalf("Reload of a broken file: %v, want ErrInvalid", err)
	}
	if cur.Load() != s1 {
		t.Fatal("failed reload replaced the snapshot")
	}
	// A missing file: nothing changes either.
	if _, _, err := Reload(filepath.Join(dir, "nope.yaml"), &cur); err == nil || cur.Load() != s1 {
		t.Fatalf("Reload of a missing file: err %v, snapshot replaced %v", err, cur.Load() != s1)
	}

	write(strings.Replace(base, "freq: 1/10", "freq: 1/5", 1))
	_, s2, err := Reload(path, &cur)
	if err != nil {
		t.Fatal(err)
	}
	if cur.Load() != s2 || s2.Generation != 2 {
		t.Fatalf("snapshot after reload: %p generation %d, want %p generation 2", cur.Load(), s2.Generation, s2)
	}
	r2 := s2.Routes.Routes()[0].Sampler
	if r2.Count() != 3 || r2.N() != 5 || r1.N() != 10 {
		t.Errorf("carried sampler: count %d n %d (old n %d), want 3, 5, 10", r2.Count(), r2.N(), r1.N())
	}
}
