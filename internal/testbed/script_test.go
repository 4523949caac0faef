package testbed

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/dexplane/dexplane/internal/testbed/plan"
	"github.com/dexplane/dexplane/internal/testutil"
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
		out, code := testutil.Run(t, script, args...)
		if code != 0 {
			t.Fatalf("testbed.sh %s: exit %d\n%s", strings.Join(args, " "), code, out)
		}
		return out
	}
	for _, topo := range []string{"bitw", "domain4", "router"} {
		t.Cleanup(func() { testutil.Run(t, script, "down", topo, prefix) })
		run("up", topo, prefix)
		a := &Netns{Name: prefix + "-host-a"}
		if id, err := a.XDPProgID(plan.HostIf); err != nil || id == 0 {
			t.Errorf("%s: host-a %s has no XDP_PASS program (id %d, %v)", topo, plan.HostIf, id, err)
		}
		if topo == "router" {
			for _, dst := range []string{plan.RouterHostBAddr.String(), plan.RouterHostBAddr4.String()} {
				if out, err := a.Run("ping", "-c", "2", "-i", "0.05", "-W", "1", dst); err != nil {
					t.Errorf("router: ping %s: %v\n%s", dst, err, out)
				}
			}
		}
		run("down", topo, prefix)
		run("down", topo, prefix)
		if out, _ := testutil.Run(t, "ip", "netns", "list"); strings.Contains(out, prefix+"-") {
			t.Errorf("%s: namespaces left after down:\n%s", topo, out)
		}
	}
}
