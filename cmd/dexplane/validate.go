package main

import (
	"bytes"
	"flag"
	"fmt"
	"io"
	"os"

	"github.com/dexplane/dexplane/config"
	"gopkg.in/yaml.v3"
)

func runValidate(args []string) int {
	return validate(args, os.Stdout, os.Stderr)
}

// validate implements "dexplane validate": it loads, checks and compiles a
// configuration and prints the normalised effective configuration (every
// default filled in, routes in structured form) on stdout, or every problem
// on stderr. The exit code is 0 when valid, 1 when not, 2 on usage errors.
func validate(args []string, stdout, stderr io.Writer) int {
	fs := flag.NewFlagSet("validate", flag.ContinueOnError)
	fs.SetOutput(stderr)
	file := fs.String("c", "", "configuration `FILE` (default: the embedded "+config.DefaultName+" example)")
	quiet := fs.Bool("q", false, "print nothing when the configuration is valid")
	fs.Usage = func() {
		fmt.Fprintln(stderr, "usage: dexplane validate [-q] [-c FILE]")
		fs.PrintDefaults()
	}
	if code, ok := parseFlagsNoArgs(fs, args); !ok {
		return code
	}

	var (
		c    *config.Config
		err  error
		name = *file
	)
	if name == "" {
		name = "embedded " + config.DefaultName
		c, err = config.Default()
	} else {
		c, err = config.Load(name)
	}
	if err != nil {
		fmt.Fprintln(stderr, err)
		return 1
	}
	if _, err := c.Compile(nil); err != nil {
		fmt.Fprintln(stderr, err)
		return 1
	}
	if *quiet {
		return 0
	}
	var buf bytes.Buffer
	fmt.Fprintf(&buf, "# dexplane effective configuration of %s (defaults filled in)\n", name)
	enc := yaml.NewEncoder(&buf)
	enc.SetIndent(2)
	if err := enc.Encode(c); err != nil {
		fmt.Fprintln(stderr, "dexplane validate:", err)
		return 1
	}
	enc.Close()
	if _, err := stdout.Write(buf.Bytes()); err != nil {
		fmt.Fprintln(stderr, "dexplane validate:", err)
		return 1
	}
	return 0
}
