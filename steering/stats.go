package steering

import (
	"fmt"
)

// Reason is a counter index within a port, the enum reason of steer.c.
// Every frame dxp_steer sees is counted under exactly one classification
// reason (ReasonNotIPv6 .. ReasonOrder), so their sum is the number of
// frames the port received; ReasonXSKMiss and ReasonNoPeer are events that
// additionally count what then happened to some of those frames.
type Reason uint32

// Reasons, numbered as in steer.c.
const (
	ReasonNotIPv6   Reason = iota // ARP, IPv4, LLDP, anything not IPv6 → peer
	ReasonND                      // ICMPv6 133-137 → peer
	ReasonMalformed               // truncated VLAN/IPv6 header, IP version != 6, Payload Length past the frame → dropped
	ReasonIPv6Pass                // IPv6 nothing asked for (sampled mode) → peer
	ReasonNoRoute                 // outside: no steering route matched → peer
	ReasonUnsampled               // outside: route matched, k/n did not select → peer
	ReasonAll                     // steer all: IPv6 → worker
	ReasonSampled                 // outside: route matched and k/n selected → worker
	ReasonHbH                     // Hop-by-Hop header present → worker
	ReasonDecap                   // ip6ip6 to a decap endpoint → worker
	ReasonExtHdr                  // sampled: Next Header not TCP/UDP/ICMPv6/SCTP/ESP → worker (inside ports; outside ports unless PassForeignHbH)
	ReasonOrder                   // sampled, Options.OrderWindow: a frame of its flow went to a worker just before → worker
	ReasonXSKMiss                 // event: meant for a worker, no socket on the queue → peer
	ReasonNoPeer                  // event: port has no peer in tx_ports → dropped
	NumReasons
)

var reasonNames = [NumReasons]string{
	"not_ipv6", "nd", "malformed", "ipv6_pass", "no_route", "unsampled",
	"all", "sampled", "hbh", "decap", "ext_hdr", "order", "xsk_miss", "no_peer",
}

// String returns the reason's snake_case name, as used in metrics.
func (r Reason) String() string {
	if r < NumReasons {
		return reasonNames[r]
	}
	return fmt.Sprintf("reason_%d", uint32(r))
}

// Steered reports whether frames of this classification go to a worker.
func (r Reason) Steered() bool { return r >= ReasonAll && r <= ReasonOrder }

// Dropped reports whether dxp_steer drops frames of this classification
// itself (ReasonMalformed; ReasonNoPeer is the event of a drop for want of
// a peer). Frames neither steered nor dropped cross to the peer port.
func (r Reason) Dropped() bool { return r == ReasonMalformed || r == ReasonNoPeer }

// Counter is a frame and octet count (octets from the Ethernet header on,
// no FCS).
type Counter struct {
	Packets uint64
	Bytes   uint64
}

// Counters are dxp_steer's counters of both ports, summed over CPUs:
// Counters[port][reason].
type Counters [MaxPorts][NumReasons]Counter

// Counters reads the per-CPU stats map and sums it. The values are
// monotonic while the Objects live; dxp_redirect counts nothing.
func (o *Objects) Counters() (Counters, error) {
	var c Counters
	o.mu.Lock()
	defer o.mu.Unlock()
	if o.closed {
		return c, ErrClosed
	}
	var percpu []Counter
	for p := range MaxPorts {
		for r := range NumReasons {
			key := uint32(p)*uint32(NumReasons) + uint32(r)
			if err := o.maps.Stats.Lookup(key, &percpu); err != nil {
				return c, fmt.Errorf("ebpf: read counters port %d reason %s: %w", p, r, err)
			}
			for _, v := range percpu {
				c[p][r].Packets += v.Packets
				c[p][r].Bytes += v.Bytes
			}
		}
	}
	return c, nil
}
