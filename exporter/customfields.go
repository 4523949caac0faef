package exporter

// CustomField is one field of the custom record type R: its specifier and
// how to read and write its value, so that one table gives a record type
// its template (CustomFields.Template), its encoding (CustomFields.Put)
// and its decoding (CustomFields.Field). A field of Len ≤ 8 octets is
// unsigned: Get returns the value written big-endian in its Len octets
// (the high octets of a larger value are cut), Set stores a decoded one.
// A longer field (an IPv6 address) is raw octets: Octets returns the Len
// octets of r that hold it, to read from and to copy into; Get and Set
// are then nil.
type CustomField[R any] struct {
	FieldSpec
	Get    func(r *R) uint64
	Set    func(r *R, x uint64)
	Octets func(r *R) []byte
}

// CustomFields are the fields of custom record type R in record order. A
// table is built once at init time and only read afterwards.
type CustomFields[R any] []CustomField[R]

// Template returns the fields' CustomTemplate (it panics as
// NewCustomTemplate does).
func (fs CustomFields[R]) Template() *CustomTemplate {
	specs := make([]FieldSpec, len(fs))
	for i := range fs {
		specs[i] = fs[i].FieldSpec
	}
	return NewCustomTemplate(specs)
}

// Put writes r into d in the fields' layout: each field in turn, unsigned
// ones big-endian. d holds at least the record length (the template's
// RecordLen). It does not allocate.
func (fs CustomFields[R]) Put(r *R, d []byte) {
	o := 0
	for i := range fs {
		f := &fs[i]
		n := int(f.Len)
		if f.Octets != nil {
			copy(d[o:o+n], f.Octets(r))
		} else {
			putUint(d[o:o+n], f.Get(r))
		}
		o += n
	}
}

// Field returns the field with enterprise number pen and element id id
// (without the enterprise bit), or nil.
func (fs CustomFields[R]) Field(pen uint32, id uint16) *CustomField[R] {
	for i := range fs {
		if fs[i].PEN == pen && fs[i].ID == id {
			return &fs[i]
		}
	}
	return nil
}
