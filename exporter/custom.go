package exporter

import (
	"fmt"
)

// FieldSpec is one Field Specifier of a CustomTemplate: an Information
// Element id (without the enterprise bit), its fixed length in octets and
// its Private Enterprise Number (0 = IANA).
type FieldSpec struct {
	// ID is the Information Element identifier (15 bits).
	ID uint16
	// Len is the fixed length of the value in octets (variable-length
	// fields are not supported by custom templates).
	Len uint16
	// PEN is the Private Enterprise Number; 0 for IANA elements.
	PEN uint32
	// Name is the element's name, for documentation and decoders.
	Name string
}

// CustomTemplate is a fixed-layout IPFIX template whose records are not
// telemetry.Records: the per-flow aggregates of package exporter/aggregate
// and the RFC 9951 delay records of `dexplane collect`. Build one with
// NewCustomTemplate at init time and share it; every Encoder allocates its
// own Template ID for it on first use. Safe for concurrent use (immutable).
type CustomTemplate struct {
	fields []FieldSpec
	reclen int
}

// CustomRecord is a value encoded under a CustomTemplate: Put writes the
// record's fields in template order, big-endian, into dst (exactly the
// template's RecordLen octets).
type CustomRecord interface {
	Put(dst []byte)
}

// NewCustomTemplate returns a template with the given field specifiers, in
// record order. It panics on a variable-length or zero-length field (a
// programming error: templates are package-level values).
func NewCustomTemplate(fields []FieldSpec) *CustomTemplate {
	t := &CustomTemplate{fields: append([]FieldSpec(nil), fields...)}
	for _, f := range fields {
		if f.Len == 0 || f.Len == 0xFFFF {
			panic(fmt.Sprintf("exporter: custom template field %s (%d/%d): length %d", f.Name, f.PEN, f.ID, f.Len))
		}
		t.reclen += int(f.Len)
	}
	return t
}

// Fields returns the field specifiers in record order (do not modify).
func (t *CustomTemplate) Fields() []FieldSpec { return t.fields }

// RecordLen returns the length of one data record in octets.
func (t *CustomTemplate) RecordLen() int { return t.reclen }

// EncodeCustom appends one data record of template ct to the current
// message, announcing the template before its first use (and on refresh)
// like the templates of telemetry Records. r.Put fills the record. It does
// not allocate except when ct is first used by this Encoder.
func (e *Encoder) EncodeCustom(ct *CustomTemplate, r CustomRecord) error {
	t := e.custom[ct]
	if t == nil {
		if e.Templates() >= e.cfg.MaxTemplates {
			return fmt.Errorf("%w (%d), custom template", ErrTooManyTemplates, e.cfg.MaxTemplates)
		}
		t = &template{id: uint16(e.nextID), fixedLen: ct.reclen}
		e.nextID++
		rec := make([]byte, 4, 4+len(ct.fields)*8)
		for _, f := range ct.fields {
			id := f.ID
			if f.PEN != 0 {
				id |= 0x8000
			}
			rec = be.AppendUint16(rec, id)
			rec = be.AppendUint16(rec, f.Len)
			if f.PEN != 0 {
				rec = be.AppendUint32(rec, f.PEN)
			}
		}
		be.PutUint16(rec[0:], t.id)
		be.PutUint16(rec[2:], uint16(len(ct.fields)))
		t.record = rec
		if e.custom == nil {
			e.custom = make(map[*CustomTemplate]*template)
		}
		e.custom[ct] = t
	}
	d, err := e.reserve(t, ct.reclen)
	if err != nil {
		return err
	}
	r.Put(d)
	return nil
}
