package collector

import (
	"bytes"
	"crypto/tls"
	"errors"
	"net"
	"net/netip"
	"testing"
	"time"

	"github.com/dexplane/dexplane/dataplane/telemetry"
	"github.com/dexplane/dexplane/exporter"
	"github.com/dexplane/dexplane/exporter/aggregate"
	"github.com/dexplane/dexplane/internal/ipfixtest"
	"github.com/dexplane/dexplane/internal/testpki"
)

// receive takes n messages from p, failing after a generous timeout.
func receive(t *testing.T, p *CollectingProcess, n int) []*Message {
	t.Helper()
	var got []*Message
	timeout := time.After(10 * time.Second)
	for len(got) < n {
		select {
		case m, ok := <-p.Messages():
			if !ok {
				t.Fatalf("Messages closed after %d of %d", len(got), n)
			}
			got = append(got, m)
		case <-timeout:
			t.Fatalf("%d of %d messages after 10 s", len(got), n)
		}
	}
	return got
}

// stopAndDrain stops p and returns what it still delivers before closing
// Messages.
func stopAndDrain(t *testing.T, p *CollectingProcess) []*Message {
	t.Helper()
	p.Stop()
	var rest []*Message
	timeout := time.After(10 * time.Second)
	for {
		select {
		case m, ok := <-p.Messages():
			if !ok {
				return rest
			}
			rest = append(rest, m)
		case <-timeout:
			t.Fatal("Messages not closed 10 s after Stop")
		}
	}
}

// listen has p listen on network address addr, failing t if it cannot.
func listen(t *testing.T, p *CollectingProcess, network, addr string) net.Addr {
	t.Helper()
	a, err := p.Listen(network, addr)
	if err != nil {
		t.Fatal(err)
	}
	return a
}

// dial connects over network to addr, failing t if it cannot; the
// connection is closed when the test ends.
func dial(t *testing.T, network string, addr net.Addr) net.Conn {
	t.Helper()
	c, err := net.Dial(network, addr.String())
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	return c
}

// send writes each of msgs to c, failing t on an error.
func send(t *testing.T, c net.Conn, msgs ...[]byte) {
	t.Helper()
	for _, m := range msgs {
		if _, err := c.Write(m); err != nil {
			t.Fatal(err)
		}
	}
}

func seqRecords(n int) []telemetry.Record {
	recs := make([]telemetry.Record, n)
	for i := range recs {
		recs[i] = ipfixtest.Record(42)
		recs[i].Seq = uint32(i)
	}
	return recs
}

func TestProcessUDP(t *testing.T) {
	p := NewCollectingProcess(ProcessConfig{})
	addr := listen(t, p, "udp", "127.0.0.1:0")
	conn := dial(t, "udp", addr)
	msgs := ipfixtest.Encode(t, 7, exporter.FieldsStandard, seqRecords(5)...)
	send(t, conn, msgs...)
	send(t, conn, []byte{0, 9, 0, 16, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0}) // NetFlow v9 header
	got := receive(t, p, len(msgs)+1)
	seq := uint32(0)
	for _, m := range got[:len(msgs)] {
		if m.Err != nil || m.Domain != 7 || m.Exporter.String() != conn.LocalAddr().String() {
			t.Errorf("message from %v domain %d err %v; want from %v domain 7", m.Exporter, m.Domain, m.Err, conn.LocalAddr())
		}
		for _, ev := range m.Events {
			if ev.Record.Seq != seq || ev.Domain != 7 {
				t.Errorf("record seq %d domain %d, want seq %d domain 7", ev.Record.Seq, ev.Domain, seq)
			}
			seq++
		}
		m.Release()
	}
	if seq != 5 {
		t.Errorf("%d records, want 5", seq)
	}
	if bad := got[len(msgs)]; !errors.Is(bad.Err, ErrVersion) || len(bad.Events) != 0 {
		t.Errorf("NetFlow v9 message: err %v with %d events, want ErrVersion", bad.Err, len(bad.Events))
	}
	if rest := stopAndDrain(t, p); len(rest) != 0 {
		t.Errorf("%d messages after Stop, want none", len(rest))
	}
	st := p.Stats()
	if st.Messages != uint64(len(msgs)+1) || st.BadMessages != 1 || st.Events != 5 {
		t.Errorf("stats %+v, want %d messages, 1 bad, 5 events", st, len(msgs)+1)
	}
	if _, err := p.Listen("udp", "127.0.0.1:0"); !errors.Is(err, ErrStopped) {
		t.Errorf("Listen after Stop: %v, want ErrStopped", err)
	}
}

// TestProcessTCPSessions checks that templates belong to their session: a
// second session sending data under the first one's template ID decodes
// nothing, and a session's end reaches no one as an error.
func TestProcessTCPSessions(t *testing.T) {
	p := NewCollectingProcess(ProcessConfig{Queue: 1})
	addr := listen(t, p, "tcp", "[::1]:0")
	msgs := ipfixtest.Encode(t, 3, exporter.FieldsStandard, seqRecords(2)...)
	if len(msgs) != 1 {
		t.Fatalf("%d messages, want 1 (template and data)", len(msgs))
	}
	a := dial(t, "tcp", addr)
	send(t, a, msgs[0])
	m := receive(t, p, 1)[0]
	if m.Err != nil || len(m.Events) != 2 || m.MissingTemplate != 0 {
		t.Fatalf("session a: err %v, %d events, %d missing; want 2 events", m.Err, len(m.Events), m.MissingTemplate)
	}
	// session b: the data set alone, under the same template ID
	data := dataOnly(t, msgs[0])
	b := dial(t, "tcp", addr)
	send(t, b, data)
	m = receive(t, p, 1)[0]
	if len(m.Events) != 0 || m.MissingTemplate != 1 || m.Exporter.String() != b.LocalAddr().String() {
		t.Errorf("session b: %d events, %d missing from %v; want 0 events, 1 missing from %v", len(m.Events), m.MissingTemplate, m.Exporter, b.LocalAddr())
	}
	// session a still knows its template
	send(t, a, data)
	if m = receive(t, p, 1)[0]; len(m.Events) != 2 {
		t.Errorf("session a, data only: %d events, want 2", len(m.Events))
	}
	a.Close()
	b.Close()
	// a stream that is not IPFIX ends its session with a SessionError
	c := dial(t, "tcp", addr)
	send(t, c, []byte("GET / HTTP/1.1\r\n\r\n"))
	m = receive(t, p, 1)[0]
	var se *SessionError
	if !errors.As(m.Err, &se) || !errors.Is(m.Err, ErrVersion) || se.Exporter.String() != c.LocalAddr().String() {
		t.Errorf("HTTP on the IPFIX port: %v, want a SessionError from %v wrapping ErrVersion", m.Err, c.LocalAddr())
	}
	if rest := stopAndDrain(t, p); len(rest) != 0 {
		t.Errorf("%d messages after Stop (%v), want none", len(rest), rest[0].Err)
	}
	if st := p.Stats(); st.Sessions != 3 || st.SessionErrors != 1 || st.MissingTemplate != 1 || st.Events != 4 {
		t.Errorf("stats %+v, want 3 sessions, 1 error, 1 missing template, 4 events", st)
	}
}

// dataOnly returns msg with its template set removed.
func dataOnly(t testing.TB, msg []byte) []byte {
	t.Helper()
	out := bytes.Clone(msg[:msgHeaderLen])
	for off := msgHeaderLen; off < len(msg); {
		l := int(msg[off+2])<<8 | int(msg[off+3])
		if id := int(msg[off])<<8 | int(msg[off+1]); id >= 256 {
			out = append(out, msg[off:off+l]...)
		}
		off += l
	}
	out[2], out[3] = byte(len(out)>>8), byte(len(out))
	if len(out) == len(msg) {
		t.Fatal("message without a template set")
	}
	return out
}

// TestProcessStopDelivers checks that messages read before Stop reach the
// consumer, in order, and Messages is closed after them.
func TestProcessStopDelivers(t *testing.T) {
	p := NewCollectingProcess(ProcessConfig{Queue: 1})
	addr := listen(t, p, "tcp", "127.0.0.1:0")
	c := dial(t, "tcp", addr)
	const n = 8
	msgs := ipfixtest.Encode(t, 1, exporter.FieldsStandard, seqRecords(1)...)
	data := dataOnly(t, msgs[0])
	stream := append([]byte(nil), msgs[0]...)
	for range n - 1 {
		stream = append(stream, data...)
	}
	send(t, c, stream)
	first := receive(t, p, 1) // the session is now blocked on the full queue
	time.Sleep(100 * time.Millisecond)
	got := append(first, stopAndDrain(t, p)...)
	if st := p.Stats(); len(got) != int(st.Messages) || len(got) < 2 {
		t.Fatalf("%d messages delivered, %d decoded; want all decoded delivered and at least 2", len(got), st.Messages)
	}
	for i, m := range got {
		if m.Err != nil || len(m.Events) != 1 {
			t.Errorf("message %d: err %v, %d events", i, m.Err, len(m.Events))
		}
	}
}

func TestProcessTLS(t *testing.T) {
	dir := t.TempDir()
	ca := testpki.NewCA(t, dir, "ca")
	srvCert, srvKey := ca.Issue(t, dir, testpki.Leaf{Name: "collector", Server: true})
	cliCert, cliKey := ca.Issue(t, dir, testpki.Leaf{Name: "node"})
	cert, err := tls.LoadX509KeyPair(srvCert, srvKey)
	if err != nil {
		t.Fatal(err)
	}
	pool := ca.Pool()
	if _, err := NewCollectingProcess(ProcessConfig{}).Listen("tls", "127.0.0.1:0"); !errors.Is(err, ErrNoTLS) {
		t.Errorf("tls without configuration: %v, want ErrNoTLS", err)
	}
	if _, err := NewCollectingProcess(ProcessConfig{}).Listen("sctp", "127.0.0.1:0"); !errors.Is(err, ErrNetwork) {
		t.Errorf("sctp: %v, want ErrNetwork", err)
	}
	p := NewCollectingProcess(ProcessConfig{TLS: &tls.Config{MinVersion: tls.VersionTLS12, Certificates: []tls.Certificate{cert},
		ClientAuth: tls.RequireAndVerifyClientCert, ClientCAs: pool}})
	addr := listen(t, p, "tls", "127.0.0.1:0")
	client := &tls.Config{RootCAs: pool, ServerName: "localhost", MinVersion: tls.VersionTLS12}
	// without a client certificate: refused, a SessionError
	if c, err := tls.Dial("tcp", addr.String(), client); err == nil {
		c.Write([]byte{0}) // TLS 1.3: the refusal comes after the client's handshake
		m := receive(t, p, 1)[0]
		if _, ok := errors.AsType[*SessionError](m.Err); !ok || len(m.Events) != 0 {
			t.Errorf("no client certificate: %v with %d events, want a SessionError", m.Err, len(m.Events))
		}
		c.Close()
	}
	kp, err := tls.LoadX509KeyPair(cliCert, cliKey)
	if err != nil {
		t.Fatal(err)
	}
	client.Certificates = []tls.Certificate{kp}
	c, err := tls.Dial("tcp", addr.String(), client)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	msgs := ipfixtest.Encode(t, 5, exporter.FieldsStandard, seqRecords(3)...)
	send(t, c, msgs...)
	n := 0
	for _, m := range receive(t, p, len(msgs)) {
		if m.Err != nil {
			t.Errorf("over TLS: %v", m.Err)
		}
		n += len(m.Events)
	}
	if n != 3 {
		t.Errorf("%d records over TLS, want 3", n)
	}
	stopAndDrain(t, p)
	if st := p.Stats(); st.SessionErrors != 1 || st.Sessions != 2 {
		t.Errorf("stats %+v, want 2 sessions, 1 error", st)
	}
}

// TestMessageWalkOrder checks that Walk replays per-packet and aggregate
// records of one message in the order the message carries them.
func TestMessageWalkOrder(t *testing.T) {
	var msgs [][]byte
	enc, err := exporter.NewEncoder(exporter.EncoderConfig{ObservationDomain: 2, Fields: exporter.FieldsStandard,
		Now:  func() time.Time { return time.Unix(1700000000, 0) },
		Emit: func(m []byte, _ int) bool { msgs = append(msgs, bytes.Clone(m)); return true }})
	if err != nil {
		t.Fatal(err)
	}
	recs := seqRecords(2)
	agg := aggregate.Record{Packets: 9, Octets: 900}
	if err := enc.Encode(&recs[0]); err != nil {
		t.Fatal(err)
	}
	if err := enc.EncodeCustom(exporter.AggregateTemplate, (*exporter.AggRecord)(&agg)); err != nil {
		t.Fatal(err)
	}
	if err := enc.Encode(&recs[1]); err != nil {
		t.Fatal(err)
	}
	enc.Flush()
	if len(msgs) != 1 {
		t.Fatalf("%d messages, want 1", len(msgs))
	}
	p := NewCollectingProcess(ProcessConfig{})
	m := p.newSessionDecoder().decode(netipLoop, msgs[0])
	var order []string
	m.Walk(func(ev *Event) { order = append(order, "event") },
		func(a *aggregate.Record) {
			if a.Packets != 9 || a.Octets != 900 {
				t.Errorf("aggregate %+v", *a)
			}
			order = append(order, "aggregate")
		}, nil)
	if got := len(order); got != 3 || order[0] != "event" || order[1] != "aggregate" || order[2] != "event" {
		t.Errorf("Walk order %v, want event aggregate event", order)
	}
	m.Release()
}

var netipLoop = netip.MustParseAddrPort("[::1]:4739")

// simpleRecords are n per-packet records of a DEX trace with hop limit,
// node id and timestamp: records the decoder's fast path takes.
func simpleRecords(n int) []telemetry.Record {
	recs := make([]telemetry.Record, n)
	for i := range recs {
		recs[i] = telemetry.Record{Namespace: 123, HasFlowID: true, FlowID: 7, HasSeq: true, Seq: uint32(i),
			TraceType: telemetry.TraceHopLimNodeID | telemetry.TraceTimestampSec | telemetry.TraceTimestampFrac,
			NodeID:    4, HopLimit: 60, TimestampSec: 1700000000, TimestampFrac: uint32(i), RxTime: 1700000000e9 + int64(i)}
	}
	return recs
}

// TestProcessDecodeAllocs checks that a session decodes a message of known
// templates into a released Message without allocating.
func TestProcessDecodeAllocs(t *testing.T) {
	msgs := ipfixtest.Encode(t, 4, exporter.FieldsStandard, simpleRecords(20)...)
	data := dataOnly(t, msgs[0])
	sd := NewCollectingProcess(ProcessConfig{}).newSessionDecoder()
	m := sd.decode(netipLoop, msgs[0])
	want := len(m.Events)
	m.Release()
	if want == 0 {
		t.Fatal("no events")
	}
	sd.decode(netipLoop, data).Release()
	if a := testing.AllocsPerRun(100, func() {
		m := sd.decode(netipLoop, data)
		if len(m.Events) != want {
			t.Fatalf("%d events, want %d", len(m.Events), want)
		}
		m.Release()
	}); a != 0 && !raceEnabled {
		t.Errorf("%v allocations per message, want 0", a)
	}
}

// BenchmarkProcessDecode is the collecting process's cost per message of 20
// per-packet records (decode into a Message, then Release), against
// decoding alone with a Decoder and a no-op callback in the same run.
func BenchmarkProcessDecode(b *testing.B) {
	msgs := ipfixtest.Encode(b, 4, exporter.FieldsStandard, simpleRecords(20)...)
	data := dataOnly(b, msgs[0])
	b.Run("process", func(b *testing.B) {
		sd := NewCollectingProcess(ProcessConfig{}).newSessionDecoder()
		sd.decode(netipLoop, msgs[0]).Release()
		b.ReportAllocs()
		b.SetBytes(int64(len(data)))
		for b.Loop() {
			sd.decode(netipLoop, data).Release()
		}
	})
	b.Run("decoder", func(b *testing.B) {
		d := NewDecoder()
		d.Decode(netipLoop, msgs[0], func(*Event) {})
		b.ReportAllocs()
		b.SetBytes(int64(len(data)))
		for b.Loop() {
			d.Decode(netipLoop, data, func(*Event) {})
		}
	})
}
