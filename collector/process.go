package collector

import (
	"bufio"
	"crypto/tls"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"net"
	"net/netip"
	"sync"
	"sync/atomic"

	"github.com/dexplane/dexplane/exporter/aggregate"
)

// Sentinel errors of the CollectingProcess.
var (
	// ErrStopped: Listen or Serve after Stop.
	ErrStopped = errors.New("collect: collecting process stopped")
	// ErrNetwork: Listen with a network other than "udp", "tcp" or "tls".
	ErrNetwork = errors.New("collect: network must be udp, tcp or tls")
	// ErrNoTLS: Listen("tls", …) without ProcessConfig.TLS.
	ErrNoTLS = errors.New("collect: tls listener without a TLS configuration")
)

// DefaultQueue is the default capacity, in messages, of Messages.
const DefaultQueue = 1024

// ProcessConfig configures a CollectingProcess.
type ProcessConfig struct {
	// TLS is the server configuration of "tls" listeners (it should require
	// and verify client certificates; GetConfigForClient lets certificates
	// change between handshakes). Unused by "udp" and "tcp".
	TLS *tls.Config
	// Queue is the capacity of the Messages channel, in messages (0:
	// DefaultQueue). A full queue blocks the sessions: TCP and TLS
	// exporters then see the window close, the kernel drops UDP datagrams.
	Queue int
}

// SessionError ends a stream (TCP or TLS) session abnormally: a read error
// other than the exporter closing it, a failed TLS handshake, or a message
// whose header is not IPFIX (the stream cannot be resynchronised). It is
// delivered as the Err of a Message without records.
type SessionError struct {
	// Exporter is the session's peer.
	Exporter netip.AddrPort
	// Err is the reason.
	Err error
}

// Error returns "session from EXPORTER: REASON".
func (e *SessionError) Error() string { return fmt.Sprintf("session from %v: %v", e.Exporter, e.Err) }

// Unwrap returns the reason.
func (e *SessionError) Unwrap() error { return e.Err }

// recordKind orders a Message's records of different kinds.
type recordKind uint8

const (
	kindEvent recordKind = iota
	kindAggregate
	kindDelay
)

// Message is one IPFIX message a CollectingProcess received, decoded with
// the template state of its transport session. A Message belongs to the
// receiver; Release hands it back for reuse (optional).
type Message struct {
	// Exporter is the transport source (UDP source or stream peer), IPv4
	// addresses unmapped.
	Exporter netip.AddrPort
	// Domain, ExportTime and Sequence are the message header's Observation
	// Domain ID, Export Time (unix seconds) and Sequence Number; zero when
	// the message is shorter than its header.
	Domain, ExportTime, Sequence uint32
	// Events are the DEX (per-packet) records, in message order.
	Events []Event
	// Aggregates are the per-flow aggregate records (exporter.AggregateTemplate)
	// and Delays the RFC 9951 delay records (DelayTemplate), in message order.
	Aggregates []aggregate.Record
	Delays     []DelayRecord
	// MissingTemplate counts the data sets of this message skipped because
	// their template was not (yet) known in the session.
	MissingTemplate uint64
	// Err is set when the message was rejected (ErrVersion, ErrFraming,
	// ErrTemplate or a decode error; records decoded before the error are
	// kept) or, with no records, when a stream session ended on a
	// *SessionError.
	Err error

	order []recordKind // kinds of the records in message order
}

// Walk calls event, aggregate and delay (each may be nil) for the records of
// m in message order.
func (m *Message) Walk(event func(*Event), aggregate func(*aggregate.Record), delay func(*DelayRecord)) {
	var e, a, d int
	for _, k := range m.order {
		switch k {
		case kindEvent:
			if event != nil {
				event(&m.Events[e])
			}
			e++
		case kindAggregate:
			if aggregate != nil {
				aggregate(&m.Aggregates[a])
			}
			a++
		case kindDelay:
			if delay != nil {
				delay(&m.Delays[d])
			}
			d++
		}
	}
}

var messagePool = sync.Pool{New: func() any { return new(Message) }}

// Release returns m to the process's pool; m must not be used after.
func (m *Message) Release() {
	*m = Message{Events: m.Events[:0], Aggregates: m.Aggregates[:0], Delays: m.Delays[:0], order: m.order[:0]}
	messagePool.Put(m)
}

// ProcessStats are a CollectingProcess's counters since it was created.
type ProcessStats struct {
	// Messages were decoded (BadMessages of them rejected); Events,
	// Aggregates and Delays are the records they held.
	Messages, BadMessages, Events, Aggregates, Delays uint64
	// MissingTemplate data sets were skipped for want of their template;
	// BadRecords had a field of the wrong length; Withdrawn template
	// withdrawals were applied.
	MissingTemplate, BadRecords, Withdrawn uint64
	// Sessions stream sessions were accepted; SessionErrors of them ended
	// on a *SessionError.
	Sessions, SessionErrors uint64
}

// CollectingProcess is an IPFIX Collecting Process (RFC 7011 §2): it
// receives IPFIX messages on UDP, TCP (RFC 7011 §10.4 framing) and TLS
// listeners, decodes each with the template state of its transport session
// (one Decoder per UDP socket keyed by exporter address, one per TCP or TLS
// session and dropped with it), and delivers it decoded on Messages.
//
// Listen, Serve, ServePacket, Stats and Stop are safe from any goroutine.
// The consumer must receive from Messages until it is closed: a full queue
// blocks the sessions (backpressure). After Stop, messages already read are
// still delivered, then Messages is closed.
type CollectingProcess struct {
	cfg  ProcessConfig
	msgs chan *Message

	mu      sync.Mutex
	closers map[io.Closer]struct{} // listeners and stream sessions
	wg      sync.WaitGroup
	// stopped is set by Stop, under mu: track reads it under mu, the
	// sessions without it.
	stopped atomic.Bool

	messages, bad, events, aggs, delays atomic.Uint64
	missing, badRecords, withdrawn      atomic.Uint64
	sessions, sessionErrors             atomic.Uint64
}

// NewCollectingProcess returns a process without listeners.
func NewCollectingProcess(cfg ProcessConfig) *CollectingProcess {
	q := cfg.Queue
	if q <= 0 {
		q = DefaultQueue
	}
	return &CollectingProcess{cfg: cfg, msgs: make(chan *Message, q), closers: map[io.Closer]struct{}{}}
}

// Messages returns the channel the decoded messages arrive on, in arrival
// order per session; it is closed after Stop once every session has ended.
func (p *CollectingProcess) Messages() <-chan *Message { return p.msgs }

// Listen opens a listener on network ("udp", "tcp" or "tls") and address
// (host:port; port 0 picks one) and serves it until Stop. It returns the
// bound address.
func (p *CollectingProcess) Listen(network, address string) (net.Addr, error) {
	switch network {
	case "udp":
		pc, err := net.ListenPacket("udp", address)
		if err != nil {
			return nil, err
		}
		if err := p.ServePacket(pc); err != nil {
			pc.Close()
			return nil, err
		}
		return pc.LocalAddr(), nil
	case "tcp", "tls":
		if network == "tls" && p.cfg.TLS == nil {
			return nil, fmt.Errorf("%w: %s", ErrNoTLS, address)
		}
		ln, err := net.Listen("tcp", address)
		if err != nil {
			return nil, err
		}
		addr := ln.Addr()
		if network == "tls" {
			ln = tls.NewListener(ln, p.cfg.TLS)
		}
		if err := p.Serve(ln); err != nil {
			ln.Close()
			return nil, err
		}
		return addr, nil
	}
	return nil, fmt.Errorf("%w: %q", ErrNetwork, network)
}

// track registers c to be closed by Stop; false (c not registered) after
// Stop.
func (p *CollectingProcess) track(c io.Closer) bool {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.stopped.Load() {
		return false
	}
	p.closers[c] = struct{}{}
	p.wg.Add(1)
	return true
}

// untrack forgets c and ends its goroutine's share of the wait group.
func (p *CollectingProcess) untrack(c io.Closer) {
	p.mu.Lock()
	delete(p.closers, c)
	p.mu.Unlock()
	p.wg.Done()
}

// ServePacket reads IPFIX messages, one per datagram, from pc until Stop
// (which closes pc).
func (p *CollectingProcess) ServePacket(pc net.PacketConn) error {
	if !p.track(pc) {
		return ErrStopped
	}
	go func() {
		defer p.untrack(pc)
		sd := p.newSessionDecoder()
		buf := make([]byte, MaxMessageSize)
		udp, _ := pc.(*net.UDPConn)
		for {
			var src netip.AddrPort
			var n int
			var err error
			if udp != nil {
				n, src, err = udp.ReadFromUDPAddrPort(buf)
				src = netip.AddrPortFrom(src.Addr().Unmap(), src.Port())
			} else {
				var a net.Addr
				n, a, err = pc.ReadFrom(buf)
				src = addrPort(a)
			}
			if err != nil {
				return
			}
			p.msgs <- sd.decode(src, buf[:n])
		}
	}()
	return nil
}

// Serve accepts stream sessions (TCP, or TLS when ln is a tls listener) on
// ln until Stop (which closes ln and every session). Each session has its
// own template state and ends at EOF, on a stream error (a *SessionError
// message) or at Stop.
func (p *CollectingProcess) Serve(ln net.Listener) error {
	if !p.track(ln) {
		return ErrStopped
	}
	go func() {
		defer p.untrack(ln)
		for {
			conn, err := ln.Accept()
			if err != nil {
				if errors.Is(err, net.ErrClosed) || p.stopped.Load() {
					return
				}
				var ne net.Error
				if errors.As(err, &ne) && ne.Timeout() {
					continue
				}
				return
			}
			if !p.track(conn) {
				conn.Close()
				return
			}
			p.sessions.Add(1)
			go p.session(conn)
		}
	}()
	return nil
}

// session reads one stream session until it ends.
func (p *CollectingProcess) session(conn net.Conn) {
	defer p.untrack(conn)
	defer conn.Close()
	src := addrPort(conn.RemoteAddr())
	sd := p.newSessionDecoder()
	r := bufio.NewReader(conn)
	buf := make([]byte, MaxMessageSize)
	for {
		msg, err := ReadMessage(r, buf)
		if err != nil {
			if !errors.Is(err, io.EOF) && !errors.Is(err, net.ErrClosed) && !p.stopped.Load() {
				p.sessionErrors.Add(1)
				m := messagePool.Get().(*Message)
				m.Exporter, m.Err = src, &SessionError{Exporter: src, Err: err}
				p.msgs <- m
			}
			return
		}
		p.msgs <- sd.decode(src, msg)
	}
}

// sessionDecoder is the template state of one transport session (a UDP
// socket's Decoder keys it by exporter) and the Message being filled.
type sessionDecoder struct {
	p   *CollectingProcess
	dec *Decoder
	m   *Message
}

func (p *CollectingProcess) newSessionDecoder() *sessionDecoder {
	s := &sessionDecoder{p: p, dec: NewDecoder()}
	s.dec.OnAggregate = s.aggregate
	s.dec.OnDelay = s.delay
	return s
}

func (s *sessionDecoder) event(ev *Event) {
	s.m.Events = append(s.m.Events, *ev)
	s.m.order = append(s.m.order, kindEvent)
}

func (s *sessionDecoder) aggregate(_ netip.AddrPort, _ uint32, rec *aggregate.Record) {
	s.m.Aggregates = append(s.m.Aggregates, *rec)
	s.m.order = append(s.m.order, kindAggregate)
}

func (s *sessionDecoder) delay(_ uint32, rec *DelayRecord) {
	s.m.Delays = append(s.m.Delays, *rec)
	s.m.order = append(s.m.order, kindDelay)
}

// decode decodes msg from src into a Message and counts it.
func (s *sessionDecoder) decode(src netip.AddrPort, msg []byte) *Message {
	m := messagePool.Get().(*Message)
	m.Exporter = src
	if len(msg) >= msgHeaderLen {
		m.ExportTime = binary.BigEndian.Uint32(msg[4:])
		m.Sequence = binary.BigEndian.Uint32(msg[8:])
		m.Domain = binary.BigEndian.Uint32(msg[12:])
	}
	d, p := s.dec, s.p
	missing, badRecs, withdrawn := d.MissingTemplate, d.BadRecords, d.Withdrawn
	s.m = m
	m.Err = d.Decode(src, msg, s.event)
	s.m = nil
	m.MissingTemplate = d.MissingTemplate - missing
	p.messages.Add(1)
	if m.Err != nil {
		p.bad.Add(1)
	}
	p.events.Add(uint64(len(m.Events)))
	p.aggs.Add(uint64(len(m.Aggregates)))
	p.delays.Add(uint64(len(m.Delays)))
	p.missing.Add(m.MissingTemplate)
	p.badRecords.Add(d.BadRecords - badRecs)
	p.withdrawn.Add(d.Withdrawn - withdrawn)
	return m
}

// addrPort converts a UDP or TCP address into an AddrPort with IPv4
// unmapped; the zero AddrPort for anything else.
func addrPort(a net.Addr) netip.AddrPort {
	var ap netip.AddrPort
	switch a := a.(type) {
	case *net.UDPAddr:
		ap = a.AddrPort()
	case *net.TCPAddr:
		ap = a.AddrPort()
	default:
		if a != nil {
			ap, _ = netip.ParseAddrPort(a.String())
		}
	}
	return netip.AddrPortFrom(ap.Addr().Unmap(), ap.Port())
}

// Stop closes every listener and session and returns at once; messages
// already read are still delivered, then Messages is closed. Later calls do
// nothing.
func (p *CollectingProcess) Stop() {
	p.mu.Lock()
	if p.stopped.Load() {
		p.mu.Unlock()
		return
	}
	p.stopped.Store(true)
	for c := range p.closers {
		c.Close()
	}
	p.mu.Unlock()
	go func() {
		p.wg.Wait()
		close(p.msgs)
	}()
}

// Stats returns the counters; messages are counted when decoded, which may
// be before they are received from Messages.
func (p *CollectingProcess) Stats() ProcessStats {
	return ProcessStats{
		Messages: p.messages.Load(), BadMessages: p.bad.Load(), Events: p.events.Load(),
		Aggregates: p.aggs.Load(), Delays: p.delays.Load(), MissingTemplate: p.missing.Load(),
		BadRecords: p.badRecords.Load(), Withdrawn: p.withdrawn.Load(),
		Sessions: p.sessions.Load(), SessionErrors: p.sessionErrors.Load(),
	}
}
