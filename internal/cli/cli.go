// Package cli is the subcommand table of dexplane's binaries (dexplane,
// dexbench): "PROG COMMAND [flags]", the usage listing and the help and
// unknown-command handling, so that the two behave alike.
package cli

import (
	"fmt"
	"io"
	"os"
	"sort"
)

// Command is one subcommand: a one-line summary for the usage listing and
// its entry point F (each binary has its own signature).
type Command[F any] struct {
	Summary string
	Run     F
}

// Commands maps subcommand names to their commands. It is built once and
// only read afterwards.
type Commands[F any] map[string]Command[F]

// IsHelp reports whether arg asks for help (-h, --help, -help or help).
func IsHelp(arg string) bool {
	return arg == "-h" || arg == "--help" || arg == "-help" || arg == "help"
}

// Usage writes "usage: PROG COMMAND [flags]", the commands sorted by name
// with their summaries, and how to get a command's flags.
func (c Commands[F]) Usage(w io.Writer, prog string) {
	fmt.Fprintf(w, "usage: %s COMMAND [flags]\n\ncommands:\n", prog)
	names := make([]string, 0, len(c))
	width := 0
	for n := range c {
		names = append(names, n)
		width = max(width, len(n))
	}
	sort.Strings(names)
	for _, n := range names {
		fmt.Fprintf(w, "  %-*s %s\n", width+2, n, c[n].Summary)
	}
	fmt.Fprintf(w, "\nRun '%s COMMAND -h' for the flags of a command.\n", prog)
}

// Lookup returns the command that args[0] names (args are the process
// arguments after the program name). When args name none it prints the
// usage on stderr and returns ok false with the exit code: 0 when asked
// for help, 2 when args are empty or name an unknown command (said first).
func (c Commands[F]) Lookup(prog string, args []string) (cmd Command[F], code int, ok bool) {
	switch {
	case len(args) == 0:
		code = 2
	case IsHelp(args[0]):
		code = 0
	default:
		if cmd, ok = c[args[0]]; ok {
			return cmd, 0, true
		}
		fmt.Fprintf(os.Stderr, "%s: unknown command %q\n\n", prog, args[0])
		code = 2
	}
	c.Usage(os.Stderr, prog)
	return cmd, code, false
}
