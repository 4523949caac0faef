package config

import (
	"fmt"
	"math"
	"net/netip"
	"sort"
	"strconv"
	"strings"
	"time"

	"gopkg.in/yaml.v3"
)

// decoder walks a yaml.Node tree, converting values and collecting every
// problem it finds instead of stopping at the first.
type decoder struct {
	file string
	errs ErrorList
}

// errorf records a problem at node n.
func (d *decoder) errorf(n *yaml.Node, path, format string, args ...any) {
	line, col := 1, 1
	if n != nil && n.Line > 0 {
		line, col = n.Line, n.Column
	}
	d.errorAt(line, col, path, fmt.Sprintf(format, args...))
}

func (d *decoder) errorAt(line, col int, path, msg string) {
	d.errs = append(d.errs, &Error{File: d.file, Line: line, Column: col, Path: path, Msg: msg})
}

// join appends a key to a path.
func join(path, key string) string {
	if path == "" {
		return key
	}
	return path + "." + key
}

func index(path string, i int) string { return fmt.Sprintf("%s[%d]", path, i) }

// kindName describes a node's kind for "must be a mapping, got ..." errors.
func kindName(n *yaml.Node) string {
	switch n.Kind {
	case yaml.MappingNode:
		return "a mapping"
	case yaml.SequenceNode:
		return "a sequence"
	case yaml.AliasNode:
		return "an alias (YAML anchors and aliases are not supported)"
	case yaml.ScalarNode:
		switch n.Tag {
		case "!!null":
			return "null"
		case "!!bool":
			return "a boolean"
		case "!!int":
			return "an integer"
		case "!!float":
			return "a float"
		}
		return fmt.Sprintf("the string %q", n.Value)
	}
	return "nothing"
}

// field describes one key of a mapping.
type field struct {
	name     string
	required bool
	decode   func(n *yaml.Node, path string)
}

// mapping decodes the mapping n, calling each field's decode for the keys
// present (in the order of fields, not of the file) and reporting unknown,
// duplicate and missing keys. It returns the value nodes by key.
func (d *decoder) mapping(n *yaml.Node, path string, fields []field) map[string]*yaml.Node {
	if n.Kind != yaml.MappingNode {
		d.errorf(n, path, "must be a mapping, got %s", kindName(n))
		return nil
	}
	known := make(map[string]bool, len(fields))
	names := make([]string, len(fields))
	for i, f := range fields {
		known[f.name] = true
		names[i] = f.name
	}
	keys := make(map[string]*yaml.Node, len(n.Content)/2)
	vals := make(map[string]*yaml.Node, len(n.Content)/2)
	for i := 0; i+1 < len(n.Content); i += 2 {
		k, v := n.Content[i], n.Content[i+1]
		if k.Kind == yaml.ScalarNode && k.Tag == "!!merge" {
			d.errorf(k, path, "YAML merge keys (<<) are not supported; write the keys out")
			continue
		}
		if k.Kind != yaml.ScalarNode || k.Tag != "!!str" {
			d.errorf(k, path, "key must be a string, got %s", kindName(k))
			continue
		}
		p := join(path, k.Value)
		if !known[k.Value] {
			d.errorf(k, p, "unknown key (valid: %s)", strings.Join(names, ", "))
			continue
		}
		if first, dup := keys[k.Value]; dup {
			d.errorf(k, p, "duplicate key (first at line %d)", first.Line)
			continue
		}
		keys[k.Value], vals[k.Value] = k, v
	}
	for _, f := range fields {
		v, ok := vals[f.name]
		if !ok {
			if f.required {
				d.errorf(n, path, "missing required key %q", f.name)
			}
			continue
		}
		if f.decode != nil {
			f.decode(v, join(path, f.name))
		}
	}
	return vals
}

// sequence returns the items of the sequence n; null counts as empty.
func (d *decoder) sequence(n *yaml.Node, path string) []*yaml.Node {
	if n.Kind == yaml.ScalarNode && n.Tag == "!!null" {
		return nil
	}
	if n.Kind != yaml.SequenceNode {
		d.errorf(n, path, "must be a sequence, got %s", kindName(n))
		return nil
	}
	return n.Content
}

// scalar checks that n is a non-null scalar.
func (d *decoder) scalar(n *yaml.Node, path, want string) bool {
	if n.Kind != yaml.ScalarNode || n.Tag == "!!null" {
		d.errorf(n, path, "must be %s, got %s", want, kindName(n))
		return false
	}
	return true
}

// parseUint parses decimal or 0x-prefixed hexadecimal, the forms the kernel
// tools document. A leading zero is refused because C's strtoul (and
// iproute2) would read the number as octal.
func parseUint(s string) (uint64, string) {
	const want = "must be a decimal or 0x hex number"
	switch {
	case s == "":
		return 0, want
	case len(s) > 2 && (s[:2] == "0x" || s[:2] == "0X"):
		v, err := strconv.ParseUint(s[2:], 16, 64)
		if err != nil {
			if strings.Trim(s[2:], "0123456789abcdefABCDEF") == "" {
				return 0, "does not fit in 64 bits"
			}
			return 0, want
		}
		return v, ""
	case len(s) > 1 && s[0] == '0' && strings.Trim(s, "0123456789") == "":
		return 0, "has a leading zero, which iproute2 reads as octal; write it in decimal or 0x hex"
	}
	if strings.Trim(s, "0123456789") != "" {
		return 0, want
	}
	v, err := strconv.ParseUint(s, 10, 64)
	if err != nil {
		return 0, "does not fit in 64 bits"
	}
	return v, ""
}

// number decodes an unsigned integer in [0, hi].
func (d *decoder) number(n *yaml.Node, path string, hi uint64) (uint64, bool) {
	return d.uintRange(n, path, 0, hi)
}

// uintRange decodes an unsigned integer in [lo, hi].
func (d *decoder) uintRange(n *yaml.Node, path string, lo, hi uint64) (uint64, bool) {
	if !d.scalar(n, path, "a number") {
		return 0, false
	}
	if n.Tag != "!!int" && n.Tag != "!!str" {
		d.errorf(n, path, "must be a number, got %s", kindName(n))
		return 0, false
	}
	v, msg := parseUint(n.Value)
	if msg != "" {
		d.errorf(n, path, "%q: %s", n.Value, msg)
		return 0, false
	}
	if v < lo || v > hi {
		d.errorf(n, path, "%s: out of range (%s)", n.Value, rangeText(lo, hi, strings.HasPrefix(strings.ToLower(n.Value), "0x")))
		return 0, false
	}
	return v, true
}

// rangeText formats "lo to hi", in hex for hex inputs and for all-ones
// maxima.
func rangeText(lo, hi uint64, hex bool) string {
	if hex || (hi > 255 && hi&(hi+1) == 0) {
		return fmt.Sprintf("0x%x to 0x%x", lo, hi)
	}
	return fmt.Sprintf("%d to %d", lo, hi)
}

// intRange decodes an int in [lo, hi].
func (d *decoder) intRange(n *yaml.Node, path string, lo, hi int) (int, bool) {
	v, ok := d.uintRange(n, path, uint64(lo), uint64(hi))
	return int(v), ok
}

func (d *decoder) boolean(n *yaml.Node, path string) (bool, bool) {
	if !d.scalar(n, path, "true or false") {
		return false, false
	}
	switch n.Value {
	case "true", "True", "TRUE":
		return true, true
	case "false", "False", "FALSE":
		return false, true
	}
	d.errorf(n, path, "%q: must be true or false", n.Value)
	return false, false
}

func (d *decoder) text(n *yaml.Node, path string) (string, bool) {
	if !d.scalar(n, path, "a string") {
		return "", false
	}
	if n.Tag != "!!str" {
		d.errorf(n, path, "must be a string, got %s", kindName(n))
		return "", false
	}
	return n.Value, true
}

// enum decodes one of the given keywords.
func (d *decoder) enum(n *yaml.Node, path string, valid ...string) (string, bool) {
	s, ok := d.text(n, path)
	if !ok {
		return "", false
	}
	for _, v := range valid {
		if s == v {
			return s, true
		}
	}
	d.errorf(n, path, "%q: must be one of %s", s, strings.Join(valid, ", "))
	return "", false
}

// duration decodes a Go duration string ("30s", "5m") in [lo, hi].
func (d *decoder) duration(n *yaml.Node, path string, lo, hi time.Duration) (time.Duration, bool) {
	if !d.scalar(n, path, "a duration") {
		return 0, false
	}
	v, err := time.ParseDuration(n.Value)
	if err != nil {
		if n.Value == "0" {
			v, err = 0, nil
		} else {
			d.errorf(n, path, "%q: must be a duration such as 500ms, 30s or 5m", n.Value)
			return 0, false
		}
	}
	if v < lo || v > hi {
		d.errorf(n, path, "%s: out of range (%s to %s)", n.Value, lo, hi)
		return 0, false
	}
	return v, true
}

// fraction decodes a number in [0, 1], written as a decimal (0.001) or a
// ratio (1/1000).
func (d *decoder) fraction(n *yaml.Node, path string) (float64, bool) {
	if !d.scalar(n, path, "a fraction") {
		return 0, false
	}
	const want = "must be a fraction between 0 and 1, such as 0.001 or 1/1000"
	var v float64
	if num, den, ok := strings.Cut(n.Value, "/"); ok {
		a, e1 := strconv.ParseUint(num, 10, 32)
		b, e2 := strconv.ParseUint(den, 10, 32)
		if e1 != nil || e2 != nil || b == 0 {
			d.errorf(n, path, "%q: %s", n.Value, want)
			return 0, false
		}
		v = float64(a) / float64(b)
	} else {
		f, err := strconv.ParseFloat(n.Value, 64)
		if err != nil || math.IsNaN(f) || math.IsInf(f, 0) {
			d.errorf(n, path, "%q: %s", n.Value, want)
			return 0, false
		}
		v = f
	}
	if v < 0 || v > 1 {
		d.errorf(n, path, "%s: %s", n.Value, want)
		return 0, false
	}
	return v, true
}

// checkUnicast6 returns "" if a is usable as a unicast IPv6 address, else
// the reason it is not.
func checkUnicast6(a netip.Addr) string {
	switch {
	case !a.Is6() || a.Is4In6():
		return "must be an IPv6 address"
	case a.Zone() != "":
		return "must not have a zone"
	case a.IsUnspecified():
		return "must not be the unspecified address ::"
	case a.IsMulticast():
		return "must not be a multicast address"
	case a.IsLoopback():
		return "must not be the loopback address ::1"
	}
	return ""
}

// addr6 decodes a unicast IPv6 address.
func (d *decoder) addr6(n *yaml.Node, path string) (netip.Addr, bool) {
	s, ok := d.text(n, path)
	if !ok {
		return netip.Addr{}, false
	}
	a, err := netip.ParseAddr(s)
	if err != nil {
		d.errorf(n, path, "%q: must be an IPv6 address such as 2001:db8::1", s)
		return netip.Addr{}, false
	}
	if msg := checkUnicast6(a); msg != "" {
		d.errorf(n, path, "%s: %s", s, msg)
		return netip.Addr{}, false
	}
	return a, true
}

// parsePrefix6 parses an IPv6 prefix or a bare address (a /128), as ip
// route does, and refuses host bits beyond the length as the kernel does.
func parsePrefix6(s string) (netip.Prefix, string) {
	const want = "must be an IPv6 prefix such as 2001:db8::/48"
	var p netip.Prefix
	if strings.Contains(s, "/") {
		var err error
		if p, err = netip.ParsePrefix(s); err != nil {
			return p, want
		}
	} else {
		a, err := netip.ParseAddr(s)
		if err != nil {
			return p, want
		}
		p = netip.PrefixFrom(a, a.BitLen())
	}
	if !p.Addr().Is6() || p.Addr().Is4In6() {
		return netip.Prefix{}, want
	}
	if m := p.Masked(); m != p {
		return netip.Prefix{}, fmt.Sprintf("has host bits set beyond /%d (did you mean %s?)", p.Bits(), m)
	}
	return p, ""
}

// hostPort checks a "host:port" listen or collector address. If defPort is
// not empty, a bare host gets it.
func hostPort(s, defPort string) (string, string) {
	host, port, err := splitHostPort(s)
	if err != nil {
		if defPort == "" {
			return "", "must be host:port, such as [2001:db8::9]:4739 or localhost:9102"
		}
		host, port = strings.Trim(s, "[]"), defPort
	}
	if host != "" {
		if a, err := netip.ParseAddr(host); err == nil && a.Is6() {
			host = "[" + host + "]"
		} else if strings.ContainsAny(host, " /[]:") {
			// A colon outside brackets can only belong to an IPv6
			// address, and this one did not parse as one; taking it as
			// a host name would make "host:port" ambiguous.
			return "", "must be host:port with a host name or IP address"
		}
	}
	p, err := strconv.ParseUint(port, 10, 16)
	if err != nil || (p == 0 && defPort != "") {
		return "", fmt.Sprintf("port %q must be a number from 1 to 65535", port)
	}
	return host + ":" + port, ""
}

// splitHostPort splits "host:port", "[v6]:port" and ":port".
func splitHostPort(s string) (host, port string, err error) {
	i := strings.LastIndexByte(s, ':')
	if i < 0 {
		return "", "", fmt.Errorf("missing port")
	}
	host, port = s[:i], s[i+1:]
	if strings.HasPrefix(host, "[") && strings.HasSuffix(host, "]") {
		host = host[1 : len(host)-1]
	} else if strings.Contains(host, ":") {
		return "", "", fmt.Errorf("IPv6 host without brackets")
	}
	return host, port, nil
}

// sortedKeys returns the keys of m in order, for stable messages.
func sortedKeys[V any](m map[uint16]V) []string {
	ids := make([]int, 0, len(m))
	for id := range m {
		ids = append(ids, int(id))
	}
	sort.Ints(ids)
	out := make([]string, len(ids))
	for i, id := range ids {
		out[i] = strconv.Itoa(id)
	}
	return out
}
