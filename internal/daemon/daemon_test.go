package daemon

import (
	"testing"

	"github.com/dexplane/dexplane/dataplane/policy"
)

func TestWithLinkMTU(t *testing.T) {
	base := &policy.Snapshot{Generation: 7}
	base.Ports[0].MTU = 0
	base.Ports[1].MTU = 9000 // configured override
	tests := []struct {
		name      string
		s         *policy.Snapshot
		cfg, live [2]int
		want      [2]int
		same      bool // the very same snapshot comes back
	}{
		{"interface MTU fills an unset port", base, [2]int{0, 9000}, [2]int{1500, 1400}, [2]int{1500, 9000}, false},
		{"configured MTU wins over the interface", base, [2]int{0, 9000}, [2]int{0, 1400}, [2]int{0, 9000}, true},
		{"unreadable interface leaves it unchecked", base, [2]int{0, 9000}, [2]int{0, 0}, [2]int{0, 9000}, true},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			got := withLinkMTU(tc.s, tc.cfg, tc.live)
			if (got == tc.s) != tc.same {
				t.Fatalf("same snapshot = %v, want %v", got == tc.s, tc.same)
			}
			if m := [2]int{got.Ports[0].MTU, got.Ports[1].MTU}; m != tc.want {
				t.Fatalf("MTUs = %v, want %v", m, tc.want)
			}
			if got.Generation != 7 || base.Ports[0].MTU != 0 {
				t.Fatalf("generation %d, original port 0 MTU %d: the published snapshot was modified", got.Generation, base.Ports[0].MTU)
			}
		})
	}
	// An MTU change after one fill: the filled copy is updated again.
	filled := withLinkMTU(base, [2]int{0, 9000}, [2]int{1500, 0})
	if again := withLinkMTU(filled, [2]int{0, 9000}, [2]int{1400, 0}); again.Ports[0].MTU != 1400 {
		t.Fatalf("after an MTU change port 0 MTU = %d, want 1400", again.Ports[0].MTU)
	}
}
