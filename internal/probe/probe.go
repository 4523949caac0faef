// Package probe sends and receives self-checking UDP test traffic over
// ordinary sockets: the operator's tool for checking that a dexplane domain
// delivers what it is given, and the demo's traffic source.
//
// Every datagram is an internal/payload payload (magic, check, length,
// flow as the stream index, per-flow sequence number, pattern filler), so
// the receiver can detect corruption, loss, duplicates and reordering per
// flow without any state shared with the sender. The payload's time field
// stays 0: datagram (flow, seq) has the same octets in every run, so the
// IOAM records of two runs (whose raw field carries the packet) compare
// equal.
package probe

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/netip"
	"time"

	"github.com/dexplane/dexplane/internal/payload"
)

// HeaderLen is the size of the probe header in octets: the smallest
// datagram.
const HeaderLen = payload.HeaderLen

// Errors returned by Verify.
var (
	ErrShort    = payload.ErrShort
	ErrMagic    = payload.ErrMagic
	ErrChecksum = errors.New("probe: corrupt datagram")
)

// Fill writes the probe datagram for (flow, seq) into b; the same octets
// every time. len(b) must be at least HeaderLen.
func Fill(b []byte, flow, seq uint32) {
	payload.Put(b, payload.Header{Stream: flow, Seq: seq})
}

// Verify checks a received datagram and returns its flow and sequence.
// A datagram that is not a probe fails with ErrShort or ErrMagic, a
// damaged one with ErrChecksum (wrapping the payload package's reason).
func Verify(b []byte) (flow, seq uint32, err error) {
	h, err := payload.Verify(b)
	switch {
	case err == nil:
		return h.Stream, h.Seq, nil
	case errors.Is(err, payload.ErrShort), errors.Is(err, payload.ErrMagic):
		return 0, 0, err
	}
	return 0, 0, fmt.Errorf("%w: %w", ErrChecksum, err)
}

// SendOptions describes a probe stream.
type SendOptions struct {
	To       netip.AddrPort // destination
	Flows    int            // distinct flows, one source port each (from BasePort)
	BasePort uint16         // first source port; 0 picks 40000
	Count    int            // datagrams in total, spread round-robin over the flows
	Size     int            // UDP payload octets (≥ HeaderLen)
	Rate     int            // datagrams per second; 0 sends as fast as possible
}

// Send transmits the stream and returns how many datagrams were sent.
func Send(ctx context.Context, o SendOptions) (int, error) {
	if o.Flows <= 0 {
		o.Flows = 1
	}
	if o.BasePort == 0 {
		o.BasePort = 40000
	}
	if o.Size < HeaderLen {
		return 0, fmt.Errorf("probe: size %d: below the %d-octet header", o.Size, HeaderLen)
	}
	conns := make([]*net.UDPConn, o.Flows)
	defer func() {
		for _, c := range conns {
			if c != nil {
				c.Close()
			}
		}
	}()
	for i := range conns {
		laddr := &net.UDPAddr{Port: int(o.BasePort) + i}
		c, err := net.DialUDP("udp6", laddr, net.UDPAddrFromAddrPort(o.To))
		if err != nil {
			return 0, fmt.Errorf("probe: flow %d: %w", i, err)
		}
		conns[i] = c
	}
	buf := make([]byte, o.Size)
	seqs := make([]uint32, o.Flows)
	var tick *time.Ticker
	if o.Rate > 0 {
		tick = time.NewTicker(time.Second / time.Duration(o.Rate))
		defer tick.Stop()
	}
	for n := 0; n < o.Count; n++ {
		if tick != nil {
			select {
			case <-ctx.Done():
				return n, ctx.Err()
			case <-tick.C:
			}
		} else if ctx.Err() != nil {
			return n, ctx.Err()
		}
		f := n % o.Flows
		Fill(buf, uint32(f), seqs[f])
		if _, err := conns[f].Write(buf); err != nil {
			// ENOBUFS and ECONNREFUSED from a previous ICMP error are transient.
			n--
			if ctx.Err() != nil {
				return n + 1, ctx.Err()
			}
			time.Sleep(100 * time.Microsecond)
			continue
		}
		seqs[f]++ // only a datagram that left consumes its sequence number
	}
	return o.Count, nil
}

// Report summarises what a receiver saw.
type Report struct {
	Received   int // datagrams that passed Verify
	Corrupt    int // datagrams that failed Verify
	Duplicates int // (flow, seq) seen before
	Reordered  int // seq lower than the highest seen in its flow
	Flows      int // distinct flows seen
}

// String formats the report for humans.
func (r Report) String() string {
	return fmt.Sprintf("received %d, corrupt %d, duplicates %d, reordered %d, flows %d",
		r.Received, r.Corrupt, r.Duplicates, r.Reordered, r.Flows)
}

// Receiver counts probe datagrams per flow.
type Receiver struct {
	seen map[uint32]map[uint32]bool
	max  map[uint32]uint32
	rep  Report
}

// NewReceiver returns an empty Receiver.
func NewReceiver() *Receiver {
	return &Receiver{seen: map[uint32]map[uint32]bool{}, max: map[uint32]uint32{}}
}

// Add accounts one received datagram.
func (r *Receiver) Add(b []byte) {
	flow, seq, err := Verify(b)
	if err != nil {
		r.rep.Corrupt++
		return
	}
	s := r.seen[flow]
	if s == nil {
		s = map[uint32]bool{}
		r.seen[flow] = s
	}
	if s[seq] {
		r.rep.Duplicates++
		return
	}
	if m, ok := r.max[flow]; ok && seq < m {
		r.rep.Reordered++
	}
	if seq >= r.max[flow] {
		r.max[flow] = seq
	}
	s[seq] = true
	r.rep.Received++
}

// Report returns the totals so far.
func (r *Receiver) Report() Report {
	rep := r.rep
	rep.Flows = len(r.seen)
	return rep
}

// Listen receives on conn until ctx ends or idle passes with no datagram
// after the first one, and returns the totals.
func Listen(ctx context.Context, conn *net.UDPConn, idle time.Duration) (Report, error) {
	r := NewReceiver()
	buf := make([]byte, 65536)
	got := false
	for ctx.Err() == nil {
		deadline := time.Now().Add(200 * time.Millisecond)
		if got && idle > 0 {
			deadline = time.Now().Add(idle)
		}
		conn.SetReadDeadline(deadline)
		n, err := conn.Read(buf)
		if err != nil {
			var ne net.Error
			if errors.As(err, &ne) && ne.Timeout() {
				if got && idle > 0 {
					break
				}
				continue
			}
			return r.Report(), err
		}
		got = true
		r.Add(buf[:n])
	}
	return r.Report(), nil
}
