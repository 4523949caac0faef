package config

import (
	"strings"
	"testing"
)

// TestPacketTooBigNeedsNodeAddress: options.packet_too_big: true without
// node.address (the source of the ICMPv6 messages) is refused at the
// option's line; with node.address, or false, it loads and compiles.
func TestPacketTooBigNeedsNodeAddress(t *testing.T) {
	noAddr := edit("  address: 2001:db8::1", "  id: 1", "    tundst: 2001:db8::4", "    tunsrc: 2001:db8::3\n    tundst: 2001:db8::4")
	for _, tc := range []struct {
		name, yaml, want string
	}{
		{"without node.address", noAddr + "options: {packet_too_big: true}\n",
			"t.yaml:15:27: options.packet_too_big: true needs node.address: it is the source address of the ICMPv6 Packet Too Big messages"},
		{"block style", noAddr + "options:\n  merge_hbh: true\n  packet_too_big: true\n",
			"t.yaml:17:19: options.packet_too_big: true needs node.address"},
		{"false without node.address", noAddr + "options: {packet_too_big: false}\n", ""},
		{"with node.address", base + "options: {packet_too_big: true}\n", ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			c, err := Parse("t.yaml", []byte(tc.yaml))
			if tc.want == "" {
				if err != nil {
					t.Fatal(err)
				}
				s, err := c.Compile(nil)
				if err != nil {
					t.Fatal(err)
				}
				if s.Options.PacketTooBig != c.Options.PacketTooBig {
					t.Errorf("snapshot PacketTooBig %v, config %v", s.Options.PacketTooBig, c.Options.PacketTooBig)
				}
				return
			}
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Errorf("error %v, want %q", err, tc.want)
			}
		})
	}
}
