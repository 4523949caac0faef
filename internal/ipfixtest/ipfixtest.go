// Package ipfixtest makes IPFIX input for tests: a telemetry record with a
// distinct value in every field the exporter can export, and the messages
// the exporter's Encoder makes of records. Only test code imports it.
package ipfixtest

import (
	"bytes"
	"net/netip"
	"testing"
	"time"

	"github.com/dexplane/dexplane/dataplane/telemetry"
	"github.com/dexplane/dexplane/exporter"
)

// Record returns a record with sequence number seq and a distinct value in
// every exported field (each trace-type field, the OSS data, the flow
// fields and a 48-octet raw section that starts like an IPv6 header), so
// that a decoder or peer that splits fields wrongly cannot match. Its Role
// is the zero value, RoleEncap: IPFIX does not carry the role, and a
// decoded record has that zero value too.
func Record(seq uint32) telemetry.Record {
	r := telemetry.Record{
		RxTime: 1700000000_123456789, Namespace: 123,
		TraceType: telemetry.TraceHopLimNodeID | telemetry.TraceIfIDs | telemetry.TraceTimestampSec | telemetry.TraceTimestampFrac |
			telemetry.TraceNamespaceData | telemetry.TraceQueueDepth | telemetry.TraceHopLimNodeIDWide | telemetry.TraceIfIDsWide |
			telemetry.TraceNamespaceDataW | telemetry.TraceOSS,
		ExtFlags: 0xC0, HasFlowID: true, FlowID: 0x12345678, HasSeq: true, Seq: seq,
		NextHeader: 17, SrcPort: 40000, DstPort: 5001, FlowLabel: 0xABCDE, HopLimit: 63, IngressPort: 0, EgressPort: 1,
		NodeID: 0x010203, IngressIfID: 11, EgressIfID: 12, TimestampSec: 1700000000, TimestampFrac: 123456,
		NamespaceData: 0xDEADBEEF, QueueDepth: 77, NodeIDWide: 0x00A1B2C3D4E5F601, IngressIfIDWide: 0x01020304,
		EgressIfIDWide: 0x05060708, NamespaceDataWide: 0x1122334455667788, SchemaID: 0xABCDEF, OSSLen: 8, RawLen: 48,
	}
	r.Src = netip.MustParseAddr("2001:db8::1").As16()
	r.Dst = netip.MustParseAddr("2001:db8::2").As16()
	copy(r.OSSData[:], "\x00\x01\x02\x03\xfc\xfd\xfe\xff")
	copy(r.RawSection[:], []byte{0x60, 0, 0, 0, 0, 0x14, 0, 0x40})
	for i := 8; i < 48; i++ {
		r.RawSection[i] = byte(i)
	}
	return r
}

// ExportTime is the export time of the messages Encode makes.
var ExportTime = time.Unix(1700000000, 0)

// Encode returns the messages an exporter.Encoder for observation domain
// domain and the fields fs makes of recs (templates first, flushed at the
// end); it fails t if the encoder refuses the configuration or a record.
func Encode(t testing.TB, domain uint32, fs exporter.FieldSet, recs ...telemetry.Record) [][]byte {
	t.Helper()
	var msgs [][]byte
	enc, err := exporter.NewEncoder(exporter.EncoderConfig{ObservationDomain: domain, Fields: fs,
		Now:  func() time.Time { return ExportTime },
		Emit: func(m []byte, _ int) bool { msgs = append(msgs, bytes.Clone(m)); return true }})
	if err != nil {
		t.Fatal(err)
	}
	for i := range recs {
		if err := enc.Encode(&recs[i]); err != nil {
			t.Fatal(err)
		}
	}
	enc.Flush()
	return msgs
}
