// Package collect is the collector side of dexplane's IPFIX export: it
// decodes IPFIX messages (with goflow2's decoders, which handle several sets
// per message, set padding and variable-length fields) into DEX events, and
// correlates the events of the nodes of an IOAM domain by (namespace, Flow
// ID, Sequence Number): the path each packet took with per-hop delays, and
// per-flow loss, duplicates and reordering at every node.
package collect

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
	// records would be zero octets long (no fields, i.e. a withdrawal, which
	// this decoder does not support, or only zero-length fields), or its
	// field specifiers overrun the set.
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

// checkTemplates rejects template records a data set could match with
// records of zero octets: goflow2 would decode such a set into endless empty
// records. msg must have passed CheckFraming.
func checkTemplates(msg []byte) error {
	for off := msgHeaderLen; off < len(msg); {
		id := binary.BigEndian.Uint16(msg[off:])
		l := int(binary.BigEndian.Uint16(msg[off+2:]))
		set := msg[off+setHeaderLen : off+l]
		off += l
		if id != 2 && id != 3 {
			continue
		}
		hdr := 4 // template ID, field count
		if id == 3 {
			hdr = 6 // and scope field count
		}
		for len(set) >= hdr {
			tid := binary.BigEndian.Uint16(set)
			if tid < 256 {
				break // padding (or garbage goflow2 rejects itself)
			}
			n := int(binary.BigEndian.Uint16(set[2:]))
			set = set[hdr:]
			size, varlen := 0, false
			for i := 0; i < n; i++ {
				if len(set) < 4 {
					return fmt.Errorf("%w: template %d: field %d of %d overruns the set", ErrTemplate, tid, i+1, n)
				}
				fid, flen := binary.BigEndian.Uint16(set), binary.BigEndian.Uint16(set[2:])
				set = set[4:]
				if fid&0x8000 != 0 {
					if len(set) < 4 {
						return fmt.Errorf("%w: template %d: enterprise number of field %d overruns the set", ErrTemplate, tid, i+1)
					}
					set = set[4:]
				}
				if flen == 0xFFFF {
					varlen = true
				} else {
					size += int(flen)
				}
			}
			if size == 0 && !varlen {
				return fmt.Errorf("%w: template %d: %d fields, records of zero octets", ErrTemplate, tid, n)
			}
		}
	}
	return nil
}

// Decode decodes one IPFIX message received from src and calls fn for each
// DEX data record (ev is reused after fn returns). Template sets update the
// decoder's state for src. Data sets whose template is unknown are counted
// in MissingTemplate and skipped. A message with a template that would
// describe zero-octet records (including template withdrawals) is rejected
// whole with ErrTemplate.
func (d *Decoder) Decode(src netip.AddrPort, msg []byte, fn func(ev *Event)) error {
	if err := CheckFraming(msg); err != nil {
		return err
	}
	if err := checkTemplates(msg); err != nil {
		return fmt.Errorf("collect: message from %v: %w", src, err)
	}
	ts := d.templates[src]
	if ts == nil {
		ts = netflow.CreateTemplateSystem()
		d.templates[src] = ts
	}
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

// fill converts goflow2's decoded values into ev; false if a value is bad.
func (d *Decoder) fill(ev *Event, values []netflow.DataField) bool {
	for _, v := range values {
		b, ok := v.Value.([]byte)
		if !ok {
			continue
		}
		var pen uint32
		if v.PenProvided {
			pen = v.Pen
		}
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
