package collector

import "github.com/dexplane/dexplane/exporter"

// RFC 9951 Information Elements (IANA "IPFIX Information Elements"
// registry, entries added for RFC 9951 in April 2026): the delay between the
// OAM encapsulating node and the local node, over the packets of a Flow, in
// microseconds.
const (
	// IEPathDelayMean is pathDelayMeanDeltaMicroseconds (unsigned32).
	IEPathDelayMean uint16 = 530
	// IEPathDelayMin is pathDelayMinDeltaMicroseconds (unsigned32).
	IEPathDelayMin uint16 = 531
	// IEPathDelayMax is pathDelayMaxDeltaMicroseconds (unsigned32).
	IEPathDelayMax uint16 = 532
	// IEPathDelaySum is pathDelaySumDeltaMicroseconds (unsigned64).
	IEPathDelaySum uint16 = 533
)

// Elements under exporter.AggPEN (the RFC 5612 documentation PEN, a marked
// placeholder) that scope a delay record.
const (
	// IEPathID is dexPathId (unsigned32): FNV-1a over the path's
	// Observation Domain IDs (4 octets each, big-endian) in path order; 0
	// in a segment record.
	IEPathID uint16 = 20
	// IEFromDomain is dexDelayFromDomain (unsigned32): the Observation
	// Domain ID of the node the delay is measured from.
	IEFromDomain uint16 = 21
	// IEToDomain is dexDelayToDomain (unsigned32): the node it is measured to.
	IEToDomain uint16 = 22
	// IEPathHops is dexPathHopCount (unsigned8): nodes on the path; 2 in a
	// segment record.
	IEPathHops uint16 = 23
)

// DelayTemplate is the template of the RFC 9951 delay records that
// `dexplane collect --ipfix-out` exports. Data record layout (59 octets,
// big-endian):
//
//	10383/0  ioamNamespaceId                2
//	32473/20 dexPathId                      4
//	32473/21 dexDelayFromDomain             4
//	32473/22 dexDelayToDomain               4
//	32473/23 dexPathHopCount                1
//	152      flowStartMilliseconds          8
//	153      flowEndMilliseconds            8
//	2        packetDeltaCount               8
//	530      pathDelayMeanDeltaMicroseconds 4
//	531      pathDelayMinDeltaMicroseconds  4
//	532      pathDelayMaxDeltaMicroseconds  4
//	533      pathDelaySumDeltaMicroseconds  8
//
// A segment record (dexPathId 0, hop count 2) holds the delay between two
// consecutive nodes; a path record the delay from the path's first node
// (the encapsulating node, as RFC 9951 defines the elements) to the node
// dexDelayToDomain, for the packets that took path dexPathId.
var DelayTemplate = delayFields.Template()

// delayFields are the fields of a delay record (DelayTemplate's layout):
// they encode DelayRecord.Put and decode Decoder.delay.
var delayFields = exporter.CustomFields[DelayRecord]{
	{FieldSpec: exporter.FieldSpec{ID: 0, Len: 2, PEN: exporter.PEN, Name: "ioamNamespaceId"},
		Get: func(r *DelayRecord) uint64 { return uint64(r.Namespace) }, Set: func(r *DelayRecord, x uint64) { r.Namespace = uint16(x) }},
	{FieldSpec: exporter.FieldSpec{ID: IEPathID, Len: 4, PEN: exporter.AggPEN, Name: "dexPathId"},
		Get: func(r *DelayRecord) uint64 { return uint64(r.PathID) }, Set: func(r *DelayRecord, x uint64) { r.PathID = uint32(x) }},
	{FieldSpec: exporter.FieldSpec{ID: IEFromDomain, Len: 4, PEN: exporter.AggPEN, Name: "dexDelayFromDomain"},
		Get: func(r *DelayRecord) uint64 { return uint64(r.From) }, Set: func(r *DelayRecord, x uint64) { r.From = uint32(x) }},
	{FieldSpec: exporter.FieldSpec{ID: IEToDomain, Len: 4, PEN: exporter.AggPEN, Name: "dexDelayToDomain"},
		Get: func(r *DelayRecord) uint64 { return uint64(r.To) }, Set: func(r *DelayRecord, x uint64) { r.To = uint32(x) }},
	{FieldSpec: exporter.FieldSpec{ID: IEPathHops, Len: 1, PEN: exporter.AggPEN, Name: "dexPathHopCount"},
		Get: func(r *DelayRecord) uint64 { return uint64(r.Hops) }, Set: func(r *DelayRecord, x uint64) { r.Hops = uint8(x) }},
	{FieldSpec: exporter.FieldSpec{ID: 152, Len: 8, Name: "flowStartMilliseconds"},
		Get: func(r *DelayRecord) uint64 { return uint64(r.Start / 1e6) }, Set: func(r *DelayRecord, x uint64) { r.Start = int64(x) * 1e6 }},
	{FieldSpec: exporter.FieldSpec{ID: 153, Len: 8, Name: "flowEndMilliseconds"},
		Get: func(r *DelayRecord) uint64 { return uint64(r.End / 1e6) }, Set: func(r *DelayRecord, x uint64) { r.End = int64(x) * 1e6 }},
	{FieldSpec: exporter.FieldSpec{ID: 2, Len: 8, Name: "packetDeltaCount"},
		Get: func(r *DelayRecord) uint64 { return r.Packets }, Set: func(r *DelayRecord, x uint64) { r.Packets = x }},
	{FieldSpec: exporter.FieldSpec{ID: IEPathDelayMean, Len: 4, Name: "pathDelayMeanDeltaMicroseconds"},
		Get: func(r *DelayRecord) uint64 { return uint64(r.MeanUs) }, Set: func(r *DelayRecord, x uint64) { r.MeanUs = uint32(x) }},
	{FieldSpec: exporter.FieldSpec{ID: IEPathDelayMin, Len: 4, Name: "pathDelayMinDeltaMicroseconds"},
		Get: func(r *DelayRecord) uint64 { return uint64(r.MinUs) }, Set: func(r *DelayRecord, x uint64) { r.MinUs = uint32(x) }},
	{FieldSpec: exporter.FieldSpec{ID: IEPathDelayMax, Len: 4, Name: "pathDelayMaxDeltaMicroseconds"},
		Get: func(r *DelayRecord) uint64 { return uint64(r.MaxUs) }, Set: func(r *DelayRecord, x uint64) { r.MaxUs = uint32(x) }},
	{FieldSpec: exporter.FieldSpec{ID: IEPathDelaySum, Len: 8, Name: "pathDelaySumDeltaMicroseconds"},
		Get: func(r *DelayRecord) uint64 { return r.SumUs }, Set: func(r *DelayRecord, x uint64) { r.SumUs = x }},
}

// DelayRecord is one segment's or path position's delay over an interval.
// Delays are in microseconds (RFC 9951 units), negative delays (clocks that
// disagree) counted as 0 and in Negative.
type DelayRecord struct {
	// Namespace is the IOAM Namespace-ID.
	Namespace uint16
	// PathID is 0 for a segment, else the path's id (see IEPathID).
	PathID uint32
	// From and To are the Observation Domain IDs of the two nodes.
	From, To uint32
	// Hops is 2 for a segment, else the number of nodes on the path.
	Hops uint8
	// Start and End bound the interval, unix ns.
	Start, End int64
	// Packets with a time at both nodes.
	Packets uint64
	// MeanUs, MinUs, MaxUs and SumUs are the delay statistics in µs.
	MeanUs, MinUs, MaxUs uint32
	SumUs                uint64
	// Negative counts packets whose delay was below 0.
	Negative uint64
}

// Put writes r in DelayTemplate's layout (exporter.CustomRecord).
func (r *DelayRecord) Put(d []byte) { delayFields.Put(r, d) }

type delayKey struct {
	ns       uint16
	path     uint32
	from, to uint32
}

type delayAcc struct {
	hops          uint8
	n, neg        uint64
	min, max, sum int64 // ns
}

func (a *delayAcc) add(d int64) {
	if d < 0 {
		a.neg++
		d = 0
	}
	if a.n == 0 || d < a.min {
		a.min = d
	}
	if d > a.max {
		a.max = d
	}
	a.sum += d
	a.n++
}

// Delays accumulates, over an interval, the delay of every segment
// (consecutive node pair) and of every path position (first node → each
// later node) from completed packet paths. The number of keys is bounded
// by MaxKeys; paths beyond it are counted in Overflow. Not safe for
// concurrent use.
type Delays struct {
	// MaxKeys bounds segments plus path positions per interval; 0 means 4096.
	MaxKeys int
	// OnSegment, when set, is called for every segment delay sample
	// (ns), e.g. to feed a histogram.
	OnSegment func(ns uint16, from, to uint32, delayNs int64)
	// Overflow counts samples dropped because MaxKeys keys were in use.
	Overflow uint64

	acc   map[delayKey]*delayAcc
	start int64
}

// NewDelays returns an empty Delays whose first interval starts at start
// (unix ns).
func NewDelays(start int64) *Delays {
	return &Delays{acc: make(map[delayKey]*delayAcc), start: start}
}

// PathID returns the id of the path through domains (see IEPathID).
func PathID(hops []PathHop) uint32 {
	h := uint32(2166136261)
	for _, x := range hops {
		for _, b := range [4]byte{byte(x.Domain >> 24), byte(x.Domain >> 16), byte(x.Domain >> 8), byte(x.Domain)} {
			h ^= uint32(b)
			h *= 16777619
		}
	}
	if h == 0 {
		h = 1
	}
	return h
}

func (d *Delays) get(k delayKey, hops uint8) *delayAcc {
	a := d.acc[k]
	if a == nil {
		limit := d.MaxKeys
		if limit <= 0 {
			limit = 4096
		}
		if len(d.acc) >= limit {
			d.Overflow++
			return nil
		}
		a = &delayAcc{hops: hops}
		d.acc[k] = a
	}
	return a
}

// AddPath folds the delays of one completed path.
func (d *Delays) AddPath(p *Path) {
	h := p.Hops
	if len(h) < 2 {
		return
	}
	id := PathID(h)
	for i := 1; i < len(h); i++ {
		if h[i].Time == 0 || h[i-1].Time == 0 {
			continue
		}
		dl := h[i].Time - h[i-1].Time
		if a := d.get(delayKey{p.Key.Namespace, 0, h[i-1].Domain, h[i].Domain}, 2); a != nil {
			a.add(dl)
		}
		if d.OnSegment != nil {
			d.OnSegment(p.Key.Namespace, h[i-1].Domain, h[i].Domain, dl)
		}
		if h[0].Time != 0 {
			if a := d.get(delayKey{p.Key.Namespace, id, h[0].Domain, h[i].Domain}, uint8(len(h))); a != nil {
				a.add(h[i].Time - h[0].Time)
			}
		}
	}
}

// Flush ends the interval at end (unix ns), calls emit for every key with
// samples (rec is valid during the call only) and starts the next interval.
func (d *Delays) Flush(end int64, emit func(rec *DelayRecord)) {
	var r DelayRecord
	for k, a := range d.acc {
		r = DelayRecord{Namespace: k.ns, PathID: k.path, From: k.from, To: k.to, Hops: a.hops, Start: d.start, End: end,
			Packets: a.n, MinUs: usec(a.min), MaxUs: usec(a.max), SumUs: uint64(a.sum) / 1000, Negative: a.neg}
		r.MeanUs = usec(a.sum / int64(a.n))
		emit(&r)
	}
	clear(d.acc)
	d.start = end
}

func usec(ns int64) uint32 {
	us := ns / 1000
	if us > 0xFFFFFFFF {
		return 0xFFFFFFFF
	}
	return uint32(max(us, 0))
}
