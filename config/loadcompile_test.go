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

// reload is the reload sequence the package documentation describes (and
// the daemon follows): Load, Compile against the running snapshot, Store.
func reload(path string, current *atomic.Pointer[policy.Snapshot]) (*Config, *policy.Snapshot, error) {
	c, err := Load(path)
	if err != nil {
		return nil, nil, err
	}
	s, err := c.Compile(current.Load())
	if err != nil {
		return nil, nil, err
	}
	current.Store(s)
	return c, s, nil
}

// TestLoadCompileAllOrNothing checks that a broken file never yields a
// snapshot to replace the running one, and that a good one does and keeps
// the counters of surviving routes.
func TestLoadCompileAllOrNothing(t *testing.T) {
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
	_, s1, err := reload(path, &cur)
	if err != nil {
		t.Fatal(err)
	}
	r1 := s1.Routes.Routes()[0].Sampler
	for range 3 {
		r1.Sample()
	}

	// A file with an error anywhere, even after valid routes: nothing changes.
	write(strings.Replace(base, "freq: 1/10", "freq: 1/5", 1) + "flows: {seq_start: 7}\n")
	if _, _, err := reload(path, &cur); !errors.Is(err, ErrInvalid) {
		t.Fatalf("Reload of a broken file: %v, want ErrInvalid", err)
	}
	if cur.Load() != s1 {
		t.Fatal("failed reload replaced the snapshot")
	}
	// A missing file: nothing changes either.
	if _, _, err := reload(filepath.Join(dir, "nope.yaml"), &cur); err == nil || cur.Load() != s1 {
		t.Fatalf("Reload of a missing file: err %v, snapshot replaced %v", err, cur.Load() != s1)
	}

	write(strings.Replace(base, "freq: 1/10", "freq: 1/5", 1))
	_, s2, err := reload(path, &cur)
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
