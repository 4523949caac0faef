package collector

import (
	"time"
	"unsafe"
)

// MaxPathHops is the most hops a Paths keeps per packet; records of further
// nodes for the same packet are counted in PathStats.HopsDropped.
const MaxPathHops = 8

// PathHop is one node's sighting of a packet in a completed path.
type PathHop struct {
	// Domain is the exporting node's Observation Domain ID.
	Domain uint32
	// HopLimit is the IPv6 Hop Limit the node exported with its node id,
	// valid if HasHopLimit: it orders hops that carry no time (higher
	// first).
	HopLimit    uint8
	HasHopLimit bool
	// Time is when the node saw the packet, unix ns (IOAM timestamp or
	// observationTimeNanoseconds); 0 if the record carried neither.
	Time int64
}

// Path is one packet's completed path, hops in path order (by time where
// both hops have one, else by decreasing hop limit, else by domain). It is only valid during the callback that receives it.
type Path struct {
	// Key identifies the packet.
	Key PacketKey
	// Hops are the nodes that exported the packet, in path order.
	Hops []PathHop
}

type openPath struct {
	key     PacketKey
	arrived int64 // collector clock, unix ns, of the first record
	n       uint8
	hops    [MaxPathHops]PathHop
	live    bool
}

// PathCounters are the counters of a Paths.
type PathCounters struct {
	// Records added, Paths completed (delivered to the callback).
	Records, Paths uint64
	// Evicted paths were completed early because MaxOpen were open.
	Evicted uint64
	// HopsDropped records exceeded MaxPathHops for their packet.
	HopsDropped uint64
}

// Paths assembles each packet's records from the nodes of a domain into a
// path, and hands the path to a callback once no record of the packet has
// arrived for Timeout (collector clock) or when MaxOpen packets are open
// (oldest first). It keeps a fixed slab of MaxOpen packets allocated up
// front: Add allocates nothing once the index map has grown. Not safe for
// concurrent use.
//
// A timeout of 0 completes packets only by the MaxOpen bound, Flush or an
// explicit Expire far enough in the future.
//
// Memory: 180 to 196 octets per packet it can hold (the 160-octet slab entry, the
// 4-octet ring slot and two to four 8-octet slots of the open-addressing
// index, whose size is a power of two); see PacketOctets.
type Paths struct {
	timeout int64
	slab    []openPath
	// index is open addressing with linear probing; a slot holds the low
	// 32 bits of the key's hash (its tag) above the slab index + 1, 0 =
	// empty, so probes compare tags without touching the slab.
	index   []uint64
	mask    uint64
	fifo    []int32 // slab indexes in arrival order (ring)
	head, n int
	done    func(p *Path)
	sorted  [MaxPathHops]PathHop
	cur     Path
	ctr     PathCounters
}

// NewPaths returns a Paths holding at most maxOpen packets (1 to 2³⁰) that
// completes a packet timeout after its first record, calling done.
func NewPaths(maxOpen int, timeout time.Duration, done func(p *Path)) *Paths {
	maxOpen = min(max(maxOpen, 1), 1<<30)
	size := 1
	for size < 2*maxOpen {
		size <<= 1
	}
	if timeout <= 0 {
		timeout = 1<<63 - 1
	}
	p := &Paths{timeout: int64(timeout), slab: make([]openPath, maxOpen), index: make([]uint64, size), mask: uint64(size - 1),
		fifo: make([]int32, maxOpen), done: done}
	for i := range p.fifo {
		p.fifo[i] = int32(i)
	}
	return p
}

// PacketOctets returns the memory the table holds per packet it can
// track: its slab entry, ring slot and index slots.
func (p *Paths) PacketOctets() float64 {
	return float64(len(p.slab)*int(unsafe.Sizeof(openPath{}))+len(p.index)*8+len(p.fifo)*4) / float64(len(p.slab))
}

// Counters returns the counters.
func (p *Paths) Counters() PathCounters { return p.ctr }

// Open returns the number of packets being assembled.
func (p *Paths) Open() int { return p.n }

// Add records that node domain saw packet k at time t (unix ns, 0 if
// unknown); now is the collector's clock (unix ns).
func (p *Paths) Add(k PacketKey, domain uint32, t int64, now int64) {
	p.AddHop(k, PathHop{Domain: domain, Time: t}, now)
}

// AddHop records hop h of packet k; now is the collector's clock (unix
// ns). It allocates nothing.
func (p *Paths) AddHop(k PacketKey, h PathHop, now int64) {
	p.ctr.Records++
	hk := hash(k)
	pos, found := p.lookup(k, hk)
	var i int32
	if found {
		i = int32(uint32(p.index[pos])) - 1
	} else {
		if p.n == len(p.slab) {
			p.ctr.Evicted++
			p.complete()
			pos, _ = p.lookup(k, hk) // the removal may have moved entries
		}
		// the slot after the last open one in the ring is free
		i = p.fifo[(p.head+p.n)%len(p.fifo)]
		p.n++
		o := &p.slab[i]
		o.key, o.arrived, o.n, o.live = k, now, 0, true
		p.index[pos] = uint64(uint32(hk))<<32 | uint64(i+1)
	}
	o := &p.slab[i]
	if int(o.n) == MaxPathHops {
		p.ctr.HopsDropped++
		return
	}
	o.hops[o.n] = h
	o.n++
}

// Get returns the hops recorded so far for open packet k, in path order,
// in a new slice; nil when k is not open.
func (p *Paths) Get(k PacketKey) []PathHop {
	pos, found := p.lookup(k, hash(k))
	if !found {
		return nil
	}
	o := &p.slab[uint32(p.index[pos])-1]
	h := append([]PathHop(nil), o.hops[:o.n]...)
	sortPath(h)
	return h
}

// EachOpen calls fn for every open packet, oldest first, with its hops in
// path order (valid during the call only). It does not change p.
func (p *Paths) EachOpen(fn func(pa *Path)) {
	var h [MaxPathHops]PathHop
	for j := range p.n {
		o := &p.slab[p.fifo[(p.head+j)%len(p.fifo)]]
		copy(h[:], o.hops[:o.n])
		sortPath(h[:o.n])
		fn(&Path{Key: o.key, Hops: h[:o.n]})
	}
}

// Expire completes every packet whose first record arrived at or before
// now − Timeout.
func (p *Paths) Expire(now int64) {
	for p.n > 0 && p.slab[p.fifo[p.head]].arrived <= now-p.timeout {
		p.complete()
	}
}

// Flush completes every open packet.
func (p *Paths) Flush() {
	for p.n > 0 {
		p.complete()
	}
}

// complete delivers the oldest open packet and frees its slot.
func (p *Paths) complete() {
	i := p.fifo[p.head]
	p.head = (p.head + 1) % len(p.fifo)
	p.n--
	o := &p.slab[i]
	p.remove(o.key)
	o.live = false
	h := p.sorted[:o.n]
	copy(h, o.hops[:o.n])
	sortPath(h)
	p.ctr.Paths++
	if p.done != nil {
		p.cur = Path{Key: o.key, Hops: h}
		p.done(&p.cur)
	}
}

// sortPath sorts a packet's hops into path order with an insertion sort:
// a handful of hops, mostly in order already.
func sortPath(h []PathHop) {
	for a := 1; a < len(h); a++ {
		for b := a; b > 0 && hopBefore(h[b], h[b-1]); b-- {
			h[b], h[b-1] = h[b-1], h[b]
		}
	}
}

// hopBefore orders hops by time when both have one, else by decreasing
// hop limit when both have one, else by domain.
func hopBefore(a, b PathHop) bool {
	if a.Time != 0 && b.Time != 0 && a.Time != b.Time {
		return a.Time < b.Time
	}
	if a.HasHopLimit && b.HasHopLimit && a.HopLimit != b.HopLimit {
		return a.HopLimit > b.HopLimit
	}
	return a.Domain < b.Domain
}

// hash mixes a packet key into 64 bits (splitmix64 finaliser).
func hash(k PacketKey) uint64 {
	x := uint64(k.Namespace)<<32 | uint64(k.FlowID)
	x ^= uint64(k.Seq) * 0x9E3779B97F4A7C15
	x ^= x >> 30
	x *= 0xBF58476D1CE4E5B9
	x ^= x >> 27
	x *= 0x94D049BB133111EB
	x ^= x >> 31
	return x
}

// lookup returns the index slot holding k, whose hash is hk (found), or
// the empty slot where it would go.
func (p *Paths) lookup(k PacketKey, hk uint64) (uint64, bool) {
	pos := hk & p.mask
	tag := uint64(uint32(hk))
	for {
		v := p.index[pos]
		if v == 0 {
			return pos, false
		}
		if v>>32 == tag && p.slab[uint32(v)-1].key == k {
			return pos, true
		}
		pos = (pos + 1) & p.mask
	}
}

// remove deletes k from the index with backward-shift deletion (no
// tombstones, so probes stay short under constant churn).
func (p *Paths) remove(k PacketKey) {
	pos, found := p.lookup(k, hash(k))
	if !found {
		return
	}
	for {
		p.index[pos] = 0
		next := pos
		for {
			next = (next + 1) & p.mask
			v := p.index[next]
			if v == 0 {
				return
			}
			home := (v >> 32) & p.mask // the tag is the hash's low 32 bits
			// move v back to pos unless its home lies cyclically in (pos, next]
			if (next-home)&p.mask >= (next-pos)&p.mask {
				p.index[pos] = v
				pos = next
				break
			}
		}
	}
}
