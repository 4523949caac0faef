package exporter

import (
	"context"
	"crypto/tls"
	"errors"
	"net"
	"net/netip"
	"sync/atomic"
	"time"

	"github.com/dexplane/dexplane/dataplane/policy"
	"github.com/dexplane/dexplane/dataplane/telemetry"
)

// Socket describes the transport endpoint of one collector session, so that
// the data plane can recognise (and never add DEX to) export traffic.
type Socket struct {
	// Transport is udp, tcp or tls.
	Transport policy.Transport
	// Local is the exporter's source address and port; invalid while no
	// socket is open.
	Local netip.AddrPort
	// Remote is the collector's address and port.
	Remote netip.AddrPort
}

// exportSession is the export session to one IPFIX collector: an Encoder fed by the drainer and a
// writer goroutine owning the socket.
type exportSession struct {
	cfg  policy.Collector
	opts *Options
	enc  *Encoder
	q    *bufQueue
	tls  *tlsClient // TransportTLS only

	encGen uint64        // session the encoder works for (drainer only)
	gen    atomic.Uint64 // current session, bumped by the writer per TCP connection
	up     atomic.Bool   // a session is established (always true for UDP once dialled)
	// refresh asks the drainer to announce templates again (UDP recovering
	// from send errors, e.g. a collector that restarted).
	refresh atomic.Bool

	records, messages, octets atomic.Uint64 // sent
	dropped, sendErrors       atomic.Uint64
	behind                    atomic.Uint64 // part of dropped: no free buffer
	connects                  atomic.Uint64
	tlsErrors                 atomic.Uint64 // failed handshakes and sessions the peer refused
	templates                 atomic.Int64
	nTemplates                int // drainer's copy of enc.Templates()
	socket                    atomic.Pointer[Socket]
}

func newExportSession(cfg policy.Collector, opts *Options) (*exportSession, error) {
	c := &exportSession{cfg: cfg, opts: opts}
	refresh := cfg.TemplateRefresh
	if cfg.Transport != policy.TransportUDP {
		refresh = 0 // templates are resent per session instead
	} else if refresh <= 0 {
		refresh = DefaultTemplateRefresh
	}
	fs := FieldsStandard
	if opts.LiegeOnly {
		fs = FieldsLiege
	}
	if opts.RawSection {
		fs |= FieldsRaw
	}
	enc, err := NewEncoder(EncoderConfig{
		ObservationDomain: cfg.ObservationDomainID,
		MessageSize:       opts.MessageSize,
		TemplateIDBase:    opts.TemplateIDBase,
		MaxTemplates:      opts.MaxTemplates,
		Fields:            fs,
		TemplateRefresh:   refresh,
		Now:               opts.Now,
		Emit:              c.emit,
	})
	if err != nil {
		return nil, err
	}
	c.enc = enc
	if cfg.Transport == policy.TransportTLS {
		if c.tls, err = newTLSClient(cfg.TLS, cfg.Address); err != nil {
			return nil, err
		}
	}
	c.q = newBufQueue(opts.QueueDepth, cap(enc.buf))
	return c, nil
}

// offer encodes the records rs for this collector (drainer goroutine) and
// returns how many failed to encode; drops for a down collector are
// counted here. now (unix ns) is the drain's clock reading
// (Encoder.EncodeRun).
func (c *exportSession) offer(rs []telemetry.Record, now int64) (failed int) {
	if !c.prepare(len(rs)) {
		return 0
	}
	failed, _ = c.enc.EncodeRun(rs, now)
	c.noteTemplates()
	return failed
}

// prepare readies the encoder for n records (drainer goroutine). It
// returns false when the collector is down, counting the records as
// dropped; otherwise it starts a new session after a reconnect (counting
// what the old one lost) and resends the templates when asked.
func (c *exportSession) prepare(n int) bool {
	if !c.up.Load() {
		c.dropped.Add(uint64(n))
		return false
	}
	if g := c.gen.Load(); g != c.encGen {
		c.dropped.Add(uint64(c.enc.ResetSession()))
		c.encGen = g
	}
	if c.refresh.Load() {
		c.refresh.Store(false)
		c.enc.RefreshTemplates()
	}
	return true
}

// noteTemplates publishes the number of templates the encoder has sent
// (drainer goroutine).
func (c *exportSession) noteTemplates() {
	if n := c.enc.Templates(); n != c.nTemplates {
		c.nTemplates = n
		c.templates.Store(int64(n))
	}
}

// emit is the Encoder's Emit: copy the message into a free buffer and queue
// it, or drop it when the writer is behind.
func (c *exportSession) emit(msg []byte, n int) bool {
	m := c.q.get()
	if m == nil {
		c.dropped.Add(uint64(n))
		c.behind.Add(uint64(n))
		return false
	}
	m.b = append(m.b, msg...)
	m.records = n
	m.gen = c.encGen
	c.q.push(m)
	return true
}

// run is the writer goroutine; it returns when done is closed, after
// trying (for at most WriteTimeout) to send what is queued.
func (c *exportSession) run(done <-chan struct{}) {
	ctx, cancel := context.WithCancel(context.Background())
	go func() { <-done; cancel() }()
	backoff := c.opts.MinBackoff
	for {
		conn, err := c.dial(ctx)
		if err != nil {
			if ctx.Err() != nil {
				c.discardQueued()
				return
			}
			if !c.waitDiscarding(done, backoff) {
				c.discardQueued()
				return
			}
			backoff = min(2*backoff, c.opts.MaxBackoff)
			continue
		}
		c.connects.Add(1)
		s := &Socket{Transport: c.cfg.Transport, Local: addrPort(conn.LocalAddr()), Remote: addrPort(conn.RemoteAddr())}
		c.socket.Store(s)
		c.gen.Add(1)
		c.up.Store(true)
		stop, refused := c.serve(conn, done)
		c.up.Store(false)
		conn.Close()
		if stop {
			return
		}
		if !refused {
			backoff = c.opts.MinBackoff
			continue
		}
		// The collector refused our certificate after the TLS 1.3
		// handshake: back off as for a failed connection attempt.
		if !c.waitDiscarding(done, backoff) {
			c.discardQueued()
			return
		}
		backoff = min(2*backoff, c.opts.MaxBackoff)
	}
}

func (c *exportSession) dial(ctx context.Context) (net.Conn, error) {
	d := net.Dialer{Timeout: c.opts.DialTimeout}
	if c.cfg.Transport == policy.TransportTLS {
		// The timeout covers the handshake too.
		td := tls.Dialer{NetDialer: &d, Config: c.tls.cfg.Load()}
		conn, err := td.DialContext(ctx, "tcp", c.cfg.Address)
		if err != nil && ctx.Err() == nil {
			var op *net.OpError
			if !errors.As(err, &op) || op.Op != "dial" {
				c.tlsErrors.Add(1) // the TCP connection was up: the handshake failed
			}
		}
		return conn, err
	}
	return d.DialContext(ctx, c.cfg.Transport.String(), c.cfg.Address)
}

// serve sends queued messages on conn until the session fails (stop
// false) or done is closed (stop true); refused reports a TLS session the
// collector ended with an alert (e.g. it did not accept our certificate).
func (c *exportSession) serve(conn net.Conn, done <-chan struct{}) (stop, refused bool) {
	dead := make(chan struct{})
	var rejected atomic.Bool
	stream := c.cfg.Transport != policy.TransportUDP
	if stream {
		// A collector never sends on an IPFIX session: a read returning
		// means it closed or reset the connection (or, over TLS, refused
		// the session with an alert).
		go func() {
			var b [256]byte
			for {
				if _, err := conn.Read(b[:]); err != nil {
					if isTLSRejection(err) {
						c.tlsErrors.Add(1)
						rejected.Store(true)
					}
					close(dead)
					return
				}
			}
		}()
	}
	failing := false
	for {
		select {
		case <-done:
			deadline := time.Now().Add(c.opts.WriteTimeout)
			for {
				select {
				case m := <-c.q.full:
					if time.Now().Before(deadline) && m.gen == c.gen.Load() {
						conn.SetWriteDeadline(deadline)
						c.write(conn, m)
					} else {
						c.dropped.Add(uint64(m.records))
					}
					c.q.recycle(m)
				default:
					return true, false
				}
			}
		case <-dead:
			return false, rejected.Load()
		case m := <-c.q.full:
			if m.gen != c.gen.Load() {
				c.dropped.Add(uint64(m.records)) // encoded for a previous session
				c.q.recycle(m)
				continue
			}
			conn.SetWriteDeadline(time.Now().Add(c.opts.WriteTimeout))
			err := c.write(conn, m)
			c.q.recycle(m)
			switch {
			case err == nil && failing:
				failing = false
				c.refresh.Store(true)
			case err != nil && stream:
				// stream framing is lost: reconnect
				conn.Close() // ends the reader
				<-dead
				return false, rejected.Load()
			case err != nil:
				failing = true // UDP: e.g. ICMP port unreachable; keep going
			}
		}
	}
}

func (c *exportSession) write(conn net.Conn, m *msgBuf) error {
	if _, err := conn.Write(m.b); err != nil {
		c.sendErrors.Add(1)
		c.dropped.Add(uint64(m.records))
		return err
	}
	c.records.Add(uint64(m.records))
	c.messages.Add(1)
	c.octets.Add(uint64(len(m.b)))
	return nil
}

// waitDiscarding sleeps d while dropping queued messages; false if done.
func (c *exportSession) waitDiscarding(done <-chan struct{}, d time.Duration) bool {
	t := time.NewTimer(d)
	defer t.Stop()
	for {
		select {
		case <-done:
			return false
		case <-t.C:
			return true
		case m := <-c.q.full:
			c.dropped.Add(uint64(m.records))
			c.q.recycle(m)
		}
	}
}

func (c *exportSession) discardQueued() {
	for {
		select {
		case m := <-c.q.full:
			c.dropped.Add(uint64(m.records))
			c.q.recycle(m)
		default:
			return
		}
	}
}

func addrPort(a net.Addr) netip.AddrPort {
	switch a := a.(type) {
	case *net.UDPAddr:
		return a.AddrPort()
	case *net.TCPAddr:
		return a.AddrPort()
	}
	return netip.AddrPort{}
}
