package doctor

import (
	"context"
	"fmt"

	"github.com/dexplane/dexplane/config"
	"github.com/dexplane/dexplane/dataplane/packet"
)

// Port is one of the node's two ports as the configuration gives it.
type Port struct {
	// Name is the Linux interface name.
	Name string `json:"name"`
	// Domain is "inside" or "outside" the IOAM domain ("" for plain
	// forwarding).
	Domain string `json:"domain,omitempty"`
	// MTU is the configured ports[].mtu (0: the interface's).
	MTU int `json:"mtu,omitempty"`
	// CompleteChecksums is ports[].complete_checksums: "auto" (or ""),
	// "on" or "off". With auto or on, dexplane finishes the checksums of
	// CHECKSUM_PARTIAL frames a virtual port hands over.
	CompleteChecksums string `json:"complete_checksums,omitempty"`
}

// Route is the part of a route the MTU check needs.
type Route struct {
	// Prefix is the route's destination prefix, for messages.
	Prefix string
	// Mode is inline, encap or auto.
	Mode string
	// ExtFlags and TraceType are the route's DEX Extension-Flags and
	// Trace-Type. Only ExtFlags changes the size of a DEX option (the
	// Trace-Type is not followed by data in DEX).
	ExtFlags  uint8
	TraceType uint32
	// TraceSize is the route's Pre-allocated Trace size in octets (0: no
	// trace); NoDEX is set on a trace-only route.
	TraceSize int
	NoDEX     bool
}

// Overhead returns the most octets the route adds to a packet: the
// inline Hop-by-Hop header with DEX (and/or a Pre-allocated Trace), plus an
// outer IPv6 header for encap (auto may use either, so it counts as encap).
func (r Route) Overhead() int {
	if r.TraceSize > 0 {
		ins := packet.Insert{HasPTO: true, PTO: packet.PTO{RemLen: uint8(r.TraceSize / 4)},
			HasDEX: !r.NoDEX, DEX: packet.DEX{ExtFlags: r.ExtFlags}}
		if r.Mode == "inline" {
			return packet.IOAMInlineOverhead(&ins)
		}
		return packet.IOAMEncapOverhead(&ins)
	}
	if r.Mode == "inline" {
		return packet.InlineOverhead(r.ExtFlags)
	}
	return packet.EncapOverhead(r.ExtFlags)
}

// Collector is one export destination.
type Collector struct {
	// Transport is udp, tcp (or tls).
	Transport string
	// Address is HOST:PORT.
	Address string
}

// Target is what Run checks.
type Target struct {
	// Source says where the ports and settings came from, for messages:
	// "configuration FILE", the embedded default, or --ports.
	Source string
	// Ports are the node's two ports, port 0 first.
	Ports [2]Port
	// Queues is dataplane.queues: one worker, and one RX queue, each.
	Queues int
	// CPUs is dataplane.cpus: worker q runs on CPUs[q % len(CPUs)].
	CPUs []int
	// Attach is dataplane.attach_mode, a policy.AttachMode keyword.
	Attach string
	// Routes are the encapsulating routes (their overhead must fit the
	// inside port's MTU).
	Routes []Route
	// Collectors are the IPFIX collectors.
	Collectors []Collector
	// MemlockBytes is the memory the node locks (UMEM of every worker).
	MemlockBytes uint64
	// Context bounds the collector checks; nil for context.Background.
	Context context.Context
}

// EmbeddedSource describes the configuration `dexplane run` uses without -c.
var EmbeddedSource = "the embedded default configuration (" + config.DefaultName +
	", the demo's R1 node, which `dexplane run` runs without -c)"

// FileSource describes a configuration file.
func FileSource(path string) string { return "configuration " + path }

// PortsSource describes --ports without -c (plain forwarding).
func PortsSource(a, b string) string {
	return fmt.Sprintf("--ports %s,%s (plain forwarding, no IOAM)", a, b)
}

// FromConfig builds the Target of configuration c (with defaults filled in,
// as config.Load returns it) described by source.
func FromConfig(c *config.Config, source string) *Target {
	t := &Target{Source: source, Queues: c.Dataplane.Queues, CPUs: c.Dataplane.CPUs, Attach: c.Dataplane.AttachMode}
	for i := 0; i < len(c.Ports) && i < 2; i++ {
		t.Ports[i] = Port{Name: c.Ports[i].Name, Domain: c.Ports[i].Domain, MTU: c.Ports[i].MTU,
			CompleteChecksums: c.Ports[i].CompleteChecksums}
	}
	for _, r := range c.Routes {
		rt := Route{Prefix: r.Prefix.String(), Mode: r.Mode, ExtFlags: uint8(r.DEX.ExtFlags), TraceType: uint32(r.DEX.TraceType)}
		if r.Trace != nil {
			rt.TraceSize, rt.NoDEX = r.Trace.Size, r.DEX.TraceType == 0
		}
		t.Routes = append(t.Routes, rt)
	}
	for _, col := range c.Export.Collectors {
		t.Collectors = append(t.Collectors, Collector{Transport: col.Transport, Address: col.Address})
	}
	q := max(c.Dataplane.Queues, 1)
	t.MemlockBytes = uint64(q) * uint64(c.Dataplane.UmemFrames) * uint64(c.Dataplane.FrameSize)
	return t
}

// WithPorts replaces the ports by --ports A,B: without a configuration
// file the node only forwards, so routes and collectors are dropped.
func (t *Target) WithPorts(a, b string, plain bool) {
	d0, d1 := t.Ports[0].Domain, t.Ports[1].Domain
	t.Ports = [2]Port{{Name: a, Domain: d0}, {Name: b, Domain: d1}}
	if plain {
		t.Ports[0].Domain, t.Ports[1].Domain = "", ""
		t.Routes, t.Collectors = nil, nil
		t.Source = PortsSource(a, b)
	} else {
		t.Source += fmt.Sprintf(" with --ports %s,%s", a, b)
	}
}

// portLabel is "port 0 \"west\" (outside)".
func (t *Target) portLabel(p int) string {
	s := fmt.Sprintf("port %d %q", p, t.Ports[p].Name)
	if d := t.Ports[p].Domain; d != "" {
		s += " (" + d + ")"
	}
	return s
}

// HowToGivePorts is the fix for a port that does not exist.
const HowToGivePorts = "give the node your interfaces (list them with: ip -br link):\n" +
	"  dexplane run --ports IF0,IF1                  plain forwarding between two interfaces, no IOAM\n" +
	"  dexplane run -c FILE                          with ports: [{name: IF0, domain: outside}, {name: IF1, domain: inside}]\n" +
	"                                                (config/examples/ has a commented file per role; check it with dexplane validate -c FILE)\n" +
	"  dexplane run -c FILE --ports IF0,IF1          a configuration with other interface names\n" +
	"  dexplane run --netns NAME ...                 when the interfaces live in network namespace NAME"
