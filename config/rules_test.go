package config

import (
	"errors"
	"fmt"
	"strings"
	"testing"
)

// base is a valid configuration the rule tests edit. Keep its line
// numbers stable: the expected errors below depend on them.
const base = `node:
  address: 2001:db8::1
ports:
  - {name: west, domain: outside}
  - {name: east, domain: inside}
namespaces:
  - id: 123
routes:
  - prefix: 2001:db8:1::/48
    mode: encap
    tundst: 2001:db8::4
    freq: 1/10
    dex: {ns: 123, trace_type: 0x800000, ext_flags: 0xc0}
`

// edit replaces, in base, each old of the pairs old, new with its new; it
// panics if base has no old (the test's table is wrong).
func edit(pairs ...string) string {
	s := base
	for i := 0; i+1 < len(pairs); i += 2 {
		if !strings.Contains(s, pairs[i]) {
			panic(fmt.Sprintf("base has no %q", pairs[i]))
		}
		s = strings.Replace(s, pairs[i], pairs[i+1], 1)
	}
	return s
}

func TestBaseIsValid(t *testing.T) {
	if _, err := Parse("t.yaml", []byte(base)); err != nil {
		t.Fatal(err)
	}
}

// TestRules checks every validation rule with the exact error text.
func TestRules(t *testing.T) {
	tests := []struct {
		name string
		yaml string
		want []string
	}{
		// Strict decoding.
		{"unknown top-level key", base + "colour: blue\n",
			[]string{"t.yaml:14:1: colour: unknown key (valid: node, ports, namespaces, routes, decap, flows, export, dataplane, options)"}},
		{"unknown nested key", edit("  address: 2001:db8::1", "  adress: 2001:db8::1"),
			[]string{
				"t.yaml:2:3: node.adress: unknown key (valid: id, id_wide, address)",
				"t.yaml:9:5: routes[0]: mode encap needs tunsrc, or node.address as the default tunnel source",
			}},
		{"duplicate key", edit("  address: 2001:db8::1", "  id: 1\n  id: 2\n  address: 2001:db8::1"),
			[]string{"t.yaml:3:3: node.id: duplicate key (first at line 2)"}},
		{"wrong type: mapping", edit("node:\n  address: 2001:db8::1", "node: [1]\nx: 1"),
			[]string{
				"t.yaml:1:7: node: must be a mapping, got a sequence",
				"t.yaml:2:1: x: unknown key (valid: node, ports, namespaces, routes, decap, flows, export, dataplane, options)",
				// without node.address the encap route has no tunnel source
				"t.yaml:9:5: routes[0]: mode encap needs tunsrc, or node.address as the default tunnel source",
			}},
		{"wrong type: number", edit("  - id: 123", "  - id: abc"),
			[]string{
				"t.yaml:7:9: namespaces[0].id: \"abc\": must be a decimal or 0x hex number",
				"t.yaml:13:15: routes[0].dex.ns: 123: namespace not in namespaces (none is configured)",
			}},
		{"wrong type: bool", base + "options: {strip: yes}\n",
			[]string{"t.yaml:14:18: options.strip: \"yes\": must be true or false"}},
		{"wrong type: string", edit("{name: west,", "{name: 7,"),
			[]string{"t.yaml:4:12: ports[0].name: must be a string, got an integer"}},
		{"missing required", edit("{name: east, domain: inside}", "{name: east}"),
			[]string{"t.yaml:5:5: ports[1]: missing required key \"domain\""}},
		{"alias refused", edit("  - id: 123", "  - id: &x 123\n  - id: *x"),
			[]string{"t.yaml:8:9: namespaces[1].id: must be a number, got an alias (YAML anchors and aliases are not supported)"}},

		{"merge key refused", base + "flows: {<<: {seq_start: 1}}\n",
			[]string{"t.yaml:14:9: flows: YAML merge keys (<<) are not supported; write the keys out"}},

		// Numbers.
		{"hex accepted, out of range", base + "flows: {max_flows: 0x2000000}\n",
			[]string{"t.yaml:14:20: flows.max_flows: 0x2000000: out of range (0x1 to 0x1000000)"}},
		{"octal refused", edit("  - id: 123", "  - id: 0123"),
			[]string{
				"t.yaml:7:9: namespaces[0].id: \"0123\": has a leading zero, which iproute2 reads as octal; write it in decimal or 0x hex",
				"t.yaml:13:15: routes[0].dex.ns: 123: namespace not in namespaces (none is configured)",
			}},
		{"node id 24 bits", edit("  address: 2001:db8::1", "  id: 16777216\n  address: 2001:db8::1"),
			[]string{"t.yaml:2:7: node.id: 16777216: out of range (0x0 to 0xffffff)"}},
		{"node id_wide 56 bits", edit("  address: 2001:db8::1", "  id_wide: 0x100000000000000\n  address: 2001:db8::1"),
			[]string{"t.yaml:2:12: node.id_wide: 0x100000000000000: out of range (0x0 to 0xffffffffffffff)"}},
		{"if_id 16 bits", edit("{name: east, domain: inside}", "{name: east, domain: inside, if_id: 65536}"),
			[]string{"t.yaml:5:41: ports[1].if_id: 65536: out of range (0x0 to 0xffff)"}},
		{"mtu below IPv6 minimum", edit("{name: east, domain: inside}", "{name: east, domain: inside, mtu: 1000}"),
			[]string{"t.yaml:5:39: ports[1].mtu: 1000: out of range (1280, the IPv6 minimum, to 65535; 0 for the interface's MTU)"}},

		// Ports.
		{"duplicate port names", edit("{name: east,", "{name: west,"),
			[]string{"t.yaml:5:12: ports[1].name: \"west\": duplicate of ports[0].name; the two ports must differ"}},
		{"no ports", edit("  - {name: west, domain: outside}\n  - {name: east, domain: inside}\n", ""),
			[]string{"t.yaml:3:7: ports: has 0 entries: a bump in the wire has exactly 2 ports"}},
		{"three ports", edit("  - {name: east, domain: inside}", "  - {name: east, domain: inside}\n  - {name: north, domain: inside}"),
			[]string{"t.yaml:4:3: ports: has 3 entries: a bump in the wire has exactly 2 ports"}},
		{"bad interface name", edit("{name: east,", "{name: a-very-long-interface,"),
			[]string{"t.yaml:5:12: ports[1].name: \"a-very-long-interface\": longer than 15 octets, the Linux limit (IFNAMSIZ-1)"}},
		{"bad domain", edit("domain: inside}", "domain: insde}"),
			[]string{"t.yaml:5:26: ports[1].domain: \"insde\": must be one of inside, outside"}},
		{"both outside", edit("domain: inside}", "domain: outside}"),
			[]string{"t.yaml:4:3: ports: both ports are outside the IOAM domain, so the node has no IOAM role; at least one must be inside"}},
		{"routes without outside port", edit("domain: outside}", "domain: inside}"),
			[]string{"t.yaml:9:3: routes: no port is outside the IOAM domain, so no packet would ever be encapsulated; set a port's domain to outside or remove the routes"}},

		// Namespaces.
		{"duplicate namespace", edit("  - id: 123", "  - id: 123\n  - id: 0x7b"),
			[]string{"t.yaml:8:9: namespaces[1].id: 123: duplicate of namespaces[0].id"}},
		{"schema too long", edit("  - id: 123", "  - id: 123\n    schema: {id: 1, data: 0x"+strings.Repeat("ab", 1021)+"}"),
			[]string{"t.yaml:8:27: namespaces[0].schema.data: 1024 octets after padding to 4n: at most 64 allowed (records and IPFIX carry 64 octets of opaque state; the IOAM format's 1020 would be cut)"}},
		// What records and IPFIX carry is the limit: 65 octets (68 after
		// padding) used to be accepted and exported cut to 64 (#11 item 7).
		{"schema longer than exported", edit("  - id: 123", "  - id: 123\n    schema: {id: 1, data: 0x"+strings.Repeat("ab", 65)+"}"),
			[]string{"t.yaml:8:27: namespaces[0].schema.data: 68 octets after padding to 4n: at most 64 allowed (records and IPFIX carry 64 octets of opaque state; the IOAM format's 1020 would be cut)"}},
		{"schema id 24 bits", edit("  - id: 123", "  - id: 123\n    schema: {id: 0x1000000, data: 0x01}"),
			[]string{"t.yaml:8:18: namespaces[0].schema.id: 0x1000000: out of range (0x0 to 0xffffff)"}},

		// Routes.
		{"k > n", edit("freq: 1/10", "freq: 3/2"),
			[]string{`t.yaml:12:11: routes[0].freq: "3/2": k must be <= n (1 <= k <= n <= 1000000)`}},
		{"k = 0", edit("freq: 1/10", "freq: 0/10"),
			[]string{`t.yaml:12:11: routes[0].freq: "0/10": k must be >= 1 (1 <= k <= n <= 1000000)`}},
		{"n too big", edit("freq: 1/10", "freq: 1/1000001"),
			[]string{`t.yaml:12:11: routes[0].freq: "1/1000001": n must be <= 1000000 (1 <= k <= n <= 1000000)`}},
		{"freq malformed", edit("freq: 1/10", "freq: 0.1"),
			[]string{`t.yaml:12:11: routes[0].freq: "0.1": must be K/N with decimal integers, such as 1/100 (1 <= k <= n <= 1000000)`}},
		{"tunsrc with inline", edit("    mode: encap\n    tundst: 2001:db8::4", "    mode: inline\n    tunsrc: 2001:db8::1"),
			[]string{"t.yaml:11:13: routes[0].tunsrc: not allowed with mode inline (tunsrc and tundst are for mode encap or auto)"}},
		{"tundst with default inline", edit("    mode: encap\n", ""),
			[]string{"t.yaml:10:13: routes[0].tundst: not allowed with mode inline (tunsrc and tundst are for mode encap or auto)"}},
		{"encap without tundst", edit("    tundst: 2001:db8::4\n", ""),
			[]string{"t.yaml:9:5: routes[0]: mode encap needs tundst, the address of the decapsulating node"}},
		{"auto without tundst", edit("    mode: encap\n    tundst: 2001:db8::4\n", "    mode: auto\n"),
			[]string{"t.yaml:9:5: routes[0]: mode auto needs tundst, the address of the decapsulating node"}},
		{"tundst is tunsrc", edit("tundst: 2001:db8::4", "tundst: 2001:db8::1"),
			[]string{"t.yaml:11:13: routes[0].tundst: 2001:db8::1: same as tunsrc; the tunnel must end at another node"}},
		{"multicast tundst", edit("tundst: 2001:db8::4", "tundst: ff02::1"),
			[]string{"t.yaml:11:13: routes[0].tundst: ff02::1: must not be a multicast address"}},
		{"unknown namespace", edit("ns: 123,", "ns: 124,"),
			[]string{"t.yaml:13:15: routes[0].dex.ns: 124: namespace not in namespaces (configured: 123)"}},
		{"trace-type 0", edit("trace_type: 0x800000", "trace_type: 0"),
			[]string{"t.yaml:13:32: routes[0].dex.trace_type: 0x000000: must not be 0; set the bit of at least one field to export (bits 0-11, 22)"}},
		{"trace-type bit 7", edit("trace_type: 0x800000", "trace_type: 0x810000"),
			[]string{"t.yaml:13:32: routes[0].dex.trace_type: 0x810000: bit 7 (0x010000, checksum complement) must be 0 for DEX"}},
		{"trace-type bit 12", edit("trace_type: 0x800000", "trace_type: 0x800800"),
			[]string{"t.yaml:13:32: routes[0].dex.trace_type: 0x800800: bits 12-21 (0x000ffc) are undefined and must be 0"}},
		{"trace-type bit 21", edit("trace_type: 0x800000", "trace_type: 0x800004"),
			[]string{"t.yaml:13:32: routes[0].dex.trace_type: 0x800004: bits 12-21 (0x000ffc) are undefined and must be 0"}},
		{"trace-type bit 23", edit("trace_type: 0x800000", "trace_type: 0x800001"),
			[]string{"t.yaml:13:32: routes[0].dex.trace_type: 0x800001: bit 23 (0x000001) is reserved and must be 0"}},
		{"trace-type wider than 24 bits", edit("trace_type: 0x800000", "trace_type: 0x1800000"),
			[]string{"t.yaml:13:32: routes[0].dex.trace_type: 0x1800000: wider than 24 bits (0x000001 to 0xffffff)"}},
		{"unassigned ext flag", edit("ext_flags: 0xc0", "ext_flags: 0x03"),
			[]string{"t.yaml:13:53: routes[0].dex.ext_flags: 0x03: bits 2-7 (0x3f) are unassigned; valid: 0x00, 0x40 (sequence number), 0x80 (flow id), 0xc0 (both)"}},
		{"duplicate prefix", base + "  - prefix: 2001:db8:1:0::/48\n    dex: {ns: 123, trace_type: 0x800000}\n",
			[]string{"t.yaml:14:13: routes[1].prefix: 2001:db8:1::/48: duplicate of routes[0] (line 9); each prefix may appear once"}},
		{"host bits", edit("2001:db8:1::/48", "2001:db8:1::1/48"),
			[]string{`t.yaml:9:13: routes[0].prefix: "2001:db8:1::1/48": has host bits set beyond /48 (did you mean 2001:db8:1::/48?)`}},
		{"ipv4 prefix", edit("2001:db8:1::/48", "192.0.2.0/24"),
			[]string{`t.yaml:9:13: routes[0].prefix: "192.0.2.0/24": must be an IPv6 prefix such as 2001:db8::/48`}},
		{"bad mode", edit("mode: encap", "mode: tunnel"),
			[]string{`t.yaml:10:11: routes[0].mode: "tunnel": must be one of inline, encap, auto`}},

		// Other sections.
		{"rate limit off", base + "export: {rate_limit: {records_per_second: 0, capacity_fraction: 0}}\n",
			[]string{"t.yaml:14:22: export.rate_limit: records_per_second and capacity_fraction are both 0: RFC 9326 requires a limit on the export rate; set at least one"}},
		{"fraction above 1", base + "export: {rate_limit: {capacity_fraction: 3/2}}\n",
			[]string{"t.yaml:14:42: export.rate_limit.capacity_fraction: 3/2: must be a fraction between 0 and 1, such as 0.001 or 1/1000"}},
		{"collector without port gets 4739, bad port", base + "export: {collectors: [{address: \"[2001:db8::9]:99999\"}]}\n",
			[]string{`t.yaml:14:33: export.collectors[0].address: "[2001:db8::9]:99999": port "99999" must be a number from 1 to 65535`}},
		{"collector host with a colon that is no IPv6 address", base + "export: {collectors: [{address: \"00000::0\"}]}\n",
			[]string{`t.yaml:14:33: export.collectors[0].address: "00000::0": must be host:port with a host name or IP address`}},
		{"duplicate output path", base + "export: {outputs: [{format: text}, {format: json}]}\n",
			[]string{`t.yaml:14:36: export.outputs[1].path: "-": already written by export.outputs[0]`}},
		{"order window without steer sampled", base + "dataplane: {order_window: 200us}\n",
			[]string{"t.yaml:14:27: dataplane.order_window: 200µs: needs steer: sampled (with steer: all every frame goes through a worker, in order)"}},
		{"order window too long", base + "dataplane: {steer: sampled, order_window: 2s}\n",
			[]string{"t.yaml:14:43: dataplane.order_window: 2s: out of range (0s to 1s)"}},
		{"ring not power of two", base + "dataplane: {rx_ring_size: 1000}\n",
			[]string{"t.yaml:14:27: dataplane.rx_ring_size: 1000: must be a power of two (64 to 65536)"}},
		{"batch above ring", base + "dataplane: {rx_ring_size: 64, batch_size: 128}\n",
			[]string{"t.yaml:14:43: dataplane.batch_size: 128: larger than rx_ring_size 64"}},
		{"umem too small", base + "dataplane: {umem_frames: 2048}\n",
			[]string{"t.yaml:14:12: dataplane: umem_frames 2048 is less than fill_ring_size + tx_ring_size = 4096: the rings could never be filled"}},
		{"cpulist", base + "dataplane: {cpus: \"0-3,2\"}\n",
			[]string{"t.yaml:14:19: dataplane.cpus: CPU 2 listed twice"}},
		{"seq_start 2", base + "flows: {seq_start: 2}\n",
			[]string{"t.yaml:14:20: flows.seq_start: 2: out of range (0 to 1)"}},
		{"bad duration", base + "flows: {idle_timeout: 30}\n",
			[]string{`t.yaml:14:23: flows.idle_timeout: "30": must be a duration such as 500ms, 30s or 5m`}},
		{"decap endpoint duplicate", base + "decap: {endpoints: [2001:db8::4, 2001:db8::4]}\n",
			[]string{"t.yaml:14:34: decap.endpoints[1]: 2001:db8::4: duplicate of decap.endpoints[0]"}},

		// Document level.
		{"empty", "",
			[]string{`t.yaml:1:1: empty configuration: at least "ports" is required`}},
		{"syntax error", "node:\n  id: [1\n",
			[]string{"t.yaml:1:1: did not find expected ',' or ']'"}},
		{"two documents", base + "---\nnode: {}\n",
			[]string{"t.yaml:14:1: more than one YAML document; a configuration is a single document"}},
		{"not a mapping", "- 1\n",
			[]string{"t.yaml:1:1: must be a mapping, got a sequence"}},

		// All errors are collected, in file order.
		{"several at once", edit("{name: east,", "{name: west,", "freq: 1/10", "freq: 3/2", "ns: 123,", "ns: 9,"),
			[]string{
				"t.yaml:5:12: ports[1].name: \"west\": duplicate of ports[0].name; the two ports must differ",
				`t.yaml:12:11: routes[0].freq: "3/2": k must be <= n (1 <= k <= n <= 1000000)`,
				"t.yaml:13:15: routes[0].dex.ns: 9: namespace not in namespaces (configured: 123)",
			}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			c, err := Parse("t.yaml", []byte(tc.yaml))
			if err == nil {
				t.Fatalf("Parse succeeded (%+v), want errors:\n%s", c, strings.Join(tc.want, "\n"))
			}
			if !errors.Is(err, ErrInvalid) {
				t.Errorf("error does not wrap ErrInvalid: %v", err)
			}
			if got, want := err.Error(), strings.Join(tc.want, "\n"); got != want {
				t.Errorf("errors:\n%s\nwant:\n%s", got, want)
			}
		})
	}
}
