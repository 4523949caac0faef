package testbed

import (
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
)

// TestScript builds and removes every topology with scripts/testbed.sh,
// twice down to prove idempotent teardown, and pings through the router.
func TestScript(t *testing.T) {
	SkipIfNotRoot(t)
	script, err := filepath.Abs("../../scripts/testbed.sh")
	if err != nil {
		t.Fatal(err)
	}
	prefix := fmt.Sprintf("%ssh%d", DefaultPrefix, os.Getpid())
	run := func(args ...string) string {
		t.Helper()
		out, err := exec.Command(script, args...).CombinedOutput()
		if err != nil {
			t.Fatalf("testbed.sh %s: %v\n%s", strings.Join(args, " "), err, out)
		}
		return string(out)
	}
	for _, topo := range []string{"bitw", "domain4", "router"} {
		t.Cleanup(func() { exec.Command(script, "down", topo, prefix).Run() })
		run("up", topo, prefix)
		a := &Netns{Name: prefix + "-host-a"}
		if id, err := a.XDPProgID(HostIf); err != nil || id == 0 {
			t.Errorf("%s: host-a %s has no XDP_PASS program (id %d, %v)", topo, HostIf, id, err)
		}
		if topo == "router" {
			for _, dst := range []string{RouterHostBAddr.String(), RouterHostBAddr4.String()} {
				if out, err := a.Run("ping", "-c", "2", "-i", "0.05", "-W", "1", dst); err != nil {
					t.Errorf("router: ping %s: %v\n%s", dst, err, out)
				}
			}
		}
		run("down", topo, prefix)
		run("down", topo, prefix)
		if out, _ := exec.Command("ip", "netns", "list").Output(); strings.Contains(string(out), prefix+"-") {
			t.Errorf("%s: namespaces left after down:\n%s", topo, out)
		}
	}
}
