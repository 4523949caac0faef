package collector

import (
	"bytes"
	"encoding/hex"
	"net/netip"
	"strings"
	"testing"

	"github.com/dexplane/dexplane/config"
	"github.com/dexplane/dexplane/dataplane/telemetry"
	"github.com/dexplane/dexplane/exporter"
	"github.com/dexplane/dexplane/internal/ipfixtest"
)

// TestOSSConfigLimitIsExportedWhole: the longest opaque state snapshot a
// configuration accepts reaches the collector whole through IPFIX, and one
// octet more is refused by the configuration (#11 item 7: the configuration
// used to accept 1020 octets while records and IPFIX carried 64, with no
// indicator in IPFIX).
func TestOSSConfigLimitIsExportedWhole(t *testing.T) {
	const cfg = "node: {address: 2001:db8::1}\n" +
		"ports: [{name: west, domain: outside}, {name: east, domain: inside}]\n" +
		"namespaces: [{id: 123, schema: {id: 7, data: 0x%s}}]\n"
	data := bytes.Repeat([]byte{0xA5}, config.MaxSchemaData)
	for i := range data {
		data[i] ^= byte(i)
	}
	var sb strings.Builder
	sb.WriteString(hex.EncodeToString(data))
	c, err := config.Parse("t.yaml", []byte(strings.Replace(cfg, "%s", sb.String(), 1)))
	if err != nil {
		t.Fatalf("%d octets refused: %v", config.MaxSchemaData, err)
	}
	snap, err := c.Compile(nil)
	if err != nil {
		t.Fatal(err)
	}
	ns, ok := snap.Namespaces.Lookup(123)
	if !ok || ns.Schema == nil || !bytes.Equal(ns.Schema.Data, data) {
		t.Fatalf("compiled schema %+v", ns)
	}

	// The record as dataplane/node fills it from the namespace schema.
	r := telemetry.Record{Namespace: 123, TraceType: telemetry.TraceOSS, HasFlowID: true, FlowID: 1, HasSeq: true,
		SchemaID: ns.Schema.ID, OSSLen: uint16(copy(make([]byte, telemetry.OSSDataMax), ns.Schema.Data))}
	if int(r.OSSLen) != len(ns.Schema.Data) {
		t.Fatalf("a record holds %d of the %d configured octets", r.OSSLen, len(ns.Schema.Data))
	}
	copy(r.OSSData[:], ns.Schema.Data)
	var got []byte
	for _, m := range ipfixtest.Encode(t, 1, exporter.FieldsStandard, r) {
		err := NewDecoder().Decode(netip.MustParseAddrPort("[::1]:1"), m, func(ev *Event) {
			got = append(got, ev.Record.OSSData[:ev.Record.OSSLen]...)
			if ev.Record.OSSTruncated {
				t.Error("decoded record says truncated")
			}
		})
		if err != nil {
			t.Fatal(err)
		}
	}
	if !bytes.Equal(got, data) {
		t.Fatalf("collector got %d octets %x, want %x", len(got), got, data)
	}

	// One 4-octet word more is refused, naming the field.
	_, err = config.Parse("t.yaml", []byte(strings.Replace(cfg, "%s", sb.String()+"01", 1)))
	if err == nil || !strings.Contains(err.Error(), "namespaces[0].schema.data") {
		t.Fatalf("%d octets: err %v", config.MaxSchemaData+4, err)
	}
}
