package config

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"net/netip"
	"os"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/dexplane/dexplane/dataplane/policy"
	"github.com/dexplane/dexplane/dataplane/telemetry"
	"gopkg.in/yaml.v3"
)

// Defaults of fields that are not IOAM identifiers (those default to the
// kernel's all-ones values, see policy.DefaultNodeID etc.).
const (
	DefaultIdleTimeout      = 30 * time.Second
	DefaultMaxFlows         = 65536
	DefaultTemplateRefresh  = 60 * time.Second
	DefaultRecordsPerSecond = 10000
	DefaultCapacityFraction = 0.001
	DefaultCollectorPort    = "4739"
	DefaultQueues           = 1
	DefaultRingSize         = 2048
	DefaultUmemFrames       = 8192
	DefaultFrameSize        = 2048
	DefaultBatchSize        = 64
	// DefaultAggregateFlows bounds export.aggregate's flow table.
	DefaultAggregateFlows = 65536
)

// MaxFileSize bounds the configuration files Load and Parse accept.
const MaxFileSize = 4 << 20

// Load reads and parses the configuration file at path. Errors in the file
// are an ErrorList naming path, line and column.
func Load(path string) (*Config, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, fmt.Errorf("config: %w", err)
	}
	defer f.Close()
	data, err := io.ReadAll(io.LimitReader(f, MaxFileSize+1))
	if err != nil {
		return nil, fmt.Errorf("config: reading %s: %w", path, err)
	}
	return Parse(path, data)
}

// Parse parses and validates a configuration; name is used in error
// positions. It reports every problem it finds, as an ErrorList, and
// returns a Config only when there is none.
func Parse(name string, data []byte) (*Config, error) {
	d := &decoder{file: name}
	if len(data) > MaxFileSize {
		d.errorAt(1, 1, "", fmt.Sprintf("file larger than %d octets", MaxFileSize))
		return nil, d.errs
	}
	dec := yaml.NewDecoder(bytes.NewReader(data))
	var doc yaml.Node
	if err := dec.Decode(&doc); err != nil {
		if errors.Is(err, io.EOF) {
			d.errorAt(1, 1, "", "empty configuration: at least \"ports\" is required")
		} else {
			line, msg := 1, strings.TrimPrefix(err.Error(), "yaml: ")
			if m := yamlLine.FindStringSubmatch(msg); m != nil {
				line, _ = strconv.Atoi(m[1])
				msg = msg[len(m[0]):]
			}
			d.errorAt(line, 1, "", msg)
		}
		return nil, d.errs
	}
	var extra yaml.Node
	if err := dec.Decode(&extra); !errors.Is(err, io.EOF) {
		d.errorAt(extra.Line, extra.Column, "", "more than one YAML document; a configuration is a single document")
		return nil, d.errs
	}
	root := &doc
	if root.Kind == yaml.DocumentNode && len(root.Content) == 1 {
		root = root.Content[0]
	}
	c := d.config(root)
	if len(d.errs) > 0 {
		slices.SortStableFunc(d.errs, func(a, b *Error) int {
			if a.Line != b.Line {
				return a.Line - b.Line
			}
			return a.Column - b.Column
		})
		return nil, d.errs
	}
	return c, nil
}

var yamlLine = regexp.MustCompile(`^line (\d+): `)

// config decodes the whole document. Sections are decoded in dependency
// order (namespaces before routes) whatever their order in the file.
func (d *decoder) config(root *yaml.Node) *Config {
	c := &Config{
		Node:       Node{ID: Hex(policy.DefaultNodeID), IDWide: Hex(policy.DefaultNodeIDWide)},
		Namespaces: []Namespace{},
		Routes:     []Route{},
		Decap:      Decap{Endpoints: []netip.Addr{}},
	}
	c.Flows = Flows{IdleTimeout: Duration(DefaultIdleTimeout), MaxFlows: DefaultMaxFlows, FlowID: FlowID{Method: "hash"}}
	c.Export = Export{
		Collectors: []Collector{},
		RateLimit:  RateLimit{RecordsPerSecond: DefaultRecordsPerSecond, CapacityFraction: DefaultCapacityFraction},
		Outputs:    []Output{},
		Aggregate:  Aggregate{MaxFlows: DefaultAggregateFlows},
		Partition:  "none",
	}
	c.Dataplane = Dataplane{
		Queues: DefaultQueues, RxRingSize: DefaultRingSize, TxRingSize: DefaultRingSize,
		FillRingSize: DefaultRingSize, CompletionRingSize: DefaultRingSize,
		UmemFrames: DefaultUmemFrames, FrameSize: DefaultFrameSize, BatchSize: DefaultBatchSize,
		AttachMode: policy.AttachAuto.String(), Steer: policy.SteerAll.String(), CPUs: []int{},
	}
	c.Options = Options{MergeHbH: true, Strip: true}

	var routesNode *yaml.Node
	var optionNodes map[string]*yaml.Node
	d.mapping(root, "", []field{
		{"node", false, func(n *yaml.Node, p string) { d.node(n, p, &c.Node) }},
		{"ports", true, func(n *yaml.Node, p string) { c.Ports = d.ports(n, p) }},
		{"namespaces", false, func(n *yaml.Node, p string) { c.Namespaces = d.namespaces(n, p) }},
		{"routes", false, func(n *yaml.Node, p string) { routesNode = n }},
		{"decap", false, func(n *yaml.Node, p string) { d.decap(n, p, &c.Decap) }},
		{"flows", false, func(n *yaml.Node, p string) { d.flows(n, p, &c.Flows) }},
		{"export", false, func(n *yaml.Node, p string) { d.export(n, p, &c.Export) }},
		{"dataplane", false, func(n *yaml.Node, p string) { d.dataplane(n, p, &c.Dataplane) }},
		{"options", false, func(n *yaml.Node, p string) { optionNodes = d.options(n, p, &c.Options) }},
	})
	if ptb := optionNodes["packet_too_big"]; c.Options.PacketTooBig && !c.Node.Address.IsValid() && ptb != nil {
		d.errorf(ptb, "options.packet_too_big", "true needs node.address: it is the source address of the ICMPv6 Packet Too Big messages")
	}
	if routesNode != nil {
		c.Routes = d.routes(routesNode, "routes", c)
		if len(c.Routes) > 0 && len(c.Ports) == 2 && !slices.ContainsFunc(c.Ports, func(p Port) bool { return p.Domain == "outside" }) {
			d.errorf(routesNode, "routes", "no port is outside the IOAM domain, so no packet would ever be encapsulated; set a port's domain to outside or remove the routes")
		}
	}
	return c
}

func (d *decoder) node(n *yaml.Node, path string, out *Node) {
	d.mapping(n, path, []field{
		{"id", false, numberInto(d, uint64(policy.MaxNodeID), &out.ID)},
		{"id_wide", false, numberInto(d, policy.MaxNodeIDWide, &out.IDWide)},
		{"address", false, func(n *yaml.Node, p string) {
			if a, ok := d.addr6(n, p); ok {
				out.Address = a
			}
		}},
	})
}

// ifName reports why s is not a valid Linux interface name, or "".
func ifName(s string) string {
	switch {
	case s == "" || s == "." || s == "..":
		return "must be a Linux interface name"
	case len(s) > 15:
		return "longer than 15 octets, the Linux limit (IFNAMSIZ-1)"
	case strings.ContainsAny(s, "/: \t\n"):
		return "must not contain '/', ':' or white space"
	}
	return ""
}

func (d *decoder) ports(n *yaml.Node, path string) []Port {
	items := d.sequence(n, path)
	if (n.Kind == yaml.SequenceNode || n.Tag == "!!null") && len(items) != 2 {
		d.errorf(n, path, "has %d entries: a bump in the wire has exactly 2 ports", len(items))
	}
	var ports []Port
	names := map[string]int{}
	for i, item := range items {
		p := index(path, i)
		port := Port{IfID: Hex(policy.DefaultIfID), IfIDWide: Hex(policy.DefaultIfIDWide), ForeignIOAM: "drop"}
		ioamSet := false
		d.mapping(item, p, []field{
			{"name", true, func(n *yaml.Node, p string) {
				s, ok := d.text(n, p)
				if !ok {
					return
				}
				if msg := ifName(s); msg != "" {
					d.errorf(n, p, "%q: %s", s, msg)
					return
				}
				if j, dup := names[s]; dup {
					d.errorf(n, p, "%q: duplicate of ports[%d].name; the two ports must differ", s, j)
					return
				}
				names[s] = i
				port.Name = s
			}},
			{"domain", true, d.enumInto(&port.Domain, policy.Domains.Words()...)},
			{"ioam_enabled", false, func(n *yaml.Node, p string) { port.IOAMEnabled, ioamSet = d.boolean(n, p) }},
			{"if_id", false, numberInto(d, 0xFFFF, &port.IfID)},
			{"if_id_wide", false, numberInto(d, 0xFFFFFFFF, &port.IfIDWide)},
			{"mtu", false, func(n *yaml.Node, p string) {
				if v, ok := d.number(n, p, 65535); ok {
					if v != 0 && v < 1280 {
						d.errorf(n, p, "%d: out of range (1280, the IPv6 minimum, to 65535; 0 for the interface's MTU)", v)
						return
					}
					port.MTU = int(v)
				}
			}},
			{"foreign_ioam", false, d.enumInto(&port.ForeignIOAM, policy.ForeignIOAMs.Words()...)},
			{"complete_checksums", false, d.enumInto(&port.CompleteChecksums, policy.ChecksumModes.Words()...)},
		})
		if !ioamSet {
			port.IOAMEnabled = port.Domain == "inside"
		}
		ports = append(ports, port)
	}
	if len(ports) == 2 && ports[0].Domain == "outside" && ports[1].Domain == "outside" {
		d.errorf(n, path, "both ports are outside the IOAM domain, so the node has no IOAM role; at least one must be inside")
	}
	return ports
}

func (d *decoder) namespaces(n *yaml.Node, path string) []Namespace {
	out := []Namespace{}
	seen := map[uint16]int{}
	schemas := map[uint64]int{}
	for i, item := range d.sequence(n, path) {
		p := index(path, i)
		var ns Namespace
		ok := true
		d.mapping(item, p, []field{
			{"id", true, func(n *yaml.Node, p string) {
				v, vok := d.number(n, p, 0xFFFF)
				if !vok {
					ok = false
					return
				}
				if j, dup := seen[uint16(v)]; dup {
					d.errorf(n, p, "%d: duplicate of namespaces[%d].id", v, j)
					ok = false
					return
				}
				seen[uint16(v)] = i
				ns.ID = uint16(v)
			}},
			{"data", false, func(n *yaml.Node, p string) {
				if v, ok := d.number(n, p, 0xFFFFFFFF); ok {
					h := Hex(v)
					ns.Data = &h
				}
			}},
			{"data_wide", false, func(n *yaml.Node, p string) {
				if v, ok := d.number(n, p, ^uint64(0)); ok {
					h := Hex(v)
					ns.DataWide = &h
				}
			}},
			{"schema", false, func(n *yaml.Node, p string) {
				sc := &Schema{}
				d.mapping(n, p, []field{
					{"id", true, func(n *yaml.Node, p string) {
						if v, ok := d.number(n, p, uint64(policy.MaxSchemaID)); ok {
							if j, dup := schemas[v]; dup {
								d.errorf(n, p, "%s: schema already attached to namespaces[%d]; a schema serves one namespace", n.Value, j)
								return
							}
							schemas[v] = i
							sc.ID = Hex(v)
						}
					}},
					{"data", true, func(n *yaml.Node, p string) {
						if b, ok := d.hexBytes(n, p); ok {
							sc.Data = b
						}
					}},
				})
				ns.Schema = sc
			}},
		})
		if ok {
			out = append(out, ns)
		}
	}
	return out
}

// MaxSchemaData is the longest opaque state snapshot (schema data, trace
// bit 22) a configuration accepts, in octets: what a telemetry record, and
// so every export format, carries whole (telemetry.OSSDataMax). The IOAM
// format allows up to policy.MaxSchemaData (1020); a longer schema would be
// exported cut, so it is refused here rather than truncated silently.
const MaxSchemaData = telemetry.OSSDataMax

// hexBytes decodes opaque schema data written as hex digits ("0x" prefix
// and white space or ':' between octets allowed), pads it to a multiple of
// 4 octets and checks it against MaxSchemaData.
func (d *decoder) hexBytes(n *yaml.Node, path string) (HexBytes, bool) {
	if !d.scalar(n, path, "a hex string") {
		return nil, false
	}
	s := n.Value
	s = strings.TrimPrefix(strings.TrimPrefix(s, "0x"), "0X")
	s = strings.NewReplacer(" ", "", ":", "", "\n", "", "\t", "").Replace(s)
	if len(s)%2 != 0 || strings.Trim(s, "0123456789abcdefABCDEF") != "" {
		d.errorf(n, path, "%q: must be hex digits, two per octet, such as 0xdeadbeef", n.Value)
		return nil, false
	}
	b := make([]byte, (len(s)/2+3)&^3)
	for i := 0; i < len(s); i += 2 {
		v, _ := strconv.ParseUint(s[i:i+2], 16, 8)
		b[i/2] = byte(v)
	}
	if len(b) > MaxSchemaData {
		d.errorf(n, path, "%d octets after padding to 4n: at most %d allowed (records and IPFIX carry %d octets of opaque state; the IOAM format's %d would be cut)",
			len(b), MaxSchemaData, MaxSchemaData, policy.MaxSchemaData)
		return nil, false
	}
	return b, true
}

func (d *decoder) decap(n *yaml.Node, path string, out *Decap) {
	d.mapping(n, path, []field{
		{"endpoints", false, func(n *yaml.Node, p string) {
			seen := map[netip.Addr]int{}
			for i, item := range d.sequence(n, p) {
				ip := index(p, i)
				a, ok := d.addr6(item, ip)
				if !ok {
					continue
				}
				if j, dup := seen[a]; dup {
					d.errorf(item, ip, "%s: duplicate of %s", a, index(p, j))
					continue
				}
				seen[a] = i
				out.Endpoints = append(out.Endpoints, a)
			}
		}},
	})
}

func (d *decoder) flows(n *yaml.Node, path string, out *Flows) {
	d.mapping(n, path, []field{
		{"seq_start", false, numberInto(d, 1, &out.SeqStart)},
		{"idle_timeout", false, d.durationInto(0, 24*time.Hour, &out.IdleTimeout)},
		{"max_flows", false, d.intInto(1, 1<<24, &out.MaxFlows)},
		{"flow_id", false, func(n *yaml.Node, p string) {
			d.mapping(n, p, []field{
				{"method", false, d.enumInto(&out.FlowID.Method, policy.FlowIDMethods.Words()...)},
				{"seed", false, numberInto(d, 0xFFFFFFFF, &out.FlowID.Seed)},
			})
		}},
	})
}

func (d *decoder) export(n *yaml.Node, path string, out *Export) {
	d.mapping(n, path, []field{
		{"collectors", false, func(n *yaml.Node, p string) {
			for i, item := range d.sequence(n, p) {
				cp := index(p, i)
				c := Collector{Transport: "udp", ObservationDomainID: 1, TemplateRefresh: Duration(DefaultTemplateRefresh)}
				ok := true
				var transportNode, tlsNode *yaml.Node
				d.mapping(item, cp, []field{
					{"transport", false, func(n *yaml.Node, p string) {
						if s, sok := d.enum(n, p, policy.Transports.Words()...); sok {
							c.Transport, transportNode = s, n
						}
					}},
					{"tls", false, func(n *yaml.Node, p string) {
						tlsNode = n
						d.collectorTLS(n, p, &c.TLS)
					}},
					{"address", true, func(n *yaml.Node, p string) {
						s, sok := d.text(n, p)
						if !sok {
							ok = false
							return
						}
						a, msg := hostPort(s, DefaultCollectorPort)
						if msg != "" || strings.HasPrefix(a, ":") {
							if msg == "" {
								msg = "needs a host"
							}
							d.errorf(n, p, "%q: %s", s, msg)
							ok = false
							return
						}
						c.Address = a
					}},
					{"observation_domain_id", false, func(n *yaml.Node, p string) {
						if v, vok := d.number(n, p, 0xFFFFFFFF); vok {
							c.ObservationDomainID = uint32(v)
						}
					}},
					{"template_refresh", false, func(n *yaml.Node, p string) {
						if v, vok := d.duration(n, p, time.Second, 24*time.Hour); vok {
							c.TemplateRefresh = Duration(v)
						}
					}},
				})
				ok = d.checkCollectorTLS(cp, transportNode, tlsNode, &c) && ok
				if ok {
					out.Collectors = append(out.Collectors, c)
				}
			}
		}},
		{"rate_limit", false, func(n *yaml.Node, p string) {
			d.mapping(n, p, []field{
				{"records_per_second", false, numberInto(d, 100_000_000, &out.RateLimit.RecordsPerSecond)},
				{"burst", false, numberInto(d, 100_000_000, &out.RateLimit.Burst)},
				{"capacity_fraction", false, d.fractionInto(&out.RateLimit.CapacityFraction)},
			})
			if out.RateLimit.RecordsPerSecond == 0 && out.RateLimit.CapacityFraction == 0 {
				d.errorf(n, p, "records_per_second and capacity_fraction are both 0: RFC 9326 requires a limit on the export rate; set at least one")
			}
		}},
		{"aggregate", false, func(n *yaml.Node, p string) {
			d.mapping(n, p, []field{
				{"interval", false, func(n *yaml.Node, p string) {
					if v, ok := d.aggInterval(n, p); ok {
						out.Aggregate.Interval = v
					}
				}},
				{"max_flows", false, numberInto(d, 16_000_000, &out.Aggregate.MaxFlows)},
				{"keep_per_packet", false, d.boolInto(&out.Aggregate.KeepPerPacket)},
			})
		}},
		{"partition", false, d.enumInto(&out.Partition, policy.Partitions.Words()...)},
		{"outputs", false, func(n *yaml.Node, p string) {
			paths := map[string]int{}
			for i, item := range d.sequence(n, p) {
				op := index(p, i)
				o := Output{Path: "-"}
				ok := true
				pathNode := item
				d.mapping(item, op, []field{
					{"format", true, func(n *yaml.Node, p string) {
						o.Format, ok = d.enum(n, p, policy.OutputFormats.Words()...)
					}},
					{"path", false, func(n *yaml.Node, p string) {
						pathNode = n
						s, sok := d.text(n, p)
						switch {
						case !sok:
							ok = false
						case s == "":
							d.errorf(n, p, "must not be empty; use - for stdout")
							ok = false
						default:
							o.Path = s
						}
					}},
				})
				if !ok {
					continue
				}
				if j, dup := paths[o.Path]; dup {
					d.errorf(pathNode, join(op, "path"), "%q: already written by %s", o.Path, index(p, j))
					continue
				}
				paths[o.Path] = i
				out.Outputs = append(out.Outputs, o)
			}
		}},
	})
}

func (d *decoder) dataplane(n *yaml.Node, path string, out *Dataplane) {
	ring := func(dst *int) func(*yaml.Node, string) {
		return func(n *yaml.Node, p string) {
			if v, ok := d.intRange(n, p, 64, 65536); ok {
				if v&(v-1) != 0 {
					d.errorf(n, p, "%d: must be a power of two (64 to 65536)", v)
					return
				}
				*dst = v
			}
		}
	}
	var batchNode, orderNode *yaml.Node
	d.mapping(n, path, []field{
		{"queues", false, d.intInto(1, 256, &out.Queues)},
		{"rx_ring_size", false, ring(&out.RxRingSize)},
		{"tx_ring_size", false, ring(&out.TxRingSize)},
		{"fill_ring_size", false, ring(&out.FillRingSize)},
		{"completion_ring_size", false, ring(&out.CompletionRingSize)},
		{"umem_frames", false, func(n *yaml.Node, p string) {
			if v, ok := d.intRange(n, p, 64, 1<<20); ok {
				if v&(v-1) != 0 {
					d.errorf(n, p, "%d: must be a power of two (64 to 1048576)", v)
					return
				}
				out.UmemFrames = v
			}
		}},
		{"frame_size", false, func(n *yaml.Node, p string) {
			if v, ok := d.intRange(n, p, 2048, 4096); ok {
				if v != 2048 && v != 4096 {
					d.errorf(n, p, "%d: must be 2048 or 4096", v)
					return
				}
				out.FrameSize = v
			}
		}},
		{"batch_size", false, func(n *yaml.Node, p string) {
			if v, ok := d.intRange(n, p, 1, 65536); ok {
				out.BatchSize, batchNode = v, n
			}
		}},
		{"attach_mode", false, d.enumInto(&out.AttachMode, policy.AttachModes.Words()...)},
		{"steer", false, d.enumInto(&out.Steer, policy.Steers.Words()...)},
		{"order_window", false, func(n *yaml.Node, p string) {
			if v, ok := d.duration(n, p, 0, time.Second); ok {
				out.OrderWindow, orderNode = Duration(v), n
			}
		}},
		{"cpus", false, func(n *yaml.Node, p string) { out.CPUs = d.cpus(n, p) }},
		{"busy_poll", false, d.durationInto(0, time.Millisecond, &out.BusyPoll)},
		{"busy_poll_budget", false, d.intInto(0, 65535, &out.BusyPollBudget)},
		{"metrics_address", false, func(n *yaml.Node, p string) {
			s, ok := d.text(n, p)
			if !ok || s == "" {
				return
			}
			a, msg := hostPort(s, "")
			if msg != "" {
				d.errorf(n, p, "%q: %s", s, msg)
				return
			}
			out.MetricsAddress = a
		}},
		{"metrics_web_config", false, func(n *yaml.Node, p string) { out.MetricsWebConfig = d.webConfig(n, p) }},
	})
	if orderNode != nil && out.OrderWindow > 0 && out.Steer != policy.SteerSampled.String() {
		d.errorf(orderNode, join(path, "order_window"), "%v: needs steer: sampled (with steer: %s every frame goes through a worker, in order)",
			time.Duration(out.OrderWindow), out.Steer)
	}
	if batchNode != nil && out.BatchSize > out.RxRingSize {
		d.errorf(batchNode, join(path, "batch_size"), "%d: larger than rx_ring_size %d", out.BatchSize, out.RxRingSize)
	}
	if out.UmemFrames < out.FillRingSize+out.TxRingSize {
		d.errorf(n, path, "umem_frames %d is less than fill_ring_size + tx_ring_size = %d: the rings could never be filled", out.UmemFrames, out.FillRingSize+out.TxRingSize)
	}
}

// maxCPU bounds CPU numbers (the kernel's default NR_CPUS ceiling).
const maxCPU = 8191

// cpus decodes a list of CPU numbers or a cpulist string such as "0-3,6".
func (d *decoder) cpus(n *yaml.Node, path string) []int {
	var out []int
	seen := map[int]bool{}
	add := func(n *yaml.Node, p string, c int) {
		if seen[c] {
			d.errorf(n, p, "CPU %d listed twice", c)
			return
		}
		seen[c] = true
		out = append(out, c)
	}
	if n.Kind == yaml.ScalarNode && n.Tag == "!!str" {
		for _, part := range strings.Split(n.Value, ",") {
			lo, hi, isRange := strings.Cut(strings.TrimSpace(part), "-")
			a, e1 := strconv.Atoi(lo)
			b := a
			var e2 error
			if isRange {
				b, e2 = strconv.Atoi(hi)
			}
			if e1 != nil || e2 != nil || a < 0 || b < a || b > maxCPU {
				d.errorf(n, path, "%q: must be a list of CPU numbers or a cpulist such as \"0-3,6\" (CPUs 0 to %d)", n.Value, maxCPU)
				return []int{}
			}
			for c := a; c <= b; c++ {
				add(n, path, c)
			}
		}
		return out
	}
	out = []int{}
	for i, item := range d.sequence(n, path) {
		if v, ok := d.intRange(item, index(path, i), 0, maxCPU); ok {
			add(item, index(path, i), v)
		}
	}
	return out
}

// options decodes the "options" section and returns its value nodes by key.
func (d *decoder) options(n *yaml.Node, path string, out *Options) map[string]*yaml.Node {
	return d.mapping(n, path, []field{
		{"merge_hbh", false, d.boolInto(&out.MergeHbH)},
		{"strip", false, d.boolInto(&out.Strip)},
		{"packet_too_big", false, d.boolInto(&out.PacketTooBig)},
	})
}

// Field actions that decode a value and, when it is valid, store it in
// *dst (invalid values are reported by the decoding method and leave *dst
// alone).

// numberInto stores an unsigned integer in [0, hi] (see decoder.number).
func numberInto[T ~uint32 | ~uint64](d *decoder, hi uint64, dst *T) func(*yaml.Node, string) {
	return func(n *yaml.Node, p string) {
		if v, ok := d.number(n, p, hi); ok {
			*dst = T(v)
		}
	}
}

// intInto stores an int in [lo, hi] (see decoder.intRange).
func (d *decoder) intInto(lo, hi int, dst *int) func(*yaml.Node, string) {
	return func(n *yaml.Node, p string) {
		if v, ok := d.intRange(n, p, lo, hi); ok {
			*dst = v
		}
	}
}

// durationInto stores a duration in [lo, hi] (see decoder.duration).
func (d *decoder) durationInto(lo, hi time.Duration, dst *Duration) func(*yaml.Node, string) {
	return func(n *yaml.Node, p string) {
		if v, ok := d.duration(n, p, lo, hi); ok {
			*dst = Duration(v)
		}
	}
}

// aggInterval decodes an aggregation interval (export.aggregate.interval
// or a route's aggregate.interval): 0 for per-packet export, or 100ms to
// 1h.
func (d *decoder) aggInterval(n *yaml.Node, p string) (Duration, bool) {
	v, ok := d.duration(n, p, 0, time.Hour)
	if !ok {
		return 0, false
	}
	if v != 0 && v < 100*time.Millisecond {
		d.errorf(n, p, "%s: out of range (0 for per-packet export, or 100ms to 1h)", n.Value)
		return 0, false
	}
	return Duration(v), true
}

// boolInto stores a boolean (see decoder.boolean).
func (d *decoder) boolInto(dst *bool) func(*yaml.Node, string) {
	return func(n *yaml.Node, p string) {
		if v, ok := d.boolean(n, p); ok {
			*dst = v
		}
	}
}

// enumInto stores one of the keywords valid (see decoder.enum).
func (d *decoder) enumInto(dst *string, valid ...string) func(*yaml.Node, string) {
	return func(n *yaml.Node, p string) {
		if s, ok := d.enum(n, p, valid...); ok {
			*dst = s
		}
	}
}

// fractionInto stores a number in [0, 1] (see decoder.fraction).
func (d *decoder) fractionInto(dst *float64) func(*yaml.Node, string) {
	return func(n *yaml.Node, p string) {
		if v, ok := d.fraction(n, p); ok {
			*dst = v
		}
	}
}
