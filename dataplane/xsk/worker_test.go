package xsk

import (
	"bytes"
	"log/slog"
	"sync/atomic"
	"testing"
	"time"

	"github.com/dexplane/dexplane/dataplane/handle"
	"golang.org/x/sys/unix"
)

// fakeRing builds a ring over Go memory, standing in for a kernel mapping.
func fakeRing(size uint32) ring {
	idx := new([3]uint32)
	return ring{producer: &idx[0], consumer: &idx[1], flags: &idx[2], mask: size - 1, size: size}
}

// fakeKernel plays the kernel's side of a worker's rings.
type fakeKernel struct {
	t      testing.TB
	w      *Worker
	noFill bool // skip writing the payload pattern (benchmarks)
}

// newFakeWorker returns a worker whose sockets have no file descriptor and
// whose rings live in Go memory; fakeKernel moves frames the way the kernel
// would. need_wakeup is on and never requested, so the worker makes no
// system call.
func newFakeWorker(t testing.TB, frames int, rxSize, txSize uint32, batch int, h handle.Handler) (*Worker, *fakeKernel) {
	t.Helper()
	if h == nil {
		h = handle.Identity{}
	}
	u := &Umem{area: make([]byte, frames*FrameSize2K), frameSize: FrameSize2K, numFrames: uint32(frames), headroom: DefaultHeadroom}
	w := &Worker{
		// DrainTime is generous: on a loaded CI machine the fake kernel's
		// goroutine may not run for a while; drain returns once quiet.
		cfg:     WorkerConfig{ID: 3, BatchSize: batch, IdleSpins: 1, IdleTimeout: time.Millisecond, DrainTime: 500 * time.Millisecond},
		log:     slog.New(slog.DiscardHandler),
		umem:    u,
		handler: h,
		area:    u.area,
		fsize:   u.frameSize,
		fmask:   ^(u.frameSize - 1),
		batch:   uint32(batch),
		eventfd: -1,
		done:    make(chan struct{}),
	}
	for p := range w.sock {
		s := &Socket{fd: -1, umem: u, needWakeup: true}
		s.rx = descRing{ring: fakeRing(rxSize), descs: make([]unix.XDPDesc, rxSize)}
		s.tx = descRing{ring: fakeRing(txSize), descs: make([]unix.XDPDesc, txSize)}
		s.fill = addrRing{ring: fakeRing(rxSize), addrs: make([]uint64, rxSize)}
		s.comp = addrRing{ring: fakeRing(txSize), addrs: make([]uint64, txSize)}
		w.sock[p] = s
	}
	w.initFrames()
	return w, &fakeKernel{t: t, w: w}
}

// rxOffset is where the kernel puts a received frame in copy mode.
const rxOffset = DefaultHeadroom + unix.XDP_PACKET_HEADROOM

// deliver receives up to n frames of length size on port p, taking buffers
// from the fill ring, each filled with a pattern derived from seq; it
// returns how many it delivered and the next seq.
func (k *fakeKernel) deliver(p int, n int, size int, seq byte) (int, byte) {
	s := k.w.sock[p]
	fr, rx := &s.fill.ring, &s.rx.ring
	got := 0
	for ; got < n; got++ {
		fcons, fprod := atomic.LoadUint32(fr.consumer), atomic.LoadUint32(fr.producer)
		rprod, rcons := atomic.LoadUint32(rx.producer), atomic.LoadUint32(rx.consumer)
		if fcons == fprod || rprod-rcons == rx.size {
			break
		}
		addr := s.fill.addrs[fcons&fr.mask] + rxOffset
		atomic.StoreUint32(fr.consumer, fcons+1)
		if !k.noFill {
			pkt := k.w.area[addr : addr+uint64(size)]
			for i := range pkt {
				pkt[i] = seq + byte(i)
			}
		}
		s.rx.descs[rprod&rx.mask] = unix.XDPDesc{Addr: addr, Len: uint32(size)}
		atomic.StoreUint32(rx.producer, rprod+1)
		seq++
	}
	return got, seq
}

// transmit takes every descriptor from port p's TX ring, hands it to check,
// and completes it.
func (k *fakeKernel) transmit(p int, check func(d unix.XDPDesc)) int {
	s := k.w.sock[p]
	tx, cr := &s.tx.ring, &s.comp.ring
	n := 0
	for {
		tcons, tprod := atomic.LoadUint32(tx.consumer), atomic.LoadUint32(tx.producer)
		cprod, ccons := atomic.LoadUint32(cr.producer), atomic.LoadUint32(cr.consumer)
		if tcons == tprod || cprod-ccons == cr.size {
			return n
		}
		d := s.tx.descs[tcons&tx.mask]
		if check != nil {
			check(d)
		}
		atomic.StoreUint32(tx.consumer, tcons+1)
		s.comp.addrs[cprod&cr.mask] = d.Addr
		atomic.StoreUint32(cr.producer, cprod+1)
		n++
	}
}

// accounted counts every frame wherever it is; it must equal the UMEM size.
func (k *fakeKernel) accounted() int {
	n := len(k.w.free)
	for _, s := range k.w.sock {
		for _, r := range []*ring{&s.fill.ring, &s.rx.ring, &s.tx.ring, &s.comp.ring} {
			n += int(atomic.LoadUint32(r.producer) - atomic.LoadUint32(r.consumer))
		}
	}
	return n
}

func TestForwardBothDirectionsWithoutCopy(t *testing.T) {
	w, k := newFakeWorker(t, 256, 64, 64, 16, nil)
	for _, dir := range [][2]int{{0, 1}, {1, 0}} {
		in, out := dir[0], dir[1]
		got, _ := k.deliver(in, 10, 100, 7)
		if got != 10 {
			t.Fatalf("delivered %d", got)
		}
		var rxAddrs []uint64
		for i := uint32(0); i < 10; i++ {
			rxAddrs = append(rxAddrs, w.sock[in].rx.descs[i].Addr)
		}
		w.step()
		var i int
		k.transmit(out, func(d unix.XDPDesc) {
			if d.Addr != rxAddrs[i] || d.Len != 100 {
				t.Errorf("dir %v frame %d: TX %+v, want addr %d len 100 (same UMEM bytes)", dir, i, d, rxAddrs[i])
			}
			pkt := w.area[d.Addr : d.Addr+uint64(d.Len)]
			for j := range pkt {
				if pkt[j] != byte(7+i)+byte(j) {
					t.Fatalf("dir %v frame %d byte %d changed", dir, i, j)
				}
			}
			i++
		})
		if i != 10 {
			t.Errorf("dir %v: transmitted %d, want 10", dir, i)
		}
		w.step()
		c := w.Counters().Snapshot()
		if c[in][CtrRxFrames] != 10 || c[out][CtrTxFrames] != 10 || c[out][CtrTxCompleted] != 10 || c[in][CtrRxBytes] != 1000 {
			t.Errorf("dir %v counters %v", dir, c)
		}
		// Reset counters for the next direction.
		for p := range w.counters.v {
			for i := range w.counters.v[p] {
				w.counters.v[p][i].Store(0)
			}
		}
	}
	if n := k.accounted(); n != 256 {
		t.Errorf("frames accounted %d, want 256", n)
	}
	if w.inFlight != 0 {
		t.Errorf("in flight %d after completions", w.inFlight)
	}
}

func TestHandlerVerdictsAndEdits(t *testing.T) {
	var calls int
	h := handle.HandlerFunc(func(f *handle.Frame) handle.Verdict {
		calls++
		if f.Ingress != 0 || f.Queue != 3 || f.RxTime == 0 || len(f.Buf) != FrameSize2K || f.Off != rxOffset {
			t.Errorf("frame %d: %+v", calls, *f)
		}
		switch calls {
		case 1: // grow 8 bytes of header into the headroom
			f.Off -= 8
			f.Len += 8
			copy(f.Buf[f.Off:], "IOAMIOAM")
		case 2:
			return handle.Drop
		case 3: // out of the chunk
			f.Off = FrameSize2K - 10
		case 4:
			f.Len = 0
		}
		return handle.Forward
	})
	w, k := newFakeWorker(t, 64, 16, 16, 8, h)
	k.deliver(0, 5, 60, 0)
	w.step()
	var descs []unix.XDPDesc
	k.transmit(1, func(d unix.XDPDesc) { descs = append(descs, d) })
	if len(descs) != 2 {
		t.Fatalf("transmitted %d frames, want 2: %+v", len(descs), descs)
	}
	if descs[0].Len != 68 || !bytes.Equal(w.area[descs[0].Addr:descs[0].Addr+8], []byte("IOAMIOAM")) || descs[0].Addr%FrameSize2K != rxOffset-8 {
		t.Errorf("edited frame %+v", descs[0])
	}
	w.step()
	c := w.Counters().Snapshot()
	if c[0][CtrDropped] != 1 || c[0][CtrInvalid] != 2 || c[1][CtrTxFrames] != 2 {
		t.Errorf("counters %v", c)
	}
	if n := k.accounted(); n != 64 {
		t.Errorf("frames accounted %d, want 64", n)
	}
}

func TestTxRingFullDoesNotStarveOtherDirection(t *testing.T) {
	w, k := newFakeWorker(t, 512, 128, 16, 32, nil)
	// Port 1's TX ring fills up and the fake kernel never drains it.
	k.deliver(0, 100, 64, 0)
	k.deliver(1, 40, 64, 0)
	for i := 0; i < 10; i++ {
		w.step()
		k.transmit(0, nil) // port 0 transmits normally
	}
	c := w.Counters().Snapshot()
	if c[1][CtrTxFrames] != 16 {
		t.Errorf("port 1 queued %d, want its TX ring size 16", c[1][CtrTxFrames])
	}
	if c[1][CtrTxRingFull] == 0 {
		t.Errorf("TX ring full not counted: %v", c[1])
	}
	if c[0][CtrTxFrames] != 40 || c[1][CtrRxFrames] != 40 {
		t.Errorf("direction 1→0 starved: %v", c)
	}
	if left := atomic.LoadUint32(w.sock[0].rx.producer) - atomic.LoadUint32(w.sock[0].rx.consumer); left != 100-16 {
		t.Errorf("%d frames left in port 0's RX ring, want %d", left, 100-16)
	}
	// The kernel drains port 1: the rest flows.
	for i := 0; i < 10; i++ {
		k.transmit(1, nil)
		w.step()
	}
	if c := w.Counters().Snapshot(); c[1][CtrTxFrames] != 100 {
		t.Errorf("after drain port 1 queued %d, want 100", c[1][CtrTxFrames])
	}
	if n := k.accounted(); n != 512 {
		t.Errorf("frames accounted %d, want 512", n)
	}
}

func TestFramesExhaustedCounted(t *testing.T) {
	// 40 frames: port 0's fill ring gets 20, port 1's 20; nothing completes.
	w, k := newFakeWorker(t, 40, 32, 32, 32, nil)
	n, _ := k.deliver(0, 32, 64, 0)
	if n != 20 {
		t.Fatalf("delivered %d, want the 20 frames in the fill ring", n)
	}
	w.step()
	if c := w.Counters().Snapshot(); c[0][CtrFillEmpty] == 0 {
		t.Errorf("exhausted frames not counted: %v", c[0])
	}
	if n := k.accounted(); n != 40 {
		t.Errorf("frames accounted %d, want 40", n)
	}
}

func TestInitFramesFillsRings(t *testing.T) {
	w, k := newFakeWorker(t, 4096, 1024, 1024, 64, nil)
	for p, s := range w.sock {
		if got := atomic.LoadUint32(s.fill.producer); got != 1024 {
			t.Errorf("port %d fill ring holds %d, want 1024", p, got)
		}
	}
	if len(w.free) != 2048 || k.accounted() != 4096 {
		t.Errorf("free %d, accounted %d", len(w.free), k.accounted())
	}
}

func TestStepAllocatesNothing(t *testing.T) { checkStepAllocatesNothing(t, nil, 1500) }

// checkStepAllocatesNothing delivers 64 frames to each port (128 octets on
// port 0, size1 on port 1), steps a worker with handler h and transmits
// both ports under testing.AllocsPerRun: the worker may allocate nothing
// and every frame must stay accounted for.
func checkStepAllocatesNothing(t *testing.T, h handle.Handler, size1 int) {
	t.Helper()
	w, k := newFakeWorker(t, 1024, 256, 256, 64, h)
	var seq byte
	allocs := testing.AllocsPerRun(200, func() {
		_, seq = k.deliver(0, 64, 128, seq)
		k.deliver(1, 64, size1, seq)
		w.step()
		k.transmit(0, nil)
		k.transmit(1, nil)
	})
	if allocs != 0 {
		t.Errorf("%v allocations per iteration, want 0", allocs)
	}
	if n := k.accounted(); n != 1024 {
		t.Errorf("frames accounted %d, want 1024", n)
	}
}

// BenchmarkStep measures the worker's per-frame cost (handler call, ring
// bookkeeping, counters, plus the fake kernel's ring work) without system
// calls or payload touches; b.N is in frames.
func BenchmarkStep(b *testing.B) {
	for _, size := range []int{64, 1500} {
		b.Run(map[int]string{64: "64B", 1500: "1500B"}[size], func(b *testing.B) {
			w, k := newFakeWorker(b, 4096, 1024, 1024, 64, nil)
			k.noFill = true
			b.ReportAllocs()
			b.SetBytes(int64(size))
			b.ResetTimer()
			for done := 0; done < b.N; {
				n, _ := k.deliver(0, 64, size, 0)
				w.step()
				k.transmit(1, nil)
				done += n
			}
		})
	}
}

func TestRunForwardsAndDrainsOnStop(t *testing.T) {
	w, k := newFakeWorker(t, 1024, 256, 256, 32, nil)
	done := make(chan error, 1)
	go func() { done <- w.Run() }()
	// The fake kernel delivers and transmits while the worker runs.
	var seq byte
	delivered, transmitted := 0, 0
	deadline := time.Now().Add(2 * time.Second)
	for transmitted < 2000 && time.Now().Before(deadline) {
		var n int
		n, seq = k.deliver(0, 50, 100, seq)
		delivered += n
		transmitted += k.transmit(1, nil)
		time.Sleep(100 * time.Microsecond)
	}
	if transmitted < 2000 {
		t.Fatalf("running worker forwarded %d of %d delivered frames", transmitted, delivered)
	}
	n, _ := k.deliver(0, 100, 100, seq) // still in the RX ring when Stop comes
	delivered += n
	go func() {
		// The kernel keeps completing while the worker drains.
		for i := 0; i < 200; i++ {
			k.transmit(1, nil)
			time.Sleep(time.Millisecond)
		}
	}()
	w.Stop()
	select {
	case err := <-done:
		if err != nil {
			t.Fatal(err)
		}
	case <-time.After(2 * time.Second):
		t.Fatal("Run did not return after Stop")
	}
	if got := w.Counters().Load(1, CtrTxFrames); got != uint64(delivered) {
		t.Errorf("queued %d of %d delivered frames: the drain lost some", got, delivered)
	}
	if err := w.Run(); err != ErrRunning {
		t.Errorf("second Run: %v, want ErrRunning", err)
	}
}

// TestStopBeforeRun: an engine stopped right after it started may call
// Stop before the worker goroutine reaches Run. Run then drains what is
// already in the RX ring and returns nil, not an error (it once returned
// ErrRunning, which made Engine.Stop fail).
func TestStopBeforeRun(t *testing.T) {
	w, k := newFakeWorker(t, 1024, 256, 256, 32, nil)
	n, _ := k.deliver(0, 10, 100, 0)
	w.Stop()
	done := make(chan error, 1)
	go func() { done <- w.Run() }()
	deadline := time.After(2 * time.Second)
	for {
		k.transmit(1, nil) // the kernel completes what the drain sends
		select {
		case err := <-done:
			if err != nil {
				t.Fatalf("Run after Stop: %v, want nil", err)
			}
			if got := w.Counters().Load(1, CtrTxFrames); got != uint64(n) {
				t.Errorf("drained %d of %d frames in the RX ring", got, n)
			}
			if err := w.Run(); err != ErrRunning {
				t.Errorf("second Run: %v, want ErrRunning", err)
			}
			return
		case <-deadline:
			t.Fatal("Run after Stop did not return")
		default:
			time.Sleep(time.Millisecond)
		}
	}
}

// TestReflectSendsBackOnIngressPort has a handler reflect every third frame
// (after rewriting it in place) and forward the rest: reflected frames leave
// on the ingress port's TX ring from the same UMEM chunk, the others on the
// peer's; completions on both rings return every frame; counters add up.
func TestReflectSendsBackOnIngressPort(t *testing.T) {
	var calls int
	h := handle.HandlerFunc(func(f *handle.Frame) handle.Verdict {
		calls++
		if calls%3 != 0 {
			return handle.Forward
		}
		// A reply built in place: 8 octets in front, truncated to 40.
		f.Off -= 8
		f.Len = 40
		copy(f.Buf[f.Off:], "REFLECT!")
		return handle.Reflect
	})
	w, k := newFakeWorker(t, 256, 64, 64, 16, h)
	for _, in := range []int{0, 1} {
		calls = 0
		out := 1 - in
		k.deliver(in, 12, 100, 0)
		var rxAddrs []uint64
		for i := uint32(0); i < 12; i++ {
			rxAddrs = append(rxAddrs, w.sock[in].rx.descs[(atomic.LoadUint32(w.sock[in].rx.consumer)+i)&w.sock[in].rx.mask].Addr)
		}
		w.step()
		var back, fwd []unix.XDPDesc
		k.transmit(in, func(d unix.XDPDesc) { back = append(back, d) })
		k.transmit(out, func(d unix.XDPDesc) { fwd = append(fwd, d) })
		if len(back) != 4 || len(fwd) != 8 {
			t.Fatalf("port %d: %d reflected, %d forwarded; want 4 and 8", in, len(back), len(fwd))
		}
		for i, d := range back {
			want := rxAddrs[3*i+2] - 8
			if d.Addr != want || d.Len != 40 || string(w.area[d.Addr:d.Addr+8]) != "REFLECT!" {
				t.Errorf("port %d reflected %d: %+v, want addr %d len 40 with the reply", in, i, d, want)
			}
		}
		w.step() // reap both completion rings
		c := w.Counters().Snapshot()
		if c[in][CtrReflected] != 4 || c[in][CtrTxFrames] != 4 || c[in][CtrTxBytes] != 160 || c[in][CtrTxCompleted] != 4 ||
			c[out][CtrTxFrames] != 8 || c[out][CtrTxCompleted] != 8 || c[in][CtrRxFrames] != 12 || c[in][CtrDropped] != 0 {
			t.Errorf("port %d counters %v", in, c)
		}
		if w.inFlight != 0 {
			t.Errorf("in flight %d after completions", w.inFlight)
		}
		for p := range w.counters.v {
			for i := range w.counters.v[p] {
				w.counters.v[p][i].Store(0)
			}
		}
	}
	if n := k.accounted(); n != 256 {
		t.Errorf("frames accounted %d, want 256", n)
	}
}

// TestReflectRingFull fills port 0's TX ring (the kernel does not drain
// it) and reflects: frames with no room are dropped and counted, nothing
// leaks, and forwarding to port 1 goes on.
func TestReflectRingFull(t *testing.T) {
	reflect := true
	h := handle.HandlerFunc(func(f *handle.Frame) handle.Verdict {
		if reflect && f.Ingress == 0 {
			return handle.Reflect
		}
		return handle.Forward
	})
	w, k := newFakeWorker(t, 256, 32, 8, 8, h)
	k.deliver(0, 8, 64, 0)
	w.step() // 8 reflected: port 0's TX ring is full
	k.deliver(0, 8, 64, 0)
	w.step() // no room: dropped
	c := w.Counters().Snapshot()
	if c[0][CtrReflected] != 8 || c[0][CtrDropped] != 8 || c[0][CtrTxRingFull] == 0 {
		t.Errorf("counters %v", c[0])
	}
	reflect = false
	k.deliver(0, 8, 64, 0)
	w.step()
	if got := k.transmit(1, nil); got != 8 {
		t.Errorf("forwarded %d after the reflect ring filled, want 8", got)
	}
	k.transmit(0, nil)
	w.step()
	if n := k.accounted(); n != 256 || w.inFlight != 0 {
		t.Errorf("frames accounted %d (want 256), in flight %d", n, w.inFlight)
	}
}

func TestStepWithReflectAllocatesNothing(t *testing.T) {
	var i int
	h := handle.HandlerFunc(func(f *handle.Frame) handle.Verdict {
		i++
		if i%5 == 0 {
			return handle.Reflect
		}
		return handle.Forward
	})
	checkStepAllocatesNothing(t, h, 128)
}
