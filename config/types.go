package config

import (
	"fmt"
	"net/netip"
	"strings"
	"time"

	"gopkg.in/yaml.v3"
)

// Config is a validated configuration with every default filled in. It
// marshals (yaml.Marshal) to the normalised form "dexplane validate"
// prints, which Parse accepts again and which yields the same Config.
type Config struct {
	// Node is this node's IOAM identity.
	Node Node `yaml:"node"`
	// Ports are the two ports of the bump in the wire; port 0 is the
	// engine's port index 0.
	Ports []Port `yaml:"ports"`
	// Namespaces are the IOAM namespaces the node is configured for.
	Namespaces []Namespace `yaml:"namespaces"`
	// Routes select the packets that receive a DEX option, by longest
	// prefix match on the IPv6 destination.
	Routes []Route `yaml:"routes"`
	// Decap lists the tunnel endpoints this node terminates.
	Decap Decap `yaml:"decap"`
	// Flows configures Flow IDs and sequence numbers.
	Flows Flows `yaml:"flows"`
	// Export configures where telemetry records go.
	Export Export `yaml:"export"`
	// Dataplane configures the AF_XDP engine.
	Dataplane Dataplane `yaml:"dataplane"`
	// Options are behaviour switches.
	Options Options `yaml:"options"`
}

// Node is the "node" section (net.ipv6.ioam6_id and ioam6_id_wide).
type Node struct {
	// ID is the 24-bit node_id; default 0xffffff.
	ID Hex `yaml:"id"`
	// IDWide is the 56-bit wide node_id; default 0xffffffffffffff.
	IDWide Hex `yaml:"id_wide"`
	// Address is the node's IPv6 address, the default tunsrc of encap
	// routes; optional.
	Address netip.Addr `yaml:"address,omitempty"`
}

// Port is one entry of "ports".
type Port struct {
	// Name is the Linux interface name (at most 15 octets).
	Name string `yaml:"name"`
	// Domain is "inside" or "outside" the IOAM domain; required.
	Domain string `yaml:"domain"`
	// IOAMEnabled processes IOAM options received on the port, as
	// net.ipv6.conf.<if>.ioam6_enabled; default true for inside ports and
	// false for outside ones.
	IOAMEnabled bool `yaml:"ioam_enabled"`
	// IfID is the 16-bit interface id; default 0xffff.
	IfID Hex `yaml:"if_id"`
	// IfIDWide is the 32-bit wide interface id; default 0xffffffff.
	IfIDWide Hex `yaml:"if_id_wide"`
	// MTU overrides the interface MTU (1280 to 65535); 0, the default,
	// uses the interface's.
	MTU int `yaml:"mtu"`
	// ForeignIOAM is "drop", "strip" or "forward": what an outside port
	// does with IOAM arriving from outside the domain, in the Hop-by-Hop
	// header or as DEX in a Destination Options header (no DEX is ever
	// added next to it); default drop.
	ForeignIOAM string `yaml:"foreign_ioam"`
	// CompleteChecksums is "auto", "on" or "off": whether frames received
	// on the port whose TCP/UDP/ICMPv6 checksum a virtual device left
	// unfinished (TX checksum offload) get it completed; default auto (on
	// for virtual devices such as veth, tap, virtio).
	CompleteChecksums string `yaml:"complete_checksums,omitempty"`
}

// Namespace is one entry of "namespaces" (ip ioam namespace add).
type Namespace struct {
	// ID is the 16-bit Namespace-ID.
	ID uint16 `yaml:"id"`
	// Data is the optional 32-bit namespace data (trace bit 5).
	Data *Hex `yaml:"data,omitempty"`
	// DataWide is the optional 64-bit namespace data (trace bit 10).
	DataWide *Hex `yaml:"data_wide,omitempty"`
	// Schema is the optional opaque state snapshot (trace bit 22).
	Schema *Schema `yaml:"schema,omitempty"`
}

// Schema is an opaque state snapshot schema (ip ioam schema add).
type Schema struct {
	// ID is the 24-bit Schema ID.
	ID Hex `yaml:"id"`
	// Data is the opaque data, padded with zeros to a multiple of 4
	// octets, at most MaxSchemaData (64) octets: what records and IPFIX
	// carry whole. Written as a hex string ("0x0102...").
	Data HexBytes `yaml:"data"`
}

// Route is one entry of "routes", in structured form (a route written as
// an iproute2 string is normalised to this form).
type Route struct {
	// Prefix is the destination prefix.
	Prefix netip.Prefix `yaml:"prefix"`
	// Mode is "inline", "encap" or "auto"; default inline, as iproute2.
	// A bump in the wire originates no traffic: everything it sees is in
	// transit, for which RFC 8200 forbids inserting extension headers, so
	// the kernel's auto (inline for local packets, encap for forwarded
	// ones) always means encap here.
	Mode string `yaml:"mode"`
	// TunSrc is the outer source address in encap and auto mode; default
	// node.address.
	TunSrc netip.Addr `yaml:"tunsrc,omitempty"`
	// TunDst is the outer destination (the decapsulating node) in encap
	// and auto mode; required there.
	TunDst netip.Addr `yaml:"tundst,omitempty"`
	// Freq selects the first K of every N matching packets; default 1/1.
	Freq Freq `yaml:"freq"`
	// Trace is the Pre-allocated Trace to insert, or nil.
	Trace *Trace `yaml:"trace,omitempty"`
	// DEX is the DEX header to insert; zero (and not marshalled) on a
	// trace-only route.
	DEX DEX `yaml:"dex"`
	// Aggregate overrides export.aggregate.interval for the DEX records
	// of this route at this (encapsulating) node; nil inherits it. Not
	// expressible in the iproute2 string form (use the mapping form or
	// prefix + encap).
	Aggregate *RouteAggregate `yaml:"aggregate,omitempty"`
}

// RouteAggregate is the "aggregate" part of a route.
type RouteAggregate struct {
	// Interval is the route's aggregation interval: 0 exports the route's
	// records one per packet even when the node aggregates; otherwise
	// 100ms to 1h.
	Interval Duration `yaml:"interval"`
}

// Trace is the "trace" part of a route: a Pre-allocated Trace (RFC 9197
// §4.4), "trace prealloc type TYPE ns NS size SIZE" in iproute2.
type Trace struct {
	// Type is the 24-bit IOAM-Trace-Type: not 0, bits 12-21 and 23 clear.
	Type Hex `yaml:"type"`
	// Namespace is the Namespace-ID; it must be in "namespaces".
	Namespace uint16 `yaml:"ns"`
	// Size is the pre-allocated node data in octets: a multiple of 4, 4 to
	// 244, at least one node's data.
	Size int `yaml:"size"`
}

// DEX is the "dex" part of a route.
type DEX struct {
	// Namespace is the Namespace-ID; it must be in "namespaces".
	Namespace uint16 `yaml:"ns"`
	// TraceType is the 24-bit IOAM-Trace-Type: not 0, bits 7, 12-21 and
	// 23 clear.
	TraceType Hex `yaml:"trace_type"`
	// ExtFlags is the Extension-Flags octet: 0x80 Flow ID, 0x40 Sequence
	// Number; default 0.
	ExtFlags Hex `yaml:"ext_flags"`
}

// Decap is the "decap" section.
type Decap struct {
	// Endpoints are the tunnel destination addresses this node
	// terminates: ip6ip6 packets to them are decapsulated.
	Endpoints []netip.Addr `yaml:"endpoints"`
}

// Flows is the "flows" section.
type Flows struct {
	// SeqStart is the first Sequence Number of a flow: 0 (RFC 9326, the
	// default) or 1 (the Linux patch).
	SeqStart uint32 `yaml:"seq_start"`
	// IdleTimeout restarts a flow's sequence after this long without a
	// DEX packet; 0 disables aging. Default 30s.
	IdleTimeout Duration `yaml:"idle_timeout"`
	// MaxFlows bounds each worker's flow table; default 65536.
	MaxFlows int `yaml:"max_flows"`
	// FlowID selects how Flow IDs are derived.
	FlowID FlowID `yaml:"flow_id"`
}

// FlowID is "flows.flow_id".
type FlowID struct {
	// Method is "hash", the seeded 5-tuple hash documented in package
	// dataplane/flow; the only method for now.
	Method string `yaml:"method"`
	// Seed is the 32-bit hash seed; default 0.
	Seed Hex `yaml:"seed"`
}

// Export is the "export" section.
type Export struct {
	// Collectors are IPFIX collectors.
	Collectors []Collector `yaml:"collectors"`
	// RateLimit bounds the export rate (RFC 9326 §5 requires one).
	RateLimit RateLimit `yaml:"rate_limit"`
	// Outputs are local outputs.
	Outputs []Output `yaml:"outputs"`
	// Aggregate is "export.aggregate": per-flow aggregation at the node.
	Aggregate Aggregate `yaml:"aggregate"`
	// Partition is "none" (default: every collector gets every record) or
	// "flow" (each flow's records go to one collector, chosen by a hash of
	// namespace and Flow ID, the same on every node).
	Partition string `yaml:"partition"`
}

// Aggregate is "export.aggregate".
type Aggregate struct {
	// Interval: one record per flow and interval instead of one per
	// packet; 0 (default) exports every packet. 100ms to 1h.
	Interval Duration `yaml:"interval"`
	// MaxFlows bounds the flows aggregated at once; default 65536.
	MaxFlows uint64 `yaml:"max_flows"`
	// KeepPerPacket also exports every packet (both views side by side,
	// as `make demo` does); default false.
	KeepPerPacket bool `yaml:"keep_per_packet"`
}

// Collector is one entry of "export.collectors".
type Collector struct {
	// Transport is "udp" (default), "tcp" or "tls" (IPFIX over TLS 1.3 or
	// 1.2 over TCP, RFC 7011 §11, with mutual authentication).
	Transport string `yaml:"transport"`
	// TLS holds the certificate files of transport "tls".
	TLS CollectorTLS `yaml:"tls,omitempty"`
	// Address is host:port; a bare host gets port 4739.
	Address string `yaml:"address"`
	// ObservationDomainID goes in every IPFIX message; default 1.
	ObservationDomainID uint32 `yaml:"observation_domain_id"`
	// TemplateRefresh re-sends templates over UDP; default 60s.
	TemplateRefresh Duration `yaml:"template_refresh"`
}

// CollectorTLS is "export.collectors[i].tls". Relative paths are relative
// to the directory of the configuration file. The files are checked when
// the configuration is parsed and read again on every SIGHUP.
type CollectorTLS struct {
	// CA is the PEM file of the CA certificates that verify the
	// collector; "" means the system roots.
	CA string `yaml:"ca"`
	// Cert and Key are the exporter's PEM certificate (chain) and private
	// key, presented to the collector; both required.
	Cert string `yaml:"cert"`
	Key  string `yaml:"key"`
	// ServerName is the name the collector's certificate must carry;
	// "" means the host part of address.
	ServerName string `yaml:"server_name"`
}

// RateLimit is "export.rate_limit". The lower of the two limits applies;
// they cannot both be 0.
type RateLimit struct {
	// RecordsPerSecond is an absolute limit; 0 means none. Default 10000.
	RecordsPerSecond uint64 `yaml:"records_per_second"`
	// Burst is the token bucket depth in records; 0 (default) means one
	// second's worth.
	Burst uint64 `yaml:"burst"`
	// CapacityFraction limits exported bits per second to this fraction
	// of the slowest port's speed, written 0.001 or 1/1000; 0 means none.
	// Default 0.001, ten times below the 1/100 RFC 9326 recommends as a
	// maximum.
	CapacityFraction float64 `yaml:"capacity_fraction"`
}

// Output is one entry of "export.outputs".
type Output struct {
	// Format is "text" or "json".
	Format string `yaml:"format"`
	// Path is the file records are appended to; "-" (default) is stdout.
	Path string `yaml:"path"`
}

// Dataplane is the "dataplane" section.
type Dataplane struct {
	// Queues is the number of queues (and workers) per port; default 1.
	Queues int `yaml:"queues"`
	// RxRingSize etc. are the AF_XDP ring sizes in descriptors, powers of
	// two from 64 to 65536; default 2048.
	RxRingSize         int `yaml:"rx_ring_size"`
	TxRingSize         int `yaml:"tx_ring_size"`
	FillRingSize       int `yaml:"fill_ring_size"`
	CompletionRingSize int `yaml:"completion_ring_size"`
	// UmemFrames is the number of UMEM frames per worker, a power of two;
	// default 8192.
	UmemFrames int `yaml:"umem_frames"`
	// FrameSize is the UMEM frame size, 2048 (default) or 4096.
	FrameSize int `yaml:"frame_size"`
	// BatchSize is the most frames handled per receive call, 1 to the RX
	// ring size; default 64.
	BatchSize int `yaml:"batch_size"`
	// AttachMode is a policy.AttachMode keyword: "auto" (default), "native"
	// or "generic".
	AttachMode string `yaml:"attach_mode"`
	// Steer is a policy.Steer keyword: "all" (default) or "sampled".
	Steer string `yaml:"steer"`
	// OrderWindow, with steer: sampled, is how long after a frame of a
	// flow went to a worker the flow's other frames follow it there, so
	// that none overtakes it on the faster XDP path; 0 (default) turns it
	// off, at most 1s. It costs a map lookup per frame and sends more
	// frames through the workers.
	OrderWindow Duration `yaml:"order_window"`
	// CPUs pins the workers, as a list or a cpulist string "0-3,6";
	// default none.
	CPUs []int `yaml:"cpus,flow"`
	// BusyPoll turns on preferred busy polling of the AF_XDP sockets
	// (SO_PREFER_BUSY_POLL, SO_BUSY_POLL = this, in µs granularity): the
	// worker drives the NIC's NAPI from its own loop instead of waiting for
	// interrupts. 0 (default) is off, at most 1ms. On a NIC, set the
	// queue's napi_defer_hard_irqs and gro_flush_timeout too
	// (bench/trex/README.md).
	BusyPoll Duration `yaml:"busy_poll"`
	// BusyPollBudget is SO_BUSY_POLL_BUDGET, the frames one busy poll may
	// process; 0 (default) means the batch size, at most 65535.
	BusyPollBudget int `yaml:"busy_poll_budget"`
	// MetricsAddress is the Prometheus listen address; "" (default)
	// disables it. Without a host (":9102") it binds the loopback
	// interface only.
	MetricsAddress string `yaml:"metrics_address"`
	// MetricsWebConfig is a Prometheus exporter-toolkit web configuration
	// file (TLS, client certificates, basic auth) for the metrics
	// endpoint; "" (default) serves plain HTTP. Relative to the file.
	MetricsWebConfig string `yaml:"metrics_web_config,omitempty"`
}

// Options is the "options" section.
type Options struct {
	// MergeHbH merges DEX into an existing Hop-by-Hop header in inline
	// mode (Linux skips such packets); default true.
	MergeHbH bool `yaml:"merge_hbh"`
	// Strip removes IOAM at the decapsulating node; default true. false
	// is a test mode that leaks IOAM out of the domain.
	Strip bool `yaml:"strip"`
	// PacketTooBig makes routes in mode encap (and auto) act as an RFC 2473
	// §7.1 tunnel entry: a selected packet longer than 1280 octets that
	// would not fit the egress MTU once encapsulated is discarded and
	// answered with ICMPv6 Packet Too Big (MTU = max(egress MTU − 56 or 64,
	// 1280)) from node.address, which is then required; at most 100 per
	// second per worker (burst 10). Default false: such packets, and with
	// the option packets of at most 1280 octets, inline routes and replies
	// over the rate limit, are forwarded without DEX (counted skipped_mtu).
	PacketTooBig bool `yaml:"packet_too_big"`
}

// Hex is an unsigned integer that marshals in hexadecimal.
type Hex uint64

// MarshalYAML implements yaml.Marshaler.
func (h Hex) MarshalYAML() (any, error) {
	return &yaml.Node{Kind: yaml.ScalarNode, Tag: "!!int", Value: fmt.Sprintf("%#x", uint64(h))}, nil
}

// HexBytes is a byte string that marshals as "0x" and hex digits.
type HexBytes []byte

// MarshalYAML implements yaml.Marshaler.
func (b HexBytes) MarshalYAML() (any, error) {
	return &yaml.Node{Kind: yaml.ScalarNode, Tag: "!!str", Value: fmt.Sprintf("0x%x", []byte(b))}, nil
}

// Duration is a time.Duration that marshals as "30s".
type Duration time.Duration

// MarshalYAML implements yaml.Marshaler.
func (d Duration) MarshalYAML() (any, error) {
	return &yaml.Node{Kind: yaml.ScalarNode, Tag: "!!str", Value: time.Duration(d).String()}, nil
}

// Freq is a sampling frequency "K/N".
type Freq struct{ K, N uint32 }

// String returns "K/N".
func (f Freq) String() string { return fmt.Sprintf("%d/%d", f.K, f.N) }

// MarshalYAML implements yaml.Marshaler.
func (f Freq) MarshalYAML() (any, error) {
	return &yaml.Node{Kind: yaml.ScalarNode, Tag: "!!str", Value: f.String()}, nil
}

// Iproute returns r in the iproute2 syntax Parse accepts, for example
// "2001:db8::/48 encap ioam6 freq 1/10 mode encap tundst 2001:db8::4 dex
// trace-type 0xf00000 ns 123 ext-flags 0xc0". tunsrc is always written
// (it is filled in from node.address when not given).
func (r Route) Iproute() string {
	var b strings.Builder
	fmt.Fprintf(&b, "%s encap ioam6 freq %s mode %s", r.Prefix, r.Freq, r.Mode)
	if r.TunSrc.IsValid() {
		fmt.Fprintf(&b, " tunsrc %s", r.TunSrc)
	}
	if r.TunDst.IsValid() {
		fmt.Fprintf(&b, " tundst %s", r.TunDst)
	}
	if t := r.Trace; t != nil {
		fmt.Fprintf(&b, " trace prealloc type 0x%06x ns %d size %d", uint64(t.Type), t.Namespace, t.Size)
	}
	if r.Trace == nil || r.DEX.TraceType != 0 {
		fmt.Fprintf(&b, " dex trace-type 0x%06x ns %d ext-flags 0x%02x", uint64(r.DEX.TraceType), r.DEX.Namespace, uint64(r.DEX.ExtFlags))
	}
	return b.String()
}

// addrString is a's text, or "" for the zero Addr (which yaml.v3's
// omitempty cannot recognise on its own).
func addrString(a netip.Addr) string {
	if !a.IsValid() {
		return ""
	}
	return a.String()
}

// MarshalYAML implements yaml.Marshaler, omitting an unset address.
func (n Node) MarshalYAML() (any, error) {
	return struct {
		ID      Hex    `yaml:"id"`
		IDWide  Hex    `yaml:"id_wide"`
		Address string `yaml:"address,omitempty"`
	}{n.ID, n.IDWide, addrString(n.Address)}, nil
}

// MarshalYAML implements yaml.Marshaler, omitting unset tunnel addresses.
func (r Route) MarshalYAML() (any, error) {
	dex := &r.DEX
	if r.Trace != nil && r.DEX.TraceType == 0 {
		dex = nil // trace-only route
	}
	return struct {
		Prefix netip.Prefix    `yaml:"prefix"`
		Mode   string          `yaml:"mode"`
		TunSrc string          `yaml:"tunsrc,omitempty"`
		TunDst string          `yaml:"tundst,omitempty"`
		Freq   Freq            `yaml:"freq"`
		Trace  *Trace          `yaml:"trace,omitempty"`
		DEX    *DEX            `yaml:"dex,omitempty"`
		Agg    *RouteAggregate `yaml:"aggregate,omitempty"`
	}{r.Prefix, r.Mode, addrString(r.TunSrc), addrString(r.TunDst), r.Freq, r.Trace, dex, r.Aggregate}, nil
}
