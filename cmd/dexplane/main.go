// Command dexplane is a userspace IOAM Direct Exporting (RFC 9326) data plane.
//
// Each subcommand lives in its own file and registers itself in init, so
// that the parts of the CLI can grow independently.
package main

import (
	"errors"
	"flag"
	"fmt"
	"os"
	"sort"
)

// command is one dexplane subcommand.
type command struct {
	summary string
	// run receives the arguments after the subcommand name and returns the
	// process exit code.
	run func(args []string) int
}

var commands = map[string]command{}

// register adds a subcommand; called from init functions only.
func register(name, summary string, run func(args []string) int) {
	if _, dup := commands[name]; dup {
		panic("dexplane: command registered twice: " + name)
	}
	commands[name] = command{summary: summary, run: run}
}

// parseFlags parses a command's arguments. ok is false when the command
// must stop with the returned exit code: 0 after -h/--help (the FlagSet
// printed its usage), 2 for a usage error (the FlagSet printed the error).
func parseFlags(fs *flag.FlagSet, args []string) (code int, ok bool) {
	err := fs.Parse(args)
	switch {
	case err == nil:
		return 0, true
	case errors.Is(err, flag.ErrHelp):
		return 0, false
	default:
		return 2, false
	}
}

// parseFlagsNoArgs is parseFlags for a command that takes no positional
// arguments: when any remain it prints the usage and returns 2, false.
func parseFlagsNoArgs(fs *flag.FlagSet, args []string) (code int, ok bool) {
	if code, ok := parseFlags(fs, args); !ok {
		return code, false
	}
	if fs.NArg() > 0 {
		fs.Usage()
		return 2, false
	}
	return 0, true
}

// isHelp reports whether arg asks for help.
func isHelp(arg string) bool {
	return arg == "-h" || arg == "--help" || arg == "-help" || arg == "help"
}

func usage() {
	fmt.Fprintln(os.Stderr, "usage: dexplane COMMAND [flags]\n\ncommands:")
	names := make([]string, 0, len(commands))
	for n := range commands {
		names = append(names, n)
	}
	sort.Strings(names)
	for _, n := range names {
		fmt.Fprintf(os.Stderr, "  %-10s %s\n", n, commands[n].summary)
	}
	fmt.Fprintln(os.Stderr, "\nRun 'dexplane COMMAND -h' for the flags of a command.")
}

func main() {
	if len(os.Args) < 2 {
		usage()
		os.Exit(2)
	}
	name := os.Args[1]
	if isHelp(name) {
		usage()
		return
	}
	cmd, ok := commands[name]
	if !ok {
		fmt.Fprintf(os.Stderr, "dexplane: unknown command %q\n\n", name)
		usage()
		os.Exit(2)
	}
	os.Exit(cmd.run(os.Args[2:]))
}
