package dataplane_test

import (
	"encoding/binary"
	"net/netip"
	"runtime"
	"slices"
	"strings"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"golang.org/x/sys/unix"

	"github.com/dexplane/dexplane/dataplane/checksum"
	"github.com/dexplane/dexplane/dataplane/handle"
	"github.com/dexplane/dexplane/dataplane/node"
	"github.com/dexplane/dexplane/dataplane/packet"
	"github.com/dexplane/dexplane/dataplane/policy"
	"github.com/dexplane/dexplane/dataplane/telemetry"
	"github.com/dexplane/dexplane/dataplane/xsk"
	"github.com/dexplane/dexplane/exporter"
)

// The pipeline benchmark runs dexplane's whole per-packet path without the
// kernel: frames are received into an in-memory ring pair (xsk.NewMemWorker,
// the kernel's side played by xsk.MemKernel), go through the real worker
// step and a node's IOAM role, their records through the node's record
// ring, the exporter's rate limiter and the IPFIX encoder into a message
// buffer. It answers "how much CPU does dexplane itself spend per packet",
// which on a zero-copy NIC is what decides how many cores a line rate needs.
//
//	go test -run '^$' -bench Pipeline -benchtime 2s ./dataplane/
//
// Metrics per role: ns/pkt, the median time of a round of 64 frames per
// frame; copy-ns, one 1514-octet frame copy (buffers in cache), timed right
// after every round and also taken as a median: the unit; copies/pkt =
// ns/pkt ÷ copy-ns, the figure to compare between machines and runs; and
// cpu-ns/pkt, the process's CPU time over the whole run per frame (garbage
// collector and preemptions included); export-copies/pkt, the part of
// copies/pkt spent in the export half (record ring drain, rate limiter,
// IPFIX encoding; the node's record writes are in the rest).
//
// What the in-memory kernel does is not part of ns/pkt: receiving a batch
// (writing each frame's first pipeHdr octets, the headers the roles edit,
// while the payload stays in the chunk; moving descriptors) happens before
// the clock starts, and transmitting it (completing the descriptors) is
// timed on its own and subtracted (memkernel-tx-ns/pkt). The receive leaves
// the headers in this core's cache, as a NIC's DMA into the last-level
// cache or a copy-mode kernel on another core would not: ns/pkt is the
// warm-cache cost.

const (
	pipeFrameLen = 1514 // Ethernet frame octets as received
	pipeFlows    = 64
	pipeHdr      = 128 // octets the in-memory kernel rewrites per frame
	pipeBatch    = xsk.DefaultBatchSize
)

var pipeEth = []byte{0x02, 0, 0, 0, 0, 2, 0x02, 0, 0, 0, 0, 1, 0x86, 0xdd}

// pipeSpec is a node at which port 0 faces the direction the role needs,
// namespace 123, one route 2001:db8::/32 with DEX on every packet, ext-flags
// 0xC0 (Flow ID + sequence) and trace type 0xF00000 (bits 0-3).
func pipeSpec(west, east policy.Domain, route bool, mode policy.Mode) policy.Spec {
	s := policy.Spec{
		Node: policy.Node{ID: 1, IDWide: 0x00AABBCCDDEEFF11, Address: netip.MustParseAddr("2001:db8:ffff::1")},
		Ports: [2]policy.Port{
			{Name: "p0", Domain: west, IOAMEnabled: true, IfID: 10, IfIDWide: 100},
			{Name: "p1", Domain: east, IOAMEnabled: true, IfID: 11, IfIDWide: 111},
		},
		Namespaces:     []policy.Namespace{{ID: 123}},
		DecapEndpoints: []netip.Addr{netip.MustParseAddr("2001:db8:ffff::2")},
		Flows:          policy.Flows{MaxFlows: 65536},
		Options:        policy.Options{MergeHbH: true, StripAtDecap: true},
	}
	if route {
		r := policy.Route{
			Prefix: netip.MustParsePrefix("2001:db8::/32"), Mode: mode, K: 1, N: 1,
			DEX: policy.DEX{Namespace: 123, ExtFlags: 0xC0, TraceType: 0xF00000},
		}
		if mode == policy.ModeEncap {
			r.TunDst = netip.MustParseAddr("2001:db8:ffff::2")
		}
		s.Routes = []policy.Route{r}
	}
	return s
}

// pipeCase is one role of the benchmark: the node's spec and, for the
// roles that receive DEX packets, the encapsulation that made them.
type pipeCase struct {
	name    string
	spec    policy.Spec
	dexMode policy.Mode // mode of the upstream encap node; ModeInline or ModeEncap
	withDEX bool
	records bool // one record per packet expected
	remote  bool // receive on another CPU (see startRemote)
	csum    bool // the checksum stage of a virtual port (veth) in front of the node
}

// remoteCases are ioam-off and encap-inline with the frames received on
// another CPU: the headers arrive in that core's cache, as a copy-mode
// kernel's on the sender's CPU do, and the worker's first load of each
// frame misses. They are named remote-rx/ROLE, so that -bench
// 'Pipeline/ROLE$' selects the warm case alone.
func remoteCases() []pipeCase {
	return variants("remote-rx/", func(pc *pipeCase) { pc.remote = true })
}

// vethCases are ioam-off and encap-inline with the checksum stage of a
// virtual port in front of the node, completing on both ports, as the
// engine runs on veths (the frames here have finished checksums, so it
// only finds that out: the check's cost).
func vethCases() []pipeCase {
	return variants("veth-csum/", func(pc *pipeCase) { pc.csum = true })
}

// variants returns ioam-off and encap-inline named prefix+ROLE and
// changed by set.
func variants(prefix string, set func(*pipeCase)) []pipeCase {
	var cs []pipeCase
	for _, pc := range pipeCases[:2] {
		pc.name = prefix + pc.name
		set(&pc)
		cs = append(cs, pc)
	}
	return cs
}

var pipeCases = []pipeCase{
	{name: "ioam-off", spec: pipeSpec(policy.Outside, policy.Inside, false, 0)},
	{name: "encap-inline", spec: pipeSpec(policy.Outside, policy.Inside, true, policy.ModeInline), records: true},
	{name: "encap-ip6ip6", spec: pipeSpec(policy.Outside, policy.Inside, true, policy.ModeEncap), records: true},
	{name: "transit", spec: pipeSpec(policy.Inside, policy.Inside, false, 0), withDEX: true, dexMode: policy.ModeInline, records: true},
	{name: "decap-inline", spec: pipeSpec(policy.Inside, policy.Outside, false, 0), withDEX: true, dexMode: policy.ModeInline, records: true},
	{name: "decap-ip6ip6", spec: pipeSpec(policy.Inside, policy.Outside, false, 0), withDEX: true, dexMode: policy.ModeEncap, records: true},
}

// pipeUDP returns an Ethernet frame of frameLen octets: IPv6/UDP from
// 2001:db8::1 port sport to 2001:db8::2 port 5001.
func pipeUDP(frameLen int, sport uint16) []byte {
	b := make([]byte, frameLen)
	copy(b, pipeEth)
	ip := b[len(pipeEth):]
	ip[0] = 0x60
	binary.BigEndian.PutUint16(ip[4:], uint16(len(ip)-40))
	ip[6] = packet.ProtoUDP
	ip[7] = 64
	s, d := netip.MustParseAddr("2001:db8::1").As16(), netip.MustParseAddr("2001:db8::2").As16()
	copy(ip[8:], s[:])
	copy(ip[24:], d[:])
	binary.BigEndian.PutUint16(ip[40:], sport)
	binary.BigEndian.PutUint16(ip[42:], 5001)
	binary.BigEndian.PutUint16(ip[44:], uint16(len(ip)-40))
	for i := 48; i < len(ip); i++ {
		ip[i] = byte(i)
	}
	return b
}

// encapOnce runs frame through an encapsulating node in mode and returns
// the frame it sends.
func encapOnce(tb testing.TB, frame []byte, mode policy.Mode) []byte {
	tb.Helper()
	var ptr atomic.Pointer[policy.Snapshot]
	s, err := policy.New(pipeSpec(policy.Outside, policy.Inside, true, mode), nil)
	if err != nil {
		tb.Fatal(err)
	}
	ptr.Store(s)
	n, err := node.New(node.Config{Policy: &ptr, RingSize: 2})
	if err != nil {
		tb.Fatal(err)
	}
	buf := make([]byte, 2048)
	copy(buf[512:], frame)
	f := &handle.Frame{Buf: buf, Off: 512, Len: len(frame), RxTime: time.Now().UnixNano()}
	if v := n.Handle(f); v != handle.Forward || n.Counters().DEXInserted.Load() != 1 {
		tb.Fatalf("upstream encap: verdict %v, counters %+v", v, n.Counters().DEXInserted.Load())
	}
	return append([]byte(nil), f.Packet()...)
}

// pipeFrames returns the 64 flows' frames the role receives, each
// pipeFrameLen octets long.
func pipeFrames(tb testing.TB, pc pipeCase) [][]byte {
	frames := make([][]byte, pipeFlows)
	for i := range frames {
		sport := uint16(40000 + i)
		if !pc.withDEX {
			frames[i] = pipeUDP(pipeFrameLen, sport)
			continue
		}
		grow := len(encapOnce(tb, pipeUDP(pipeFrameLen, sport), pc.dexMode)) - pipeFrameLen
		frames[i] = encapOnce(tb, pipeUDP(pipeFrameLen-grow, sport), pc.dexMode)
		if len(frames[i]) != pipeFrameLen {
			tb.Fatalf("DEX frame is %d octets", len(frames[i]))
		}
	}
	return frames
}

// pipeline is one role's node behind an in-memory worker, and the export
// half: record ring → rate limiter → IPFIX encoder.
type pipeline struct {
	tb     testing.TB
	k      *xsk.MemKernel
	w      *xsk.Worker
	n      *node.Handler
	ring   *telemetry.Ring
	bucket *exporter.TokenBucket
	enc    *exporter.Encoder
	frames [][]byte
	next   int
	fill   func(buf []byte) int

	pkts, records, messages, octets uint64

	remoteGo   chan struct{} // receive on another CPU: start a Deliver
	remoteDone chan int      // and its result
}

func newPipeline(tb testing.TB, pc pipeCase) *pipeline {
	tb.Helper()
	s, err := policy.New(pc.spec, nil)
	if err != nil {
		tb.Fatal(err)
	}
	var ptr atomic.Pointer[policy.Snapshot]
	ptr.Store(s)
	// As dexplane run configures it: no raw section without a JSON output.
	n, err := node.New(node.Config{Policy: &ptr, RawSection: node.RawForJSON})
	if err != nil {
		tb.Fatal(err)
	}
	p := &pipeline{tb: tb, n: n, ring: n.Ring(), frames: pipeFrames(tb, pc)}
	// What the engine gives a worker between two physical ports (the NIC
	// path this benchmark stands for): the node alone, since no checksum
	// needs completing or checking (dataplane skipChecksums); a virtual port
	// (veth) puts the checksum stage in front (pc.csum).
	var h handle.Handler = n
	if pc.csum {
		h = &checksum.Handler{Next: n, Fix: [2]bool{true, true}}
	}
	p.w, p.k, err = xsk.NewMemWorker(xsk.WorkerConfig{Handler: h})
	if err != nil {
		tb.Fatal(err)
	}
	p.bucket = exporter.NewTokenBucket(1<<40, 1<<40)
	p.bucket.Reset(time.Now().UnixNano())
	p.enc, err = exporter.NewEncoder(exporter.EncoderConfig{
		ObservationDomain: 1, Fields: exporter.FieldsStandard, TemplateRefresh: exporter.DefaultTemplateRefresh,
		Emit: func(msg []byte, records int) bool {
			p.messages++
			p.octets += uint64(len(msg))
			return true
		},
	})
	if err != nil {
		tb.Fatal(err)
	}
	// The payload never changes: write every frame whole once per chunk as
	// it comes, then only its headers.
	seen := map[*byte]bool{}
	p.fill = func(buf []byte) int {
		f := p.frames[p.next]
		p.next = (p.next + 1) & (pipeFlows - 1)
		if !seen[&buf[0]] {
			seen[&buf[0]] = true
			return copy(buf, f)
		}
		copy(buf[:pipeHdr], f)
		return len(f)
	}
	// Touch every chunk once, outside any measurement.
	for range 2 * (xsk.DefaultFillSize + xsk.DefaultRingSize) / pipeBatch {
		p.round()
	}
	seen = nil
	p.fill = func(buf []byte) int {
		f := p.frames[p.next]
		p.next = (p.next + 1) & (pipeFlows - 1)
		copy(buf[:pipeHdr], f)
		return len(f)
	}
	p.pkts, p.records, p.messages, p.octets = 0, 0, 0, 0
	return p
}

// round receives one batch on port 0, runs the worker step, transmits what
// it queued on port 1 and drains the record ring through the exporter's
// rate limiter and the IPFIX encoder, as the exporter's drainer does.
func (p *pipeline) round() int {
	got := p.receive()
	return p.process(got)
}

// receive is the in-memory kernel's receive half of a round.
func (p *pipeline) receive() int {
	if p.remoteGo != nil {
		p.remoteGo <- struct{}{}
		return <-p.remoteDone
	}
	return p.k.Deliver(0, pipeBatch, p.fill)
}

// startRemote makes receive run Deliver in a goroutine locked to an OS
// thread pinned to another CPU than the caller's (which it pins too), for
// the rest of the benchmark. It skips without two CPUs to pin to.
func (p *pipeline) startRemote(b *testing.B) {
	runtime.LockOSThread()
	b.Cleanup(runtime.UnlockOSThread)
	var set unix.CPUSet
	if err := unix.SchedGetaffinity(0, &set); err != nil || set.Count() < 2 {
		b.Skip("remote-rx needs two CPUs")
	}
	var cpus []int
	for c := 0; c < 1024 && len(cpus) < 2; c++ {
		if set.IsSet(c) {
			cpus = append(cpus, c)
		}
	}
	pin := func(c int) {
		var one unix.CPUSet
		one.Set(c)
		_ = unix.SchedSetaffinity(0, &one)
	}
	pin(cpus[0])
	b.Cleanup(func() { pin(cpus[0]); _ = unix.SchedSetaffinity(0, &set) })
	p.remoteGo, p.remoteDone = make(chan struct{}), make(chan int)
	stop := make(chan struct{})
	b.Cleanup(func() { close(stop) })
	go func() {
		runtime.LockOSThread()
		pin(cpus[1])
		for {
			select {
			case <-p.remoteGo:
				p.remoteDone <- p.k.Deliver(0, pipeBatch, p.fill)
			case <-stop:
				return
			}
		}
	}()
}

// transmit is the in-memory kernel's transmit half of a round.
func (p *pipeline) transmit(want int) {
	if sent := p.k.Transmit(1, nil); sent != want {
		p.tb.Fatalf("sent %d of %d frames", sent, want)
	}
}

// process is dexplane's part of a round: the worker step (role included)
// and the export of the batch's records.
func (p *pipeline) process(got int) int {
	p.k.Step()
	p.transmit(got)
	p.export()
	p.pkts += uint64(got)
	return got
}

// export drains the record ring through the rate limiter and the encoder
// by runs of records, as the exporter's drainer does: one clock reading,
// one rate-limiter decision per run, the admitted records encoded in
// place.
func (p *pipeline) export() {
	now := time.Now().UnixNano()
	for rs := p.ring.PeekRun(exporter.DefaultBatch); len(rs) > 0; rs = p.ring.PeekRun(exporter.DefaultBatch) {
		k := p.bucket.AllowN(now, len(rs))
		if failed, err := p.enc.EncodeRun(rs[:k], now); failed > 0 {
			p.tb.Fatal(err)
		}
		p.ring.ReleaseBatchedN(len(rs))
		p.records += uint64(len(rs))
	}
	p.ring.PublishReleases() // as the exporter's drain does
}

func processCPU() int64 {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		return 0
	}
	return ru.Utime.Nano() + ru.Stime.Nano()
}

func BenchmarkPipeline(b *testing.B) {
	b.Run("copy1514", func(b *testing.B) {
		src, dst := make([]byte, pipeFrameLen), make([]byte, pipeFrameLen)
		b.SetBytes(pipeFrameLen)
		for i := 0; b.Loop(); i++ {
			copy(dst, src)
			src[i&1023]++
		}
	})
	for _, pc := range slices.Concat(pipeCases, remoteCases(), vethCases()) {
		b.Run(pc.name, func(b *testing.B) {
			p := newPipeline(b, pc)
			if pc.remote {
				p.startRemote(b)
			}
			// Each iteration times one round and, right after it, a batch's
			// worth of frame copies, so that both see the same machine (other
			// processes, frequency); the medians ignore preemptions.
			src, dst := make([]byte, pipeFrameLen), make([]byte, pipeFrameLen)
			const keep = 1 << 14
			rounds, copies, kern := make([]int64, keep), make([]int64, keep), make([]int64, keep)
			exp := make([]int64, keep)
			b.ReportAllocs()
			cpu0 := processCPU()
			i := 0
			for b.Loop() {
				got := p.receive()
				t0 := time.Now()
				p.k.Step()
				tk := time.Now()
				p.transmit(got)
				tt := time.Now()
				p.export()
				p.pkts += uint64(got)
				t1 := time.Now()
				kern[i%keep], exp[i%keep] = tt.Sub(tk).Nanoseconds(), t1.Sub(tt).Nanoseconds()
				for j := range pipeBatch {
					copy(dst, src)
					src[j]++
				}
				t2 := time.Now()
				rounds[i%keep], copies[i%keep] = t1.Sub(t0).Nanoseconds()-kern[i%keep], t2.Sub(t1).Nanoseconds()
				i++
			}
			cpu := float64(processCPU() - cpu0)
			p.enc.Flush()
			pkts := float64(p.pkts)
			wantRecords := uint64(0)
			if pc.records {
				wantRecords = p.pkts
			}
			if p.records != wantRecords {
				b.Fatalf("%d records for %d packets", p.records, p.pkts)
			}
			n := min(i, keep)
			round, unit := median(rounds[:n])/pipeBatch, median(copies[:n])/pipeBatch
			b.ReportMetric(round, "ns/pkt")
			b.ReportMetric(cpu/pkts, "cpu-ns/pkt")
			b.ReportMetric(unit, "copy-ns")
			b.ReportMetric(round/unit, "copies/pkt")
			b.ReportMetric(median(kern[:n])/pipeBatch, "memkernel-tx-ns/pkt")
			b.ReportMetric(median(exp[:n])/pipeBatch/unit, "export-copies/pkt")
		})
	}
}

// median returns the median of v (which it sorts), as float64.
func median(v []int64) float64 {
	slices.Sort(v)
	return float64(v[len(v)/2])
}

// TestPipeline checks what the benchmark measures: every role forwards
// every frame as it should leave, records and encodes one IPFIX data record
// per packet (none with IOAM off), and allocates nothing per round.
func TestPipeline(t *testing.T) {
	for _, pc := range slices.Concat(pipeCases, vethCases()) {
		t.Run(pc.name, func(t *testing.T) {
			p := newPipeline(t, pc)
			var out packet.Packet
			checked := 0
			got := p.k.Deliver(0, pipeBatch, p.fill)
			p.k.Step()
			p.k.Transmit(1, func(pkt []byte) {
				if err := packet.Parse(pkt, &out); err != nil {
					t.Fatalf("frame %d does not parse: %v", checked, out.Detail(err))
				}
				role := pc.name[strings.LastIndexByte(pc.name, '/')+1:]
				wantDEX := role != "ioam-off" && role != "decap-inline" && role != "decap-ip6ip6"
				if out.HasDEX != wantDEX || (!wantDEX && out.NumIOAM != 0) {
					t.Errorf("frame %d: DEX %v, IOAM options %d", checked, out.HasDEX, out.NumIOAM)
				}
				checked++
			})
			p.pkts += uint64(got)
			if checked != got || got != pipeBatch {
				t.Fatalf("delivered %d, transmitted %d", got, checked)
			}
			allocs := testing.AllocsPerRun(100, func() { p.round() })
			if allocs != 0 {
				t.Errorf("%v allocations per round of %d frames", allocs, pipeBatch)
			}
			p.enc.Flush()
			if pc.records {
				if p.records != p.pkts || p.messages == 0 {
					t.Errorf("%d packets, %d records, %d IPFIX messages", p.pkts, p.records, p.messages)
				}
			} else if p.records != 0 {
				t.Errorf("IOAM off exported %d records", p.records)
			}
		})
	}
}
