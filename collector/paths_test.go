package collector

import (
	"errors"
	"math/rand/v2"
	"net/netip"
	"runtime"
	"syscall"
	"testing"
	"time"

	"github.com/dexplane/dexplane/dataplane/telemetry"
	"github.com/dexplane/dexplane/exporter"
)

func TestPathsOrderTimeoutEviction(t *testing.T) {
	var got []string
	var hops [][]PathHop
	p := NewPaths(3, time.Second, func(p *Path) {
		got = append(got, pathKey(toHops(p.Hops)))
		hops = append(hops, append([]PathHop(nil), p.Hops...))
	})
	k := func(seq uint32) PacketKey { return PacketKey{123, 7, seq} }
	// packet 0: records arrive out of path order
	p.Add(k(0), 3, 3000, 0)
	p.Add(k(0), 1, 1000, 10)
	p.Add(k(0), 2, 2000, 20)
	p.Add(k(1), 1, 5000, 500)
	p.Expire(999_999_999) // nothing is a second old yet
	if len(got) != 0 || p.Open() != 2 {
		t.Fatalf("completed %v, open %d", got, p.Open())
	}
	p.Expire(1_000_000_000)
	if len(got) != 1 || got[0] != "1>2>3" || hops[0][1].Time != 2000 {
		t.Fatalf("completed %v %v", got, hops)
	}
	// capacity 3: the fourth open packet completes the oldest early
	p.Add(k(2), 1, 6000, 600)
	p.Add(k(3), 1, 7000, 700)
	p.Add(k(4), 1, 8000, 800)
	if c := p.Counters(); c.Evicted != 1 || len(got) != 2 || p.Open() != 3 {
		t.Fatalf("counters %+v completed %v open %d", c, got, p.Open())
	}
	// more hops than MaxPathHops
	for d := range uint32(MaxPathHops + 2) {
		p.Add(k(4), 10+d, int64(9000+d), 800)
	}
	if c := p.Counters(); c.HopsDropped != 3 {
		t.Fatalf("counters %+v", c)
	}
	p.Flush()
	if p.Open() != 0 || len(got) != 5 || len(hops[4]) != MaxPathHops {
		t.Fatalf("open %d completed %v", p.Open(), got)
	}
}

func toHops(h []PathHop) []Hop {
	out := make([]Hop, len(h))
	for i, x := range h {
		out[i] = Hop{Domain: x.Domain, Time: x.Time}
	}
	return out
}

func TestDelaysSegmentsAndPaths(t *testing.T) {
	d := NewDelays(1e9)
	var seen int
	d.OnSegment = func(ns uint16, from, to uint32, delay int64) { seen++ }
	p := NewPaths(16, time.Second, d.AddPath)
	// 4 packets over 1>2>3; segment 2>3 delays 100..400 µs, node 3's clock
	// behind on the last one
	for seq := range uint32(4) {
		base := int64(seq) * 1e6
		k := PacketKey{123, 9, seq}
		p.Add(k, 1, base+1e9, 0)
		p.Add(k, 2, base+1e9+50_000, 0)
		third := base + 1e9 + 50_000 + int64(seq+1)*100_000
		p.Add(k, 3, third, 0)
	}
	p.Flush()
	recs := map[[3]uint32]DelayRecord{}
	d.Flush(2e9, func(r *DelayRecord) { recs[[3]uint32{r.PathID, r.From, r.To}] = *r })
	id := PathID([]PathHop{{Domain: 1}, {Domain: 2}, {Domain: 3}})
	for k, w := range map[[3]uint32]DelayRecord{
		{0, 1, 2}:  {Packets: 4, MinUs: 50, MaxUs: 50, MeanUs: 50, SumUs: 200, Hops: 2},
		{0, 2, 3}:  {Packets: 4, MinUs: 100, MaxUs: 400, MeanUs: 250, SumUs: 1000, Hops: 2},
		{id, 1, 2}: {Packets: 4, MinUs: 50, MaxUs: 50, MeanUs: 50, SumUs: 200, Hops: 3},
		{id, 1, 3}: {Packets: 4, MinUs: 150, MaxUs: 450, MeanUs: 300, SumUs: 1200, Hops: 3},
	} {
		g, ok := recs[k]
		if !ok || g.Packets != w.Packets || g.MinUs != w.MinUs || g.MaxUs != w.MaxUs || g.MeanUs != w.MeanUs || g.SumUs != w.SumUs ||
			g.Hops != w.Hops || g.Start != 1e9 || g.End != 2e9 || g.Namespace != 123 {
			t.Errorf("%v: got %+v, want %+v", k, g, w)
		}
	}
	if len(recs) != 4 || seen != 8 {
		t.Fatalf("%d records, %d segment samples", len(recs), seen)
	}
	// the next interval starts empty
	d.Flush(3e9, func(r *DelayRecord) { t.Fatalf("record in an empty interval: %+v", r) })
}

func TestPathsAddAllocs(t *testing.T) {
	p := NewPaths(1024, time.Second, func(*Path) {})
	seq := uint32(0)
	for range 2048 { // let the index map reach its size
		p.Add(PacketKey{1, 2, seq}, 1, 1, 0)
		seq++
	}
	n := testing.AllocsPerRun(10000, func() {
		p.Add(PacketKey{1, 2, seq}, 1, 1, 0)
		p.Add(PacketKey{1, 2, seq}, 2, 2, 0)
		seq++
	})
	if n != 0 {
		t.Fatalf("%v allocations per packet", n)
	}
}

// cpuTime returns the process's user + system CPU time.
func cpuTime() time.Duration {
	var ru syscall.Rusage
	syscall.Getrusage(syscall.RUSAGE_SELF, &ru)
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

// BenchmarkPathsAdd is the per-record cost of path assembly in steady
// state: 4 records (nodes) per packet, 250,000 packets/s arriving, each
// packet completed 1 s after its first record (so 250,000 open) and folded
// into Delays. Besides ns/op (wall time, meaningless on a loaded shared
// machine) it reports records per CPU-second of the process.
func BenchmarkPathsAdd(b *testing.B) {
	d := NewDelays(0)
	p := NewPaths(1<<18+1024, time.Second, d.AddPath)
	seq := uint32(0)
	add := func(i int) {
		dom := uint32(i % 4)
		now := int64(seq) * 4000 // 250,000 packets/s
		p.Add(PacketKey{123, seq % 1000, seq / 1000}, dom+1, now+int64(dom)*50_000, now)
		if dom == 3 {
			seq++
			if seq%1024 == 0 {
				p.Expire(now)
			}
		}
	}
	benchRecords(b, add)
}

// benchRecords warms with 4Mi calls of add (every slab page touched,
// steady churn), then calls add once per benchmark iteration with a rising
// index and reports allocations and records per CPU second.
func benchRecords(b *testing.B, add func(i int)) {
	for i := range 4 << 20 {
		add(i)
	}
	b.ReportAllocs()
	c0 := cpuTime()
	n := 0
	for i := 0; b.Loop(); i++ {
		add(i)
		n++
	}
	b.ReportMetric(float64(n)/(cpuTime()-c0).Seconds(), "records/cpu-s")
}

// benchStream encodes one second of what 4 nodes export at 100 % DEX for
// 250,000 packets/s of 1,000 flows (sequence numbers from seq0 on), as a
// collector receives it: the nodes' IPFIX messages interleaved one by one,
// each with the collector time it arrives at (the first packet's time at
// that node). Node k sees a packet 50 µs × k after node 0.
type benchMsg struct {
	b   []byte
	now int64
}

func benchStream(tb testing.TB, start int64, seq0 uint32, packets int) []benchMsg {
	var per [4][]benchMsg
	for node := range uint32(4) {
		var first int64 = -1
		enc, err := exporter.NewEncoder(exporter.EncoderConfig{ObservationDomain: node + 1, Fields: exporter.FieldsStandard,
			Emit: func(m []byte, _ int) bool {
				per[node] = append(per[node], benchMsg{append([]byte(nil), m...), first})
				first = -1
				return true
			}})
		if err != nil {
			tb.Fatal(err)
		}
		for i := range packets {
			ts := start + int64(i)*4000 + int64(node)*50_000
			if first < 0 {
				first = ts
			}
			r := telemetry.Record{Namespace: 123, HasFlowID: true, FlowID: uint32(i % 1000), HasSeq: true, Seq: seq0 + uint32(i/1000),
				TraceType: telemetry.TraceHopLimNodeID | telemetry.TraceTimestampSec | telemetry.TraceTimestampFrac,
				NodeID:    node + 1, HopLimit: uint8(64 - node), TimestampSec: uint32(ts / 1e9), TimestampFrac: uint32(ts % 1e9 / 1e3), RxTime: ts}
			if err := enc.Encode(&r); err != nil {
				tb.Fatal(err)
			}
		}
		enc.Flush()
	}
	var out []benchMsg
	for i := 0; ; i++ {
		n := 0
		for node := range per {
			if i < len(per[node]) {
				out = append(out, per[node][i])
				n++
			}
		}
		if n == 0 {
			return out
		}
	}
}

// BenchmarkCollectCore is the whole path one `dexplane collect` core runs
// per record, in steady state: decode the IPFIX message, correlate (the
// Correlator: per-(flow, node) loss, duplicates and reordering, and the
// packet table), complete each packet 1 s after its first record into its
// flow's path statistics, the RFC 9951 per-segment and per-path delays and
// the Prometheus segment histogram. 4 nodes, 1,000 flows, 250,000 packets/s
// (1 M records/s arriving), so about 250,000 packets open. It reports
// records per CPU-second of the process (wall time means little on a
// loaded shared machine), heap allocations per record and the octets one
// tracked (open) packet costs.
func BenchmarkCollectCore(b *testing.B) {
	const packets = 250_000 // one second of traffic per pass
	src := netip.MustParseAddrPort("[2001:db8::1]:4739")
	for _, general := range []bool{false, true} {
		name := "fast-decode"
		if general {
			name = "goflow2-decode" // every record through goflow2, as before the fast path
		}
		b.Run(name, func(b *testing.B) {
			dec := NewDecoder()
			dec.noFast = general
			d := NewDelays(0)
			m := NewMetrics()
			d.OnSegment = m.ObserveSegment
			corr := NewCorrelator()
			corr.MaxPackets, corr.Timeout = 1<<20, time.Second
			corr.OnPath = d.AddPath
			pass := 0
			var stream []benchMsg
			next := func() {
				stream = benchStream(b, int64(1_700_000_000+pass)*1e9, uint32(pass*packets/1000), packets)
				pass++
			}
			var records int
			fn := func(ev *Event) { records++; corr.Add(ev) }
			run := func(msg benchMsg) {
				corr.Expire(msg.now)
				dec.Decode(src, msg.b, fn)
			}
			// warm up: two seconds of traffic reach the steady state
			for range 2 {
				next()
				for _, msg := range stream {
					run(msg)
				}
			}
			next()
			records = 0
			var cpu time.Duration
			var mallocs uint64
			var ms runtime.MemStats
			runtime.ReadMemStats(&ms)
			m0 := ms.Mallocs
			b.ResetTimer()
			c0 := cpuTime()
			for i := 0; i < b.N; i++ {
				if i > 0 && i%len(stream) == 0 { // the next second, made outside the measurement
					b.StopTimer()
					cpu += cpuTime() - c0
					runtime.ReadMemStats(&ms)
					mallocs += ms.Mallocs - m0
					next()
					runtime.ReadMemStats(&ms)
					m0 = ms.Mallocs
					c0 = cpuTime()
					b.StartTimer()
				}
				run(stream[i%len(stream)])
			}
			cpu += cpuTime() - c0
			b.StopTimer()
			runtime.ReadMemStats(&ms)
			mallocs += ms.Mallocs - m0
			b.ReportMetric(float64(records)/cpu.Seconds(), "records/cpu-s")
			b.ReportMetric(float64(mallocs)/float64(max(records, 1)), "allocs/record")
			b.ReportMetric(float64(corr.Open()), "open-packets")
			b.ReportMetric(corr.PacketOctets(), "B/open-packet")
		})
	}
}

// TestPathsMemory measures the heap one open packet costs in Paths.
func TestPathsMemory(t *testing.T) {
	const n = 1 << 18
	var before, after runtime.MemStats
	runtime.GC()
	runtime.ReadMemStats(&before)
	p := NewPaths(n, time.Hour, nil)
	for seq := range uint32(n) {
		p.Add(PacketKey{1, 2, seq}, 1, 1, 0)
	}
	runtime.GC()
	runtime.ReadMemStats(&after)
	per := float64(after.HeapAlloc-before.HeapAlloc) / n
	t.Logf("%.0f octets of heap per open packet (%d open)", per, p.Open())
	if per > 400 {
		t.Errorf("%.0f octets per open packet, documented as 180 to 196", per)
	}
	runtime.KeepAlive(p)
}

// TestPathsRandom checks the open-addressing index against a map under
// random churn: every completed path holds exactly the hops added for its
// packet since it opened.
func TestPathsRandom(t *testing.T) {
	rng := rand.New(rand.NewPCG(5, 6))
	want := map[PacketKey]int{}
	bad := 0
	p := NewPaths(64, 50, func(pa *Path) {
		if len(pa.Hops) != min(want[pa.Key], MaxPathHops) {
			bad++
		}
		delete(want, pa.Key)
	})
	for now := int64(0); now < 200_000; now++ {
		k := PacketKey{uint16(rng.IntN(2)), uint32(rng.IntN(50)), uint32(rng.IntN(40))}
		p.Add(k, uint32(rng.IntN(4)), now, now)
		want[k]++
		if now%7 == 0 {
			p.Expire(now)
		}
	}
	p.Flush()
	if bad != 0 || len(want) != 0 {
		t.Fatalf("%d paths with wrong hops, %d packets never completed", bad, len(want))
	}
}

// BenchmarkCorrelateStage is the correlation a collector core does per
// record once decoded, without the IPFIX decoder: the per-(flow, node)
// sequence statistics (loss, duplicates, reordering) and path assembly
// with per-segment and per-path delay, 4 nodes, 1,000 flows, 250,000
// packets/s, 1 s path timeout. Reports records per CPU-second.
func BenchmarkCorrelateStage(b *testing.B) {
	d := NewDelays(0)
	p := NewPaths(1<<18+1024, time.Second, d.AddPath)
	seqs := make(map[FlowKey]map[uint32]*seqTracker)
	seq := uint32(0)
	add := func(i int) {
		dom := uint32(i%4) + 1
		k := PacketKey{123, seq % 1000, seq / 1000}
		fk := FlowKey{k.Namespace, k.FlowID}
		nodes := seqs[fk]
		if nodes == nil {
			nodes = make(map[uint32]*seqTracker)
			seqs[fk] = nodes
		}
		st := nodes[dom]
		if st == nil {
			st = &seqTracker{}
			nodes[dom] = st
		}
		st.add(k.Seq)
		now := int64(seq) * 4000
		p.Add(k, dom, now+int64(dom)*50_000, now)
		if dom == 4 {
			seq++
			if seq%1024 == 0 {
				p.Expire(now)
			}
		}
	}
	benchRecords(b, add)
}

// TestOTLPDownNeverStalls: with nothing listening, Add and Flush return at
// once, batches beyond the queue are dropped and counted, Close returns.
func TestOTLPDownNeverStalls(t *testing.T) {
	o, err := NewOTLP("http://127.0.0.1:1")
	if err != nil {
		t.Fatal(err)
	}
	hops := []PathHop{{Domain: 1, Time: 1000}, {Domain: 2, Time: 2000}}
	start := time.Now()
	for seq := range uint32(100 * maxBatchPaths) {
		o.Add(&Path{Key: PacketKey{1, 2, seq}, Hops: hops})
	}
	o.Close()
	if d := time.Since(start); d > 10*time.Second {
		t.Fatalf("took %v", d)
	}
	if got := o.Sent.Load() + o.Dropped.Load() + o.Failed.Load(); got != 100*maxBatchPaths || o.Sent.Load() != 0 {
		t.Fatalf("sent %d dropped %d failed %d", o.Sent.Load(), o.Dropped.Load(), o.Failed.Load())
	}
}

func TestOutputURLs(t *testing.T) {
	for _, u := range []string{"", "udp://", "grpc://h:4317", "http//x", "ftp://h:1"} {
		if _, err := NewOTLP(u); !errors.Is(err, ErrOTLPEndpoint) {
			t.Errorf("NewOTLP(%q): %v", u, err)
		}
	}
	for _, u := range []string{"", "http://h:1", "udp://", "udp://h:1/path", "tcp//h:1"} {
		if _, err := DialIPFIXOut(u, 0); !errors.Is(err, ErrIPFIXOutURL) {
			t.Errorf("DialIPFIXOut(%q): %v", u, err)
		}
	}
}

// TestCollectPathAllocs: in steady state the whole collect path (decode a
// data message, correlate, complete paths into the flow, delay and
// histogram statistics) allocates nothing per record.
func TestCollectPathAllocs(t *testing.T) {
	src := netip.MustParseAddrPort("[2001:db8::1]:4739")
	dec := NewDecoder()
	d := NewDelays(0)
	m := NewMetrics()
	d.OnSegment = m.ObserveSegment
	corr := NewCorrelator()
	corr.MaxPackets, corr.Timeout = 1<<14, 10*time.Millisecond
	corr.OnPath = d.AddPath
	records := 0
	fn := func(ev *Event) { records++; corr.Add(ev) }
	start := int64(1_700_000_000) * 1e9
	for _, msg := range benchStream(t, start, 0, 20_000) { // templates, every flow, node and path seen
		corr.Expire(msg.now)
		dec.Decode(src, msg.b, fn)
	}
	var data []benchMsg
	for _, msg := range benchStream(t, start+1e9, 20, 20_000) {
		if leadingTemplates(msg.b) == msgHeaderLen { // data sets only
			data = append(data, msg)
		}
	}
	i := 0
	records = 0
	allocs := testing.AllocsPerRun(len(data)-1, func() {
		corr.Expire(data[i].now)
		if err := dec.Decode(src, data[i].b, fn); err != nil {
			t.Fatal(err)
		}
		i++
	})
	if allocs != 0 || records == 0 || corr.PathCounters().Paths == 0 {
		t.Fatalf("%v allocations per message (%d records, %d paths)", allocs, records, corr.PathCounters().Paths)
	}
}
