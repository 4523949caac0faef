package exporter

import "github.com/dexplane/dexplane/dataplane/telemetry"

// varMask are the variable-length fields: a template without them has
// data records of one length (template.fixed).
const varMask = 1<<fOSSData | 1<<fRawSection | 1<<fTraceData

// layoutMask are the fields a fixed layout (see layout) can write: the
// ULiège fields of Trace-Type bits 0-3 and of the extension flags, and the
// standard group, which every node with a usual trace type exports.
const layoutMask = 1<<fNamespace | 1<<fHopLim | 1<<fNodeID | 1<<fIngressIfID | 1<<fEgressIfID |
	1<<fTimestampSec | 1<<fTimestampFrac | 1<<fFlowID | 1<<fSeq | standardMask

// layoutSlack is the room the message buffer keeps past its budget for a
// layout's writes: a layout writes through a fixed-size array of this
// many octets at the record's start (see layout.put).
const layoutSlack = 128

// layout is the data record layout of a template whose fields are all in
// layoutMask, computed once per template: the offset in the record of
// each 4-octet group, the namespace being at 0. Its writer stores every
// group with one big-endian store at a constant offset, with no test per
// field: a group the template does not carry is given the offset of the
// next group it does carry (or the record's end), and the stores go in
// offset order, so the next group's store overwrites it (or it lands
// past the record's end, in the buffer's slack, where the next record or
// nothing goes).
type layout struct {
	hopNode  uint8 // ioamHopLim (1) + ioamNodeId (3)
	ifIDs    uint8 // ioamIngressIfId (2) + ioamEgressIfId (2)
	tsSec    uint8 // ioamTimestampSeconds
	tsFrac   uint8 // ioamTimestampFraction
	flowID   uint8 // ioamDexFlowId
	seq      uint8 // ioamDexSequenceNumber
	standard uint8 // the standard group (57 octets), if hasStd
	hasStd   bool
}

// newLayout returns the layout of the fields in mask, or false when mask
// has a field outside layoutMask, only one of a group's fields, or part of
// the standard group.
func newLayout(mask uint32) (layout, bool) {
	pair := func(a, b int) bool { return mask>>a&1 == mask>>b&1 }
	if mask&^layoutMask != 0 || mask&(1<<fNamespace) == 0 || !pair(fHopLim, fNodeID) ||
		!pair(fIngressIfID, fEgressIfID) || mask&standardMask != 0 && mask&standardMask != standardMask {
		return layout{}, false
	}
	var l layout
	groups := [...]struct {
		bit int
		off *uint8
	}{{fNodeID, &l.hopNode}, {fIngressIfID, &l.ifIDs}, {fTimestampSec, &l.tsSec},
		{fTimestampFrac, &l.tsFrac}, {fFlowID, &l.flowID}, {fSeq, &l.seq}}
	o := uint8(2)
	for _, g := range groups {
		*g.off = o
		if mask&(1<<g.bit) != 0 {
			o += 4
		}
	}
	// The groups absent from mask got the offset of the next present one.
	l.standard, l.hasStd = o, mask&standardMask != 0
	return l, true
}

// put writes the data record of r into d, which holds the record at its
// start and at least layoutSlack octets in all.
func (l *layout) put(d *[layoutSlack]byte, r *telemetry.Record) {
	// Offsets are at most 2+6*4: the masks let the compiler drop the
	// bounds checks.
	be.PutUint16(d[0:], r.Namespace)
	be.PutUint32(d[l.hopNode&31:], uint32(r.HopLimit)<<24|r.NodeID&0xFFFFFF)
	be.PutUint32(d[l.ifIDs&31:], uint32(r.IngressIfID)<<16|uint32(r.EgressIfID))
	be.PutUint32(d[l.tsSec&31:], r.TimestampSec)
	be.PutUint32(d[l.tsFrac&31:], r.TimestampFrac)
	be.PutUint32(d[l.flowID&31:], r.FlowID)
	be.PutUint32(d[l.seq&31:], r.Seq)
	if !l.hasStd {
		return
	}
	// The standard group: sourceIPv6Address (16), destinationIPv6Address
	// (16), protocolIdentifier (1), sourceTransportPort (2),
	// destinationTransportPort (2), flowLabelIPv6 (4), ingressInterface
	// (4), egressInterface (4), observationTimeNanoseconds (8: NTP
	// seconds, fraction), with neighbouring fields joined into one store.
	s := (*[standardLen]byte)(d[l.standard&31:])
	*(*[16]byte)(s[0:]) = r.Src
	*(*[16]byte)(s[16:]) = r.Dst
	s[32] = r.NextHeader
	be.PutUint32(s[33:], uint32(r.SrcPort)<<16|uint32(r.DstPort))
	sec, frac := ntpTime(r.RxTime)
	be.PutUint64(s[37:], uint64(r.FlowLabel&0xFFFFF)<<32|uint64(r.IngressPort))
	be.PutUint64(s[45:], uint64(r.EgressPort)<<32|uint64(sec))
	be.PutUint32(s[53:], frac)
}

// standardLen is the length of the standard group in a data record.
const standardLen = 57

// Encode appends r to the current message, first finishing the message if r
// (with its template, when that must be sent) does not fit. A record that
// carries a trace is followed by one record per hop (see encodeTrace). A
// message it opens takes EncoderConfig.Now as its Export Time.
func (e *Encoder) Encode(r *telemetry.Record) error {
	if e.encodeFast(r) {
		return nil
	}
	return e.encodeTrace(r)
}

// EncodeAt is Encode for a caller that has read the clock already, once
// for a batch of records: now (unix nanoseconds, the clock of
// EncoderConfig.Now) is the Export Time of a message that r opens, instead
// of a call to EncoderConfig.Now.
func (e *Encoder) EncodeAt(r *telemetry.Record, now int64) error {
	if e.encodeFast(r) {
		return nil
	}
	e.now = now
	err := e.encodeTrace(r)
	e.now = 0
	return err
}

// EncodeRun is EncodeAt for each record of rs in order, for a drainer
// that takes a ring's records by the run (telemetry.Ring.PeekRun): the
// records of a run that share a field set with a fixed layout are written
// one after the other with the message's state in registers. It returns
// how many records could not be encoded and the last such error.
func (e *Encoder) EncodeRun(rs []telemetry.Record, now int64) (failed int, err error) {
	for i := 0; i < len(rs); {
		if t := e.fast; t != nil && t.hasLayout {
			key, n, limit := e.lastKey, len(e.buf), e.cfg.MessageSize-t.fixedLen
			j := i
			for ; j < len(rs) && n <= limit && maskKey(&rs[j]) == key; j++ {
				t.layout.put((*[layoutSlack]byte)(e.buf[n:n+layoutSlack]), &rs[j])
				n += t.fixedLen
			}
			e.buf = e.buf[:n]
			e.records += j - i
			if i = j; i == len(rs) {
				break
			}
			if n > limit && maskKey(&rs[i]) == key && e.nextMessage(t, now) {
				continue // the run goes on in a new message
			}
		}
		if e2 := e.EncodeAt(&rs[i], now); e2 != nil {
			failed, err = failed+1, e2
		}
		i++
	}
	return failed, err
}

// nextMessage finishes the current message, which t's next record does
// not fit, and opens the next one with a data set for t, as reserve would
// for that record, when t need not be sent again: then the fast path
// holds (e.fast = t) and it returns true. Otherwise the new message is
// open and empty, and the record takes the general path.
func (e *Encoder) nextMessage(t *template, now int64) bool {
	e.Flush()
	e.now = now
	e.openMessage()
	e.now = 0
	if e.needsTemplate(t) || len(e.buf)+setHeaderLen+t.fixedLen > e.cfg.MessageSize {
		return false
	}
	e.openSet(t)
	e.fast = t
	return true
}

// encodeFast encodes r and returns true when r has the field set of the
// previous record, that set has a fixed layout, the previous record opened
// or extended the current data set (e.fast; every step that closes the
// set, ends the message or may need the template sent again clears it)
// and r fits in the message: no template lookup, no set or template
// bookkeeping, one test against the message budget and the layout's
// writer. Otherwise it returns false and leaves everything as it was.
func (e *Encoder) encodeFast(r *telemetry.Record) bool {
	t := e.fast
	if t == nil || maskKey(r) != e.lastKey {
		return false
	}
	n := len(e.buf)
	if n+t.fixedLen > e.cfg.MessageSize {
		return false
	}
	e.buf = e.buf[:n+t.fixedLen]
	e.records++
	if t.hasLayout {
		t.layout.put((*[layoutSlack]byte)(e.buf[n:n+layoutSlack]), r)
	} else {
		encodeData(t.mask, e.buf[n:], r)
	}
	return true
}

// put writes the data record of r under t into d, a record's octets at
// the end of the message buffer (d's capacity includes the buffer's
// layoutSlack).
func (t *template) put(d []byte, r *telemetry.Record) {
	if t.hasLayout {
		t.layout.put((*[layoutSlack]byte)(d[:layoutSlack]), r)
		return
	}
	encodeData(t.mask, d, r)
}
