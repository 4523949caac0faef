// Package collector is the collector side of dexplane's IPFIX export: it
// decodes IPFIX messages (with goflow2's decoders, which handle several sets
// per message, set padding and variable-length fields) into DEX events, and
// correlates the events of the nodes of an IOAM domain by (namespace, Flow
// ID, Sequence Number): the path each packet took with per-hop delays, and
// per-flow loss, duplicates and reordering at every node.
//
// CollectingProcess is the collecting process itself (RFC 7011 §2): UDP,
// TCP and TLS listeners, one template state per transport session, and the
// decoded messages on a channel; `dexplane collect` is built on it.
package collector

import (
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"net/netip"

	"github.com/netsampler/goflow2/v2/decoders/netflow"

	"github.com/dexplane/dexplane/dataplane/telemetry"
	"github.com/dexplane/dexplane/exporter"
	"github.com/dexplane/dexplane/exporter/aggregate"
)

// Framing limits (RFC 7011 §3.1).
const (
	msgHeaderLen = 16
	setHeaderLen = 4
	// MaxMessageSize is the largest IPFIX message (the Length field is 16 bits).
	MaxMessageSize = 65535
)

// Sentinel errors for malformed input.
var (
	// ErrVersion: the message does not start with IPFIX version 10.
	ErrVersion = errors.New("collect: not an IPFIX message (version != 10)")
	// ErrFraming: message or set lengths are inconsistent.
	ErrFraming = errors.New("collect: bad IPFIX framing")
	// ErrTemplate: a (options) template cannot describe data records: its
	// records would be zero octets long (only zero-length fields), or its
	// field specifiers overrun the set. Withdrawals are not templates.
	ErrTemplate = errors.New("collect: unusable IPFIX template")
)

// Event is one decoded DEX record and where it came from.
type Event struct {
	// Exporter is the transport source of the message (UDP source or TCP
	// peer address).
	Exporter netip.AddrPort
	// Domain is the Observation Domain ID of the message: the node.
	Domain uint32
	// ExportTime is the message's Export Time (unix seconds).
	ExportTime uint32
	// Sequence is the message's Sequence Number.
	Sequence uint32
	// Template is the Template ID of the data set.
	Template uint16
	// Present has bit i set when exporter.Fields[i] was in the record.
	Present uint32
	// Unknown counts fields of the record not in exporter.Fields (skipped).
	Unknown int
	// Record holds the decoded values; fields that were absent are zero.
	// Role, ports of the data plane beyond IE 10/14, Flags, TransitDelay
	// and BufferOccupancy are not carried by the template.
	Record telemetry.Record
}

// Has reports whether the field with the given name was present.
func (e *Event) Has(name string) bool {
	for i := range exporter.Fields {
		if exporter.Fields[i].Name == name {
			return e.Present&(1<<i) != 0
		}
	}
	return false
}

// Decoder decodes IPFIX messages into Events, keeping the templates of each
// exporter (transport source) apart. It is not safe for concurrent use.
type Decoder struct {
	templates map[netip.AddrPort]netflow.NetFlowTemplateSystem
	// MissingTemplate counts data sets skipped because their template was
	// not (yet) known.
	MissingTemplate uint64
	// BadRecords counts data records with a field of the wrong length.
	BadRecords uint64
	// OnAggregate, when set, receives the per-flow aggregate records
	// (exporter.AggregateTemplate) instead of fn; nil skips them.
	OnAggregate func(src netip.AddrPort, domain uint32, rec *aggregate.Record)
	// Aggregates counts aggregate records decoded.
	Aggregates uint64
	// OnDelay, when set, receives the RFC 9951 delay records
	// (DelayTemplate) of an upstream `dexplane collect --ipfix-out`.
	OnDelay func(domain uint32, rec *DelayRecord)
	// Delays counts delay records decoded.
	Delays uint64

	fast   map[fastKey]*fastTemplate // compiled templates (fastdecode.go)
	fastEv Event
	part   []byte // a template refresh split in two (decode)
	noFast bool   // tests: always the general path
	// Withdrawn counts template withdrawal records applied (RFC 7011 §8.1).
	Withdrawn uint64
}

// NewDecoder returns an empty Decoder.
func NewDecoder() *Decoder {
	return &Decoder{templates: make(map[netip.AddrPort]netflow.NetFlowTemplateSystem)}
}

// CheckFraming validates the RFC 7011 framing of msg: version 10, the
// Length field equal to len(msg), and Set lengths (≥ 4) tiling the rest of
// the message exactly.
func CheckFraming(msg []byte) error {
	if len(msg) < msgHeaderLen {
		return fmt.Errorf("%w: %d octets, shorter than the header", ErrFraming, len(msg))
	}
	if v := binary.BigEndian.Uint16(msg); v != 10 {
		return fmt.Errorf("%w: version %d", ErrVersion, v)
	}
	if l := int(binary.BigEndian.Uint16(msg[2:])); l != len(msg) {
		return fmt.Errorf("%w: Length field %d, message %d octets", ErrFraming, l, len(msg))
	}
	for off := msgHeaderLen; off < len(msg); {
		if len(msg)-off < setHeaderLen {
			return fmt.Errorf("%w: %d trailing octets at offset %d", ErrFraming, len(msg)-off, off)
		}
		id := binary.BigEndian.Uint16(msg[off:])
		l := int(binary.BigEndian.Uint16(msg[off+2:]))
		if l < setHeaderLen || off+l > len(msg) {
			return fmt.Errorf("%w: set %d at offset %d has length %d", ErrFraming, id, off, l)
		}
		if id != 2 && id != 3 && id < 256 {
			return fmt.Errorf("%w: reserved set id %d at offset %d", ErrFraming, id, off)
		}
		off += l
	}
	return nil
}

// templateRecords walks the template records of one (options) template set
// body (setID 2 or 3) and calls fn with each record's offset, length, id and
// field count. A record with a field count of 0 is a withdrawal (RFC 7011
// §8.1: 4 octets, Template ID and Field Count, in either set). The walk ends
// at a record id below 256 that is not a withdrawal of all templates
// (padding), or at the first record that overruns the set (an error).
func templateRecords(setID uint16, set []byte, fn func(off, n int, tid uint16, fields int, size int, varlen bool) error) error {
	for off := 0; len(set)-off >= 4; {
		tid := binary.BigEndian.Uint16(set[off:])
		n := int(binary.BigEndian.Uint16(set[off+2:]))
		if n == 0 && (tid >= 256 || tid == setID) {
			if err := fn(off, 4, tid, 0, 0, false); err != nil {
				return err
			}
			off += 4
			continue
		}
		if tid < 256 {
			return nil // padding (or garbage goflow2 rejects itself)
		}
		hdr := 4 // template ID, field count
		if setID == 3 {
			hdr = 6 // and scope field count
		}
		if len(set)-off < hdr {
			return fmt.Errorf("%w: template %d: header overruns the set", ErrTemplate, tid)
		}
		p := off + hdr
		size, varlen := 0, false
		for i := 0; i < n; i++ {
			if len(set)-p < 4 {
				return fmt.Errorf("%w: template %d: field %d of %d overruns the set", ErrTemplate, tid, i+1, n)
			}
			fid, flen := binary.BigEndian.Uint16(set[p:]), binary.BigEndian.Uint16(set[p+2:])
			p += 4
			if fid&0x8000 != 0 {
				if len(set)-p < 4 {
					return fmt.Errorf("%w: template %d: enterprise number of field %d overruns the set", ErrTemplate, tid, i+1)
				}
				p += 4
			}
			if flen == 0xFFFF {
				varlen = true
			} else {
				size += int(flen)
			}
		}
		if err := fn(off, p-off, tid, n, size, varlen); err != nil {
			return err
		}
		off = p
	}
	return nil
}

// nextSet returns the Set ID and contents of the set at off in msg, and the
// offset of the set after it. msg must have passed CheckFraming.
func nextSet(msg []byte, off int) (id uint16, set []byte, next int) {
	id = binary.BigEndian.Uint16(msg[off:])
	next = off + int(binary.BigEndian.Uint16(msg[off+2:]))
	return id, msg[off+setHeaderLen : next], next
}

// checkTemplates rejects template records a data set could match with
// records of zero octets: goflow2 would decode such a set into endless empty
// records. Withdrawals (a field count of 0) are not templates and pass. It
// reports whether msg holds a withdrawal. msg must have passed CheckFraming.
func checkTemplates(msg []byte) (withdrawals bool, err error) {
	for off := msgHeaderLen; off < len(msg); {
		id, set, next := nextSet(msg, off)
		off = next
		if id != 2 && id != 3 {
			continue
		}
		err := templateRecords(id, set, func(_, _ int, tid uint16, n, size int, varlen bool) error {
			if n == 0 {
				withdrawals = true
			} else if size == 0 && !varlen {
				return fmt.Errorf("%w: template %d: %d fields, records of zero octets", ErrTemplate, tid, n)
			}
			return nil
		})
		if err != nil {
			return false, err
		}
	}
	return withdrawals, nil
}

// Decode decodes one IPFIX message received from src and calls fn for each
// DEX data record (ev is reused after fn returns). Template sets update the
// decoder's state for src; a template withdrawal (RFC 7011 §8.1: a template
// record with a field count of 0, or Template ID 2 / 3 withdrawing all
// templates / options templates of the observation domain) removes the
// template, in message order, so data sets after it in the same message no
// longer match it and the Template ID may be redefined. Data sets whose
// template is unknown are counted in MissingTemplate and skipped. A message
// with a template that would describe zero-octet records is rejected whole
// with ErrTemplate.
func (d *Decoder) Decode(src netip.AddrPort, msg []byte, fn func(ev *Event)) error {
	if err := CheckFraming(msg); err != nil {
		return err
	}
	withdrawals, err := checkTemplates(msg)
	if err != nil {
		return fmt.Errorf("collect: message from %v: %w", src, err)
	}
	ts := d.templates[src]
	if ts == nil {
		ts = netflow.CreateTemplateSystem()
		d.templates[src] = ts
	}
	if !withdrawals {
		return d.decode(src, ts, msg, fn)
	}
	// Split the message at each withdrawal: the sets (and parts of template
	// sets) before it are decoded first, then the template is removed.
	domain := binary.BigEndian.Uint32(msg[12:])
	part := bytes.Clone(msg[:msgHeaderLen])
	flush := func() error {
		if len(part) == msgHeaderLen {
			return nil
		}
		binary.BigEndian.PutUint16(part[2:], uint16(len(part)))
		err := d.decode(src, ts, part, fn)
		part = part[:msgHeaderLen]
		return err
	}
	for off := msgHeaderLen; off < len(msg); {
		id, set, next := nextSet(msg, off)
		whole := msg[off:next]
		off = next
		if id != 2 && id != 3 {
			part = append(part, whole...)
			continue
		}
		// Template records of this set go into sub-sets between withdrawals.
		start := -1 // offset in part of the open sub-set's header
		open := func() {
			if start < 0 {
				start = len(part)
				part = append(part, byte(id>>8), byte(id), 0, 0)
			}
		}
		closeSet := func() {
			if start >= 0 {
				binary.BigEndian.PutUint16(part[start+2:], uint16(len(part)-start))
				start = -1
			}
		}
		end := 0
		err := templateRecords(id, set, func(o, n int, tid uint16, fields int, _ int, _ bool) error {
			end = o + n
			if fields != 0 {
				open()
				part = append(part, set[o:o+n]...)
				return nil
			}
			closeSet()
			if err := flush(); err != nil {
				return err
			}
			d.withdraw(ts, domain, id, tid)
			return nil
		})
		if err != nil {
			return fmt.Errorf("collect: message from %v: %w", src, err)
		}
		if end < len(set) && start >= 0 { // keep padding with its records
			part = append(part, set[end:]...)
		}
		closeSet()
	}
	return flush()
}

// withdraw removes template tid of the observation domain (setID 2:
// templates, 3: options templates); tid equal to setID removes them all.
func (d *Decoder) withdraw(ts netflow.NetFlowTemplateSystem, domain uint32, setID, tid uint16) {
	d.Withdrawn++
	if tid >= 256 {
		ts.RemoveTemplate(10, domain, tid)
		return
	}
	for key, t := range ts.GetTemplates() {
		if uint16(key>>48) != 10 || uint32(key>>16) != domain {
			continue
		}
		_, opts := t.(netflow.IPFIXOptionsTemplateRecord)
		if opts == (setID == 3) {
			ts.RemoveTemplate(10, domain, uint16(key))
		}
	}
}

// decode runs one well-framed message through goflow2 and calls fn for
// each DEX data record.
func (d *Decoder) decode(src netip.AddrPort, ts netflow.NetFlowTemplateSystem, msg []byte, fn func(ev *Event)) error {
	if !d.noFast {
		if d.decodeFast(src, ts, msg, fn) {
			return nil
		}
		// An exporter's template refresh: template sets, then data sets.
		// goflow2 learns the templates from a message of those alone and
		// the data sets take the fast path, so a refresh does not cost
		// goflow2's per-record allocations.
		if n := leadingTemplates(msg); n > msgHeaderLen && n < len(msg) {
			d.part = append(d.part[:0], msg[:n]...)
			binary.BigEndian.PutUint16(d.part[2:], uint16(n))
			if err := d.decodeGeneral(src, ts, d.part, fn); err != nil {
				return err
			}
			d.part = append(append(d.part[:0], msg[:msgHeaderLen]...), msg[n:]...)
			binary.BigEndian.PutUint16(d.part[2:], uint16(len(d.part)))
			if d.decodeFast(src, ts, d.part, fn) {
				return nil
			}
			return d.decodeGeneral(src, ts, d.part, fn)
		}
	}
	return d.decodeGeneral(src, ts, msg, fn)
}

// leadingTemplates returns the offset in a well-framed msg of its first
// set that is not a (options) template set, when no template set follows
// it; 0 otherwise.
func leadingTemplates(msg []byte) int {
	first := 0
	for off := msgHeaderLen; off < len(msg); {
		id, _, next := nextSet(msg, off)
		isTmpl := id == 2 || id == 3
		if isTmpl && first != 0 {
			return 0
		}
		if !isTmpl && first == 0 {
			first = off
		}
		off = next
	}
	return first
}

// decodeGeneral decodes msg through goflow2.
func (d *Decoder) decodeGeneral(src netip.AddrPort, ts netflow.NetFlowTemplateSystem, msg []byte, fn func(ev *Event)) error {
	var pkt netflow.IPFIXPacket
	err := netflow.DecodeMessageVersion(bytes.NewBuffer(msg), ts, nil, &pkt)
	if err != nil && !errors.Is(err, netflow.ErrorTemplateNotFound) {
		return fmt.Errorf("collect: decode message from %v: %w", src, err)
	}
	var ev Event
	for _, fs := range pkt.FlowSets {
		switch set := fs.(type) {
		case netflow.DataFlowSet:
			for _, rec := range set.Records {
				if d.aggregate(src, pkt.ObservationDomainId, rec.Values) {
					continue
				}
				ev = Event{Exporter: src, Domain: pkt.ObservationDomainId, ExportTime: pkt.ExportTime,
					Sequence: pkt.SequenceNumber, Template: set.Id}
				if d.fill(&ev, rec.Values) {
					fn(&ev)
				}
			}
		case netflow.RawFlowSet:
			d.MissingTemplate++
		}
	}
	return nil
}

// fieldPEN returns the enterprise number of v, 0 for an IANA element.
func fieldPEN(v *netflow.DataField) uint32 {
	if v.PenProvided {
		return v.Pen
	}
	return 0
}

// fill converts goflow2's decoded values into ev; false if a value is bad.
func (d *Decoder) fill(ev *Event, values []netflow.DataField) bool {
	for _, v := range values {
		b, ok := v.Value.([]byte)
		if !ok {
			continue
		}
		pen := fieldPEN(&v)
		i := exporter.FieldIndex(pen, v.Type)
		if i < 0 {
			ev.Unknown++
			continue
		}
		if err := exporter.Fields[i].Decode(&ev.Record, b); err != nil {
			d.BadRecords++
			return false
		}
		ev.Present |= 1 << i
	}
	return true
}

// ReadMessage reads one IPFIX message from a stream (TCP, RFC 7011 §10.4):
// the 4 first octets give version and length, the rest follows. buf is used
// when large enough; the returned slice aliases it.
func ReadMessage(r io.Reader, buf []byte) ([]byte, error) {
	if cap(buf) < MaxMessageSize {
		buf = make([]byte, MaxMessageSize)
	}
	buf = buf[:cap(buf)]
	if _, err := io.ReadFull(r, buf[:4]); err != nil {
		return nil, err
	}
	if v := binary.BigEndian.Uint16(buf); v != 10 {
		return nil, fmt.Errorf("%w: version %d in stream", ErrVersion, v)
	}
	l := int(binary.BigEndian.Uint16(buf[2:]))
	if l < msgHeaderLen {
		return nil, fmt.Errorf("%w: Length field %d in stream", ErrFraming, l)
	}
	if _, err := io.ReadFull(r, buf[4:l]); err != nil {
		return nil, fmt.Errorf("collect: truncated message (%d octets announced): %w", l, err)
	}
	return buf[:l], nil
}
