package exporter

import (
	"math/rand/v2"
	"reflect"
	"testing"

	"github.com/dexplane/dexplane/dataplane/telemetry"
)

// randomize sets every field of v (a struct, recursively) to a random
// value: booleans true or false, integers any value, byte arrays random.
func randomize(v reflect.Value, rng *rand.Rand) {
	switch v.Kind() {
	case reflect.Struct:
		for i := range v.NumField() {
			if f := v.Field(i); f.CanSet() {
				randomize(f, rng)
			}
		}
	case reflect.Array:
		for i := range v.Len() {
			randomize(v.Index(i), rng)
		}
	case reflect.Bool:
		v.SetBool(rng.IntN(2) == 1)
	case reflect.Uint8, reflect.Uint16, reflect.Uint32, reflect.Uint64:
		v.SetUint(rng.Uint64())
	case reflect.Int64:
		v.SetInt(rng.Int64())
	}
}

// TestMaskKeyCoversFieldMask: two records with the same maskKey have the
// same fieldMask whatever their other fields hold, under every field set,
// so the Encoder may reuse a mask by key. Each record's every field is
// random; the second copies from the first only what maskKey reads (the
// key's inputs), so a field that fieldMask reads and maskKey does not
// makes the masks differ.
func TestMaskKeyCoversFieldMask(t *testing.T) {
	rng := rand.New(rand.NewPCG(1, 2))
	for i := range 20000 {
		var a, b telemetry.Record
		randomize(reflect.ValueOf(&a).Elem(), rng)
		randomize(reflect.ValueOf(&b).Elem(), rng)
		if i%2 == 0 { // also the small values real records carry
			a.RawLen, a.TraceHops = uint16(rng.IntN(2)), uint8(rng.IntN(2))
		}
		b.TraceType, b.HasFlowID, b.HasSeq, b.Trace.Has = a.TraceType, a.HasFlowID, a.HasSeq, a.Trace.Has
		b.RawLen, b.TraceHops = 0, 0
		if a.RawLen > 0 {
			b.RawLen = 1 + uint16(rng.IntN(telemetry.RawSectionMax))
		}
		if a.TraceHops > 0 {
			b.TraceHops = 1 + uint8(rng.IntN(255))
		}
		if maskKey(&a) != maskKey(&b) {
			t.Fatalf("record %d: the copied inputs give keys %#x and %#x", i, maskKey(&a), maskKey(&b))
		}
		for _, fs := range []FieldSet{FieldsLiege, FieldsStandard, FieldsRaw, FieldsStandard | FieldsRaw} {
			if ma, mb := fieldMask(&a, fs), fieldMask(&b, fs); ma != mb {
				t.Fatalf("record %d, fields %d: same key %#x, masks %#x and %#x: fieldMask reads something maskKey does not", i, fs, maskKey(&a), ma, mb)
			}
		}
	}
}
