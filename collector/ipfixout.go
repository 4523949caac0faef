package collector

import (
	"errors"
	"fmt"
	"net"
	"net/url"
	"time"

	"github.com/dexplane/dexplane/exporter"
)

// ErrIPFIXOutURL is returned by DialIPFIXOut for an unusable URL.
var ErrIPFIXOutURL = errors.New("collect: --ipfix-out must be udp://HOST:PORT or tcp://HOST:PORT")

// IPFIXOut re-exports records of custom templates (the RFC 9951 delay
// records) to a downstream IPFIX collector over UDP or TCP: `dexplane
// collect` as a collector that is also an exporter. Writes have a 200 ms
// deadline; a failed TCP session is re-dialled on the next Flush and the
// records of a failed write are counted in Dropped, so a downstream
// collector that is down never stalls collection. Not safe for concurrent
// use.
type IPFIXOut struct {
	network, address string
	enc              *exporter.Encoder
	conn             net.Conn
	// Records and Messages were sent; Dropped records were lost to a
	// failed write or a missing connection.
	Records, Messages, Dropped uint64
}

// DialIPFIXOut parses rawURL (udp://HOST:PORT or tcp://HOST:PORT) and
// connects; domain is the Observation Domain ID of the messages.
func DialIPFIXOut(rawURL string, domain uint32) (*IPFIXOut, error) {
	u, err := url.Parse(rawURL)
	if err != nil || (u.Scheme != "udp" && u.Scheme != "tcp") || u.Host == "" || u.Path != "" {
		return nil, fmt.Errorf("%w: %q", ErrIPFIXOutURL, rawURL)
	}
	o := &IPFIXOut{network: u.Scheme, address: u.Host}
	refresh := 30 * time.Second
	if o.network == "tcp" {
		refresh = 0
	}
	o.enc, err = exporter.NewEncoder(exporter.EncoderConfig{ObservationDomain: domain, TemplateRefresh: refresh, Emit: o.emit})
	if err != nil {
		return nil, err
	}
	if err := o.dial(); err != nil {
		return nil, err
	}
	return o, nil
}

func (o *IPFIXOut) dial() error {
	c, err := net.DialTimeout(o.network, o.address, 2*time.Second)
	if err != nil {
		return fmt.Errorf("collect: ipfix-out %s://%s: %w", o.network, o.address, err)
	}
	o.conn = c
	o.enc.ResetSession()
	return nil
}

func (o *IPFIXOut) emit(msg []byte, n int) bool {
	if o.conn == nil {
		o.Dropped += uint64(n)
		return false
	}
	o.conn.SetWriteDeadline(time.Now().Add(200 * time.Millisecond))
	if _, err := o.conn.Write(msg); err != nil {
		o.Dropped += uint64(n)
		if o.network == "tcp" {
			o.conn.Close()
			o.conn = nil
		}
		return false
	}
	o.Records += uint64(n)
	o.Messages++
	return true
}

// Write encodes one record of template t.
func (o *IPFIXOut) Write(t *exporter.CustomTemplate, r exporter.CustomRecord) error {
	if o.conn == nil && o.network == "tcp" {
		if err := o.dial(); err != nil {
			o.Dropped++
			return err
		}
	}
	return o.enc.EncodeCustom(t, r)
}

// Flush sends the pending message.
func (o *IPFIXOut) Flush() { o.enc.Flush() }

// Close flushes and closes the connection.
func (o *IPFIXOut) Close() error {
	o.Flush()
	if o.conn != nil {
		return o.conn.Close()
	}
	return nil
}
