package testutil

import (
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
)

// NeedTool returns the path of the program name on PATH, or skips t saying
// that name is missing and hint (what installs it, or what needs it).
func NeedTool(t testing.TB, name, hint string) string {
	t.Helper()
	p, err := exec.LookPath(name)
	if err != nil {
		t.Skipf("needs %s (%s): %v", name, hint, err)
	}
	return p
}

// GoBin returns the path of a program that `go install` put in
// $(go env GOPATH)/bin, or skips t saying it is not installed and how to
// install it (install).
func GoBin(t testing.TB, name, install string) string {
	t.Helper()
	out, err := exec.Command("go", "env", "GOPATH").Output()
	if err != nil {
		t.Skipf("go env GOPATH: %v", err)
	}
	p := filepath.Join(strings.TrimSpace(string(out)), "bin", name)
	if _, err := os.Stat(p); err != nil {
		t.Skipf("%s not installed (%s); %s", name, p, install)
	}
	return p
}

// WriteFile writes data to the file path (mode 0644) and returns path; it
// fails t if it cannot.
func WriteFile(t testing.TB, path string, data []byte) string {
	t.Helper()
	if err := os.WriteFile(path, data, 0o644); err != nil {
		t.Fatal(err)
	}
	return path
}

// TempFile writes data to a file called name in a new directory of
// t.TempDir() and returns its path.
func TempFile(t testing.TB, name string, data []byte) string {
	t.Helper()
	return WriteFile(t, filepath.Join(t.TempDir(), name), data)
}
