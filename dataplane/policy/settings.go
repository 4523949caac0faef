package policy

import (
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/dexplane/dexplane/internal/enum"
)

// Flows configures the per-worker flow tables of the encapsulating role
// (Flow ID and Sequence Number of RFC 9326).
type Flows struct {
	// SeqStart is the Sequence Number of the first monitored packet of a
	// flow: 0 as RFC 9326 says, or 1 to match the Linux patch.
	SeqStart uint32
	// IdleTimeout ages out a flow after this long without a monitored
	// packet; its sequence restarts at SeqStart afterwards.
	IdleTimeout time.Duration
	// MaxFlows bounds each worker's flow table; the least recently used
	// flow is evicted when it is full.
	MaxFlows int
	// FlowID is how Flow IDs are derived.
	FlowID FlowIDMethod
	// FlowIDSeed seeds the Flow ID hash, so that different domains (or a
	// test) can choose reproducible, non-colliding ids.
	FlowIDSeed uint32
}

// FlowIDMethod selects how the encapsulating node derives a Flow ID.
type FlowIDMethod uint8

// Flow ID methods.
const (
	// FlowIDHash is a deterministic, seeded hash of the 5-tuple (source,
	// destination, next header, source and destination port), written
	// big-endian. The same packet gets the same Flow ID on every host.
	FlowIDHash FlowIDMethod = iota
)

// String returns the configuration keyword of m.
func (m FlowIDMethod) String() string {
	if m == FlowIDHash {
		return "hash"
	}
	return fmt.Sprintf("FlowIDMethod(%d)", uint8(m))
}

// Transport is the transport protocol towards an IPFIX collector.
type Transport uint8

// Collector transports.
const (
	TransportUDP Transport = iota
	TransportTCP
	// TransportTLS is IPFIX over TLS over TCP (RFC 7011 §11.1) with
	// mutual authentication.
	TransportTLS
)

// String returns the configuration keyword of t.
func (t Transport) String() string { return enum.Name(t, transportNames[:], "Transport") }

var transportNames = [...]string{TransportUDP: "udp", TransportTCP: "tcp", TransportTLS: "tls"}

// Collector is one IPFIX collector the exporter sends records to.
type Collector struct {
	// Transport is udp, tcp or tls.
	Transport Transport
	// TLS names the certificate files of a TransportTLS session; ignored
	// for the other transports.
	TLS TLSFiles
	// Address is the collector's "host:port" (port 4739 by default).
	Address string
	// ObservationDomainID is written in every IPFIX message header.
	ObservationDomainID uint32
	// TemplateRefresh is how often templates are re-sent over UDP (a UDP
	// collector that restarts learns them again); ignored for TCP.
	TemplateRefresh time.Duration
}

// TLSFiles are the PEM files of one mutually authenticated TLS session.
// The files are read when the exporter is built and again on
// Exporter.Reopen (SIGHUP), so rotated certificates need no restart.
type TLSFiles struct {
	// CA is the file of CA certificates that verify the collector's
	// certificate; "" means the system roots.
	CA string
	// Cert and Key are the exporter's own certificate (chain) and private
	// key, presented to the collector.
	Cert, Key string
	// ServerName is the name the collector's certificate must carry (and
	// the SNI sent); "" means the host part of Address.
	ServerName string
}

// RateLimit bounds the export rate, as RFC 9326 requires ("MUST support
// the ability to limit the rate of the exported packets"; at most 1/N of
// the interface capacity, N > 100 recommended). When both limits are set
// the lower one applies.
type RateLimit struct {
	// RecordsPerSecond is an absolute limit on exported records per
	// second; 0 means no absolute limit.
	RecordsPerSecond uint64
	// Burst is how many records may be exported back to back above the
	// steady rate (token bucket depth); 0 means one second's worth.
	Burst uint64
	// CapacityFraction limits the exported bits per second to this
	// fraction of the slowest port's link speed (for example 0.001 =
	// 1/1000); 0 means no fraction-based limit.
	CapacityFraction float64
}

// OutputFormat is the encoding of a local record output.
type OutputFormat uint8

// Local output formats.
const (
	// OutputText writes one human-readable line per record.
	OutputText OutputFormat = iota
	// OutputJSON writes one JSON object per line per record.
	OutputJSON
)

// String returns the configuration keyword of f.
func (f OutputFormat) String() string { return enum.Name(f, outputFormatNames[:], "OutputFormat") }

var outputFormatNames = [...]string{OutputText: "text", OutputJSON: "json"}

// LocalOutput writes records locally, besides or instead of IPFIX.
type LocalOutput struct {
	// Format is text or json.
	Format OutputFormat
	// Path is the file records are appended to; "" or "-" means stdout.
	Path string
}

// Export configures where telemetry records go.
type Export struct {
	// Collectors are the IPFIX collectors; may be empty.
	Collectors []Collector
	// RateLimit applies to all records before they are fanned out.
	RateLimit RateLimit
	// Outputs are the local outputs; may be empty.
	Outputs []LocalOutput
	// Aggregate configures per-flow aggregation at the node.
	Aggregate Aggregate
	// Partition chooses which collectors receive a record.
	Partition Partition
}

// Aggregate configures per-flow aggregation (package exporter/aggregate).
type Aggregate struct {
	// Interval is the aggregation interval; 0 exports one record per packet.
	Interval time.Duration
	// MaxFlows bounds the flows aggregated at once; 0 means 65536.
	MaxFlows int
	// KeepPerPacket also exports every packet's record (both views, for
	// comparison; the export volume is not reduced).
	KeepPerPacket bool
	// Routes overrides Interval per route, indexed by route ID
	// (Route.ID, telemetry.Record.Route - 1). Routes beyond its end, and
	// records with no route (Record.Route 0: not at an encapsulating
	// node), use Interval.
	Routes []RouteAggregate
}

// RouteAggregate is one route's aggregation setting.
type RouteAggregate struct {
	// Override is set when the route configures its own interval; when
	// clear, the route inherits Aggregate.Interval.
	Override bool
	// Interval is the route's aggregation interval when Override is set;
	// 0 exports the route's records one per packet even when the node
	// aggregates.
	Interval time.Duration
}

// IntervalFor returns the aggregation interval that applies to records
// of route (telemetry.Record.Route: route ID + 1, 0 for none).
func (a *Aggregate) IntervalFor(route uint16) time.Duration {
	if i := int(route) - 1; i >= 0 && i < len(a.Routes) && a.Routes[i].Override {
		return a.Routes[i].Interval
	}
	return a.Interval
}

// Partition is how records are spread over the configured collectors.
type Partition uint8

// Partition modes.
const (
	// PartitionNone sends every record to every collector.
	PartitionNone Partition = iota
	// PartitionFlow sends a flow's records to one collector, number
	// FNV-1a(namespace, Flow ID) mod len(Collectors) (exporter.PartitionIndex),
	// the same choice on every node.
	PartitionFlow
)

// String returns the configuration keyword of p.
func (p Partition) String() string { return enum.Name(p, partitionNames[:], "Partition") }

var partitionNames = [...]string{PartitionNone: "none", PartitionFlow: "flow"}

// AttachMode is how the XDP program is hooked into a port's driver
// (dataplane.attach_mode, `dexplane run --attach`). The one definition used
// by the configuration, the engine and the XDP loader.
type AttachMode uint8

// XDP attach modes.
const (
	// AttachAuto tries native (driver) mode first, then generic. The
	// engine refines it per port: toward a veth it attaches natively and
	// lets the frames that cross go to the peer port through TC (see
	// dataplane.Engine).
	AttachAuto AttachMode = iota
	// AttachNative runs the program in the driver (XDP_FLAGS_DRV_MODE);
	// attaching fails where the driver has no XDP support.
	AttachNative
	// AttachGeneric runs it on the skb path (XDP_FLAGS_SKB_MODE): works on
	// every device, but hands AF_XDP sockets the GSO frames a local sender
	// produces (up to 64 KiB, dropped when larger than a UMEM chunk).
	AttachGeneric
)

// AttachModes lists every AttachMode in numeric order.
func AttachModes() []AttachMode { return []AttachMode{AttachAuto, AttachNative, AttachGeneric} }

// String returns the configuration keyword of m: "auto", "native" or
// "generic".
func (m AttachMode) String() string { return enum.Name(m, attachModeNames[:], "AttachMode") }

var attachModeNames = [...]string{AttachAuto: "auto", AttachNative: "native", AttachGeneric: "generic"}

// ParseAttachMode parses a configuration keyword ("auto", "native" or
// "generic"); the error wraps ErrKeyword and names s.
func ParseAttachMode(s string) (AttachMode, error) {
	return parseKeyword("attach mode", s, AttachModes())
}

// Steer selects which frames the XDP program hands to the workers
// (dataplane.steer, `dexplane run --steer`). The one definition used by the
// configuration, the engine and the XDP loader.
type Steer uint8

// Steering policies.
const (
	// SteerAll redirects every IPv6 frame except neighbour discovery to the
	// AF_XDP sockets; the workers are the only route samplers.
	SteerAll Steer = iota
	// SteerSampled lets XDP do the route lookup and k/n pre-selection so
	// that frames which will not be touched stay in the kernel (see package
	// steering's documentation).
	SteerSampled
)

// Steers lists every Steer in numeric order.
func Steers() []Steer { return []Steer{SteerAll, SteerSampled} }

// String returns the configuration keyword of s: "all" or "sampled".
func (s Steer) String() string { return enum.Name(s, steerNames[:], "Steer") }

var steerNames = [...]string{SteerAll: "all", SteerSampled: "sampled"}

// ParseSteer parses a configuration keyword ("all" or "sampled"); the error
// wraps ErrKeyword and names s.
func ParseSteer(s string) (Steer, error) {
	return parseKeyword("steer", s, Steers())
}

// ErrKeyword is wrapped by the errors of the Parse functions for a keyword
// that names no value.
var ErrKeyword = errors.New("unknown keyword")

// parseKeyword returns the value among all whose String is s.
func parseKeyword[T fmt.Stringer](what, s string, all []T) (T, error) {
	names := make([]string, len(all))
	for i, v := range all {
		if v.String() == s {
			return v, nil
		}
		names[i] = v.String()
	}
	var zero T
	return zero, fmt.Errorf("%s %q: %w: want one of %s", what, s, ErrKeyword, strings.Join(names, ", "))
}

// Dataplane configures the AF_XDP engine. Ring sizes and frame counts are
// numbers of descriptors or frames and must be powers of two.
type Dataplane struct {
	// Queues is the number of RX queues (and workers) per port.
	Queues int
	// RxRingSize, TxRingSize, FillRingSize and CompletionRingSize are the
	// AF_XDP ring sizes, in descriptors.
	RxRingSize, TxRingSize, FillRingSize, CompletionRingSize int
	// UmemFrames is the number of frames in each worker's UMEM.
	UmemFrames int
	// FrameSize is the size of one UMEM frame, in octets (2048 or 4096).
	FrameSize int
	// BatchSize is the maximum number of frames a worker handles per
	// receive call.
	BatchSize int
	// AttachMode is the XDP attach mode.
	AttachMode AttachMode
	// Steer selects which frames reach userspace.
	Steer Steer
	// OrderWindow, with SteerSampled, keeps a flow's frames behind one sent
	// to a worker for this long (see steering.Options.OrderWindow); 0 is off.
	OrderWindow time.Duration
	// CPUs pins worker i to CPUs[i % len(CPUs)]; empty means no pinning.
	CPUs []int
	// MetricsAddress is the "host:port" of the Prometheus endpoint; ""
	// disables it.
	MetricsAddress string
	// MetricsWebConfig is the exporter-toolkit web configuration file of
	// the metrics endpoint (TLS, basic auth); "" means plain HTTP.
	MetricsWebConfig string
	// BusyPoll, when positive, turns on preferred busy polling of the
	// AF_XDP sockets for this long per poll (xsk.SocketConfig.BusyPoll);
	// BusyPollBudget is the frames per poll (0: the batch size).
	BusyPoll       time.Duration
	BusyPollBudget int
}

// Options are behaviour switches of the IOAM roles.
type Options struct {
	// MergeHbH makes the inline encapsulation merge the DEX option into
	// an existing Hop-by-Hop header; when false such packets are sent
	// unmodified, as Linux does.
	MergeHbH bool
	// StripAtDecap removes the IOAM header at the decapsulating node (the
	// RFC's MUST). Setting it false is a test mode that lets a capture
	// behind the domain edge see the option.
	StripAtDecap bool
	// PacketTooBig makes the encapsulating node answer packets that no
	// longer fit the egress MTU with ICMPv6 Packet Too Big (RFC 2473
	// §7.1); when false such packets are forwarded without DEX and
	// counted.
	PacketTooBig bool
}
