package e2e

import (
	"regexp"
	"strconv"
	"testing"
	"time"

	"github.com/dexplane/dexplane/config"
	"github.com/dexplane/dexplane/internal/testbed"
	"github.com/dexplane/dexplane/internal/testutil"
)

// TestAggregateAtNode runs the demo domain with R2 and R3 aggregating
// (export.aggregate.interval 200ms; R1 and R4 export every packet) into one
// collector: R2 and R3 send no per-packet record, one aggregate per flow and
// interval, and their per-flow packet counts and sequence ranges equal what
// R1 and R4 report packet by packet.
func TestAggregateAtNode(t *testing.T) {
	testbed.SkipIfNotRoot(t)
	bin := testutil.BuildDexplane(t)
	const flows, count = 7, 2100
	outs := runMgmtDomain(t, bin, 1, flows, count, func(n int, cfg *config.Config) {
		if n == 2 || n == 3 {
			cfg.Export.Aggregate = config.Aggregate{Interval: config.Duration(200 * time.Millisecond)}
		}
	})
	text := outs[0].String()
	perPacket := regexp.MustCompile(`(?m)^  node (\d+): received (\d+), seq (\d+)\.\.(\d+), lost (\d+)`)
	agg := regexp.MustCompile(`(?m)^flow ns=123 id=0x([0-9a-f]{8}) node (\d+): (\d+) aggregate record\(s\) for (\d+) packet\(s\), \d+ octets, seq (\d+)\.\.(\d+), lost (\d+)`)
	flowRe := regexp.MustCompile(`(?m)^flow ns=123 id=0x([0-9a-f]{8})$`)
	// per-packet figures by flow: the summary lists nodes under each flow
	type fig struct{ packets, first, last, lost string }
	pp := map[string]map[string]fig{}
	blocks := flowRe.FindAllStringSubmatchIndex(text, -1)
	for i, b := range blocks {
		end := len(text)
		if i+1 < len(blocks) {
			end = blocks[i+1][0]
		}
		id := text[b[2]:b[3]]
		pp[id] = map[string]fig{}
		for _, m := range perPacket.FindAllStringSubmatch(text[b[1]:end], -1) {
			pp[id][m[1]] = fig{m[2], m[3], m[4], m[5]}
		}
	}
	aggs := agg.FindAllStringSubmatch(text, -1)
	if len(aggs) < 2*flows {
		t.Fatalf("%d aggregate lines, want ≥ %d (R2 and R3 × %d flows):\n%s", len(aggs), 2*flows, flows, text)
	}
	var records int
	for _, a := range aggs {
		id, node := a[1], a[2]
		n, _ := strconv.Atoi(a[3])
		records += n
		ref, ok := pp[id]["1"]
		if !ok {
			t.Errorf("flow %s: aggregates of node %s but no per-packet record of R1", id, node)
			continue
		}
		if _, dup := pp[id][node]; dup {
			t.Errorf("flow %s: node %s sent per-packet records although it aggregates", id, node)
		}
		if got := (fig{a[4], a[5], a[6], a[7]}); got != ref || pp[id]["4"] != ref {
			t.Errorf("flow %s node %s aggregates %+v, R1 per packet %+v, R4 %+v", id, node, got, ref, pp[id]["4"])
		}
	}
	if records >= count/10*2 {
		t.Errorf("R2 and R3 sent %d aggregate records for %d sampled packets each", records, count/10)
	}
	t.Logf("R2 and R3: %d aggregate records for %d flows; packets and sequence ranges equal R1's and R4's per-packet view", records, flows)
}
