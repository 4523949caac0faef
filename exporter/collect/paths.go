package collect

import (
	"time"
)

// MaxPathHops is the most hops a Paths keeps per packet; records of further
// nodes for the same packet are counted in PathStats.HopsDropped.
const MaxPathHops = 8

// PathHop is one node's sighting of a packet in a completed path.
type PathHop struct {
	// Domain is the exporting node's Observation Domain ID.
	Domain uint32
	// Time is when the node saw the packet, unix ns (IOAM timestamp or
	// observationTimeNanoseconds); 0 if the record carried neither.
	Time int64
}

// Path is one packet's completed path, hops in path order (by time, then
// domain). It is only valid during the callback that receives it.
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
// Memory: about 170 octets per open packet (the 160-octet slab entry and
// two 4-octet slots of the open-addressing index).
type Paths struct {
	timeout int64
	slab    []openPath
	index   []int32 // open addressing, linear probing: slab index + 1, 0 = empty
	mask    uint64
	fifo    []int32 // slab indexes in arrival order (ring)
	head, n int
	done    func(p *Path)
	sorted  [MaxPathHops]PathHop
	cur     Path
	ctr     PathCounters
}

// NewPaths returns a Paths holding at most maxOpen packets (≥ 1) that
// completes a packet timeout after its first record, calling done.
func NewPaths(maxOpen int, timeout time.Duration, done func(p *Path)) *Paths {
	maxOpen = max(maxOpen, 1)
	size := 1
	for size < 2*maxOpen {
		size <<= 1
	}
	p := &Paths{timeout: int64(timeout), slab: make([]openPath, maxOpen), index: make([]int32, size), mask: uint64(size - 1),
		fifo: make([]int32, maxOpen), done: done}
	for i := range p.fifo {
		p.fifo[i] = int32(i)
	}
	return p
}

// Counters returns the counters.
func (p *Paths) Counters() PathCounters { return p.ctr }

// Open returns the number of packets being assembled.
func (p *Paths) Open() int { return p.n }

// Add records that node domain saw packet k at time t (unix ns, 0 if
// unknown); now is the collector's clock (unix ns).
func (p *Paths) Add(k PacketKey, domain uint32, t int64, now int64) {
	p.ctr.Records++
	pos, found := p.lookup(k)
	i := p.index[pos] - 1
	if !found {
		if p.n == len(p.slab) {
			p.ctr.Evicted++
			p.complete()
			pos, _ = p.lookup(k) // the removal may have moved entries
		}
		// the slot after the last open one in the ring is free
		i = p.fifo[(p.head+p.n)%len(p.fifo)]
		p.n++
		o := &p.slab[i]
		o.key, o.arrived, o.n, o.live = k, now, 0, true
		p.index[pos] = i + 1
	}
	o := &p.slab[i]
	if int(o.n) == MaxPathHops {
		p.ctr.HopsDropped++
		return
	}
	o.hops[o.n] = PathHop{Domain: domain, Time: t}
	o.n++
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
	// insertion sort: a handful of hops, mostly in order already
	for a := 1; a < len(h); a++ {
		for b := a; b > 0 && hopBefore(h[b], h[b-1]); b-- {
			h[b], h[b-1] = h[b-1], h[b]
		}
	}
	p.ctr.Paths++
	if p.done != nil {
		p.cur = Path{Key: o.key, Hops: h}
		p.done(&p.cur)
	}
}

func hopBefore(a, b PathHop) bool {
	if a.Time != 0 && b.Time != 0 && a.Time != b.Time {
		return a.Time < b.Time
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

// lookup returns the index slot holding k (found) or the empty slot where
// it would go.
func (p *Paths) lookup(k PacketKey) (uint64, bool) {
	pos := hash(k) & p.mask
	for {
		v := p.index[pos]
		if v == 0 {
			return pos, false
		}
		if p.slab[v-1].key == k {
			return pos, true
		}
		pos = (pos + 1) & p.mask
	}
}

// remove deletes k from the index with backward-shift deletion (no
// tombstones, so probes stay short under constant churn).
func (p *Paths) remove(k PacketKey) {
	pos, found := p.lookup(k)
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
			home := hash(p.slab[v-1].key) & p.mask
			// move v back to pos unless its home lies cyclically in (pos, next]
			if (next-home)&p.mask >= (next-pos)&p.mask {
				p.index[pos] = v
				pos = next
				break
			}
		}
	}
}
