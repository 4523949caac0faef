package main

import (
	"bytes"
	"testing"
	"time"

	"github.com/dexplane/dexplane/internal/daemon"
)

// TestPrintCounters: the per-port lines of `dexplane run -v`, totals and
// rates over an interval.
func TestPrintCounters(t *testing.T) {
	ports := [2]string{"west", "east"}
	last := [2]daemon.PortStats{{RxFrames: 100, TxFrames: 50, Lost: 1}, {RxFrames: 10}}
	cur := [2]daemon.PortStats{
		{RxFrames: 300, TxFrames: 250, Lost: 3, Steered: 280, Crossed: 20, LinkDown: 1, KickRetry: 2, TxRingFull: 4},
		{RxFrames: 10, TxFrames: 7, Crossed: 10},
	}
	var b bytes.Buffer
	printCounters(&b, ports, cur, nil, 0)
	want := "port 0 west: rx 300 tx 250 lost 3 | xdp steered 280 kernel 20 | link_down 1 kick_retry 2\n" +
		"port 1 east: rx 10 tx 7 lost 0 | xdp steered 0 kernel 10 | link_down 0 kick_retry 0\n"
	if b.String() != want {
		t.Errorf("totals:\n%s\nwant\n%s", b.String(), want)
	}
	b.Reset()
	printCounters(&b, ports, cur, &last, 2*time.Second)
	want = "port 0 west: rx 100 pps tx 100 pps | lost 3 (+2) | link_down 1 kick_retry 2 tx_ring_full 4\n" +
		"port 1 east: rx 0 pps tx 4 pps | lost 0 (+0) | link_down 0 kick_retry 0 tx_ring_full 0\n"
	if b.String() != want {
		t.Errorf("rates:\n%s\nwant\n%s", b.String(), want)
	}
}
