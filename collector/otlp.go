package collector

import (
	"bytes"
	"context"
	"encoding/binary"
	"encoding/hex"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"strconv"
	"sync"
	"sync/atomic"
	"time"
)

// ErrOTLPEndpoint is returned by NewOTLP for an unusable endpoint.
var ErrOTLPEndpoint = errors.New("collect: --otlp must be an OTLP/HTTP endpoint such as http://HOST:4318")

// TraceID returns the OpenTelemetry trace id of a packet: 16 octets, the
// first 6 a hash of (namespace, Flow ID, sequence) so that trace ids spread
// evenly (for an OTel Collector load balancing by trace id), then the
// namespace (2 octets), Flow ID (4) and sequence number (4), big-endian, so
// the packet can be read back from the id. Every collector computes the same
// id for the same packet.
func TraceID(k PacketKey) [16]byte {
	var id [16]byte
	binary.BigEndian.PutUint64(id[0:8], hash(k)) // first 6 octets used
	binary.BigEndian.PutUint16(id[6:], k.Namespace)
	binary.BigEndian.PutUint32(id[8:], k.FlowID)
	binary.BigEndian.PutUint32(id[12:], k.Seq)
	return id
}

// SpanID returns the span id of hop i of a packet's trace; i = -1 is the
// root span (the whole path).
func SpanID(k PacketKey, i int) [8]byte {
	x := hash(PacketKey{k.Namespace ^ uint16(i+1)<<8, k.FlowID ^ uint32(i+1)*0x9E3779B9, k.Seq})
	if x == 0 {
		x = 1
	}
	var id [8]byte
	binary.BigEndian.PutUint64(id[:], x)
	return id
}

// OTLP sends each completed packet path as an OpenTelemetry trace over
// OTLP/HTTP with JSON encoding (POST ENDPOINT/v1/traces): a root span for
// the path (first node's time to last node's time) and one child span per
// hop: the first node's span is an instant at its timestamp, every later
// node's span runs from the previous node's timestamp to its own (its
// duration is the segment delay). Attributes: ioam.namespace,
// dex.flow_id, dex.sequence, dexplane.node (Observation Domain ID),
// dexplane.hop, dexplane.delay_ns.
//
// Add encodes into a batch on the caller's goroutine; full batches (or
// every second) go to a sender goroutine through a queue of 16 batches. A
// full queue drops the batch (counted): a slow or absent OTel Collector
// never stalls collection.
type OTLP struct {
	endpoint string
	client   *http.Client
	batch    bytes.Buffer
	spans    int
	paths    int
	queue    chan []byte
	wg       sync.WaitGroup
	last     time.Time

	// Sent, Dropped and Failed count paths: delivered (HTTP 2xx),
	// dropped with a full queue, lost to a failed request.
	Sent, Dropped, Failed atomic.Uint64
}

// maxBatchPaths is the number of paths per OTLP request.
const maxBatchPaths = 256

// NewOTLP validates endpoint (http://HOST:PORT, optionally with a path
// prefix) and starts the sender.
func NewOTLP(endpoint string) (*OTLP, error) {
	u, err := url.Parse(endpoint)
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		return nil, fmt.Errorf("%w: %q", ErrOTLPEndpoint, endpoint)
	}
	o := &OTLP{endpoint: endpoint + "/v1/traces", client: &http.Client{Timeout: 5 * time.Second}, queue: make(chan []byte, 16), last: time.Now()}
	if u.Path != "" && u.Path != "/" {
		o.endpoint = endpoint
	}
	o.wg.Add(1)
	go o.send()
	return o, nil
}

func (o *OTLP) send() {
	defer o.wg.Done()
	for b := range o.queue {
		n := uint64(binary.BigEndian.Uint32(b[:4]))
		req, err := http.NewRequestWithContext(context.Background(), http.MethodPost, o.endpoint, bytes.NewReader(b[4:]))
		if err != nil {
			o.Failed.Add(n)
			continue
		}
		req.Header.Set("Content-Type", "application/json")
		resp, err := o.client.Do(req)
		if err != nil {
			o.Failed.Add(n)
			continue
		}
		resp.Body.Close()
		if resp.StatusCode/100 != 2 {
			o.Failed.Add(n)
			continue
		}
		o.Sent.Add(n)
	}
}

// Add encodes one completed path (collect loop goroutine).
func (o *OTLP) Add(p *Path) {
	if len(p.Hops) == 0 {
		return
	}
	b := &o.batch
	if o.paths == 0 {
		b.Reset()
		b.Write([]byte{0, 0, 0, 0}) // path count, filled at flush
		b.WriteString(`{"resourceSpans":[{"resource":{"attributes":[{"key":"service.name","value":{"stringValue":"dexplane-domain"}}]},"scopeSpans":[{"scope":{"name":"github.com/dexplane/dexplane/exporter/collect"},"spans":[`)
	}
	tid := TraceID(p.Key)
	root := SpanID(p.Key, -1)
	h := p.Hops
	start, end := h[0].Time, h[len(h)-1].Time
	o.span(tid, root, nil, fmt.Sprintf("ns %d flow 0x%08x seq %d", p.Key.Namespace, p.Key.FlowID, p.Key.Seq), start, end, p.Key, -1, 0, 0)
	for i, x := range h {
		s := x.Time
		if i > 0 && h[i-1].Time != 0 {
			s = h[i-1].Time
		}
		var delay int64
		if i > 0 && h[i-1].Time != 0 && x.Time != 0 {
			delay = x.Time - h[i-1].Time
		}
		sid := SpanID(p.Key, i)
		o.span(tid, sid, root[:], "node "+strconv.FormatUint(uint64(x.Domain), 10), s, x.Time, p.Key, i, x.Domain, delay)
	}
	o.paths++
	if o.paths >= maxBatchPaths {
		o.Flush()
	}
}

func (o *OTLP) span(tid [16]byte, sid [8]byte, parent []byte, name string, start, end int64, k PacketKey, hop int, node uint32, delay int64) {
	b := &o.batch
	if o.spans > 0 {
		b.WriteByte(',')
	}
	o.spans++
	fmt.Fprintf(b, `{"traceId":"%s","spanId":"%s",`, hex.EncodeToString(tid[:]), hex.EncodeToString(sid[:]))
	if parent != nil {
		fmt.Fprintf(b, `"parentSpanId":"%s",`, hex.EncodeToString(parent))
	}
	fmt.Fprintf(b, `"name":%q,"kind":1,"startTimeUnixNano":"%d","endTimeUnixNano":"%d","attributes":[`, name, max(start, 0), max(end, start, 0))
	fmt.Fprintf(b, `{"key":"ioam.namespace","value":{"intValue":"%d"}},{"key":"dex.flow_id","value":{"intValue":"%d"}},{"key":"dex.sequence","value":{"intValue":"%d"}}`,
		k.Namespace, k.FlowID, k.Seq)
	if hop >= 0 {
		fmt.Fprintf(b, `,{"key":"dexplane.node","value":{"intValue":"%d"}},{"key":"dexplane.hop","value":{"intValue":"%d"}},{"key":"dexplane.delay_ns","value":{"intValue":"%d"}}`,
			node, hop, delay)
	}
	b.WriteString(`]}`)
}

// Flush queues the current batch (collect loop goroutine); call it
// periodically so that a quiet domain's traces leave too.
func (o *OTLP) Flush() {
	o.last = time.Now()
	if o.paths == 0 {
		return
	}
	o.batch.WriteString(`]}]}]}`)
	msg := bytes.Clone(o.batch.Bytes())
	binary.BigEndian.PutUint32(msg, uint32(o.paths))
	select {
	case o.queue <- msg:
	default:
		o.Dropped.Add(uint64(o.paths))
	}
	o.paths, o.spans = 0, 0
}

// Close flushes and stops the sender after what is queued was sent, or
// after 3 s (an unreachable OTel Collector must not hold up the exit; the
// batches still queued then are abandoned).
func (o *OTLP) Close() {
	o.Flush()
	close(o.queue)
	done := make(chan struct{})
	go func() { o.wg.Wait(); close(done) }()
	select {
	case <-done:
	case <-time.After(3 * time.Second):
	}
}
