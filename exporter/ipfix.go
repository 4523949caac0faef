package exporter

import (
	"errors"
	"fmt"
	"time"

	"github.com/dexplane/dexplane/dataplane/telemetry"
)

// IPFIX framing constants (RFC 7011 §3).
const (
	ipfixVersion   = 10
	msgHeaderLen   = 16
	setHeaderLen   = 4
	templateSetID  = 2
	minTemplateID  = 256
	maxTemplateLen = 4 + numFields*8 // Template Record with every field, all enterprise
)

// minMessageOctets is the smallest message that holds any one record with
// its template: header, template set, data set header and the largest record.
var minMessageOctets = func() int {
	n := msgHeaderLen + setHeaderLen + maxTemplateLen + setHeaderLen
	for i := range Fields {
		if Fields[i].Variable() {
			continue
		}
		n += int(Fields[i].Len)
	}
	return n + varSize(telemetry.OSSDataMax) + varSize(telemetry.RawSectionMax) + varSize(traceHeaderLen+telemetry.TraceDataMax)
}()

// Defaults of EncoderConfig.
const (
	// DefaultMessageSize is the default IPFIX message budget in octets: it
	// keeps an IPv6/UDP datagram (40+8 octets of headers) within a 1500-octet
	// MTU even with some tunnel overhead.
	DefaultMessageSize = 1400
	// DefaultMaxTemplates bounds the number of templates (distinct field
	// sets) per exporter; records that would need more are dropped with
	// ErrTooManyTemplates.
	DefaultMaxTemplates = 1024
)

// Sentinel errors returned by Encoder.Encode.
var (
	// ErrTooManyTemplates: the record needs a new template and
	// EncoderConfig.MaxTemplates are already allocated.
	ErrTooManyTemplates = errors.New("exporter: template limit reached")
	// ErrMessageSize: the configured message size cannot hold the record.
	ErrMessageSize = errors.New("exporter: record does not fit in an IPFIX message")
)

// EncoderConfig parameterises an Encoder.
type EncoderConfig struct {
	// ObservationDomain is the IPFIX Observation Domain ID written in every
	// message header (one domain per dexplane node).
	ObservationDomain uint32
	// MessageSize is the maximum IPFIX message length in octets (header
	// included); 0 means DefaultMessageSize. Values below what one maximal
	// record with its template needs are raised to that minimum.
	MessageSize int
	// TemplateIDBase is the first Template ID allocated; 0 means 256. IDs are
	// allocated in order of first use and never reused while the Encoder lives.
	TemplateIDBase uint16
	// MaxTemplates bounds the number of templates; 0 means DefaultMaxTemplates.
	MaxTemplates int
	// Fields selects the optional field groups (FieldsStandard, FieldsRaw).
	Fields FieldSet
	// TemplateRefresh is the interval after which a template is sent again
	// before its next data record (RFC 7011 §8.4, needed on UDP); 0 never
	// refreshes (TCP: templates are sent once per session).
	TemplateRefresh time.Duration
	// Now returns the current time; nil means time.Now. It is read once per
	// message for the Export Time and the template refresh.
	Now func() time.Time
	// Emit receives every finished message and the number of data records
	// in it. msg is only valid during the call (the Encoder reuses it); Emit
	// copies or sends it and returns false if the message was dropped, in
	// which case the sequence number does not advance and the templates in
	// the message are sent again. Emit must not call back into the Encoder.
	Emit func(msg []byte, records int) bool
}

// template is one allocated Template: a field set and its encoded Template
// Record.
type template struct {
	id       uint16
	mask     uint32
	fields   []uint8 // indexes into Fields, template order
	fixedLen int     // octets of the fixed-length fields of a data record
	record   []byte  // encoded Template Record (id, count, field specifiers)
	sentAt   int64   // unix ns of the message that last carried it; 0 = unannounced
	fixed    bool    // no variable-length field: every data record is fixedLen octets
	// layout is the constant-offset writer of the data records, if
	// hasLayout (layout.go); encodeData writes them otherwise.
	layout    layout
	hasLayout bool
}

// Encoder turns telemetry Records into IPFIX messages (RFC 7011): one
// Template per distinct field set, many data records per message up to the
// message budget, Template Sets inserted before the first data record that
// needs them, the Sequence Number counting data records. All octets are
// written in network byte order.
//
// The Encoder does not allocate in steady state (only when a new template
// is allocated) and is not safe for concurrent use.
type Encoder struct {
	cfg       EncoderConfig
	templates map[uint32]*template
	custom    map[*CustomTemplate]*template // custom.go
	last      *template                     // template of the previous record (fast path)
	fast      *template                     // see Encode (layout.go)
	lastKey   uint64                        // maskKey of the previous record, 0 before the first
	lastMask  uint32                        // its fieldMask
	nextID    uint32
	seq       uint32 // data records emitted in this session (RFC 7011 seq)

	buf      []byte // message under construction; len = octets used
	msgStart int64  // unix ns when the current message was opened
	now      int64  // the caller's clock for a message opened now, 0 = call cfg.Now (EncodeAt)
	setOff   int    // offset of the open data set header, or -1
	setTmpl  *template
	records  int
	inMsg    []*template // templates carried by the current message

	hop telemetry.Record // scratch for the per-hop records of a trace (trace.go)
}

// NewEncoder returns an Encoder for cfg.
func NewEncoder(cfg EncoderConfig) (*Encoder, error) {
	if cfg.Emit == nil {
		return nil, errors.New("exporter: EncoderConfig.Emit is nil")
	}
	if cfg.MessageSize == 0 {
		cfg.MessageSize = DefaultMessageSize
	}
	if cfg.MessageSize > 65535 {
		return nil, fmt.Errorf("exporter: message size %d exceeds the IPFIX maximum 65535", cfg.MessageSize)
	}
	if cfg.MessageSize < minMessageOctets {
		cfg.MessageSize = minMessageOctets
	}
	if cfg.TemplateIDBase == 0 {
		cfg.TemplateIDBase = minTemplateID
	}
	if cfg.TemplateIDBase < minTemplateID {
		return nil, fmt.Errorf("exporter: template id base %d below %d", cfg.TemplateIDBase, minTemplateID)
	}
	if cfg.MaxTemplates <= 0 {
		cfg.MaxTemplates = DefaultMaxTemplates
	}
	if int(cfg.TemplateIDBase)+cfg.MaxTemplates-1 > 65535 {
		cfg.MaxTemplates = 65536 - int(cfg.TemplateIDBase)
	}
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	return &Encoder{
		cfg:       cfg,
		templates: make(map[uint32]*template),
		nextID:    uint32(cfg.TemplateIDBase),
		buf:       make([]byte, 0, cfg.MessageSize+layoutSlack),
		setOff:    -1,
		inMsg:     make([]*template, 0, 16),
	}, nil
}

// SequenceNumber returns the Sequence Number the next message will carry:
// the number of data records emitted in this session, modulo 2^32.
func (e *Encoder) SequenceNumber() uint32 { return e.seq }

// Templates returns the number of allocated templates.
func (e *Encoder) Templates() int { return len(e.templates) + len(e.custom) }

// Pending returns the number of data records in the unfinished message.
func (e *Encoder) Pending() int { return e.records }

// ResetSession starts a new transport session (e.g. a TCP reconnection):
// the unfinished message is discarded, the Sequence Number restarts at 0
// and every template is announced again before its next use. Template IDs
// are kept. It returns the number of data records discarded.
func (e *Encoder) ResetSession() int {
	n := e.records
	e.resetMessage()
	e.seq = 0
	e.RefreshTemplates()
	return n
}

// RefreshTemplates makes every template be sent again before its next data
// record, as after a collector restart.
func (e *Encoder) RefreshTemplates() {
	e.fast = nil
	for _, t := range e.templates {
		t.sentAt = 0
	}
	for _, t := range e.custom {
		t.sentAt = 0
	}
}

func (e *Encoder) resetMessage() {
	e.fast = nil
	e.buf = e.buf[:0]
	e.setOff = -1
	e.setTmpl = nil
	e.records = 0
	e.inMsg = e.inMsg[:0]
}

// templateFor returns the template for mask, allocating it on first use.
func (e *Encoder) templateFor(mask uint32) (*template, error) {
	if e.last != nil && e.last.mask == mask {
		return e.last, nil
	}
	t := e.templates[mask]
	if t == nil {
		if e.Templates() >= e.cfg.MaxTemplates {
			return nil, fmt.Errorf("%w (%d), field mask %#x", ErrTooManyTemplates, e.cfg.MaxTemplates, mask)
		}
		t = newTemplate(uint16(e.nextID), mask)
		e.nextID++
		e.templates[mask] = t
	}
	e.last = t
	return t, nil
}

// newTemplate builds the Template Record for the fields in mask:
// Template ID (2), Field Count (2), then per field IE id (2, E bit = 0x8000
// for enterprise IEs), length (2) and for enterprise IEs the PEN (4).
func newTemplate(id uint16, mask uint32) *template {
	t := &template{id: id, mask: mask}
	rec := make([]byte, 4, 4+numFields*8)
	for i := range numFields {
		if mask&(1<<i) == 0 {
			continue
		}
		f := &Fields[i]
		t.fields = append(t.fields, uint8(i))
		if !f.Variable() {
			t.fixedLen += int(f.Len)
		}
		ieID := f.ElementId
		if f.Enterprise() {
			ieID |= 0x8000
		}
		rec = be.AppendUint16(rec, ieID)
		rec = be.AppendUint16(rec, f.Len)
		if f.Enterprise() {
			rec = be.AppendUint32(rec, f.EnterpriseId)
		}
	}
	be.PutUint16(rec[0:], id)
	be.PutUint16(rec[2:], uint16(len(t.fields)))
	t.record = rec
	t.fixed = mask&varMask == 0
	t.layout, t.hasLayout = newLayout(mask)
	return t
}

// recordLen returns the encoded size of r's data record under t.
func recordLen(t *template, r *telemetry.Record) int {
	n := t.fixedLen
	if t.mask&(1<<fOSSData) != 0 {
		n += varSize(ossLen(r))
	}
	if t.mask&(1<<fRawSection) != 0 {
		n += varSize(rawLen(r))
	}
	if t.mask&(1<<fTraceData) != 0 {
		n += varSize(traceDataLen(r))
	}
	return n
}

// encode appends r to the current message, first finishing the message if r
// (with its template, when that must be sent) does not fit. Encode wraps it
// (trace.go).
func (e *Encoder) encode(r *telemetry.Record) error {
	e.fast = nil
	if k := maskKey(r); k != e.lastKey {
		e.lastKey, e.lastMask = k, fieldMask(r, e.cfg.Fields)
	}
	t, err := e.templateFor(e.lastMask)
	if err != nil {
		return err
	}
	d, err := e.reserve(t, recordLen(t, r))
	if err != nil {
		return err
	}
	t.put(d, r)
	if t.fixed {
		e.fast = t
	}
	return nil
}

// reserve makes room for one data record of rlen octets under t in the
// current message (finishing the message first, and adding the template
// and a set header, as needed) and returns the record's octets to fill.
func (e *Encoder) reserve(t *template, rlen int) ([]byte, error) {
	for attempt := 0; ; attempt++ {
		if len(e.buf) == 0 {
			e.openMessage()
		}
		need := rlen
		sendTmpl := e.needsTemplate(t)
		if sendTmpl {
			need += setHeaderLen + len(t.record)
		}
		if e.setTmpl != t || sendTmpl {
			need += setHeaderLen
		}
		if len(e.buf)+need <= e.cfg.MessageSize {
			if sendTmpl {
				e.closeSet()
				e.buf = be.AppendUint16(e.buf, templateSetID)
				e.buf = be.AppendUint16(e.buf, uint16(setHeaderLen+len(t.record)))
				e.buf = append(e.buf, t.record...)
				t.sentAt = e.msgStart
				e.inMsg = append(e.inMsg, t)
			}
			if e.setTmpl != t {
				e.openSet(t)
			}
			n := len(e.buf)
			e.buf = e.buf[:n+rlen]
			e.records++
			return e.buf[n:], nil
		}
		if attempt > 0 || e.records == 0 && len(e.inMsg) == 0 {
			return nil, fmt.Errorf("%w: %d octets with a %d-octet budget", ErrMessageSize, need, e.cfg.MessageSize)
		}
		e.Flush()
	}
}

// needsTemplate reports whether t must be (re)sent in the current message.
func (e *Encoder) needsTemplate(t *template) bool {
	if t.sentAt == 0 {
		return true
	}
	if t.sentAt == e.msgStart {
		return false // already in this message (or sent at this very instant)
	}
	return e.cfg.TemplateRefresh > 0 && e.msgStart-t.sentAt >= int64(e.cfg.TemplateRefresh)
}

func (e *Encoder) openMessage() {
	e.msgStart = e.now
	if e.msgStart == 0 {
		e.msgStart = e.cfg.Now().UnixNano()
	}
	if e.msgStart == 0 {
		e.msgStart = 1 // 0 marks "never sent"
	}
	e.buf = e.buf[:msgHeaderLen] // header written by Flush
}

// openSet closes the open data set, if any, and opens one for t's
// records at the end of the message.
func (e *Encoder) openSet(t *template) {
	e.closeSet()
	e.setOff = len(e.buf)
	e.setTmpl = t
	e.buf = append(e.buf, 0, 0, 0, 0) // set header, written by closeSet
}

// closeSet writes the header of the open data set, if any.
func (e *Encoder) closeSet() {
	if e.setOff < 0 {
		return
	}
	e.fast = nil
	be.PutUint16(e.buf[e.setOff:], e.setTmpl.id)
	be.PutUint16(e.buf[e.setOff+2:], uint16(len(e.buf)-e.setOff))
	e.setOff = -1
	e.setTmpl = nil
}

// Flush finishes the current message, if it holds anything, and hands it to
// Emit. Message header: Version 10 (2), Length (2), Export Time in unix
// seconds (4), Sequence Number (4), Observation Domain ID (4).
func (e *Encoder) Flush() {
	if e.records == 0 && len(e.inMsg) == 0 {
		e.resetMessage()
		return
	}
	e.closeSet()
	b := e.buf
	be.PutUint16(b[0:], ipfixVersion)
	be.PutUint16(b[2:], uint16(len(b)))
	be.PutUint32(b[4:], uint32(e.msgStart/1e9))
	be.PutUint32(b[8:], e.seq)
	be.PutUint32(b[12:], e.cfg.ObservationDomain)
	if e.cfg.Emit(b, e.records) {
		e.seq += uint32(e.records)
	} else {
		for _, t := range e.inMsg {
			t.sentAt = 0
		}
	}
	e.resetMessage()
}
