package policy

import (
	"errors"
	"fmt"
	"strings"

	"github.com/dexplane/dexplane/internal/keyword"
)

// The configuration keywords of each setting, indexed by value: the
// settings' String methods, the Parse functions and package config's
// validation and messages all read them here.
var (
	Domains       = keyword.New[Domain]("inside", "outside")
	ForeignIOAMs  = keyword.New[ForeignIOAM]("drop", "strip", "forward")
	ChecksumModes = keyword.New[ChecksumMode]("auto", "on", "off")
	// Modes has no value 0 (the values are the kernel's).
	Modes         = keyword.New[Mode]("", "inline", "encap", "auto")
	FlowIDMethods = keyword.New[FlowIDMethod]("hash")
	Transports    = keyword.New[Transport]("udp", "tcp", "tls")
	OutputFormats = keyword.New[OutputFormat]("text", "json")
	Partitions    = keyword.New[Partition]("none", "flow")
	AttachModes   = keyword.New[AttachMode]("auto", "native", "generic")
	Steers        = keyword.New[Steer]("all", "sampled")
)

// String returns the configuration keyword of d.
func (d Domain) String() string { return Domains.String(d) }

// String returns the configuration keyword of f.
func (f ForeignIOAM) String() string { return ForeignIOAMs.String(f) }

// String returns the configuration keyword of m: "auto", "on" or "off".
func (m ChecksumMode) String() string { return ChecksumModes.String(m) }

// String returns the configuration keyword of m.
func (m Mode) String() string { return Modes.String(m) }

// String returns the configuration keyword of m.
func (m FlowIDMethod) String() string { return FlowIDMethods.String(m) }

// String returns the configuration keyword of t.
func (t Transport) String() string { return Transports.String(t) }

// String returns the configuration keyword of f.
func (f OutputFormat) String() string { return OutputFormats.String(f) }

// String returns the configuration keyword of p.
func (p Partition) String() string { return Partitions.String(p) }

// String returns the configuration keyword of m: "auto", "native" or
// "generic".
func (m AttachMode) String() string { return AttachModes.String(m) }

// String returns the configuration keyword of s: "all" or "sampled".
func (s Steer) String() string { return Steers.String(s) }

// ParseAttachMode parses a configuration keyword ("auto", "native" or
// "generic"); the error wraps ErrKeyword and names s.
func ParseAttachMode(s string) (AttachMode, error) {
	return parseKeyword("attach mode", s, AttachModes)
}

// ParseSteer parses a configuration keyword ("all" or "sampled"); the error
// wraps ErrKeyword and names s.
func ParseSteer(s string) (Steer, error) {
	return parseKeyword("steer", s, Steers)
}

// ErrKeyword is wrapped by the errors of the Parse functions for a keyword
// that names no value.
var ErrKeyword = errors.New("unknown keyword")

// parseKeyword returns the value of table named s; what names the setting
// in the error.
func parseKeyword[T ~uint8](what, s string, table keyword.Table[T]) (T, error) {
	v, ok := table.Value(s)
	if !ok {
		return v, fmt.Errorf("%s %q: %w: want one of %s", what, s, ErrKeyword, strings.Join(table.Words(), ", "))
	}
	return v, nil
}
