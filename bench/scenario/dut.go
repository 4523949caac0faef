package scenario

import (
	"bytes"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"text/template"
	"time"

	"github.com/vishvananda/netlink"

	"github.com/dexplane/dexplane/bench/gen"
	"github.com/dexplane/dexplane/dataplane/policy"
	"github.com/dexplane/dexplane/internal/testbed/plan"
	"github.com/dexplane/dexplane/steering"
)

// DUTOptions are the runner's settings for starting devices under test.
type DUTOptions struct {
	// Dexplane is the path of the dexplane binary.
	Dexplane string
	// AttachMode is the XDP attach mode for dexplane and the redirect
	// baseline: auto, native or generic.
	AttachMode string
	// ExportRate is dexplane's export.rate_limit.records_per_second
	// (0 = the config default).
	ExportRate uint64
	// WorkDir receives the generated configs and the DUT logs.
	WorkDir string
	// StartTimeout bounds how long a DUT may take to attach to its ports.
	StartTimeout time.Duration
	// CPU pins the dexplane process (taskset); -1 leaves it free. Set by
	// Run from Options.Pin.
	CPU int
	// Floor is the path of the afxdp-floor binary (bench/floor).
	Floor string
	// PinWorkers pins only dexplane's worker threads to CPU (dataplane.cpus,
	// the rest of the runtime kept off it) instead of the whole process
	// (taskset); the exporter and GC then run on the other CPUs, where the
	// machine-wide figure still counts them.
	PinWorkers bool
}

// runningDUT is a started device under test.
type runningDUT interface {
	// CPU returns a probe for the DUT's own CPU time, or nil when the DUT
	// has no process (kernel forwarding, XDP: softirq only).
	CPU() gen.CPUProbe
	// Stop stops the DUT and releases everything it attached.
	Stop() error
}

// kernelDUT is kernel forwarding: the router testbed already forwards.
type kernelDUT struct{}

// CPU returns nil: forwarding runs in softirq, there is no process.
func (kernelDUT) CPU() gen.CPUProbe { return nil }

// Stop does nothing: the router testbed forwards for as long as it exists.
func (kernelDUT) Stop() error { return nil }

// Redirect is steering's dxp_redirect attached to two ports (the plain XDP
// redirect baseline).
type Redirect struct{ objs *steering.Objects }

// CPU returns nil: the redirect runs in softirq, there is no process.
func (d *Redirect) CPU() gen.CPUProbe { return nil }

// Stop detaches the program from both ports and frees its maps.
func (d *Redirect) Stop() error { return d.objs.Close() }

// startRedirect attaches dxp_redirect to west and east of the dut.
func startRedirect(tb *Testbed, mode string) (*Redirect, error) {
	return AttachRedirect(tb.DUT(), plan.West, plan.East, mode)
}

// AttachRedirect attaches steering's dxp_redirect (every frame to the peer
// port: the plain XDP redirect baseline) to west and east inside network
// namespace netns ("" = current) until Stop. Used by the runner and by
// `dexbench redirect` on NIC testbeds.
func AttachRedirect(netns, west, east, mode string) (*Redirect, error) {
	am, err := policy.ParseAttachMode(mode)
	if err != nil {
		return nil, err
	}
	objs, err := steering.Load(steering.Options{Program: steering.ProgramRedirect})
	if err != nil {
		return nil, err
	}
	err = gen.InNetns(netns, func() error {
		w, err := netlink.LinkByName(west)
		if err != nil {
			return fmt.Errorf("port %s: %w", west, err)
		}
		e, err := netlink.LinkByName(east)
		if err != nil {
			return fmt.Errorf("port %s: %w", east, err)
		}
		wi, ei := w.Attrs().Index, e.Attrs().Index
		if _, err := objs.AttachPort(wi, 0, ei, am, policy.Outside); err != nil {
			return err
		}
		_, err = objs.AttachPort(ei, 1, wi, am, policy.Inside)
		return err
	})
	if err != nil {
		return nil, errors.Join(err, objs.Close())
	}
	return &Redirect{objs: objs}, nil
}

// dexplaneDUT is a `dexplane run` (or afxdp-floor) process inside the dut
// namespace.
type dexplaneDUT struct {
	cmd  *exec.Cmd
	log  string
	done chan error
	name string // "" = dexplane
}

func (d *dexplaneDUT) String() string {
	if d.name == "" {
		return "dexplane"
	}
	return d.name
}

// CPU measures the dexplane process (ip netns exec and taskset exec it, so
// the pid started is dexplane's).
func (d *dexplaneDUT) CPU() gen.CPUProbe { return gen.ProcessCPU{PID: d.cmd.Process.Pid} }

// Stop sends SIGTERM, waits up to 5 s, then kills.
func (d *dexplaneDUT) Stop() error {
	_ = d.cmd.Process.Signal(syscall.SIGTERM)
	select {
	case err := <-d.done:
		var ee *exec.ExitError
		if err != nil && !(errors.As(err, &ee) && ee.ExitCode() == 0) {
			return fmt.Errorf("%s exited with %v; log %s:\n%s", d, err, d.log, tail(d.log, 15))
		}
		return nil
	case <-time.After(5 * time.Second):
		_ = d.cmd.Process.Kill()
		<-d.done
		return fmt.Errorf("%s did not stop within 5 s of SIGTERM (killed); log %s", d, d.log)
	}
}

// tail returns the last n lines of a file.
func tail(path string, n int) string {
	b, err := os.ReadFile(path)
	if err != nil {
		return ""
	}
	lines := strings.Split(strings.TrimRight(string(b), "\n"), "\n")
	if len(lines) > n {
		lines = lines[len(lines)-n:]
	}
	return strings.Join(lines, "\n")
}

// startDexplane writes the scenario's config, starts dexplane in the dut
// namespace and waits until both ports carry an XDP program.
func startDexplane(tb *Testbed, s Scenario, o DUTOptions, tag string) (*dexplaneDUT, error) {
	co := ConfigOptions{AttachMode: o.AttachMode, ExportRate: o.ExportRate}
	if o.PinWorkers && o.CPU >= 0 {
		co.CPUs = fmt.Sprint(o.CPU)
	}
	yml, err := DexplaneConfig(s, co)
	if err != nil {
		return nil, err
	}
	cfg := filepath.Join(o.WorkDir, tag+".yaml")
	logPath := filepath.Join(o.WorkDir, tag+".log")
	if err := os.WriteFile(cfg, yml, 0o644); err != nil {
		return nil, err
	}
	cpu := o.CPU
	if o.PinWorkers {
		cpu = -1 // dexplane pins its workers itself
	}
	return startAttached(tb, o, "", logPath, cpu, []string{o.Dexplane, "run", "-c", cfg}, "; config "+cfg)
}

// startAttached starts argv in the dut namespace, under taskset -c cpu when
// cpu >= 0 (taskset execs it: the pid stays the one we measure), with its
// output in logPath, and waits until both ports carry an XDP program. name
// is the DUT's name ("" = dexplane); note is added to the error when the
// process exits during start-up.
func startAttached(tb *Testbed, o DUTOptions, name, logPath string, cpu int, argv []string, note string) (*dexplaneDUT, error) {
	lf, err := os.Create(logPath)
	if err != nil {
		return nil, err
	}
	defer lf.Close()
	args := []string{"netns", "exec", tb.DUT()}
	if cpu >= 0 {
		args = append(args, "taskset", "-c", fmt.Sprint(cpu))
	}
	cmd := exec.Command("ip", append(args, argv...)...)
	cmd.Stdout, cmd.Stderr = lf, lf
	d := &dexplaneDUT{cmd: cmd, log: logPath, done: make(chan error, 1), name: name}
	if err := cmd.Start(); err != nil {
		return nil, fmt.Errorf("start %s: %w", d, err)
	}
	go func() { d.done <- cmd.Wait() }()
	deadline := time.Now().Add(o.StartTimeout)
	for {
		ok, err := xdpOnBoth(tb.DUT())
		if err != nil {
			return nil, errors.Join(err, d.Stop())
		}
		if ok {
			// Let the workers bind their sockets after the programs
			// are attached.
			time.Sleep(300 * time.Millisecond)
			return d, nil
		}
		select {
		case err := <-d.done:
			d.done <- err
			return nil, fmt.Errorf("%s exited during start-up (%v)%s; log:\n%s", d, err, note, tail(logPath, 20))
		case <-time.After(50 * time.Millisecond):
		}
		if time.Now().After(deadline) {
			return nil, errors.Join(fmt.Errorf("%s did not attach to %s and %s within %v; log:\n%s",
				d, plan.West, plan.East, o.StartTimeout, tail(logPath, 20)), d.Stop())
		}
	}
}

// startFloor starts the C AF_XDP floor forwarder in the dut namespace
// (pinned like dexplane, XDP in the same attach mode dexplane gets, TX
// budget raised to the TX ring as dexplane raises it) and waits until both
// ports carry its XDP program.
func startFloor(tb *Testbed, o DUTOptions, tag string) (*dexplaneDUT, error) {
	mode := "native" // what dexplane's auto mode gets on a veth
	if o.AttachMode == policy.AttachGeneric.String() {
		mode = "skb"
	}
	// No bpffs in the namespace: libxdp loads its program without the
	// dispatcher (it says so in the log).
	return startAttached(tb, o, "afxdp-floor", filepath.Join(o.WorkDir, tag+".log"), o.CPU,
		[]string{o.Floor, "-m", mode, "-b", "64", "-t", "2048", plan.West, plan.East}, "")
}

// xdpOnBoth reports whether west and east of the dut namespace both have
// an XDP program attached.
func xdpOnBoth(ns string) (bool, error) {
	both := true
	err := gen.InNetns(ns, func() error {
		for _, name := range []string{plan.West, plan.East} {
			l, err := netlink.LinkByName(name)
			if err != nil {
				return fmt.Errorf("dut %s: %w", name, err)
			}
			if x := l.Attrs().Xdp; x == nil || !x.Attached {
				both = false
			}
		}
		return nil
	})
	return both, err
}

// configTemplate is the dexplane config of a benchmark DUT (see
// config/examples). Port 0 (west) faces the generator, port 1 (east) the
// sink.
var configTemplate = template.Must(template.New("dut").Parse(`# generated by dexbench for scenario {{.Name}}
node:
  id: 0x000001
  id_wide: 0x00000000000001
  address: {{.TunSrc}}
ports:
  - name: {{.WestName}}
    domain: {{.WestDomain}}
    if_id: 1
  - name: {{.EastName}}
    domain: {{.EastDomain}}
    if_id: 2
namespaces:
  - id: 123
    data: 0x1234
    data_wide: 0x12345678
{{- if .Route}}
routes:
  - prefix: {{.Prefix}}
    mode: {{.Mode}}
{{- if .TunDst}}
    tundst: {{.TunDst}}
{{- end}}
{{- if .ExplicitTunSrc}}
    tunsrc: {{.TunSrc}}
{{- end}}
    freq: {{.K}}/{{.N}}
{{- if .TraceSize}}
    trace:
      type: {{printf "0x%06x" .TraceType}}
      ns: 123
      size: {{.TraceSize}}
{{- else}}
    dex:
      ns: 123
      trace_type: {{printf "0x%06x" .TraceType}}
      ext_flags: {{printf "0x%02x" .ExtFlags}}
{{- end}}
{{- end}}
{{- if .Decap}}
decap:
  endpoints:
    - {{.TunDst}}
{{- end}}
export:
  collectors:
    - transport: udp
      address: "[::1]:4739"
{{- if .ExportRate}}
  rate_limit:
    records_per_second: {{.ExportRate}}
{{- end}}
dataplane:
  queues: {{.Workers}}
  attach_mode: {{.AttachMode}}
  steer: {{.Steer}}
{{- if .CPUs}}
  cpus: "{{.CPUs}}"
{{- end}}
`))

// ConfigOptions are the settings of a generated DUT config that do not
// come from the scenario.
type ConfigOptions struct {
	// AttachMode is auto, native or generic.
	AttachMode string
	// ExportRate is export.rate_limit.records_per_second (0: default).
	ExportRate uint64
	// West and East are the port names (default: the testbed's west and
	// east); CPUs pins the workers (cpulist, "" for none).
	West, East, CPUs string
}

// DexplaneConfig returns the YAML config for a dexplane scenario.
func DexplaneConfig(s Scenario, co ConfigOptions) ([]byte, error) {
	if s.DUT != Dexplane {
		return nil, fmt.Errorf("scenario %s: not a dexplane scenario", s.Name())
	}
	k, n := gen.InjectionKN(s.Inject)
	v := struct {
		Name                         string
		WestDomain, EastDomain       string
		Route, Decap, ExplicitTunSrc bool
		Prefix, Mode                 string
		TunSrc, TunDst               string
		K, N                         uint32
		TraceType                    uint32
		ExtFlags                     uint8
		TraceSize                    int
		Workers                      int
		AttachMode, Steer            string
		ExportRate                   uint64
		WestName, EastName, CPUs     string
	}{
		Name: s.Name(), WestDomain: "outside", EastDomain: "inside", TunSrc: plan.TunSrc.String(),
		Prefix: plan.HostBAddr.String() + "/128", K: k, N: n, TraceType: s.TraceType, ExtFlags: s.ExtFlags, TraceSize: s.TraceSize,
		Workers: max(s.Workers, 1), AttachMode: co.AttachMode, Steer: s.Steer, ExportRate: co.ExportRate,
		WestName: co.West, EastName: co.East, CPUs: co.CPUs,
	}
	if v.WestName == "" {
		v.WestName = plan.West
	}
	if v.EastName == "" {
		v.EastName = plan.East
	}
	if v.AttachMode == "" {
		v.AttachMode = policy.AttachAuto.String()
	}
	if v.Steer == "" {
		v.Steer = policy.SteerAll.String()
	}
	switch s.Role {
	case RoleForward:
	case RoleEncapInline:
		v.Route, v.Mode = true, "inline"
	case RoleEncapIP6IP6, RoleEncapIP6IP6TunSrc:
		v.Route, v.Mode, v.TunDst = true, "encap", plan.TunDst.String()
		v.ExplicitTunSrc = s.Role == RoleEncapIP6IP6TunSrc
	case RoleTransit:
		v.WestDomain = "inside"
	case RoleDecap:
		v.WestDomain, v.EastDomain = "inside", "outside"
		v.Decap, v.TunDst = true, plan.TunDst.String()
	default:
		return nil, fmt.Errorf("scenario %s: unknown role %q", s.Name(), s.Role)
	}
	var b bytes.Buffer
	if err := configTemplate.Execute(&b, v); err != nil {
		return nil, fmt.Errorf("scenario %s: config template: %w", s.Name(), err)
	}
	return b.Bytes(), nil
}

// EngineMissing returns why the dexplane binary cannot serve as a DUT
// ("" if it can): it must exist and offer the run command.
func EngineMissing(bin string) string {
	out, _ := exec.Command(bin, "help").CombinedOutput()
	if len(out) == 0 {
		return fmt.Sprintf("%s does not run", bin)
	}
	for _, l := range strings.Split(string(out), "\n") {
		if f := strings.Fields(l); len(f) > 0 && f[0] == "run" {
			return ""
		}
	}
	return fmt.Sprintf("%s has no run command yet (the AF_XDP engine has not landed)", bin)
}
