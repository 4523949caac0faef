package xsk_test

import (
	"encoding/binary"
	"testing"
	"time"

	"github.com/dexplane/dexplane/dataplane/handle"
	"github.com/dexplane/dexplane/dataplane/xsk"
	"github.com/dexplane/dexplane/internal/payload"
	"github.com/dexplane/dexplane/internal/testbed"
	"github.com/dexplane/dexplane/internal/xskprog"
)

// TestPortSendReceive sends payload frames from a send-only Port on one end
// of a veth pair to a receive-only Port on the other, through xskprog's
// redirect program: every frame arrives intact and in order (behind the
// kernel's receive headroom), every sent frame comes back to the sender's
// free list, and the per-frame calls allocate nothing.
func TestPortSendReceive(t *testing.T) {
	a, b := testbed.NewNetns(t, "port-tx"), testbed.NewNetns(t, "port-rx")
	testbed.Veth(t, a, "v0", "02:00:00:00:ab:01", b, "v0", "02:00:00:00:ab:02")
	ia, ib := a.MustIfindex(t, "v0"), b.MustIfindex(t, "v0")
	const frames, size = 3000, 14 + 200
	var (
		tx, rx *xsk.Port
		prog   *xskprog.Program
	)
	err := a.Do(func() (err error) {
		tx, err = xsk.OpenPort(xsk.PortConfig{Ifindex: ia, FillSize: 64, RxSize: 64, TxSize: 512, CompletionSize: 1024,
			Umem: xsk.UmemConfig{NumFrames: 1024}})
		return err
	})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { tx.Close() })
	err = b.Do(func() (err error) {
		if prog, err = xskprog.Attach(xskprog.Config{Ifindex: ib, Queues: 1, Match: xskprog.MatchAll}); err != nil {
			return err
		}
		t.Cleanup(func() { prog.Close() })
		rx, err = xsk.OpenPort(xsk.PortConfig{Ifindex: ib, FillSize: 2048, RxSize: 2048, TxSize: 64, CompletionSize: 64,
			Umem: xsk.UmemConfig{NumFrames: 2048}})
		if err != nil {
			return err
		}
		t.Cleanup(func() { rx.Close() })
		return prog.Register(0, rx.Socket().FD())
	})
	if err != nil {
		t.Fatal(err)
	}
	rx.Refill()

	var seq, next uint32
	bad := 0
	fill := func(i int, chunk []byte) int {
		f := chunk[:size]
		// Ethernet: broadcast from a local address, a private
		// ethertype so the kernel ignores the frames.
		copy(f, []byte{0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 2, 0, 0, 0, 0, 1})
		binary.BigEndian.PutUint16(f[12:], 0x88b5)
		payload.Put(f[14:], payload.Header{Stream: 1, Seq: seq})
		seq++
		return size
	}
	check := func(f *handle.Frame) {
		if pkt := f.Packet(); len(pkt) < 14 || binary.BigEndian.Uint16(pkt[12:]) != 0x88b5 {
			return // the kernel's own frames (IPv6 RS, MLD) from the sender
		}
		h, err := payload.Parse(f.Packet()[14:])
		if err != nil || !payload.FillerOK(f.Packet()[14:]) || h.Seq != next || f.Off < 256 {
			bad++
		}
		next++
	}
	step := func() {
		tx.Complete()
		// At most 256 frames in flight: veth's ring (256) cannot
		// overflow, so every frame must arrive.
		tx.Transmit(min(64, frames-int(seq), 256-int(seq-next)), fill)
		if err := tx.Kick(); err != nil {
			t.Error(err)
		}
		rx.Receive(check)
		rx.Refill()
	}
	if n := testing.AllocsPerRun(20, step); n != 0 {
		t.Errorf("%v allocations per Transmit/Kick/Complete/Receive/Refill round", n)
	}
	for deadline := time.Now().Add(5 * time.Second); next < frames && time.Now().Before(deadline); {
		step()
		if next < seq {
			if err := xsk.WaitRx([]*xsk.Port{rx}, 10*time.Millisecond); err != nil {
				t.Fatal(err)
			}
		}
	}
	for deadline := time.Now().Add(time.Second); tx.Free() < 1024 && time.Now().Before(deadline); {
		tx.Complete()
		time.Sleep(time.Millisecond)
	}
	if next != frames || bad != 0 {
		st, _ := rx.Socket().Stats()
		t.Errorf("received %d of %d frames, %d bad or out of order (receiver socket %+v)", next, frames, bad, st)
	}
	if tx.Free() != 1024 {
		t.Errorf("sender's free list holds %d of 1024 frames after every completion", tx.Free())
	}
}
