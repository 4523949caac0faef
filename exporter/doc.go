// Package exporter turns the data plane's telemetry records into IPFIX
// (RFC 7011) messages for collectors, and into text or JSON lines for local
// outputs, without ever making a data-plane worker wait.
//
// # Data flow
//
// Every worker owns a telemetry.Ring and is its only producer. One Exporter
// goroutine (Run) is the only consumer of all the rings: it takes up to
// DefaultBatch records per ring per pass, in place and by runs of
// contiguous slots (telemetry.Ring.PeekRun), reads the clock once per
// pass, applies the export rate limit (TokenBucket; RFC 9326 §5 requires
// one) once per run (TokenBucket.AllowN; per record when a route
// aggregates), and hands the admitted records to every output. Each IPFIX collector has its own Encoder (templates and
// sequence numbers are per transport session) and a writer goroutine that
// owns the socket; finished messages travel between the two through a fixed
// pool of buffers. When the pool is empty (collector slow, TCP connection
// down or reconnecting) the records are dropped and counted instead of
// queued, so the drainer's cost per record is bounded whatever the network
// does. Counters reports drops per reason: rate limit, ring full (counted by
// the workers' rings), collector down/slow, encode error, local output slow.
//
// # IPFIX encoding
//
// The field table (Fields) is the ULiège ioam-exporter's set of enterprise
// Information Elements — PEN 10383, element ids 0 to 16 with the same lengths
// (spec §4.8) — so a collector configured for that exporter decodes
// dexplane's records, followed by IANA IEs that key the flow (27, 28, 4, 7,
// 11, 31, 10, 14, 325) and, optionally, the raw IPv6 header section (313,
// 410). Unlike the ULiège exporter, every value is big-endian (3- and
// 7-octet ids use RFC 7011 §6.2 reduced-size encoding), the Sequence Number
// counts data records, and one Template serves every record with the same
// field set: templates are keyed by the set of fields a record carries
// (which follows its IOAM-Trace-Type, extension flags and raw section), get
// Template IDs from TemplateIDBase upwards in order of first use, and are
// sent in the message that first needs them, again after TemplateRefresh on
// UDP, and again on every new TCP connection. Messages carry as many records
// as fit in MessageSize octets (default 1400), with several data sets when
// records of different templates interleave.
//
// The data records of a template are written from a layout computed once
// per template: when its fields are the ULiège fields of Trace-Type bits
// 0-3 and the extension flags, with or without the standard group (what
// a node with a usual trace type exports), each field group is one
// big-endian store at a constant offset, with no test per field; other
// templates go through one test per field (encodeData). A record with the
// previous record's field set that fits in the open data set skips the
// template and set bookkeeping, and Encoder.EncodeRun writes such records
// of a run back to back.
//
// github.com/vmware/go-ipfix provides the Information Element model
// (entities.InfoElement, data types) used by the field table, and its
// template encoding is the reference the tests compare ours with. The
// message and data-record encoding is ours because go-ipfix v0.17.0 cannot
// produce the required bytes: its exporting process writes one set per
// message (the spec §7 (f) message carries a template set and a data set),
// takes the export time from time.Now (no golden test), encodes unsigned32
// values in 4 octets whatever the template says (no 3-octet node_id), cannot
// build dateTimeNanoseconds values, allocates several objects per data
// record, and its background template refresh writes on the socket
// concurrently with the sender while its TCP health check closes the
// connection without reconnecting.
//
// # Export loops
//
// RFC 9326 forbids adding DEX to export traffic. Sockets returns the local
// and remote endpoints of the current collector sessions; the data plane
// must exclude packets matching them (for TCP the local port changes on
// each reconnection, so match the collector's address and port).
package exporter
