package config

import (
	"fmt"
	"net/netip"
	"strconv"
	"strings"

	"github.com/dexplane/dexplane/dataplane/policy"
)

// A route may be written the way Linux configures it:
//
//	[PREFIX] encap ioam6 [freq K/N] [mode inline|encap|auto] [tunsrc ADDR] [tundst ADDR]
//	         [trace prealloc type TYPE ns NS size SIZE] [dex trace-type TYPE ns NS ext-flags FLAGS]
//
// parseIproute follows iproute2's parse_encap_ioam6: the keywords before
// the options are optional but must come in this order, each at most once;
// the mode defaults to inline; tunsrc and tundst are refused in inline mode
// and tundst is required otherwise. Then at least one of: mainline's
// pre-allocated trace ("trace prealloc type TYPE ns NS size SIZE", in this
// fixed order as iproute2 reads it; SIZE in octets) and the DEX extension
// of the ULiège iproute2 patch ("dex" then trace-type, ns and ext-flags in
// any order, all three required). Both may be given, in either order, for
// a route that inserts both options. Numbers are decimal or 0x hex.
// Nothing may follow (no "via" or "dev": a bump in the wire always
// forwards to its other port).

// token is one whitespace-separated word of a route string and its byte
// offset.
type token struct {
	s   string
	off int
}

func tokenize(s string) []token {
	var toks []token
	start := -1
	for i := 0; i <= len(s); i++ {
		space := i == len(s) || s[i] == ' ' || s[i] == '\t' || s[i] == '\n' || s[i] == '\r'
		switch {
		case space && start >= 0:
			toks = append(toks, token{s[start:i], start})
			start = -1
		case !space && start < 0:
			start = i
		}
	}
	return toks
}

// ipRoute is what a route string says, with the byte offset of every value
// for error positions.
type ipRoute struct {
	prefix    netip.Prefix
	hasPrefix bool
	k, n      uint32
	mode      string // "" when not given
	tunsrc    netip.Addr
	tundst    netip.Addr
	ns        uint64
	traceType uint64
	extFlags  uint64
	hasDEX    bool
	hasTrace  bool
	tType     uint64
	tNS       uint64
	tSize     uint64
	// off maps a field name (as used by routeSite) to its value's offset.
	off map[string]int
	// end is the offset just past the string, for "missing" errors.
	end int
}

// tokenError is a problem at a byte offset of a route string.
type tokenError struct {
	off int
	msg string
}

// ipKeywords is the fixed order of iproute2's optional keywords.
var ipKeywords = []string{"freq", "mode", "tunsrc", "tundst"}

// parseIproute parses a route string. If withPrefix, the string starts with
// the destination prefix. It returns every problem found.
func parseIproute(s string, withPrefix bool) (ipRoute, []tokenError) {
	r := ipRoute{off: map[string]int{}, end: len(s)}
	var errs []tokenError
	fail := func(off int, format string, args ...any) {
		errs = append(errs, tokenError{off, fmt.Sprintf(format, args...)})
	}
	toks := tokenize(s)
	i := 0
	next := func() (token, bool) {
		if i < len(toks) {
			i++
			return toks[i-1], true
		}
		return token{off: len(s)}, false
	}

	if withPrefix {
		t, ok := next()
		if !ok {
			fail(t.off, "empty route: want PREFIX encap ioam6 ... dex trace-type TYPE ns NS ext-flags FLAGS")
			return r, errs
		}
		r.off["prefix"] = t.off
		if p, msg := parsePrefix6(t.s); msg != "" {
			fail(t.off, "prefix %q: %s", t.s, msg)
		} else {
			r.prefix, r.hasPrefix = p, true
		}
	}
	if t, ok := next(); !ok || t.s != "encap" {
		fail(t.off, "want \"encap ioam6\" first, got %s", quoteTok(t, ok))
		return r, errs
	}
	if t, ok := next(); !ok || t.s != "ioam6" {
		fail(t.off, "encap type must be ioam6, got %s", quoteTok(t, ok))
		return r, errs
	}

	// The optional keywords, in iproute2's fixed order.
	r.k, r.n = 1, 1
	pos := 0 // index in ipKeywords of the next acceptable keyword
	for i < len(toks) {
		t := toks[i]
		kw := indexOf(ipKeywords, t.s)
		if kw < 0 {
			break
		}
		if kw < pos {
			fail(t.off, "%q after %q: iproute2 reads freq, mode, tunsrc, tundst in this order, each at most once", t.s, ipKeywords[pos-1])
			i++
			if i < len(toks) {
				i++ // skip its value too
			}
			continue
		}
		pos = kw + 1
		i++
		v, ok := next()
		if !ok {
			fail(v.off, "%s needs a value", t.s)
			return r, errs
		}
		r.off[t.s] = v.off
		switch t.s {
		case "freq":
			if k, n, msg := parseFreq(v.s); msg != "" {
				fail(v.off, "freq %q: %s", v.s, msg)
			} else {
				r.k, r.n = k, n
			}
		case "mode":
			if _, ok := policy.Modes.Value(v.s); !ok {
				fail(v.off, "mode %q: must be one of %s", v.s, strings.Join(policy.Modes.Words(), ", "))
			} else {
				r.mode = v.s
			}
		case "tunsrc", "tundst":
			a, err := netip.ParseAddr(v.s)
			if err != nil {
				fail(v.off, "%s %q: must be an IPv6 address such as 2001:db8::1", t.s, v.s)
			} else if msg := checkUnicast6(a); msg != "" {
				fail(v.off, "%s %s: %s", t.s, v.s, msg)
			} else if t.s == "tunsrc" {
				r.tunsrc = a
			} else {
				r.tundst = a
			}
		}
	}

	// Then "trace prealloc ..." (mainline), "dex ..." (ULiège patch), or
	// both, each at most once, in either order.
	if i >= len(toks) {
		fail(len(s), "want trace prealloc type TYPE ns NS size SIZE, dex trace-type TYPE ns NS ext-flags FLAGS, or both; got end of string")
		return r, errs
	}
	for i < len(toks) {
		t := toks[i]
		switch {
		case t.s == "trace" && !r.hasTrace:
			i++
			r.hasTrace = true
			r.off["trace"] = t.off
			if !parseTrace(&r, toks, &i, len(s), fail) {
				return r, errs
			}
		case t.s == "dex" && !r.hasDEX:
			i++
			r.hasDEX = true
			r.off["dex"] = t.off
			parseDEX(&r, toks, &i, len(s), fail)
		case t.s == "trace" || t.s == "dex":
			fail(t.off, "duplicate %s: a route carries at most one trace and one dex", t.s)
			return r, errs
		case t.s == "via" || t.s == "dev":
			fail(t.off, "%q: a bump in the wire always forwards to its other port; end the route after the trace/dex options", t.s)
			return r, errs
		default:
			fail(t.off, "want trace prealloc type TYPE ns NS size SIZE or dex trace-type TYPE ns NS ext-flags FLAGS, got %q", t.s)
			return r, errs
		}
	}
	return r, errs
}

// parseTrace reads "prealloc type TYPE ns NS size SIZE" (iproute2's fixed
// order) after "trace", advancing *i. It returns false after an error that
// makes the rest of the string unreadable.
func parseTrace(r *ipRoute, toks []token, i *int, end int, fail func(int, string, ...any)) bool {
	next := func() (token, bool) {
		if *i < len(toks) {
			*i++
			return toks[*i-1], true
		}
		return token{off: end}, false
	}
	if t, ok := next(); !ok || t.s != "prealloc" {
		fail(t.off, "trace must be followed by prealloc (the only trace iproute2 and Linux support), got %s", quoteTok(t, ok))
		return false
	}
	for _, a := range []struct {
		name, key string
		max       uint64
		dst       *uint64
	}{
		{"type", "trace.type", 0xFFFFFFFF, &r.tType},
		{"ns", "trace.ns", 0xFFFF, &r.tNS},
		{"size", "trace.size", 0xFFFFFFFF, &r.tSize},
	} {
		t, ok := next()
		if !ok || t.s != a.name {
			fail(t.off, "trace prealloc reads type TYPE ns NS size SIZE in this order: want %s, got %s", a.name, quoteTok(t, ok))
			return false
		}
		v, ok := next()
		if !ok {
			fail(v.off, "%s needs a value", a.name)
			return false
		}
		r.off[a.key] = v.off
		x, ok := boundedUint(v, a.name, a.max, fail)
		if !ok {
			delete(r.off, a.key)
			continue
		}
		*a.dst = x
	}
	return true
}

// boundedUint parses the value v of argument name as an unsigned number
// from 0 to max. On failure it reports `name "v": why` at v's offset and
// returns false.
func boundedUint(v token, name string, max uint64, fail func(int, string, ...any)) (uint64, bool) {
	x, msg := parseUint(v.s)
	if msg == "" && x > max {
		msg = fmt.Sprintf("out of range (%s)", rangeText(0, max, true))
	}
	if msg != "" {
		fail(v.off, "%s %q: %s", name, v.s, msg)
		return 0, false
	}
	return x, true
}

// parseDEX reads "trace-type TYPE ns NS ext-flags FLAGS" in any order after
// "dex", advancing *i, up to the first other word.
func parseDEX(r *ipRoute, toks []token, i *int, end int, fail func(int, string, ...any)) {
	dexOff := r.off["dex"]
	type dexArg struct {
		name, key string
		max       uint64
		dst       *uint64
	}
	args := []dexArg{
		{"trace-type", "trace_type", 0xFFFFFFFF, &r.traceType},
		{"ns", "ns", 0xFFFF, &r.ns},
		{"ext-flags", "ext_flags", 0xFF, &r.extFlags},
	}
	seen := map[string]bool{}
	for *i < len(toks) {
		t := toks[*i]
		j := -1
		for a := range args {
			if args[a].name == t.s {
				j = a
			}
		}
		if j < 0 {
			break
		}
		*i++
		a := args[j]
		if seen[a.key] {
			fail(t.off, "duplicate %s", a.name)
		}
		seen[a.key] = true
		if *i >= len(toks) {
			fail(end, "%s needs a value", a.name)
			break
		}
		v := toks[*i]
		*i++
		r.off[a.key] = v.off
		x, ok := boundedUint(v, a.name, a.max, fail)
		if !ok {
			continue
		}
		*a.dst = x
	}
	var missing []string
	for _, a := range args {
		if !seen[a.key] {
			missing = append(missing, a.name)
		}
	}
	if len(missing) > 0 {
		fail(dexOff, "dex needs trace-type, ns and ext-flags (missing %s)", strings.Join(missing, ", "))
	}
}

func quoteTok(t token, ok bool) string {
	if !ok {
		return "end of string"
	}
	return strconv.Quote(t.s)
}

func indexOf(list []string, s string) int {
	for i, v := range list {
		if v == s {
			return i
		}
	}
	return -1
}

// freqRange is appended to every frequency error.
const freqRange = "(1 <= k <= n <= 1000000)"

// parseFreq parses "K/N" with decimal K and N, as iproute2 does, and checks
// the kernel's range.
func parseFreq(s string) (k, n uint32, msg string) {
	ks, ns, ok := strings.Cut(s, "/")
	kv, e1 := strconv.ParseUint(ks, 10, 32)
	nv, e2 := strconv.ParseUint(ns, 10, 32)
	switch {
	case !ok || e1 != nil || e2 != nil:
		return 0, 0, "must be K/N with decimal integers, such as 1/100 " + freqRange
	case kv < 1:
		return 0, 0, "k must be >= 1 " + freqRange
	case nv > 1000000:
		return 0, 0, "n must be <= 1000000 " + freqRange
	case kv > nv:
		return 0, 0, "k must be <= n " + freqRange
	}
	return uint32(kv), uint32(nv), ""
}
