// Command dexplane is a userspace IOAM Direct Exporting (RFC 9326) data plane.
//
// Each subcommand lives in its own file; main.go lists them (commands).
package main

import (
	"errors"
	"flag"
	"os"

	"github.com/dexplane/dexplane/internal/cli"
)

// commands are dexplane's subcommands. Each lives in its own file; run
// receives the arguments after the subcommand name and returns the process
// exit code.
var commands = cli.Commands[func(args []string) int]{
	"collect":  {Summary: "receive IPFIX DEX records (UDP/TCP/TLS), print them and correlate packets across nodes", Run: runCollect},
	"decode":   {Summary: "print the IOAM/DEX headers of the packets in a pcap or pcapng file", Run: runDecode},
	"doctor":   {Summary: "check the host and each port before running a node: ✓/⚠/✗ with the fix for each", Run: runDoctor},
	"probe":    {Summary: "send or receive self-checking UDP test traffic", Run: runProbe},
	"run":      {Summary: "run a node: forward between two ports through the AF_XDP data plane", Run: runRun},
	"stats":    {Summary: "show the counters of a running node (once, or refreshed like top)", Run: runStats},
	"validate": {Summary: "check a configuration and print it with defaults filled in", Run: runValidate},
	"version":  {Summary: "print the build version", Run: runVersion},
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

func main() {
	cmd, code, ok := commands.Lookup("dexplane", os.Args[1:])
	if !ok {
		os.Exit(code)
	}
	os.Exit(cmd.Run(os.Args[2:]))
}
