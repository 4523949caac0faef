package config

import (
	"fmt"
	"strings"
	"testing"

	"github.com/dexplane/dexplane/dataplane/policy"
)

// spec45 are the route examples of spec §4.5 (ULiège scripts/dut/utilities.py
// and issue 3), without the "via ... dev ..." next hop, which a bump in the
// wire does not have.
var spec45 = []struct {
	str        string
	structured string
}{
	{
		"cd00::/64 encap ioam6 freq 1/100 mode inline dex ns 123 trace-type 0x800000 ext-flags 0x00",
		"{prefix: cd00::/64, mode: inline, freq: 1/100, dex: {ns: 123, trace_type: 0x800000, ext_flags: 0x00}}",
	},
	{
		"cd00::/64 encap ioam6 freq 1/100 mode encap tundst db02::1 dex ns 123 trace-type 0x800000 ext-flags 0xC0",
		"{prefix: cd00::/64, mode: encap, tundst: db02::1, freq: 1/100, dex: {ns: 123, trace_type: 0x800000, ext_flags: 0xc0}}",
	},
	{
		"cd00::/64 encap ioam6 freq 1/100 mode encap tunsrc db02::2 tundst db02::1 dex ns 123 trace-type 0x800000 ext-flags 0x80",
		"{prefix: cd00::/64, mode: encap, tunsrc: db02::2, tundst: db02::1, freq: 1/100, dex: {ns: 123, trace_type: 0x800000, ext_flags: 0x80}}",
	},
	{
		"cd00::/64 encap ioam6 freq 1/100 mode encap tunsrc db02::2 tundst db02::1 dex ns 123 trace-type 0x800000 ext-flags 0xc0",
		"{prefix: cd00::/64, mode: encap, tunsrc: db02::2, tundst: db02::1, freq: 1/100, dex: {ns: 123, trace_type: 0x800000, ext_flags: 0xc0}}",
	},
	{
		// Defaults: freq 1/1, mode inline; DEX arguments in another order.
		"cd00::/64 encap ioam6 dex ext-flags 0 trace-type 0x400000 ns 123",
		"{prefix: cd00::/64, dex: {ns: 123, trace_type: 0x400000}}",
	},
	{
		"cd00::/64 encap ioam6 mode auto tundst db02::1 dex trace-type 8388608 ns 0x7b ext-flags 192",
		"{prefix: cd00::/64, mode: auto, tundst: db02::1, dex: {ns: 123, trace_type: 0x800000, ext_flags: 0xc0}}",
	},
	{
		// The mainline kernel's pre-allocated trace, verbatim.
		"cd00::/64 encap ioam6 freq 1/100 mode encap tunsrc db02::2 tundst db02::1 trace prealloc type 0x800000 ns 123 size 12",
		"{prefix: cd00::/64, mode: encap, tunsrc: db02::2, tundst: db02::1, freq: 1/100, trace: {type: 0x800000, ns: 123, size: 12}}",
	},
	{
		// Both options on one route, in either order.
		"cd00::/64 encap ioam6 dex ns 123 trace-type 0xc00000 ext-flags 0xc0 trace prealloc type 0xf00002 ns 123 size 48",
		"{prefix: cd00::/64, trace: {type: 0xf00002, ns: 123, size: 48}, dex: {ns: 123, trace_type: 0xc00000, ext_flags: 0xc0}}",
	},
}

// routeDoc is a node whose only route is the YAML sequence item route.
func routeDoc(route string) string {
	return `node: {address: db02::2}
ports:
  - {name: west, domain: outside}
  - {name: east, domain: inside}
namespaces: [{id: 123}]
routes:
  - ` + route + "\n"
}

func compiledRoute(t *testing.T, doc string) policy.Route {
	t.Helper()
	c, err := Parse("r.yaml", []byte(doc))
	if err != nil {
		t.Fatalf("%v\n%s", err, doc)
	}
	s, err := c.Compile(nil)
	if err != nil {
		t.Fatal(err)
	}
	r := s.Routes.Routes()[0]
	r.Sampler = nil
	return r
}

// TestIprouteRoundTrip checks that every iproute2 example compiles to the
// same route as its structured form, in all three spellings, and that
// Route.Iproute writes a string that compiles to it again.
func TestIprouteRoundTrip(t *testing.T) {
	for i, ex := range spec45 {
		t.Run(fmt.Sprint(i), func(t *testing.T) {
			want := compiledRoute(t, routeDoc(ex.structured))
			prefix, opts, _ := strings.Cut(ex.str, " ")
			for _, doc := range []string{
				routeDoc(`"` + ex.str + `"`),
				routeDoc(ex.str),
				routeDoc("{prefix: " + prefix + ", encap: " + opts + "}"),
			} {
				if got := compiledRoute(t, doc); got != want {
					t.Errorf("%s\ncompiles to %+v\nwant        %+v", doc, got, want)
				}
			}
			c, _ := Parse("r.yaml", []byte(routeDoc(ex.structured)))
			back := c.Routes[0].Iproute()
			if got := compiledRoute(t, routeDoc(`"`+back+`"`)); got != want {
				t.Errorf("Iproute() = %q compiles to %+v, want %+v", back, got, want)
			}
		})
	}
}

// TestIprouteErrors checks the iproute2 rules with exact error text; the
// column points at the offending word inside the string.
func TestIprouteErrors(t *testing.T) {
	tests := []struct {
		route string
		want  string
	}{
		{`"cd00::/64 encap ioam6 freq 3/2 dex ns 123 trace-type 0x800000 ext-flags 0"`,
			`r.yaml:7:33: routes[0]: freq "3/2": k must be <= n (1 <= k <= n <= 1000000)`},
		{`"cd00::/64 encap ioam6 freq 1-2 dex ns 123 trace-type 0x800000 ext-flags 0"`,
			`r.yaml:7:33: routes[0]: freq "1-2": must be K/N with decimal integers, such as 1/100 (1 <= k <= n <= 1000000)`},
		{`"cd00::/64 encap ioam6 tunsrc db02::2 dex ns 123 trace-type 0x800000 ext-flags 0"`,
			`r.yaml:7:35: routes[0]: tunsrc not allowed with mode inline (tunsrc and tundst are for mode encap or auto)`},
		{`"cd00::/64 encap ioam6 mode encap dex ns 123 trace-type 0x800000 ext-flags 0"`,
			`r.yaml:7:5: routes[0]: mode encap needs tundst, the address of the decapsulating node`},
		{`"cd00::/64 encap ioam6 tundst db02::1 mode encap dex ns 123 trace-type 0x800000 ext-flags 0"`,
			`r.yaml:7:43: routes[0]: "mode" after "tundst": iproute2 reads freq, mode, tunsrc, tundst in this order, each at most once`},
		{`"cd00::/64 encap ioam6 freq 1/2 freq 1/3 dex ns 123 trace-type 0x800000 ext-flags 0"`,
			`r.yaml:7:37: routes[0]: "freq" after "freq": iproute2 reads freq, mode, tunsrc, tundst in this order, each at most once`},
		{`"cd00::/64 encap ioam6 dex ns 124 trace-type 0x800000 ext-flags 0"`,
			`r.yaml:7:35: routes[0]: ns 124: namespace not in namespaces (configured: 123)`},
		{`"cd00::/64 encap ioam6 dex ns 123 trace-type 0x810000 ext-flags 0"`,
			`r.yaml:7:50: routes[0]: trace-type 0x810000: bit 7 (0x010000, checksum complement) must be 0 for DEX`},
		{`"cd00::/64 encap ioam6 dex ns 123 trace-type 0 ext-flags 0"`,
			`r.yaml:7:50: routes[0]: trace-type 0x000000: must not be 0; set the bit of at least one field to export (bits 0-11, 22)`},
		{`"cd00::/64 encap ioam6 dex ns 123 trace-type 0x800000 ext-flags 0x100"`,
			`r.yaml:7:69: routes[0]: ext-flags "0x100": out of range (0x0 to 0xff)`},
		{`"cd00::/64 encap ioam6 dex ns 123 trace-type 0x800000"`,
			`r.yaml:7:28: routes[0]: dex needs trace-type, ns and ext-flags (missing ext-flags)`},
		{`"cd00::/64 encap ioam6 dex ns 123 ns 124 trace-type 0x800000 ext-flags 0"`,
			`r.yaml:7:39: routes[0]: duplicate ns`},
		{`"cd00::/64 encap ioam6 freq 1/100 mode encap tundst db02::1 dex ns 123 trace-type 0x800000 ext-flags 0xC0 via db02::1 dev ens6f1"`,
			`r.yaml:7:111: routes[0]: "via": a bump in the wire always forwards to its other port; end the route after the trace/dex options`},
		{`"cd00::/64 encap ioam6 trace prealloc type 0x800000 ns 123 size 14"`,
			`r.yaml:7:69: routes[0]: size 14: must be a multiple of 4 from 4 to 244 octets (the kernel's IOAM6_TRACE_DATA_SIZE_MAX)`},
		{`"cd00::/64 encap ioam6 trace prealloc type 0x800000 ns 123 size 248"`,
			`r.yaml:7:69: routes[0]: size 248: must be a multiple of 4 from 4 to 244 octets (the kernel's IOAM6_TRACE_DATA_SIZE_MAX)`},
		{`"cd00::/64 encap ioam6 trace prealloc type 0xf00000 ns 123 size 12"`,
			`r.yaml:7:69: routes[0]: size 12: too small for one node's data: type 0xf00000 needs 16 octets per node`},
		{`"cd00::/64 encap ioam6 trace prealloc type 0x800800 ns 123 size 12"`,
			`r.yaml:7:48: routes[0]: type 0x800800: bits 12-21 (0x000ffc) are undefined and must be 0 (Linux refuses them too)`},
		{`"cd00::/64 encap ioam6 trace prealloc type 0 ns 123 size 12"`,
			`r.yaml:7:48: routes[0]: type 0x000000: must not be 0; set the bit of at least one field each node writes (bits 0-11, 22)`},
		{`"cd00::/64 encap ioam6 trace prealloc type 0x800000 ns 7 size 12"`,
			`r.yaml:7:60: routes[0]: ns 7: namespace not in namespaces (configured: 123)`},
		{`"cd00::/64 encap ioam6 trace prealloc ns 123 type 0x800000 size 12"`,
			`r.yaml:7:43: routes[0]: trace prealloc reads type TYPE ns NS size SIZE in this order: want type, got "ns"`},
		{`"cd00::/64 encap ioam6 trace incremental type 0x800000 ns 123 size 12"`,
			`r.yaml:7:34: routes[0]: trace must be followed by prealloc (the only trace iproute2 and Linux support), got "incremental"`},
		{`"cd00::/64 encap ioam6 trace prealloc type 0x800000 ns 123 size 12 trace prealloc type 0x800000 ns 123 size 12"`,
			`r.yaml:7:72: routes[0]: duplicate trace: a route carries at most one trace and one dex`},
		{`"cd00::/64 encap ioam6 mode inline"`,
			`r.yaml:7:39: routes[0]: want trace prealloc type TYPE ns NS size SIZE, dex trace-type TYPE ns NS ext-flags FLAGS, or both; got end of string`},
		{`{prefix: cd00::/64}`,
			`r.yaml:7:5: routes[0]: a route needs trace (pre-allocated trace), dex (direct export) or both`},
		{`{prefix: cd00::/64, trace: {type: 0x800000, ns: 123, size: 6}}`,
			`r.yaml:7:64: routes[0].trace.size: 6: must be a multiple of 4 from 4 to 244 octets (the kernel's IOAM6_TRACE_DATA_SIZE_MAX)`},
		{`"cd00::/64 encap seg6 mode encap segs db02::1"`,
			`r.yaml:7:22: routes[0]: encap type must be ioam6, got "seg6"`},
		{`"cd00::1/64 encap ioam6 dex ns 123 trace-type 0x800000 ext-flags 0"`,
			`r.yaml:7:6: routes[0]: prefix "cd00::1/64": has host bits set beyond /64 (did you mean cd00::/64?)`},
		{`"cd00::/64 encap ioam6 dex ns 123 trace-type 010 ext-flags 0"`,
			`r.yaml:7:50: routes[0]: trace-type "010": has a leading zero, which iproute2 reads as octal; write it in decimal or 0x hex`},
		{`{prefix: cd00::/64, encap: "encap ioam6 mode bogus dex ns 123 trace-type 0x800000 ext-flags 0"}`,
			`r.yaml:7:50: routes[0].encap: mode "bogus": must be one of inline, encap, auto`},
		{`{prefix: cd00::/64, encap: encap ioam6 mode encap tunsrc db02::2 tundst db02::2 dex ns 123 trace-type 0x800000 ext-flags 0}`,
			`r.yaml:7:77: routes[0].encap: tundst db02::2: same as tunsrc; the tunnel must end at another node`},
		{`{prefix: cd00::/64, encap: 12}`,
			`r.yaml:7:32: routes[0].encap: want "encap ioam6" first, got "12"`},
		{`42`,
			`r.yaml:7:5: routes[0]: must be a mapping (keys prefix, mode, tunsrc, tundst, freq, trace, dex, aggregate) or an iproute2 route string, got an integer`},
		{`{prefix: cd00::/64, encap: "encap ioam6 dex ns 123 trace-type 0x800000 ext-flags 0", mode: encap}`,
			`r.yaml:7:90: routes[0].mode: unknown key (valid: prefix, encap, aggregate)`},
	}
	for _, tc := range tests {
		t.Run(tc.route, func(t *testing.T) {
			_, err := Parse("r.yaml", []byte(routeDoc(tc.route)))
			if err == nil {
				t.Fatalf("Parse succeeded, want %s", tc.want)
			}
			if err.Error() != tc.want {
				t.Errorf("error:\n%s\nwant:\n%s", err, tc.want)
			}
		})
	}
}

// TestTraceSizeCountsSchema: with bit 22 the size must also hold the
// namespace's opaque state snapshot (its 4-octet header and its data).
func TestTraceSizeCountsSchema(t *testing.T) {
	doc := strings.Replace(routeDoc(`{prefix: cd00::/64, trace: {type: 0x800002, ns: 123, size: 12}}`),
		"namespaces: [{id: 123}]", "namespaces: [{id: 123, schema: {id: 7, data: 0x0102030405}}]", 1)
	_, err := Parse("r.yaml", []byte(doc))
	want := "r.yaml:7:64: routes[0].trace.size: 12: too small for one node's data: type 0x800002 needs 16 octets per node"
	if err == nil || err.Error() != want {
		t.Errorf("error:\n%v\nwant:\n%s", err, want)
	}
	if _, err := Parse("r.yaml", []byte(strings.Replace(doc, "size: 12", "size: 16", 1))); err != nil {
		t.Errorf("size 16 (4 node id + 4 OSS header + 8 schema data) refused: %v", err)
	}
}
