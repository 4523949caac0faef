package ebpf

import (
	"encoding/binary"
	"fmt"
	"math/bits"
	"net/netip"
	"os"
	"strings"
	"testing"

	"github.com/dexplane/dexplane/dataplane/policy"
)

// The limits in loader.go must match steer.c's map sizes.
func TestSpecMatchesConstants(t *testing.T) {
	spec, err := loadSteer()
	if err != nil {
		t.Fatal(err)
	}
	for name, want := range map[string]uint32{
		"xsks":        MaxPorts * MaxQueues,
		"tx_ports":    MaxPorts,
		"decap_addrs": MaxDecapEndpoints,
		"stats":       MaxPorts * uint32(NumReasons),
		"routes":      DefaultMaxRoutes,
		"samplers":    DefaultMaxRoutes,
	} {
		if got := spec.Maps[name].MaxEntries; got != want {
			t.Errorf("map %s: max_entries %d, Go expects %d", name, got, want)
		}
	}
	if got := spec.Maps["samplers"].ValueSize; got != 64 {
		t.Errorf("sampler slot %d octets, want one 64-octet cache line", got)
	}
	for name := range spec.Programs {
		if !strings.HasPrefix(name, ProgPrefix) {
			t.Errorf("program %s lacks prefix %s", name, ProgPrefix)
		}
	}
	pass, err := loadPass()
	if err != nil || pass.Programs["dxp_pass"] == nil || len(pass.Maps) != 0 {
		t.Errorf("pass object: %v, %+v", err, pass)
	}
}

// The Reason constants must follow steer.c's enum reason (same order) and
// the port_flags bits its F_ defines: the enum is read from the C source.
func TestReasonsMatchC(t *testing.T) {
	src, err := os.ReadFile("steer.c")
	if err != nil {
		t.Fatal(err)
	}
	body, ok := strings.CutPrefix(string(src)[strings.Index(string(src), "enum reason {"):], "enum reason {")
	body, _, found := strings.Cut(body, "};")
	if !ok || !found {
		t.Fatal("enum reason not found in steer.c")
	}
	var names []string
	for _, line := range strings.Split(body, "\n") {
		line, _, _ = strings.Cut(strings.TrimSpace(line), "//")
		id, _, _ := strings.Cut(strings.TrimSpace(line), ",")
		id, _, _ = strings.Cut(id, " ")
		if strings.HasPrefix(id, "R_") {
			names = append(names, strings.ToLower(strings.TrimPrefix(id, "R_")))
		}
	}
	if len(names) != int(NumReasons) {
		t.Fatalf("steer.c has %d reasons %v, Go %d", len(names), names, NumReasons)
	}
	for i, n := range names {
		if Reason(i).String() != n {
			t.Errorf("reason %d: steer.c R_%s, Go %s", i, strings.ToUpper(n), Reason(i))
		}
	}
	for name, bit := range map[string]int{"F_ALL": flagAll, "F_ROUTES": flagRoutes, "F_HBH": flagHbH, "F_DECAP": flagDecap, "F_EXT_HDR": flagExtHdr} {
		want := fmt.Sprintf("#define %s (1u << %d)", name, bits.TrailingZeros(uint(bit)))
		if !strings.Contains(string(src), want) {
			t.Errorf("steer.c lacks %q", want)
		}
	}
}

func TestReasonNames(t *testing.T) {
	seen := map[string]bool{}
	for r := Reason(0); r < NumReasons; r++ {
		s := r.String()
		if s == "" || seen[s] {
			t.Errorf("reason %d name %q empty or duplicate", r, s)
		}
		seen[s] = true
	}
	if !ReasonSampled.Steered() || !ReasonExtHdr.Steered() || ReasonUnsampled.Steered() || ReasonXSKMiss.Steered() {
		t.Error("Steered misclassifies")
	}
	for r := Reason(0); r < NumReasons; r++ {
		if r.Steered() && r.Dropped() {
			t.Errorf("reason %s both steered and dropped", r)
		}
	}
	if !ReasonMalformed.Dropped() || ReasonNotIPv6.Dropped() || ReasonIPv6Pass.Dropped() {
		t.Error("Dropped misclassifies")
	}
}

func TestParseMeta(t *testing.T) {
	b := make([]byte, 16)
	if _, ok := ParseMeta(b); ok {
		t.Error("zero bytes parsed as metadata")
	}
	binary.NativeEndian.PutUint32(b[8:], 42)
	binary.NativeEndian.PutUint16(b[12:], uint16(ReasonSampled))
	binary.NativeEndian.PutUint16(b[14:], metaMagic)
	m, ok := ParseMeta(b)
	if !ok || m.RouteID != 42 || m.Reason != ReasonSampled {
		t.Errorf("ParseMeta = %+v, %v", m, ok)
	}
	if _, ok := ParseMeta(b[:7]); ok {
		t.Error("short slice parsed")
	}
}

func TestXSKKey(t *testing.T) {
	if XSKKey(1, 3) != MaxQueues+3 || XSKKey(0, 0) != 0 {
		t.Error("XSKKey layout changed")
	}
}

func TestParseModes(t *testing.T) {
	for _, s := range []string{"auto", "native", "generic"} {
		if m, err := policy.ParseAttachMode(s); err != nil || m.String() != s {
			t.Errorf("policy.ParseAttachMode(%q) = %v, %v", s, m, err)
		}
	}
	for _, s := range []string{"all", "sampled"} {
		if m, err := policy.ParseSteer(s); err != nil || m.String() != s {
			t.Errorf("policy.ParseSteer(%q) = %v, %v", s, m, err)
		}
	}
	if _, err := policy.ParseAttachMode("offload"); err == nil {
		t.Error("offload accepted")
	}
}

func TestSetRoutesValidation(t *testing.T) {
	if os.Geteuid() != 0 {
		t.Skip("needs root to create BPF maps")
	}
	o, err := Load(Options{MaxRoutes: 8})
	if err != nil {
		t.Fatal(err)
	}
	defer o.Close()
	p := netip.MustParsePrefix
	for _, tc := range []struct {
		name string
		r    SteerRoute
		ok   bool
	}{
		{"ok", SteerRoute{Prefix: p("2001:db8::/32"), RouteID: 7, K: 1, N: 1}, true},
		{"ipv4", SteerRoute{Prefix: p("192.0.2.0/24"), K: 1, N: 1}, false},
		{"host bits", SteerRoute{Prefix: p("2001:db8::1/32"), K: 1, N: 1}, false},
		{"n zero", SteerRoute{Prefix: p("2001:db8::/32"), K: 0, N: 0}, false},
		{"k > n", SteerRoute{Prefix: p("2001:db8::/32"), K: 3, N: 2}, false},
		{"id too big", SteerRoute{Prefix: p("2001:db8::/32"), RouteID: 8, K: 1, N: 1}, false},
	} {
		if err := o.SetRoutes([]SteerRoute{tc.r}); (err == nil) != tc.ok {
			t.Errorf("%s: SetRoutes err = %v", tc.name, err)
		}
	}
	// Replacing the set deletes what is gone.
	if err := o.SetRoutes([]SteerRoute{{Prefix: p("2001:db8:1::/48"), RouteID: 1, K: 1, N: 2}}); err != nil {
		t.Fatal(err)
	}
	var k lpmKey
	var v routeVal
	var n int
	it := o.maps.Routes.Iterate()
	for it.Next(&k, &v) {
		n++
		if k.PrefixLen != 48 || v != (routeVal{ID: 1, K: 1, N: 2}) {
			t.Errorf("route entry %+v → %+v", k, v)
		}
	}
	if err := it.Err(); err != nil || n != 1 {
		t.Errorf("routes map has %d entries (%v), want 1", n, err)
	}
	if err := o.SetDecapEndpoints([]netip.Addr{netip.MustParseAddr("192.0.2.1")}); err == nil {
		t.Error("IPv4 decap endpoint accepted")
	}
	if err := o.SetDecapEndpoints([]netip.Addr{netip.MustParseAddr("2001:db8::d")}); err != nil {
		t.Error(err)
	}
}
