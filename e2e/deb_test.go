package e2e

import (
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/dexplane/dexplane/internal/testbed"
	"github.com/dexplane/dexplane/internal/testutil"
)

// TestDebPackage builds the Debian package with scripts/deb.sh (what `make
// deb` runs), installs it with dpkg -i, runs the installed binary's
// validate on the installed configuration, checks that the dissector loads
// from Wireshark's plugin directory, and purges it: every file, the
// conffile, the log directory and the system user must be gone.
func TestDebPackage(t *testing.T) {
	testbed.SkipIfNotRoot(t)
	for _, tool := range []string{"dpkg", "dpkg-deb", "go"} {
		testutil.NeedTool(t, tool, "Debian's dpkg, and go")
	}
	if exec.Command("dpkg", "-s", "dexplane").Run() == nil {
		t.Skip("a dexplane package is installed on this machine; not replacing it")
	}
	run := func(name string, args ...string) string {
		t.Helper()
		out, err := exec.Command(name, args...).CombinedOutput()
		if err != nil {
			t.Fatalf("%s %s: %v\n%s", name, strings.Join(args, " "), err, out)
		}
		return string(out)
	}
	dir := t.TempDir()
	deb := strings.TrimSpace(run("../scripts/deb.sh", dir))
	if b := filepath.Base(deb); !strings.HasPrefix(b, "dexplane_") || !strings.HasSuffix(b, "_amd64.deb") {
		t.Fatalf("package name %q, want dexplane_VERSION_amd64.deb", b)
	}
	t.Cleanup(func() { exec.Command("dpkg", "--purge", "dexplane").Run() })
	run("dpkg", "-i", deb)

	for _, f := range []string{"/usr/bin/dexplane", "/lib/systemd/system/dexplane.service", "/etc/dexplane/dexplane.yaml",
		"/usr/share/dexplane/wireshark/dexplane.lua", "/usr/share/dexplane/collectors/ipfixcol2/ioam-dex.xml",
		"/usr/share/dexplane/collectors/goflow2/mapping.yaml", "/usr/share/dexplane/collectors/pmacct/primitives.lst",
		"/var/log/dexplane"} {
		if _, err := os.Stat(f); err != nil {
			t.Errorf("installed package lacks %s: %v", f, err)
		}
	}
	if got := run("dpkg-query", "-W", "-f", "${Conffiles}", "dexplane"); !strings.Contains(got, "/etc/dexplane/dexplane.yaml") {
		t.Errorf("conffiles: %q", got)
	}
	if out, err := exec.Command("/usr/bin/dexplane", "validate", "-q", "-c", "/etc/dexplane/dexplane.yaml").CombinedOutput(); err != nil {
		t.Errorf("installed dexplane validate on the installed configuration: %v\n%s", err, out)
	}
	unit, _ := os.ReadFile("/lib/systemd/system/dexplane.service")
	if !strings.Contains(string(unit), "ExecStart=/usr/bin/dexplane run -c /etc/dexplane/dexplane.yaml") {
		t.Errorf("unit does not run the installed binary:\n%s", unit)
	}
	if exec.Command("getent", "passwd", "dexplane").Run() != nil {
		t.Error("postinst did not create the dexplane user the unit runs as")
	}
	// A subtest, so that a machine without tshark reports this check as
	// skipped, with the reason, rather than passing it silently.
	t.Run("tshark-loads-dissector", func(t *testing.T) {
		tshark := testutil.NeedTool(t, "tshark", "Debian's tshark")
		// Wireshark loads the dissector from its global plugin directory.
		out, err := exec.Command(tshark, "-G", "protocols").Output()
		if err != nil {
			t.Fatalf("tshark -G protocols: %v", err)
		}
		if !strings.Contains(string(out), "\tdexplane\n") {
			t.Error("tshark does not list the dexplane protocol after installation")
		}
	})

	run("dpkg", "--purge", "dexplane")
	for _, f := range []string{"/usr/bin/dexplane", "/lib/systemd/system/dexplane.service", "/etc/dexplane",
		"/usr/share/dexplane", "/var/log/dexplane", "/usr/lib/x86_64-linux-gnu/wireshark/plugins/dexplane.lua"} {
		if _, err := os.Lstat(f); err == nil {
			t.Errorf("%s is left after purge", f)
		}
	}
	if exec.Command("getent", "passwd", "dexplane").Run() == nil {
		t.Error("the dexplane user is left after purge")
	}
	if exec.Command("dpkg", "-s", "dexplane").Run() == nil {
		t.Error("dpkg still knows the package after purge")
	}
}
