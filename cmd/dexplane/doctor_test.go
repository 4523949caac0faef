package main

import (
	"bytes"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/cilium/ebpf"
	"github.com/cilium/ebpf/asm"
	"golang.org/x/sys/unix"

	"github.com/dexplane/dexplane/internal/doctor"
	"github.com/dexplane/dexplane/internal/testbed"
	"github.com/dexplane/dexplane/internal/testutil"
)

// doctorBed is a node namespace with two veth ports, p0 (outside) and p1
// (inside), each to a host namespace, a TCP collector listening inside the
// node namespace, and a configuration file for them.
type doctorBed struct {
	bin, cfg string
	dut      *testbed.Netns
	hosts    [2]*testbed.Netns
}

const doctorCfg = `node: {id: 1, address: 2001:db8:ffff::1}
ports:
  - {name: p0, domain: outside}
  - {name: p1, domain: inside}
namespaces: [{id: 123}]
routes:
  - prefix: 2001:db8:1::/48
    mode: encap
    tundst: 2001:db8:ffff::4
    freq: 1/10
    dex: {ns: 123, trace_type: 0xf00000, ext_flags: 0xc0}
export:
  collectors: [{transport: tcp, address: "[::1]:%d"}]
dataplane: {queues: %d}
`

func newDoctorBed(t *testing.T) *doctorBed {
	t.Helper()
	testbed.SkipIfNotRoot(t)
	if testing.Short() {
		t.Skip("builds the binary")
	}
	b := &doctorBed{bin: testutil.BuildDexplane(t), dut: testbed.NewNetns(t, "doc")}
	for i := range 2 {
		b.hosts[i] = testbed.NewNetns(t, fmt.Sprintf("doch%d", i))
		testbed.Veth(t, b.dut, fmt.Sprintf("p%d", i), fmt.Sprintf("02:00:00:00:0d:%02x", i),
			b.hosts[i], fmt.Sprintf("e%d", i), fmt.Sprintf("02:00:00:00:0e:%02x", i))
	}
	var port int
	err := b.dut.Do(func() error {
		port = testutil.ListenAndClose(t, "[::1]:0").Port
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	b.cfg = b.writeCfg(t, port, 1)
	// Make the binary and the file usable by an unprivileged user.
	for _, p := range []string{b.bin, b.cfg} {
		for d := filepath.Dir(p); d != "/" && d != os.TempDir(); d = filepath.Dir(d) {
			os.Chmod(d, 0o755)
		}
	}
	return b
}

func (b *doctorBed) writeCfg(t *testing.T, collectorPort, queues int) string {
	t.Helper()
	return testutil.TempFile(t, fmt.Sprintf("doctor-q%d.yaml", queues), []byte(fmt.Sprintf(doctorCfg, collectorPort, queues)))
}

// doctor runs `dexplane doctor --json args` in the node namespace, through
// prefix (e.g. setpriv) when given, and returns the report and exit code.
func (b *doctorBed) doctor(t *testing.T, prefix []string, args ...string) (*doctor.Report, int) {
	t.Helper()
	full := append(append(prefix, b.bin, "doctor", "--json"), args...)
	cmd := b.dut.Command(full[0], full[1:]...)
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	code, err := testutil.ExitCode(cmd.Run())
	if err != nil {
		t.Fatal(err)
	}
	var rep struct {
		doctor.Report
		Exit int `json:"exit"`
	}
	if err := json.Unmarshal(stdout.Bytes(), &rep); err != nil {
		t.Fatalf("doctor %q: exit %d, output not JSON (%v):\n%s\nstderr: %s", args, code, err, stdout.String(), stderr.String())
	}
	if rep.Exit != code {
		t.Errorf("JSON says exit %d, process exited %d", rep.Exit, code)
	}
	return &rep.Report, code
}

// dump renders the report for failure messages.
func dump(r *doctor.Report) string {
	var b strings.Builder
	r.WriteText(&b)
	return b.String()
}

// expect asserts that the check (scope prefix, name) has status s and,
// for a warning or an error, a fix containing fix.
func expect(t *testing.T, r *doctor.Report, scope, name string, s doctor.Status, fix string) {
	t.Helper()
	c := r.Find(scope, name)
	if c == nil {
		t.Errorf("no check %s/%s in\n%s", scope, name, dump(r))
		return
	}
	if c.Status != s || !strings.Contains(c.Fix, fix) {
		t.Errorf("%s/%s: %v %q fix %q; want %v with a fix containing %q", scope, name, c.Status, c.Detail, c.Fix, s, fix)
	}
}

// TestDoctorOnVeths: a node set up as doctor asks reports all ✓ and exits
// 0; each misconfiguration, provoked the way a user gets it, turns its
// check to ⚠ or ✗ with the fixing command, and the exit status follows.
func TestDoctorOnVeths(t *testing.T) {
	b := newDoctorBed(t)
	// A good setup: checksums finished by the senders, room for the
	// 64-octet encap overhead on the inside port.
	for i, h := range b.hosts {
		h.MustRun(t, "ethtool", "-K", fmt.Sprintf("e%d", i), "tx", "off") // the senders into p0 and p1
	}
	b.dut.MustRun(t, "ip", "link", "set", "p1", "mtu", "1564")
	b.hosts[1].MustRun(t, "ip", "link", "set", "e1", "mtu", "1564")

	rep, code := b.doctor(t, nil, "-c", b.cfg)
	if code != 0 || rep.Worst() != doctor.OK {
		t.Fatalf("good setup: exit %d\n%s", code, dump(rep))
	}
	for _, name := range []string{"kernel", "bpf_link for XDP", "AF_XDP need_wakeup", "CAP_BPF", "RLIMIT_MEMLOCK"} {
		expect(t, rep, "host", name, doctor.OK, "")
	}
	for _, name := range []string{"interface", "link", "driver", "native XDP", "zero-copy", "channels", "tx checksum", "XDP program", "AF_XDP sockets"} {
		if name == "interface" {
			continue // only reported when missing
		}
		expect(t, rep, "port 0", name, doctor.OK, "")
		expect(t, rep, "port 1", name, doctor.OK, "")
	}
	expect(t, rep, "port 1", "MTU", doctor.OK, "")
	expect(t, rep, "collector 0", "reach", doctor.OK, "")

	t.Run("wrong queue count", func(t *testing.T) {
		cfg := b.writeCfg(t, 1, 2) // and a collector nobody listens on
		rep, code := b.doctor(t, nil, "-c", cfg)
		expect(t, rep, "port 0", "channels", doctor.Fail, "ethtool -L p0 rx 2 tx 2")
		expect(t, rep, "port 1", "channels", doctor.Fail, "dataplane.queues: 1")
		expect(t, rep, "collector 0", "reach", doctor.Warn, "dexplane collect --listen tcp://")
		if code != 2 {
			t.Errorf("exit %d, want 2", code)
		}
	})
	t.Run("offload on", func(t *testing.T) {
		b.hosts[0].MustRun(t, "ethtool", "-K", "e0", "tx", "on")
		defer b.hosts[0].MustRun(t, "ethtool", "-K", "e0", "tx", "off")
		// complete_checksums defaults to auto: dexplane repairs them.
		rep, code := b.doctor(t, nil, "-c", b.cfg)
		expect(t, rep, "port 0", "tx checksum", doctor.OK, "")
		if code != 0 {
			t.Errorf("exit %d, want 0 (checksums completed)\n%s", code, dump(rep))
		}
		// With completion off, the unfinished checksums would leave as they came.
		raw, err := os.ReadFile(b.cfg)
		if err != nil {
			t.Fatal(err)
		}
		off := testutil.TempFile(t, "csum-off.yaml", bytes.Replace(raw, []byte("{name: p0, domain: outside}"), []byte("{name: p0, domain: outside, complete_checksums: \"off\"}"), 1))
		rep, code = b.doctor(t, nil, "-c", off)
		expect(t, rep, "port 0", "tx checksum", doctor.Warn, "ip netns exec "+b.hosts[0].Name+" ethtool -K e0 tx off")
		expect(t, rep, "port 0", "tx checksum", doctor.Warn, "ports[0].complete_checksums: auto")
		expect(t, rep, "port 1", "tx checksum", doctor.OK, "")
		if code != 1 {
			t.Errorf("exit %d, want 1\n%s", code, dump(rep))
		}
	})
	t.Run("small MTU", func(t *testing.T) {
		b.dut.MustRun(t, "ip", "link", "set", "p1", "mtu", "1500")
		defer b.dut.MustRun(t, "ip", "link", "set", "p1", "mtu", "1564")
		rep, code := b.doctor(t, nil, "-c", b.cfg)
		expect(t, rep, "port 1", "MTU", doctor.Warn, "ip link set dev p1 mtu 1564")
		if code != 1 {
			t.Errorf("exit %d, want 1\n%s", code, dump(rep))
		}
	})
	t.Run("foreign XDP program", func(t *testing.T) {
		b.attachForeignXDP(t, "p0")
		rep, code := b.doctor(t, nil, "-c", b.cfg)
		expect(t, rep, "port 0", "XDP program", doctor.Fail, "ip link set dev p0 xdpgeneric off")
		if c := rep.Find("port 0", "XDP program"); c != nil && !strings.Contains(c.Detail, `"someone_else"`) {
			t.Errorf("detail does not name the program: %q", c.Detail)
		}
		if code != 2 {
			t.Errorf("exit %d, want 2", code)
		}
		// The fix it prints works.
		b.dut.MustRun(t, "ip", "link", "set", "dev", "p0", "xdpgeneric", "off")
		if rep, code := b.doctor(t, nil, "-c", b.cfg); code != 0 {
			t.Errorf("after the fix: exit %d\n%s", code, dump(rep))
		}
	})
	t.Run("missing interface", func(t *testing.T) {
		rep, code := b.doctor(t, nil, "--ports", "p0,nosuch9")
		expect(t, rep, `port 1 "nosuch9"`, "interface", doctor.Fail, "--ports IF0,IF1")
		if code != 2 || !strings.Contains(rep.Source, "--ports p0,nosuch9") {
			t.Errorf("exit %d source %q", code, rep.Source)
		}
	})
	t.Run("missing capabilities", func(t *testing.T) {
		testutil.NeedTool(t, "setpriv", "util-linux")
		// nobody, no capabilities at all, a 64 KiB memlock limit.
		rep, code := b.doctor(t, []string{"setpriv", "--reuid=65534", "--regid=65534", "--clear-groups",
			"--inh-caps=-all", "--bounding-set=-all", "prlimit", "--memlock=65536:65536"}, "-c", b.cfg)
		for _, c := range []string{"CAP_NET_ADMIN", "CAP_BPF", "CAP_NET_RAW", "CAP_IPC_LOCK"} {
			expect(t, rep, "host", c, doctor.Fail, "setcap cap_net_admin,cap_bpf,cap_net_raw,cap_ipc_lock+ep")
		}
		expect(t, rep, "host", "RLIMIT_MEMLOCK", doctor.Fail, "LimitMEMLOCK=infinity")
		if code != 2 {
			t.Errorf("exit %d, want 2", code)
		}
	})
}

// attachForeignXDP attaches, as another tool would, an XDP program named
// "someone_else" that passes every frame to ifname in the DUT namespace in
// generic (SKB) mode. The program is closed when the test ends; detaching
// it is the caller's part.
func (b *doctorBed) attachForeignXDP(t *testing.T, ifname string) {
	t.Helper()
	prog, err := ebpf.NewProgram(&ebpf.ProgramSpec{Name: "someone_else", Type: ebpf.XDP, License: "GPL",
		Instructions: asm.Instructions{asm.Mov.Imm(asm.R0, 2), asm.Return()}})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { prog.Close() })
	if err := b.dut.AttachXDP(ifname, prog, unix.XDP_FLAGS_SKB_MODE); err != nil {
		t.Fatal(err)
	}
}

// runOnce runs `dexplane run args` in the node namespace through prefix and
// returns its exit code and output; it must fail before forwarding.
func (b *doctorBed) runOnce(t *testing.T, ns string, prefix []string, args ...string) (int, string) {
	t.Helper()
	full := append(append(append([]string{"netns", "exec", ns}, prefix...), b.bin, "run"), args...)
	p := testutil.Start(t, "ip", full...)
	code, err := p.Wait(20 * time.Second)
	if err != nil {
		t.Fatalf("dexplane run %q did not fail: %v", args, err)
	}
	return code, p.Log.String()
}

// wantAll checks that out contains each of want.
func wantAll(t *testing.T, what, out string, want ...string) {
	t.Helper()
	for _, w := range want {
		if !strings.Contains(out, w) {
			t.Errorf("%s: output lacks %q:\n%s", what, w, out)
		}
	}
}

// TestRunFirstErrors: the errors a first run meets, from the real binary on
// real veths, each say what to do — a non-root user, a missing interface
// (the embedded default config, #11 item 9), a port with another XDP
// program, a queue another AF_XDP socket holds — and point to doctor.
func TestRunFirstErrors(t *testing.T) {
	b := newDoctorBed(t)
	t.Run("non-root", func(t *testing.T) {
		code, out := b.runOnce(t, b.dut.Name, []string{"setpriv", "--reuid=65534", "--regid=65534", "--clear-groups",
			"--inh-caps=-all", "--bounding-set=-all"}, "-c", b.cfg)
		if code != 1 {
			t.Errorf("exit %d", code)
		}
		wantAll(t, "non-root", out, "missing capabilities: CAP_NET_ADMIN", "CAP_BPF", "setcap cap_net_admin,cap_bpf,cap_net_raw,cap_ipc_lock+ep",
			"AmbientCapabilities=", "dexplane doctor -c "+b.cfg)
		if strings.Contains(out, "rlimit.RemoveMemlock") {
			t.Errorf("advice names a Go function:\n%s", out)
		}
	})
	t.Run("without -c, no west/east", func(t *testing.T) {
		code, out := b.runOnce(t, b.dut.Name, nil)
		if code != 1 {
			t.Errorf("exit %d", code)
		}
		wantAll(t, "without -c", out, "embedded default configuration (demo-r1", `port 0 "west" (outside): no interface "west"`,
			`port 1 "east" (inside): no interface "east"`, "dexplane run --ports IF0,IF1", "ip -br link", "dexplane doctor")
	})
	t.Run("foreign XDP program", func(t *testing.T) {
		b.attachForeignXDP(t, "p1")
		defer b.dut.Run("ip", "link", "set", "dev", "p1", "xdpgeneric", "off")
		code, out := b.runOnce(t, b.dut.Name, nil, "-c", b.cfg, "--attach", "generic")
		if code != 1 {
			t.Errorf("exit %d", code)
		}
		wantAll(t, "foreign program", out, `port 1 "p1" (inside) of configuration `+b.cfg+` is in use`, `"someone_else"`,
			"ip link set dev p1 xdpgeneric off", "dexplane doctor -c "+b.cfg)
	})
	t.Run("queue held by another AF_XDP socket", func(t *testing.T) {
		// A first node on the ports, then a second one on the same ports.
		first := testutil.Start(t, "ip", "netns", "exec", b.dut.Name, b.bin, "run", "-c", b.cfg, "--attach", "generic")
		defer first.Stop(15 * time.Second)
		if err := first.WaitLog("dataplane: started", 15*time.Second); err != nil {
			t.Fatalf("first node: %v", err)
		}
		code, out := b.runOnce(t, b.dut.Name, nil, "-c", b.cfg, "--attach", "generic")
		if code != 1 {
			t.Errorf("exit %d", code)
		}
		wantAll(t, "second node", out, "another AF_XDP socket is bound to that queue", "ss -a --xdp -p", "dexplane doctor -c "+b.cfg)
		// doctor names the running node on both ports: its program and its sockets.
		rep, code := b.doctor(t, nil, "-c", b.cfg)
		for _, port := range []string{"port 0", "port 1"} {
			expect(t, rep, port, "XDP program", doctor.Fail, fmt.Sprintf("kill %d (dexplane)", first.Cmd.Process.Pid))
		}
		if code != 2 {
			t.Errorf("doctor exit %d, want 2", code)
		}
		t.Run("socket owner named", func(t *testing.T) {
			if c := rep.Find("port 0", "AF_XDP sockets"); c != nil && strings.Contains(c.Detail, "CONFIG_XDP_SOCKETS_DIAG") {
				t.Skip("this kernel cannot list AF_XDP sockets (no CONFIG_XDP_SOCKETS_DIAG): the owner of a busy queue cannot be named")
			}
			held := fmt.Sprintf("held by dexplane (pid %d)", first.Cmd.Process.Pid)
			wantAll(t, "second node", out, held)
			for _, port := range []string{"port 0", "port 1"} {
				expect(t, rep, port, "AF_XDP sockets", doctor.Fail, fmt.Sprintf("kill %d (dexplane)", first.Cmd.Process.Pid))
			}
		})
	})
}
