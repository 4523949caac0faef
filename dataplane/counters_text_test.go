package dataplane

import (
	"fmt"
	"io"
	"strings"

	dxebpf "github.com/dexplane/dexplane/ebpf"

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
				fmt.Fprintf(&b, "port %d xdp %s %d\n", p, dxebpf.Reason(r), v.Packets)
			}
		}
		for t, v := range pc.RedirectErrors {
			if v != 0 {
				fmt.Fprintf(&b, "port %d xdp_redirect_err %s %d\n", p, dxebpf.RedirectTarget(t), v)
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
