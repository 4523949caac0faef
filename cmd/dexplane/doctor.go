package main

import (
	"flag"
	"fmt"
	"io"
	"os"
	"strings"

	"github.com/dexplane/dexplane/config"
	"github.com/dexplane/dexplane/internal/doctor"
)

func runDoctor(args []string) int { return doctorMain(args, os.Stdout, os.Stderr) }

// doctorTarget builds what doctor checks from -c FILE and --ports the way
// run builds its node: the file, else the embedded default; --ports
// without -c means plain forwarding.
func doctorTarget(file, ports string) (*doctor.Target, error) {
	var c *config.Config
	var err error
	source := doctor.EmbeddedSource
	if file != "" {
		c, err = config.Load(file)
		source = doctor.FileSource(file)
	} else {
		c, err = config.Default()
	}
	if err != nil {
		return nil, err
	}
	t := doctor.FromConfig(c, source)
	if ports != "" {
		a, b, ok := strings.Cut(ports, ",")
		if !ok || a == "" || b == "" || strings.Contains(b, ",") {
			return nil, fmt.Errorf("--ports %q: want two interface names separated by a comma", ports)
		}
		t.WithPorts(a, b, file == "")
	}
	return t, nil
}

// doctorMain implements `dexplane doctor`. Exit codes: 0 every check
// passed, 1 warnings, 2 errors (or a usage error).
func doctorMain(args []string, stdout, stderr io.Writer) int {
	fs := flag.NewFlagSet("doctor", flag.ContinueOnError)
	fs.SetOutput(stderr)
	file := fs.String("c", "", "configuration `FILE` (default: the embedded "+config.DefaultName+", as `dexplane run` without -c)")
	ports := fs.String("ports", "", "`PORT0,PORT1` interface names (overrides the configuration's; without -c: plain forwarding)")
	netns := fs.String("netns", "", "check inside network namespace `NAME` (as `ip netns` names it, or a path)")
	asJSON := fs.Bool("json", false, "print the report as JSON")
	fs.Usage = func() {
		fmt.Fprintln(stderr, "usage: dexplane doctor [-c FILE | --ports A,B] [--netns NAME] [--json]")
		fmt.Fprintln(stderr, "\nChecks the kernel, capabilities, locked memory, each port and the collectors before")
		fmt.Fprintln(stderr, "anything is attached; one line per check (✓ ok, ⚠ warning, ✗ error) with the fix.")
		fmt.Fprintln(stderr, "Exit status: 0 all ok, 1 warnings, 2 errors.")
		fs.PrintDefaults()
	}
	if code, ok := parseFlagsNoArgs(fs, args); !ok {
		return code
	}
	if *netns != "" && os.Getenv(netnsEnv) != *netns {
		err := execInNetns(*netns) // only returns on failure
		fmt.Fprintln(stderr, "dexplane doctor:", err)
		return 2
	}
	t, err := doctorTarget(*file, *ports)
	if err != nil {
		fmt.Fprintln(stderr, "dexplane doctor:", err)
		return 2
	}
	rep := doctor.Run(t)
	if *asJSON {
		err = rep.WriteJSON(stdout)
	} else {
		err = rep.WriteText(stdout)
	}
	if err != nil {
		fmt.Fprintln(stderr, "dexplane doctor:", err)
		return 2
	}
	return rep.ExitCode()
}
