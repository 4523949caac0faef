package metrics_test

import (
	"testing"

	"github.com/dexplane/dexplane/dataplane"
	"github.com/dexplane/dexplane/dataplane/checksum"
	"github.com/dexplane/dexplane/internal/metrics"
	"github.com/dexplane/dexplane/steering"
)

// TestRedirectAndChecksumMetrics: refused XDP redirects and completed or
// unfinished checksums reach Prometheus and /stats; refused redirects are
// absent (not zero) when they cannot be counted.
func TestRedirectAndChecksumMetrics(t *testing.T) {
	var ec dataplane.Counters
	ec.Ports[0].RedirectCounted, ec.Ports[1].RedirectCounted = true, true
	ec.Ports[0].RedirectErrors = [steering.NumTargets]uint64{steering.TargetPeer: 7, steering.TargetXSK: 3, steering.TargetOther: 1}
	ec.Ports[0].Checksum = checksum.Counts{Completed: 11}
	ec.Ports[1].Checksum = checksum.Counts{Unfinished: 5}
	c := metrics.NewScraper()
	c.SetEngineCounters(func() dataplane.Counters { return ec })
	fams := gather(t, c)
	for _, tc := range []struct {
		name   string
		labels []string
		want   float64
	}{
		{"dexplane_drops_total", []string{"port", "0", "reason", "xdp_redirect_peer"}, 7},
		{"dexplane_drops_total", []string{"port", "0", "reason", "xdp_redirect_other"}, 1},
		{"dexplane_port_events_total", []string{"port", "0", "reason", "xdp_redirect_xsk"}, 3},
		{"dexplane_drops_total", []string{"port", "1", "reason", "xdp_redirect_peer"}, 0},
		{"dexplane_checksums_completed_total", []string{"port", "0"}, 11},
		{"dexplane_checksums_unfinished_total", []string{"port", "1"}, 5},
		{"dexplane_checksums_unfinished_total", []string{"port", "0"}, 0},
	} {
		if got := value(t, fams, tc.name, tc.labels...); got != tc.want {
			t.Errorf("%s%v = %v, want %v", tc.name, tc.labels, got, tc.want)
		}
	}
	s := c.Snapshot()
	if s.Ports[0].Drops["xdp_redirect_peer"] != 7 || s.Ports[0].ChecksumsCompleted != 11 || s.Ports[1].ChecksumsUnfinished != 5 {
		t.Errorf("/stats: %+v", s.Ports)
	}

	ec.Ports[0].RedirectCounted = false
	if _, ok := c.Snapshot().Ports[0].Drops["xdp_redirect_peer"]; ok {
		t.Error("xdp_redirect_peer exported although redirect errors cannot be counted")
	}
}
