package node

import (
	"net/netip"
	"testing"

	"github.com/dexplane/dexplane/dataplane/handle"
	"github.com/dexplane/dexplane/dataplane/policy"
)

var _ handle.BatchHandler = (*Handler)(nil)

// TestBatchCounters checks that counts kept locally during a worker batch
// reach Counters and the route's sampler at EndBatch, and that frames
// handled outside a batch publish at once: both ways give the same totals.
func TestBatchCounters(t *testing.T) {
	for _, k := range []uint32{1, 2} { // k = n: counted locally; k < n: atomic per packet
		n, ptr := newNode(t, encapSpec(policy.ModeInline, k, 2)())
		r, _ := ptr.Load().Routes.LookupAddr(netip.MustParseAddr("2001:db8::2"))
		f := newFrame(plain1500(t), 0)
		n.BeginBatch()
		for range 3 {
			resetFrame(f, plain1500(t))
			n.Handle(f)
		}
		n.EndBatch()
		var want map[string]uint64
		if k == 1 {
			want = map[string]uint64{"forwarded": 3, "dex_inserted": 2, "not_sampled": 1, "records_exported": 2}
		} else {
			want = map[string]uint64{"forwarded": 3, "dex_inserted": 3, "not_sampled": 0, "records_exported": 3}
		}
		wantCounters(t, n, want)
		if c := r.Sampler.Count(); c != 3 {
			t.Errorf("k=%d: sampler count %d after the batch, want 3", k, c)
		}
		resetFrame(f, plain1500(t))
		n.Handle(f) // outside a batch: published when Handle returns
		if got := n.Counters().Forwarded.Load(); got != 4 {
			t.Errorf("k=%d: forwarded %d after a frame outside a batch, want 4", k, got)
		}
		if c := r.Sampler.Count(); c != 4 {
			t.Errorf("k=%d: sampler count %d, want 4", k, c)
		}
	}
}
