package cli

import (
	"bytes"
	"strings"
	"testing"
)

func TestUsageAlignsAndSorts(t *testing.T) {
	c := Commands[func() int]{
		"run":      {Summary: "run a node"},
		"validate": {Summary: "check a configuration"},
	}
	var b bytes.Buffer
	c.Usage(&b, "prog")
	got := strings.Split(b.String(), "\n")
	for i, want := range []string{
		"usage: prog COMMAND [flags]",
		"",
		"commands:",
		"  run        run a node", // names padded to the longest + 2
		"  validate   check a configuration",
		"",
		"Run 'prog COMMAND -h' for the flags of a command.",
		"",
	} {
		if i >= len(got) || got[i] != want {
			t.Fatalf("usage line %d differs, want %q; usage:\n%s", i, want, b.String())
		}
	}
}

func TestLookup(t *testing.T) {
	c := Commands[func() int]{"run": {Summary: "run", Run: func() int { return 7 }}}
	for _, tc := range []struct {
		args []string
		ok   bool
		code int
	}{
		{nil, false, 2},
		{[]string{"-h"}, false, 0},
		{[]string{"--help"}, false, 0},
		{[]string{"help"}, false, 0},
		{[]string{"nope"}, false, 2},
		{[]string{"run", "-x"}, true, 0},
	} {
		cmd, code, ok := c.Lookup("prog", tc.args)
		if ok != tc.ok || code != tc.code {
			t.Errorf("Lookup(%q) = code %d ok %v, want %d %v", tc.args, code, ok, tc.code, tc.ok)
		}
		if ok && cmd.Run() != 7 {
			t.Errorf("Lookup(%q) returned another command", tc.args)
		}
	}
}
