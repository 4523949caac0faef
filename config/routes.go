package config

import (
	"fmt"
	"net/netip"
	"strings"

	"github.com/dexplane/dexplane/dataplane/policy"
	"gopkg.in/yaml.v3"
)

// routeSite locates the fields of one route for error messages, whichever
// form the route was written in.
type routeSite interface {
	// at returns the position and path of field (a key of the structured
	// form such as "freq" or "trace_type"; "" for the route itself) and
	// the prefix its messages start with.
	at(field string) (line, col int, path, prefix string)
}

// mapSite is a route written as a mapping.
type mapSite struct {
	node  *yaml.Node
	path  string
	nodes map[string]*yaml.Node // by field
}

func (s mapSite) at(field string) (int, int, string, string) {
	if n, ok := s.nodes[field]; ok {
		p := join(s.path, field)
		switch field {
		case "ns", "trace_type", "ext_flags":
			p = join(s.path, "dex."+field)
		}
		return n.Line, n.Column, p, ""
	}
	return s.node.Line, s.node.Column, s.path, ""
}

// stringSite is a route written as an iproute2 string in node.
type stringSite struct {
	node *yaml.Node
	path string
	off  map[string]int
}

// ipNames maps structured field names to iproute2 keywords.
var ipNames = map[string]string{"trace_type": "trace-type", "ext_flags": "ext-flags",
	"trace.type": "type", "trace.ns": "ns", "trace.size": "size"}

func (s stringSite) at(field string) (int, int, string, string) {
	off, ok := s.off[field]
	if !ok {
		return s.node.Line, s.node.Column, s.path, ""
	}
	line, col := s.pos(off)
	kw := field
	if n, ok := ipNames[field]; ok {
		kw = n
	}
	return line, col, s.path, kw + " "
}

// pos converts a byte offset in the string to a file position, exactly for
// single-line plain and quoted scalars and approximately otherwise.
func (s stringSite) pos(off int) (int, int) {
	n := s.node
	if n.Style&(yaml.LiteralStyle|yaml.FoldedStyle) != 0 || strings.Contains(n.Value, "\n") {
		return n.Line, n.Column
	}
	col := n.Column + off
	if n.Style&(yaml.SingleQuotedStyle|yaml.DoubleQuotedStyle) != 0 {
		col++
	}
	return n.Line, col
}

// mixedSite is a route written as a mapping of prefix and an iproute2
// string under "encap".
type mixedSite struct {
	stringSite
	prefix     *yaml.Node
	prefixPath string
	agg        *yaml.Node // the "aggregate" mapping, if given
	aggPath    string
}

func (s mixedSite) at(field string) (int, int, string, string) {
	if field == "prefix" {
		return s.prefix.Line, s.prefix.Column, s.prefixPath, ""
	}
	if field == "aggregate" && s.agg != nil {
		return s.agg.Line, s.agg.Column, s.aggPath, ""
	}
	return s.stringSite.at(field)
}

// routeInput is a route as decoded, before the cross-field checks. The ok
// flags are false when the value was absent or already reported invalid.
type routeInput struct {
	prefix             netip.Prefix
	prefixOK           bool
	mode               string
	modeBad            bool // given but invalid: skip the mode-dependent checks
	tunsrc, tundst     netip.Addr
	srcGiven, dstGiven bool // present in the input, even if invalid
	freq               Freq
	ns                 uint64
	nsOK               bool
	traceType          uint64
	traceOK            bool
	extFlags           uint64
	extOK              bool
	hasDEX, hasTrace   bool
	tType, tNS, tSize  uint64
	tTypeOK, tNSOK     bool
	tSizeOK            bool
	agg                *RouteAggregate // nil: not given or invalid
	aggGiven           bool
}

// routeKeys are the keys of a structured route.
var routeKeys = []string{"prefix", "mode", "tunsrc", "tundst", "freq", "trace", "dex", "aggregate"}

func (d *decoder) routes(n *yaml.Node, path string, c *Config) []Route {
	out := []Route{}
	type firstSeen struct {
		index, line int
	}
	prefixes := map[netip.Prefix]firstSeen{}
	nsKnown := map[uint16]bool{}
	for _, ns := range c.Namespaces {
		nsKnown[ns.ID] = true
	}
	for i, item := range d.sequence(n, path) {
		p := index(path, i)
		var in routeInput
		var site routeSite
		errsBefore := len(d.errs)
		switch {
		case item.Kind == yaml.ScalarNode && item.Tag == "!!str":
			site = d.stringRoute(item, p, true, &in)
		case item.Kind == yaml.MappingNode && hasKey(item, "encap"):
			s := mixedSite{stringSite: stringSite{node: item, path: p}, prefix: item, prefixPath: p}
			d.mapping(item, p, []field{
				{"prefix", true, func(n *yaml.Node, p string) {
					s.prefix, s.prefixPath = n, p
					in.prefix, in.prefixOK = d.prefix(n, p)
				}},
				{"encap", true, func(n *yaml.Node, p string) {
					if d.scalar(n, p, "an iproute2 route string") {
						s.stringSite = d.stringRoute(n, p, false, &in)
					}
				}},
				{"aggregate", false, func(n *yaml.Node, p string) {
					s.agg, s.aggPath = n, p
					d.routeAggregate(n, p, &in)
				}},
			})
			site = s
		case item.Kind == yaml.MappingNode:
			site = d.structuredRoute(item, p, &in)
		default:
			d.errorf(item, p, "must be a mapping (keys %s) or an iproute2 route string, got %s", strings.Join(routeKeys, ", "), kindName(item))
			continue
		}
		r, ok := d.finishRoute(&in, site, c, nsKnown)
		if !in.prefixOK {
			continue
		}
		// Duplicates are checked even for routes with other errors, so
		// that one run reports everything.
		line, col, pp, pre := site.at("prefix")
		if first, dup := prefixes[r.Prefix]; dup {
			d.errorAt(line, col, pp, fmt.Sprintf("%s%s: duplicate of routes[%d] (line %d); each prefix may appear once", pre, r.Prefix, first.index, first.line))
			continue
		}
		prefixes[r.Prefix] = firstSeen{i, line}
		if ok && len(d.errs) == errsBefore {
			out = append(out, r)
		}
	}
	return out
}

func hasKey(n *yaml.Node, key string) bool {
	for i := 0; i+1 < len(n.Content); i += 2 {
		if n.Content[i].Value == key {
			return true
		}
	}
	return false
}

func (d *decoder) prefix(n *yaml.Node, path string) (netip.Prefix, bool) {
	s, ok := d.text(n, path)
	if !ok {
		return netip.Prefix{}, false
	}
	p, msg := parsePrefix6(s)
	if msg != "" {
		d.errorf(n, path, "%q: %s", s, msg)
		return netip.Prefix{}, false
	}
	return p, true
}

// stringRoute parses the iproute2 string in n into in and reports its
// syntax errors.
func (d *decoder) stringRoute(n *yaml.Node, path string, withPrefix bool, in *routeInput) stringSite {
	r, errs := parseIproute(n.Value, withPrefix)
	site := stringSite{node: n, path: path, off: r.off}
	for _, e := range errs {
		line, col := site.pos(e.off)
		d.errorAt(line, col, path, e.msg)
	}
	if withPrefix {
		in.prefix, in.prefixOK = r.prefix, r.hasPrefix
	}
	in.mode = r.mode
	_, in.srcGiven = r.off["tunsrc"]
	_, in.dstGiven = r.off["tundst"]
	in.tunsrc, in.tundst = r.tunsrc, r.tundst
	in.freq = Freq{r.k, r.n}
	_, in.nsOK = r.off["ns"]
	_, in.traceOK = r.off["trace_type"]
	_, in.extOK = r.off["ext_flags"]
	in.ns, in.traceType, in.extFlags = r.ns, r.traceType, r.extFlags
	in.hasDEX, in.hasTrace = r.hasDEX, r.hasTrace
	in.tType, in.tNS, in.tSize = r.tType, r.tNS, r.tSize
	_, in.tTypeOK = r.off["trace.type"]
	_, in.tNSOK = r.off["trace.ns"]
	_, in.tSizeOK = r.off["trace.size"]
	if len(errs) > 0 {
		// Values after a syntax error may be missing or misread: skip the
		// semantic checks rather than report follow-on errors.
		in.nsOK, in.traceOK, in.extOK, in.modeBad = false, false, false, true
		in.tTypeOK, in.tNSOK, in.tSizeOK = false, false, false
		in.hasDEX, in.hasTrace = true, true // no "neither" follow-on error
	}
	return site
}

// structuredRoute decodes a route written as a mapping.
func (d *decoder) structuredRoute(n *yaml.Node, path string, in *routeInput) mapSite {
	site := mapSite{node: n, path: path, nodes: map[string]*yaml.Node{}}
	in.freq = Freq{1, 1}
	// number decodes an unsigned integer in [0, hi] into *v and *ok and
	// keeps its node as site key for finishRoute's errors.
	number := func(key string, hi uint64, v *uint64, ok *bool) func(*yaml.Node, string) {
		return func(n *yaml.Node, p string) {
			site.nodes[key] = n
			*v, *ok = d.number(n, p, hi)
		}
	}
	// section decodes a sub-mapping with fields, records in *has that it
	// is present and keeps its node as site key.
	section := func(key string, has *bool, fields ...field) func(*yaml.Node, string) {
		return func(n *yaml.Node, p string) {
			*has = true
			site.nodes[key] = n
			d.mapping(n, p, fields)
		}
	}
	d.mapping(n, path, []field{
		{"prefix", true, func(n *yaml.Node, p string) {
			site.nodes["prefix"] = n
			in.prefix, in.prefixOK = d.prefix(n, p)
		}},
		{"mode", false, func(n *yaml.Node, p string) {
			site.nodes["mode"] = n
			var ok bool
			in.mode, ok = d.enum(n, p, modes...)
			in.modeBad = !ok
		}},
		{"tunsrc", false, func(n *yaml.Node, p string) {
			site.nodes["tunsrc"], in.srcGiven = n, true
			in.tunsrc, _ = d.addr6(n, p)
		}},
		{"tundst", false, func(n *yaml.Node, p string) {
			site.nodes["tundst"], in.dstGiven = n, true
			in.tundst, _ = d.addr6(n, p)
		}},
		{"freq", false, func(n *yaml.Node, p string) {
			site.nodes["freq"] = n
			if !d.scalar(n, p, "K/N") {
				return
			}
			k, nn, msg := parseFreq(n.Value)
			if msg != "" {
				d.errorf(n, p, "%q: %s", n.Value, msg)
				return
			}
			in.freq = Freq{k, nn}
		}},
		{"trace", false, section("trace", &in.hasTrace,
			field{"type", true, number("trace.type", 0xFFFFFFFF, &in.tType, &in.tTypeOK)},
			field{"ns", true, number("trace.ns", 0xFFFF, &in.tNS, &in.tNSOK)},
			field{"size", true, number("trace.size", 0xFFFFFFFF, &in.tSize, &in.tSizeOK)},
		)},
		{"aggregate", false, func(n *yaml.Node, p string) {
			site.nodes["aggregate"] = n
			d.routeAggregate(n, p, in)
		}},
		{"dex", false, section("dex", &in.hasDEX,
			field{"ns", true, number("ns", 0xFFFF, &in.ns, &in.nsOK)},
			field{"trace_type", true, number("trace_type", 0xFFFFFFFF, &in.traceType, &in.traceOK)},
			field{"ext_flags", false, number("ext_flags", 0xFF, &in.extFlags, &in.extOK)},
		)},
	})
	if _, given := site.nodes["ext_flags"]; !given {
		in.extOK = true // default 0
	}
	if !in.hasDEX && !in.hasTrace {
		d.errorf(n, path, "a route needs trace (pre-allocated trace), dex (direct export) or both")
		in.hasDEX, in.hasTrace = true, true // reported; no follow-on errors
	}
	return site
}

// routeAggregate decodes a route's "aggregate" mapping into in.
func (d *decoder) routeAggregate(n *yaml.Node, path string, in *routeInput) {
	in.aggGiven = true
	var ra RouteAggregate
	ok := false
	d.mapping(n, path, []field{
		{"interval", true, func(n *yaml.Node, p string) {
			ra.Interval, ok = d.aggInterval(n, p)
		}},
	})
	if ok {
		in.agg = &ra
	}
}

// finishRoute applies the rules that involve several fields or other
// sections, identical for both forms, and builds the Route.
func (d *decoder) finishRoute(in *routeInput, site routeSite, c *Config, nsKnown map[uint16]bool) (Route, bool) {
	ok := true
	fail := func(field, format string, args ...any) {
		line, col, path, pre := site.at(field)
		d.errorAt(line, col, path, pre+fmt.Sprintf(format, args...))
		ok = false
	}
	r := Route{Prefix: in.prefix, Mode: in.mode, Freq: in.freq, TunSrc: in.tunsrc, TunDst: in.tundst, Aggregate: in.agg}
	if in.aggGiven && !in.hasDEX {
		fail("aggregate", "a trace-only route exports no DEX records to aggregate; remove aggregate or add dex")
	}
	ok = ok && (!in.aggGiven || in.agg != nil)
	if r.Mode == "" {
		r.Mode = "inline"
	}
	switch {
	case in.modeBad:
		ok = false
	case r.Mode == "inline":
		if in.srcGiven {
			fail("tunsrc", "not allowed with mode inline (tunsrc and tundst are for mode encap or auto)")
		}
		if in.dstGiven {
			fail("tundst", "not allowed with mode inline (tunsrc and tundst are for mode encap or auto)")
		}
	default:
		if !in.dstGiven {
			fail("", "mode %s needs tundst, the address of the decapsulating node", r.Mode)
		}
		if !in.srcGiven {
			if !c.Node.Address.IsValid() {
				fail("", "mode %s needs tunsrc, or node.address as the default tunnel source", r.Mode)
			}
			r.TunSrc = c.Node.Address
		}
		if r.TunSrc.IsValid() && r.TunSrc == r.TunDst {
			fail("tundst", "%s: same as tunsrc; the tunnel must end at another node", r.TunDst)
		}
	}
	if in.hasTrace {
		r.Trace = &Trace{}
		if in.tTypeOK {
			if msg := traceTypeProblem(in.tType, true); msg != "" {
				fail("trace.type", "%s", msg)
			}
			r.Trace.Type = Hex(in.tType)
		}
		if in.tSizeOK {
			oss := 0 // the namespace's opaque state snapshot, written with bit 22
			for _, ns := range c.Namespaces {
				if in.tNSOK && uint64(ns.ID) == in.tNS && ns.Schema != nil {
					oss = (len(ns.Schema.Data) + 3) &^ 3
				}
			}
			if msg := traceSizeProblem(in.tSize, in.tType, in.tTypeOK, oss); msg != "" {
				fail("trace.size", "%s", msg)
			}
			r.Trace.Size = int(min(in.tSize, 1<<20))
		}
		if in.tNSOK {
			if !nsKnown[uint16(in.tNS)] {
				fail("trace.ns", "%d: namespace not in namespaces (%s)", in.tNS, knownText(nsKnown))
			}
			r.Trace.Namespace = uint16(in.tNS)
		}
		ok = ok && in.tTypeOK && in.tSizeOK && in.tNSOK
	}
	if !in.hasDEX {
		return r, ok
	}
	if in.traceOK {
		if msg := traceTypeProblem(in.traceType, false); msg != "" {
			fail("trace_type", "%s", msg)
		}
		r.DEX.TraceType = Hex(in.traceType)
	}
	if in.nsOK {
		if !nsKnown[uint16(in.ns)] {
			fail("ns", "%d: namespace not in namespaces (%s)", in.ns, knownText(nsKnown))
		}
		r.DEX.Namespace = uint16(in.ns)
	}
	if in.extOK {
		if in.extFlags&0x3F != 0 {
			fail("ext_flags", "0x%02x: bits 2-7 (0x3f) are unassigned; valid: 0x00, 0x40 (sequence number), 0x80 (flow id), 0xc0 (both)", in.extFlags)
		}
		r.DEX.ExtFlags = Hex(in.extFlags)
	}
	return r, ok && in.traceOK && in.nsOK && in.extOK
}

// knownText lists the configured namespaces for an error message.
func knownText(nsKnown map[uint16]bool) string {
	if len(nsKnown) == 0 {
		return "none is configured"
	}
	return "configured: " + strings.Join(sortedKeys(nsKnown), ", ")
}

// traceTypeProblem returns why t is not a valid IOAM-Trace-Type, or "":
// of a DEX option (pto false; the kernel's ioam6_validate_dex_hdr rules) or
// of a Pre-allocated Trace (pto true; ioam6_validate_trace_hdr: not 0, bits
// 12-21 clear; bit 7, checksum complement, is accepted and filled with
// 0xffffffff), plus reserved bit 23 for both.
func traceTypeProblem(t uint64, pto bool) string {
	v := fmt.Sprintf("0x%06x", t)
	switch {
	case t > uint64(policy.TraceTypeMask):
		return v + ": wider than 24 bits (0x000001 to 0xffffff)"
	case t == 0 && pto:
		return v + ": must not be 0; set the bit of at least one field each node writes (bits 0-11, 22)"
	case t == 0:
		return v + ": must not be 0; set the bit of at least one field to export (bits 0-11, 22)"
	case !pto && uint32(t)&policy.TraceTypeChecksum != 0:
		return v + ": bit 7 (0x010000, checksum complement) must be 0 for DEX"
	case uint32(t)&policy.TraceTypeUndefined != 0 && pto:
		return v + ": bits 12-21 (0x000ffc) are undefined and must be 0 (Linux refuses them too)"
	case uint32(t)&policy.TraceTypeUndefined != 0:
		return v + ": bits 12-21 (0x000ffc) are undefined and must be 0"
	case uint32(t)&policy.TraceTypeReserved != 0:
		return v + ": bit 23 (0x000001) is reserved and must be 0"
	}
	return ""
}

// traceSizeProblem returns why size (octets) is not a valid pre-allocated
// trace size for trace type t (when typeOK) whose namespace's schema data
// is oss octets, or "".
func traceSizeProblem(size, t uint64, typeOK bool, oss int) string {
	if size == 0 || size%4 != 0 || size > policy.MaxTraceSize {
		return fmt.Sprintf("%d: must be a multiple of 4 from 4 to %d octets (the kernel's IOAM6_TRACE_DATA_SIZE_MAX)", size, policy.MaxTraceSize)
	}
	if !typeOK || t == 0 || t > uint64(policy.TraceTypeMask) {
		return ""
	}
	need := 4 * policy.TraceNodeLen(uint32(t))
	if uint32(t)&policy.TraceTypeOSS != 0 {
		need += 4 + oss
	}
	if int(size) < need {
		return fmt.Sprintf("%d: too small for one node's data: type 0x%06x needs %d octets per node", size, t, need)
	}
	return ""
}
