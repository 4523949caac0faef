package doctor

import (
	"bytes"
	"encoding/json"
	"fmt"
	"strings"
	"testing"

	"github.com/dexplane/dexplane/internal/testutil"
)

func TestReportExitCodeAndFormats(t *testing.T) {
	for _, tc := range []struct {
		statuses []Status
		exit     int
	}{
		{nil, 0},
		{[]Status{OK, OK}, 0},
		{[]Status{OK, Warn}, 1},
		{[]Status{Warn, Fail, OK}, 2},
	} {
		r := &Report{Source: "test"}
		for i, s := range tc.statuses {
			r.add("host", string(rune('a'+i)), s, "detail", "fix line 1\nfix line 2")
		}
		if got := r.ExitCode(); got != tc.exit {
			t.Errorf("%v: exit %d, want %d", tc.statuses, got, tc.exit)
		}
		var b bytes.Buffer
		if err := r.WriteJSON(&b); err != nil {
			t.Fatal(err)
		}
		var back struct {
			Report
			Exit int `json:"exit"`
		}
		if err := json.Unmarshal(b.Bytes(), &back); err != nil {
			t.Fatal(err)
		}
		if back.Exit != tc.exit || len(back.Checks) != len(tc.statuses) {
			t.Errorf("JSON round trip: %+v", back)
		}
		for i, c := range back.Checks {
			if c.Status != tc.statuses[i] || (c.Status == OK) != (c.Fix == "") {
				t.Errorf("check %d: %+v (a fix only on ⚠/✗)", i, c)
			}
		}
	}
	r := &Report{Source: "configuration x.yaml"}
	r.add("port 0 \"a\"", "MTU", Warn, "too small", "ip link set dev a mtu 1564\nor lower the hosts' MTU")
	var b strings.Builder
	r.WriteText(&b)
	want := "dexplane doctor: configuration x.yaml\n" +
		"port 0 \"a\":\n" +
		"  ⚠ MTU                too small\n" +
		"      fix: ip link set dev a mtu 1564\n" +
		"           or lower the hosts' MTU\n" +
		"0 ok, 1 warning(s), 0 error(s)\n"
	if b.String() != want {
		t.Errorf("text:\n%s\nwant:\n%s", b.String(), want)
	}
}

// TestRouteOverhead: inline adds a Hop-by-Hop header with DEX (16 octets, 24
// with Flow ID and Sequence Number), encap and auto an outer IPv6 header too.
func TestRouteOverhead(t *testing.T) {
	for _, tc := range []struct {
		mode string
		ext  uint8
		want int
	}{
		{"inline", 0, 16}, {"inline", 0xc0, 24}, {"encap", 0, 56}, {"encap", 0xc0, 64}, {"auto", 0x80, 64},
	} {
		if got := (Route{Mode: tc.mode, ExtFlags: tc.ext}).Overhead(); got != tc.want {
			t.Errorf("%s ext %#x: %d, want %d", tc.mode, tc.ext, got, tc.want)
		}
	}
}

// TestCollectorChecks: a TCP collector that listens is ✓, one that refuses
// is ⚠ with the command that starts a collector, a name that does not
// resolve is ⚠, a UDP collector with a route is ✓, a malformed address ✗.
func TestCollectorChecks(t *testing.T) {
	up := testutil.ListenAndClose(t, "127.0.0.1:0")
	closedAddr := testutil.FreeAddr(t, "tcp").String()
	tg := &Target{Collectors: []Collector{
		{"tcp", up.String()},
		{"tcp", closedAddr},
		{"udp", "127.0.0.1:4739"},
		{"tcp", "collector.invalid:4739"},
		{"udp", "no-port"},
	}}
	r := &Report{}
	checkCollectors(r, tg)
	for _, tc := range []struct {
		scope, name string
		status      Status
		fix         string
	}{
		{"collector 0", "reach", OK, ""},
		{"collector 1", "reach", Warn, "dexplane collect --listen tcp://" + closedAddr},
		{"collector 2", "reach", OK, ""},
		{"collector 3", "resolve", Warn, "export.collectors[3].address"},
		{"collector 4", "address", Fail, "HOST:PORT"},
	} {
		c := r.Find(tc.scope, tc.name)
		if c == nil || c.Status != tc.status || !strings.Contains(c.Fix, tc.fix) {
			t.Errorf("%s/%s: %+v; want %v with fix containing %q", tc.scope, tc.name, c, tc.status, tc.fix)
		}
	}
}

func TestParseInterrupts(t *testing.T) {
	const procInterrupts = `           CPU0       CPU1
 24:          0          0  IR-PCI-MSI 1048576-edge      ens1f0
 25:        120       4000  IR-PCI-MSI 1048577-edge      ens1f0-TxRx-0
 26:       3000          9  IR-PCI-MSI 1048578-edge      ens1f0-TxRx-1
 27:          1          0  IR-PCI-MSI 1048579-edge      ens1f01-TxRx-0
 28:          5          0  IR-PCI-MSI 1050624-edge      ens1f1-rx-0
 29:          5          0  IR-PCI-MSI 1050625-edge      ens1f1-tx-0
 30:          7          0  PCI-MSI 49153-edge      virtio0-input.0
 31:          2          1  IR-PCI-MSI 524288-edge      mlx5_comp0@pci:0000:01:00.0
`
	for _, tc := range []struct {
		ifname string
		want   map[int]int
	}{
		{"ens1f0", map[int]int{0: 25, 1: 26}},
		{"ens1f1", map[int]int{0: 28}},
		{"eth0", map[int]int{}},
	} {
		got := parseInterrupts(strings.NewReader(procInterrupts), tc.ifname)
		if len(got) != len(tc.want) {
			t.Errorf("%s: %v, want %v", tc.ifname, got, tc.want)
			continue
		}
		for q, irq := range tc.want {
			if got[q] != irq {
				t.Errorf("%s: %v, want %v", tc.ifname, got, tc.want)
			}
		}
	}
	for _, tc := range []struct {
		in   string
		want []int
		bad  bool
	}{
		{"3\n", []int{3}, false},
		{"0-3,8", []int{0, 1, 2, 3, 8}, false},
		{"x", nil, true},
	} {
		got, err := parseCPUList(tc.in)
		if (err != nil) != tc.bad || fmt.Sprint(got) != fmt.Sprint(tc.want) {
			t.Errorf("%q: %v %v", tc.in, got, err)
		}
	}
}
