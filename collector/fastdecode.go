package collector

import (
	"encoding/binary"
	"net/netip"

	"github.com/netsampler/goflow2/v2/decoders/netflow"

	"github.com/dexplane/dexplane/exporter"
)

// fastTemplate is a per-packet DEX template compiled for decodeFast: every
// field fixed-length and in exporter.Fields.
type fastTemplate struct {
	fields  []netflow.Field // goflow2's template (its Fields array is the identity)
	idx     []int8          // index into exporter.Fields per field
	length  []uint16
	recLen  int
	present uint32 // Event.Present of every record
	ok      bool   // false: the template needs the general path
}

type fastKey struct {
	src    netip.AddrPort
	domain uint32
	id     uint16
}

// decodeFast decodes msg without goflow2's per-record allocations when it
// holds only data sets whose templates (as goflow2's template system for
// src knows them) are per-packet DEX templates of fixed-length fields; it
// returns false, having called fn for nothing, otherwise. The records and
// their padding are handled as the general path handles them; a template
// with a field length its field does not take goes to the general path,
// which counts its records bad.
func (d *Decoder) decodeFast(src netip.AddrPort, ts netflow.NetFlowTemplateSystem, msg []byte, fn func(ev *Event)) bool {
	domain := binary.BigEndian.Uint32(msg[12:])
	// first pass: every set is a data set with a fast template
	for off := msgHeaderLen; off < len(msg); {
		id, _, next := nextSet(msg, off)
		off = next
		if id < 256 || d.fastTemplate(src, ts, domain, id) == nil {
			return false
		}
	}
	ev := &d.fastEv
	for off := msgHeaderLen; off < len(msg); {
		id, set, next := nextSet(msg, off)
		off = next
		t := d.fastTemplate(src, ts, domain, id)
		for len(set) >= t.recLen {
			rec := set[:t.recLen]
			set = set[t.recLen:]
			*ev = Event{Exporter: src, Domain: domain, ExportTime: binary.BigEndian.Uint32(msg[4:]),
				Sequence: binary.BigEndian.Uint32(msg[8:]), Template: id}
			o := 0
			for i, fi := range t.idx {
				n := int(t.length[i])
				exporter.Fields[fi].DecodeChecked(&ev.Record, rec[o:o+n])
				o += n
			}
			ev.Present = t.present
			fn(ev)
		}
	}
	return true
}

// fastTemplate returns the compiled template of data set id, or nil when
// the general path must decode it (unknown, options template, a variable-
// length, unknown or aggregate field).
func (d *Decoder) fastTemplate(src netip.AddrPort, ts netflow.NetFlowTemplateSystem, domain uint32, id uint16) *fastTemplate {
	tmpl, err := ts.GetTemplate(10, domain, id)
	if err != nil {
		return nil
	}
	tr, isData := tmpl.(netflow.TemplateRecord)
	if !isData || len(tr.Fields) == 0 {
		return nil
	}
	k := fastKey{src, domain, id}
	if t := d.fast[k]; t != nil && len(t.fields) == len(tr.Fields) && &t.fields[0] == &tr.Fields[0] {
		if !t.ok {
			return nil
		}
		return t
	}
	t := &fastTemplate{fields: tr.Fields, ok: true}
	for _, f := range tr.Fields {
		var pen uint32
		if f.PenProvided {
			pen = f.Pen
		}
		i := exporter.FieldIndex(pen, f.Type)
		// a length the field does not take makes every record bad: the
		// general path counts them
		if f.Length == 0xFFFF || f.Length == 0 || i < 0 || exporter.IsAggregateField(pen, f.Type) ||
			exporter.Fields[i].CheckLength(int(f.Length)) != nil {
			t.ok = false
			break
		}
		t.present |= 1 << i
		t.idx = append(t.idx, int8(i))
		t.length = append(t.length, f.Length)
		t.recLen += int(f.Length)
	}
	if d.fast == nil {
		d.fast = make(map[fastKey]*fastTemplate)
	}
	d.fast[k] = t
	if !t.ok {
		return nil
	}
	return t
}
