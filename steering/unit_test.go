package steering

import (
	"net/netip"
	"os"
	"strings"
	"testing"

	"github.com/cilium/ebpf"

	"github.com/dexplane/dexplane/internal/testutil"
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
		// RedirectErrors[port][target] reads key port*NumTargets+target.
		"redirect_errs": MaxPorts * uint32(NumTargets),
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
	// ip(8) loads pass_bpfel.o from the file (scripts/testbed.sh).
	pass, err := ebpf.LoadCollectionSpec("pass_bpfel.o")
	if err != nil || pass.Programs["dxp_pass"] == nil || len(pass.Maps) != 0 {
		t.Errorf("pass object: %v, %+v", err, pass)
	}
}

func TestReasonNames(t *testing.T) {
	testutil.CheckNames(t, NumReasons)
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

func TestXSKKey(t *testing.T) {
	if XSKKey(1, 3) != MaxQueues+3 || XSKKey(0, 0) != 0 {
		t.Error("XSKKey layout changed")
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
