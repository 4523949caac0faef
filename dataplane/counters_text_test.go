package dataplane

import (
	"fmt"
	"io"
	"strings"
	"testing"

	"github.com/dexplane/dexplane/steering"

	"github.com/dexplane/dexplane/dataplane/xsk"
)

// WriteText writes the non-zero counters, one "port N group name value" line
// each, for the tests' logs. It is test-only: the product reports counters
// through internal/metrics (/stats, Prometheus).
func (c *Counters) WriteText(w io.Writer) error {
	var b strings.Builder
	for p := range c.Ports {
		pc := &c.Ports[p]
		for i, v := range pc.Worker {
			if v != 0 {
				fmt.Fprintf(&b, "port %d worker %s %d\n", p, xsk.Counter(i), v)
			}
		}
		for _, kv := range []struct {
			n string
			v uint64
		}{
			{"rx_dropped", pc.Socket.RxDropped}, {"rx_invalid_descs", pc.Socket.RxInvalidDescs},
			{"tx_invalid_descs", pc.Socket.TxInvalidDescs}, {"rx_ring_full", pc.Socket.RxRingFull},
			{"rx_fill_ring_empty", pc.Socket.RxFillRingEmpty}, {"tx_ring_empty_descs", pc.Socket.TxRingEmptyDescs},
		} {
			if kv.v != 0 {
				fmt.Fprintf(&b, "port %d socket %s %d\n", p, kv.n, kv.v)
			}
		}
		for r, v := range pc.XDP {
			if v.Packets != 0 {
				fmt.Fprintf(&b, "port %d xdp %s %d\n", p, steering.Reason(r), v.Packets)
			}
		}
		for t, v := range pc.RedirectErrors {
			if v != 0 {
				fmt.Fprintf(&b, "port %d xdp_redirect_err %s %d\n", p, steering.RedirectTarget(t), v)
			}
		}
		if v := pc.Checksum.Completed; v != 0 {
			fmt.Fprintf(&b, "port %d checksum completed %d\n", p, v)
		}
		if v := pc.Checksum.Unfinished; v != 0 {
			fmt.Fprintf(&b, "port %d checksum unfinished %d\n", p, v)
		}
	}
	_, err := io.WriteString(w, b.String())
	return err
}

// TestSteeredCrossed: every classification is steered, crossed or dropped,
// and the events (xsk_miss, no_peer) are neither.
func TestSteeredCrossed(t *testing.T) {
	var c Counters
	for r := range c.Ports[1].XDP {
		c.Ports[1].XDP[r].Packets = 1 << r
	}
	steered := uint64(1<<steering.ReasonAll | 1<<steering.ReasonSampled | 1<<steering.ReasonHbH | 1<<steering.ReasonDecap | 1<<steering.ReasonExtHdr | 1<<steering.ReasonOrder)
	crossed := uint64(1<<steering.ReasonNotIPv6 | 1<<steering.ReasonND | 1<<steering.ReasonIPv6Pass | 1<<steering.ReasonNoRoute | 1<<steering.ReasonUnsampled)
	if got := c.Steered(1); got != steered {
		t.Errorf("Steered = %#x, want %#x", got, steered)
	}
	if got := c.Crossed(1); got != crossed {
		t.Errorf("Crossed = %#x, want %#x", got, crossed)
	}
	if c.Steered(0) != 0 || c.Crossed(0) != 0 {
		t.Errorf("port 0: %d %d", c.Steered(0), c.Crossed(0))
	}
}
