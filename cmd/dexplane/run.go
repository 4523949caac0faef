package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"os"
	"os/signal"
	"path/filepath"
	"runtime"
	"strings"
	"syscall"
	"time"

	"golang.org/x/sys/unix"

	"github.com/dexplane/dexplane/config"
	"github.com/dexplane/dexplane/dataplane"
	"github.com/dexplane/dexplane/dataplane/policy"
	"github.com/dexplane/dexplane/internal/daemon"
	"github.com/dexplane/dexplane/internal/doctor"
	"github.com/dexplane/dexplane/internal/logging"
)

// netnsEnv marks a process that run re-executed inside --netns.
const netnsEnv = "DEXPLANE_NETNS"

func runRun(args []string) int {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	return run(ctx, args, os.Stderr)
}

// runFlags are the flags of `dexplane run`.
type runFlags struct {
	file      string
	netns     string
	ports     string
	steer     string
	attach    string
	queues    int
	metrics   string
	webConfig string // --web.config.file
	logLevel  string
	logFormat string
	verbose   bool
	interval  time.Duration
}

func parseRunFlags(args []string, stderr io.Writer) (*runFlags, error) {
	f := &runFlags{}
	fs := flag.NewFlagSet("run", flag.ContinueOnError)
	fs.SetOutput(stderr)
	fs.StringVar(&f.file, "c", "", "configuration `FILE`; without it the embedded default (the demo's R1), or plain forwarding with --ports")
	fs.StringVar(&f.metrics, "metrics", "", "serve /metrics, /stats and /healthz on `ADDR` (overrides dataplane.metrics_address)")
	fs.StringVar(&f.webConfig, "web.config.file", "", "exporter-toolkit web configuration `FILE` for the metrics endpoint: TLS, basic auth (overrides dataplane.metrics_web_config)")
	fs.StringVar(&f.netns, "netns", "", "run inside network namespace `NAME` (as `ip netns` names it, or a path)")
	fs.StringVar(&f.ports, "ports", "", "`PORT0,PORT1` interface names (overrides the configuration's)")
	fs.StringVar(&f.steer, "steer", "", "steering `MODE` all|sampled (overrides the configuration)")
	fs.StringVar(&f.attach, "attach", "", "XDP attach `MODE` auto|native|generic (overrides the configuration)")
	fs.IntVar(&f.queues, "queues", 0, "RX queues per port, one worker each (overrides the configuration)")
	fs.StringVar(&f.logLevel, "log-level", "info", "log `LEVEL`: debug, info, warn or error")
	fs.StringVar(&f.logFormat, "log-format", "text", "log `FORMAT`: text or json (structured, one object per line)")
	fs.BoolVar(&f.verbose, "v", false, "debug logging and counters every --interval")
	fs.DurationVar(&f.interval, "interval", 2*time.Second, "counter print `INTERVAL` with -v")
	fs.Usage = func() {
		fmt.Fprintln(stderr, "usage: dexplane run [-c FILE] [--netns NAME] [--ports A,B] [--steer all|sampled] [--attach auto|native|generic] [-v]")
		fmt.Fprintln(stderr, "\nSIGINT/SIGTERM stop the node cleanly (no XDP program stays attached); SIGHUP reloads -c FILE.")
		fs.PrintDefaults()
	}
	if err := fs.Parse(args); err != nil {
		return nil, err
	}
	if fs.NArg() > 0 {
		fs.Usage()
		return nil, fmt.Errorf("unexpected argument %q", fs.Arg(0))
	}
	return f, nil
}

// run implements `dexplane run`; it returns when ctx is cancelled (after a
// clean stop) or on a fatal error. Exit codes: 0 clean stop, 1 runtime
// error, 2 usage error.
func run(ctx context.Context, args []string, stderr io.Writer) int {
	f, err := parseRunFlags(args, stderr)
	if errors.Is(err, flag.ErrHelp) {
		return 0
	}
	if err != nil {
		fmt.Fprintln(stderr, "dexplane run:", err)
		return 2
	}
	if f.netns != "" && os.Getenv(netnsEnv) != f.netns {
		// Only returns on failure.
		err := execInNetns(f.netns)
		fmt.Fprintln(stderr, "dexplane run:", err)
		return 1
	}
	level, err := logging.ParseLevel(f.logLevel)
	if err != nil {
		fmt.Fprintln(stderr, "dexplane run: --log-level:", err)
		return 2
	}
	if f.verbose {
		level = slog.LevelDebug
	}
	format, err := logging.ParseFormat(f.logFormat)
	if err != nil {
		fmt.Fprintln(stderr, "dexplane run: --log-format:", err)
		return 2
	}
	log := logging.New(format, level, stderr)

	snap, opts, err := engineOptions(f)
	if err != nil {
		fmt.Fprintln(stderr, "dexplane run:", err)
		fmt.Fprintln(stderr, doctorPointer(f))
		return 2
	}
	// What doctor would check, from the same configuration: the first-run
	// errors name the configuration, the port and the fix.
	target, _ := doctorTarget(f.file, f.ports)
	if target != nil { // the engine's sizing, after the command-line overrides
		target.Queues = opts.Queues
		target.MemlockBytes = uint64(max(opts.Queues, 1)) * uint64(opts.Frames) * uint64(opts.FrameSize)
	}
	d, err := daemon.New(daemon.Options{Engine: opts, Snapshot: snap, ConfigFile: f.file,
		MetricsAddress: f.metrics, MetricsWebConfig: f.webConfig, PlainForwarding: f.file == "" && f.ports != "", Logger: log})
	if err != nil {
		fmt.Fprintln(stderr, "dexplane run:", err)
		fmt.Fprintln(stderr, doctorPointer(f))
		return 2
	}
	host := doctor.CurrentHost()
	if target != nil {
		if err := doctor.Preflight(target, host); err != nil {
			fmt.Fprintln(stderr, "dexplane run:", err)
			fmt.Fprintln(stderr, doctorPointer(f))
			return 1
		}
	}
	if err := d.Start(ctx); err != nil {
		if target != nil {
			err = doctor.Explain(target, host, err)
		}
		fmt.Fprintln(stderr, "dexplane run:", err)
		fmt.Fprintln(stderr, doctorPointer(f))
		return 1
	}
	log.Info("forwarding", "ports", strings.Join(opts.Ports[:], ","), "generation", snap.Generation)

	hup := make(chan os.Signal, 1)
	signal.Notify(hup, syscall.SIGHUP)
	defer signal.Stop(hup)
	var tick <-chan time.Time
	if f.verbose && f.interval > 0 {
		t := time.NewTicker(f.interval)
		defer t.Stop()
		tick = t.C
	}
	var last [2]daemon.PortStats
	lastAt := time.Now()
	for {
		select {
		case <-ctx.Done():
			err := d.Stop()
			printCounters(stderr, opts.Ports, d.PortStats(), nil, 0)
			printNodeCounters(stderr, d)
			if err != nil {
				fmt.Fprintln(stderr, "dexplane run: stop:", err)
				return 1
			}
			return 0
		case <-d.Done(): // the engine stopped by itself
			d.Stop()
			fmt.Fprintln(stderr, "dexplane run: data plane stopped unexpectedly")
			return 1
		case <-hup:
			d.Reopen()
			if f.file == "" {
				log.Warn("SIGHUP: outputs reopened; nothing to reload without -c")
				continue
			}
			if err := d.Reload(); err != nil {
				log.Error("reload failed, keeping the running configuration", "err", err)
			}
		case now := <-tick:
			c := d.PortStats()
			printCounters(stderr, opts.Ports, c, &last, now.Sub(lastAt))
			last, lastAt = c, now
		}
	}
}

// doctorPointer is the line run prints when it fails before forwarding:
// the doctor command for the same configuration and ports.
func doctorPointer(f *runFlags) string {
	args := []string{"dexplane", "doctor"}
	if f.file != "" {
		args = append(args, "-c", f.file)
	}
	if f.ports != "" {
		args = append(args, "--ports", f.ports)
	}
	if f.netns != "" {
		args = append(args, "--netns", f.netns)
	}
	return "dexplane run: not forwarding; check this host and its ports with: " + strings.Join(args, " ")
}

// printNodeCounters writes the non-zero role counters summed over workers.
func printNodeCounters(w io.Writer, d *daemon.Daemon) {
	sums := map[string]uint64{}
	var names []string
	for _, n := range d.Nodes() {
		n.Counters().Each(func(name string, v uint64) {
			if _, ok := sums[name]; !ok {
				names = append(names, name)
			}
			sums[name] += v
		})
	}
	var b strings.Builder
	for _, name := range names {
		if v := sums[name]; v != 0 {
			fmt.Fprintf(&b, " %s=%d", name, v)
		}
	}
	fmt.Fprintf(w, "roles:%s\n", b.String())
	{
		c := d.ExportCounters()
		fmt.Fprintf(w, "export: offered=%d exported=%d rate_limited=%d ring_full=%d collector_dropped=%d (writer_behind=%d)\n",
			c.Offered, c.Exported, c.RateLimited, c.RingFull, c.CollectorDropped, c.CollectorBehind)
	}
}

// engineOptions builds the engine options from -c FILE and the overrides.
func engineOptions(f *runFlags) (*policy.Snapshot, dataplane.Options, error) {
	var opts dataplane.Options
	var c *config.Config
	var err error
	if f.file != "" {
		c, err = config.Load(f.file)
	} else {
		c, err = config.Default()
	}
	if err != nil {
		return nil, opts, err
	}
	s, err := c.Compile(nil)
	if err != nil {
		return nil, opts, err
	}
	if opts, err = dataplane.OptionsFromSnapshot(s); err != nil {
		return nil, opts, err
	}
	if f.ports != "" {
		a, b, ok := strings.Cut(f.ports, ",")
		if !ok || a == "" || b == "" || strings.Contains(b, ",") {
			return nil, opts, fmt.Errorf("--ports %q: want two interface names separated by a comma", f.ports)
		}
		opts.Ports = [2]string{a, b}
	}
	if f.steer != "" {
		m, err := policy.ParseSteer(f.steer)
		if err != nil {
			return nil, opts, err
		}
		opts.Steer = m
	}
	if f.attach != "" {
		m, err := policy.ParseAttachMode(f.attach)
		if err != nil {
			return nil, opts, err
		}
		opts.Attach = m
	}
	if f.queues != 0 {
		opts.Queues = f.queues
	}
	return s, opts, nil
}

// execInNetns re-executes this process inside the named network namespace.
// setns(2) changes only the calling thread, and Go runs on many threads, so
// the namespace is entered on a locked thread that then execs: the new
// process image starts, with all its threads, inside the namespace.
func execInNetns(name string) error {
	path := name
	if !strings.ContainsRune(name, '/') {
		path = filepath.Join("/var/run/netns", name)
	}
	fd, err := unix.Open(path, unix.O_RDONLY|unix.O_CLOEXEC, 0)
	if err != nil {
		return fmt.Errorf("--netns %s: %w", name, err)
	}
	defer unix.Close(fd)
	runtime.LockOSThread() // never unlocked: the thread execs or stays tainted
	if err := unix.Setns(fd, unix.CLONE_NEWNET); err != nil {
		return fmt.Errorf("--netns %s: setns: %w", name, err)
	}
	exe, err := os.Executable()
	if err != nil {
		return fmt.Errorf("--netns %s: %w", name, err)
	}
	env := append(os.Environ(), netnsEnv+"="+name)
	if err := unix.Exec(exe, os.Args, env); err != nil {
		return fmt.Errorf("--netns %s: exec %s: %w", name, exe, err)
	}
	return nil
}

// printCounters writes one line per port: frame rates over the interval
// when last is given, totals otherwise.
func printCounters(w io.Writer, ports [2]string, c [2]daemon.PortStats, last *[2]daemon.PortStats, d time.Duration) {
	for p, s := range c {
		if last == nil || d <= 0 {
			fmt.Fprintf(w, "port %d %s: rx %d tx %d lost %d | xdp steered %d kernel %d | link_down %d kick_retry %d\n",
				p, ports[p], s.RxFrames, s.TxFrames, s.Lost, s.Steered, s.Crossed, s.LinkDown, s.KickRetry)
			continue
		}
		l := &last[p]
		rate := func(now, before uint64) float64 { return float64(now-before) / d.Seconds() }
		fmt.Fprintf(w, "port %d %s: rx %.0f pps tx %.0f pps | lost %d (+%d) | link_down %d kick_retry %d tx_ring_full %d\n",
			p, ports[p], rate(s.RxFrames, l.RxFrames), rate(s.TxFrames, l.TxFrames),
			s.Lost, s.Lost-l.Lost, s.LinkDown, s.KickRetry, s.TxRingFull)
	}
}
