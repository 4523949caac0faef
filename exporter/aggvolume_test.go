package exporter_test

import (
	"math/rand/v2"
	"net/netip"
	"sync"
	"testing"
	"time"

	"github.com/dexplane/dexplane/collector"
	"github.com/dexplane/dexplane/dataplane/policy"
	"github.com/dexplane/dexplane/dataplane/telemetry"
	"github.com/dexplane/dexplane/exporter"
	"github.com/dexplane/dexplane/exporter/aggregate"
	"github.com/dexplane/dexplane/internal/testutil"
)

// aggRec is one record of flow f at a transit node at 100 % DEX: 1500-octet
// packets with Flow ID and sequence number, node id and timestamps.
func aggRec(f, seq uint32, t int64) telemetry.Record {
	r := telemetry.Record{
		RxTime: t, Role: telemetry.RoleTransit, Namespace: 123,
		TraceType: telemetry.TraceHopLimNodeID | telemetry.TraceTimestampSec | telemetry.TraceTimestampFrac,
		ExtFlags:  0xC0, HasFlowID: true, FlowID: 0x10000 + f, HasSeq: true, Seq: seq,
		NextHeader: 17, SrcPort: uint16(40000 + f), DstPort: 5001, HopLimit: 63, NodeID: 7, EgressPort: 1,
		TimestampSec: uint32(t / 1e9), TimestampFrac: uint32(t % 1e9 / 1e3), RawLen: 40,
	}
	r.RawSection[4], r.RawSection[5] = 0x05, 0xB4 // payload 1460: a 1500-octet IPv6 packet
	r.Src = netip.MustParseAddr("2001:db8::1").As16()
	r.Dst = netip.MustParseAddr("2001:db8::2").As16()
	return r
}

// TestAggregateVolume measures what leaves a node in one second at 100 %
// DEX with 1,000,000 packets/s offered over 1,000 flows (1 % of the packets
// lost before the node, some reordered): records and octets per second of
// per-packet export against 1-second aggregates, both through the IPFIX
// Encoder the exporter uses, and checks that the loss figures a collector
// derives are the same (per-packet: the correlator over every record;
// aggregated: the decoded aggregate records).
func TestAggregateVolume(t *testing.T) {
	const (
		pps   = 1_000_000
		flows = 1000
	)
	var ppRecs, ppOctets, agRecs, agOctets int
	pp, err := exporter.NewEncoder(exporter.EncoderConfig{ObservationDomain: 1, Fields: exporter.FieldsStandard,
		Emit: func(m []byte, n int) bool { ppRecs += n; ppOctets += len(m) + 48; return true }})
	if err != nil {
		t.Fatal(err)
	}
	var agMsgs [][]byte
	ag, err := exporter.NewEncoder(exporter.EncoderConfig{ObservationDomain: 1, Fields: exporter.FieldsStandard,
		Emit: func(m []byte, n int) bool {
			agRecs += n
			agOctets += len(m) + 48
			agMsgs = append(agMsgs, append([]byte(nil), m...))
			return true
		}})
	if err != nil {
		t.Fatal(err)
	}
	agg := aggregate.New(aggregate.Config{Interval: time.Second})
	corr := collector.NewCorrelator()
	corr.MaxPackets = 1 << 12
	rng := rand.New(rand.NewPCG(3, 4))
	seq := make([]uint32, flows)
	var held *telemetry.Record
	t0 := int64(1_750_000_000) * 1e9
	for i := range pps {
		f := uint32(i % flows)
		s := seq[f]
		seq[f]++
		if rng.IntN(100) == 0 {
			continue // lost upstream of the node
		}
		r := aggRec(f, s, t0+int64(i)*1000)
		if held == nil && rng.IntN(1000) == 0 {
			held = &r // overtaken by the next one of another flow… and of its own
			continue
		}
		for _, x := range []*telemetry.Record{&r, held} {
			if x == nil || x == held && x.FlowID != r.FlowID {
				continue
			}
			if err := pp.Encode(x); err != nil {
				t.Fatal(err)
			}
			agg.Add(x)
			corr.Add(&collector.Event{Domain: 1, Record: *x})
			if x == held {
				held = nil
			}
		}
	}
	pp.Flush()
	agg.Flush(func(rec *aggregate.Record) {
		if err := ag.EncodeCustom(exporter.AggregateTemplate, (*exporter.AggRecord)(rec)); err != nil {
			t.Fatal(err)
		}
	})
	ag.Flush()

	// what a collector makes of each
	var want collector.NodeFlowStats
	for _, s := range corr.Summary() {
		for _, n := range s.Nodes {
			want.Received += n.Received
			want.Lost += n.Lost
			want.Duplicates += n.Duplicates
			want.Reordered += n.Reordered
		}
	}
	dec := collector.NewDecoder()
	var mu sync.Mutex
	var got collector.AggregateTotals
	dec.OnAggregate = func(_ netip.AddrPort, _ uint32, rec *aggregate.Record) { mu.Lock(); got.Add(rec); mu.Unlock() }
	src := netip.MustParseAddrPort("[2001:db8::7]:4739")
	for _, m := range agMsgs {
		if err := dec.Decode(src, m, func(*collector.Event) { t.Fatal("a per-packet record among the aggregates") }); err != nil {
			t.Fatal(err)
		}
	}
	t.Logf("per-packet: %d records/s, %d octets/s (%.1f Mb/s); aggregated (1 s): %d records/s, %d octets/s; %.0f× fewer records, %.0f× fewer octets",
		ppRecs, ppOctets, float64(ppOctets)*8/1e6, agRecs, agOctets, float64(ppRecs)/float64(agRecs), float64(ppOctets)/float64(agOctets))
	t.Logf("loss: per-packet received %d lost %d dups %d reordered %d; aggregates received %d lost %d dups %d reordered %d",
		want.Received, want.Lost, want.Duplicates, want.Reordered, got.Packets, got.Lost(), got.Duplicates, got.Reordered)
	if ppRecs < 100*agRecs {
		t.Errorf("aggregation exported %d records against %d per packet: less than 100× fewer", agRecs, ppRecs)
	}
	if got.Records != uint64(agRecs) || got.Packets != want.Received || got.Lost() != want.Lost ||
		got.Duplicates != want.Duplicates || got.Reordered != want.Reordered || want.Lost < pps/200 || want.Reordered == 0 {
		t.Errorf("loss figures differ (or the stream has no loss to compare)")
	}
}

// TestAggregateExportUDP runs the Exporter with export.aggregate over UDP
// to a collector socket decoded by package collector: one aggregate per flow
// and interval arrives, none per packet, and the per-flow sums add up.
func TestAggregateExportUDP(t *testing.T) {
	col := listenUDP(t, "127.0.0.1:0")
	var mu sync.Mutex
	perFlow := map[uint32]*collector.AggregateTotals{}
	q, _ := telemetry.NewRing(4096)
	x, err := exporter.New(exporter.Options{Export: policy.Export{
		RateLimit:  policy.RateLimit{RecordsPerSecond: 100},
		Aggregate:  policy.Aggregate{Interval: 200 * time.Millisecond},
		Collectors: []policy.Collector{{Transport: policy.TransportUDP, Address: col.conn.LocalAddr().String(), ObservationDomainID: 5}},
	}}, []*telemetry.Ring{q})
	if err != nil {
		t.Fatal(err)
	}
	col.onAggregate = func(rec *aggregate.Record) {
		mu.Lock()
		defer mu.Unlock()
		a := perFlow[rec.FlowID]
		if a == nil {
			a = &collector.AggregateTotals{}
			perFlow[rec.FlowID] = a
		}
		a.Add(rec)
	}
	stop := start(t, x)
	// 3 flows × 3000 packets over ~0.6 s; flow 2 loses every 10th packet
	for i := range uint32(3000) {
		for f := range uint32(3) {
			if f == 2 && i%10 == 9 {
				continue
			}
			r := aggRec(f, i, time.Now().UnixNano())
			for !q.TryPush(&r) {
				time.Sleep(50 * time.Microsecond)
			}
		}
		if i%100 == 99 {
			time.Sleep(20 * time.Millisecond)
		}
	}
	testutil.Eventually(t, "all packets in aggregates", 10*time.Second, func() bool {
		mu.Lock()
		defer mu.Unlock()
		var n uint64
		for _, a := range perFlow {
			n += a.Packets
		}
		return n == 3000+3000+2700
	})
	stop()
	mu.Lock()
	defer mu.Unlock()
	col.mu.Lock()
	defer col.mu.Unlock()
	if len(col.evs) != 0 || len(col.errs) != 0 {
		t.Fatalf("%d per-packet records, errors %v", len(col.evs), col.errs)
	}
	for f := range uint32(3) {
		a := perFlow[0x10000+f]
		wantLost := map[uint32]uint64{2: 299}[f] // seq 2999 is lost too, but nothing follows it
		if a == nil || a.Lost() != wantLost || a.FirstSeq != 0 || a.Octets != 1500*a.Packets || a.Records < 2 {
			t.Fatalf("flow %d: %+v (want lost %d, several intervals)", f, a, wantLost)
		}
	}
	c := x.Counters()
	// the node's metrics (internal/metrics) show these: folded, exported,
	// intervals, flows in the table
	if c.Aggregated != 8700 || c.AggregateRecords == 0 || c.AggregateRecords > 3*20 || c.RateLimited != 0 ||
		!c.Aggregating || c.AggregateIntervals < 2 || c.AggregateRecords > 3*c.AggregateIntervals || c.AggregateFlows != 3 {
		t.Fatalf("counters %+v", c)
	}
	t.Logf("8700 packets → %d aggregate records", c.AggregateRecords)
}

// BenchmarkEncodeCustom is the cost of one aggregate record in the IPFIX
// encoder (steady state: template announced, message reused).
func BenchmarkEncodeCustom(b *testing.B) {
	enc, err := exporter.NewEncoder(exporter.EncoderConfig{Emit: func([]byte, int) bool { return true }})
	if err != nil {
		b.Fatal(err)
	}
	rec := exporter.AggRecord{Packets: 1000, Octets: 1500000}
	b.ReportAllocs()
	for b.Loop() {
		if err := enc.EncodeCustom(exporter.AggregateTemplate, &rec); err != nil {
			b.Fatal(err)
		}
	}
}

func TestEncodeCustomAllocs(t *testing.T) {
	enc, err := exporter.NewEncoder(exporter.EncoderConfig{Emit: func([]byte, int) bool { return true }})
	if err != nil {
		t.Fatal(err)
	}
	rec := exporter.AggRecord{Packets: 1}
	enc.EncodeCustom(exporter.AggregateTemplate, &rec) // allocates the template
	if n := testing.AllocsPerRun(1000, func() { enc.EncodeCustom(exporter.AggregateTemplate, &rec) }); n != 0 {
		t.Fatalf("%v allocations per aggregate record", n)
	}
}
