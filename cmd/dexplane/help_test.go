package main

import (
	"bytes"
	"context"
	"strings"
	"testing"
)

// TestHelpExitsZero: -h and --help print usage and exit 0 on every command
// and subcommand (`dexplane collect --help` used to exit 2).
func TestHelpExitsZero(t *testing.T) {
	if len(commands) < 8 {
		t.Fatalf("only %d commands registered", len(commands))
	}
	for name, c := range commands {
		for _, h := range []string{"-h", "--help"} {
			if code := c.Run([]string{h}); code != 0 {
				t.Errorf("dexplane %s %s: exit %d, want 0", name, h, code)
			}
		}
	}
	for _, args := range [][]string{{"send", "-h"}, {"recv", "--help"}} {
		if code := commands["probe"].Run(args); code != 0 {
			t.Errorf("dexplane probe %v: exit %d, want 0", args, code)
		}
	}
	// A wrong flag is still a usage error.
	for _, name := range []string{"collect", "decode", "stats", "validate", "doctor"} {
		if code := commands[name].Run([]string{"--no-such-flag"}); code != 2 {
			t.Errorf("dexplane %s --no-such-flag: exit %d, want 2", name, code)
		}
	}
}

// TestRunWithoutConfigNamesItsPorts: `dexplane run` without -c on a host
// without west/east says which configuration it ran, which interfaces are
// missing and how to give ports (#11 item 9: it said only `route ip+net: no
// such network interface`).
func TestRunWithoutConfigNamesItsPorts(t *testing.T) {
	var stderr bytes.Buffer
	if code := run(context.Background(), nil, &stderr); code != 1 {
		t.Errorf("exit %d, want 1", code)
	}
	out := stderr.String()
	for _, want := range []string{
		"the embedded default configuration (demo-r1, the demo's R1 node",
		`port 0 "west" (outside): no interface "west"`,
		"dexplane run --ports IF0,IF1",
		"dexplane run -c FILE",
		"dexplane doctor",
	} {
		if !strings.Contains(out, want) {
			t.Errorf("stderr lacks %q:\n%s", want, out)
		}
	}
	if strings.Contains(out, "route ip+net") {
		t.Errorf("stderr still has the bare net error:\n%s", out)
	}
}
