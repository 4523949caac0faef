package testutil

import (
	"os/exec"
	"path/filepath"
	"testing"
)

// DexplanePkg is the import path of the dexplane command.
const DexplanePkg = "github.com/dexplane/dexplane/cmd/dexplane"

// BuildDexplane compiles cmd/dexplane into a temporary directory of t and
// returns the binary's path. Call it once per top-level test and share the
// path with its subtests; the Go build cache makes repeated builds cheap.
// It fails t if the build fails, and needs the go command on PATH.
func BuildDexplane(t testing.TB) string {
	t.Helper()
	bin := filepath.Join(t.TempDir(), "dexplane")
	if out, err := exec.Command("go", "build", "-o", bin, DexplanePkg).CombinedOutput(); err != nil {
		t.Fatalf("go build %s: %v\n%s", DexplanePkg, err, out)
	}
	return bin
}
