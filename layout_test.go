// Package dexplane_test checks that README.md's tour of the tree matches the
// tree: every directory holding Go files has its row, and every row names a
// directory that exists.
package dexplane_test

import (
	"io/fs"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
)

// tourRows returns the paths of the rows of README.md's "Tour of the tree"
// table, in order.
func tourRows(t *testing.T) []string {
	t.Helper()
	b, err := os.ReadFile("README.md")
	if err != nil {
		t.Fatal(err)
	}
	_, tour, ok := strings.Cut(string(b), "\n## Tour of the tree\n")
	if !ok {
		t.Fatal(`README.md has no "## Tour of the tree" section`)
	}
	if i := strings.Index(tour, "\n## "); i >= 0 {
		tour = tour[:i]
	}
	row := regexp.MustCompile("^\\| `([^`]+)` \\|")
	var paths []string
	for _, line := range strings.Split(tour, "\n") {
		if strings.HasPrefix(line, "|") && !strings.HasPrefix(line, "| path ") && !strings.HasPrefix(line, "|---") {
			m := row.FindStringSubmatch(line)
			if m == nil {
				t.Errorf("README.md tour row %q: want | `path` | what it holds |", line)
				continue
			}
			paths = append(paths, m[1])
		}
	}
	return paths
}

// goDirs returns every directory below the repository root holding a .go
// file, testdata and hidden directories excluded.
func goDirs(t *testing.T) map[string]bool {
	t.Helper()
	dirs := map[string]bool{}
	err := filepath.WalkDir(".", func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if d.IsDir() {
			if p != "." && (strings.HasPrefix(d.Name(), ".") || d.Name() == "testdata" || p == "bin") {
				return filepath.SkipDir
			}
			return nil
		}
		if dir := filepath.Dir(p); dir != "." && strings.HasSuffix(p, ".go") {
			dirs[filepath.ToSlash(dir)] = true
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	return dirs
}

// TestReadmeLayout fails when README.md's tour of the tree misses a
// directory with Go code, lists one twice, or lists one that does not exist.
func TestReadmeLayout(t *testing.T) {
	rows := tourRows(t)
	listed := map[string]bool{}
	for _, p := range rows {
		if listed[p] {
			t.Errorf("README.md tour lists %s twice", p)
		}
		listed[p] = true
		if fi, err := os.Stat(p); err != nil || !fi.IsDir() {
			t.Errorf("README.md tour lists %s, which is not a directory of the tree", p)
		}
	}
	for d := range goDirs(t) {
		if !listed[d] {
			t.Errorf("README.md tour of the tree has no row for %s", d)
		}
	}
}
