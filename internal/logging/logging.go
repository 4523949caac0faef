// Package logging builds dexplane's structured loggers (log/slog) from the
// --log-format and --log-level settings. Keeping warnings about classes of
// packets off the per-packet path is up to the caller (counters, not lines).
package logging

import (
	"fmt"
	"io"
	"log/slog"
	"strings"
)

// Format is a log line format.
type Format string

// Log formats.
const (
	// FormatText writes logfmt-style key=value lines (slog.TextHandler).
	FormatText Format = "text"
	// FormatJSON writes one JSON object per line (slog.JSONHandler).
	FormatJSON Format = "json"
)

// ParseFormat parses "text" or "json" (case-insensitive; "" is text).
func ParseFormat(s string) (Format, error) {
	switch f := Format(strings.ToLower(s)); f {
	case "", FormatText:
		return FormatText, nil
	case FormatJSON:
		return FormatJSON, nil
	default:
		return "", fmt.Errorf("logging: format %q: want text or json", s)
	}
}

// ParseLevel parses "debug", "info", "warn" or "error" (case-insensitive,
// with optional offsets such as "warn+2"; "" is info).
func ParseLevel(s string) (slog.Level, error) {
	var l slog.Level
	if s == "" {
		return slog.LevelInfo, nil
	}
	if err := l.UnmarshalText([]byte(s)); err != nil {
		return 0, fmt.Errorf("logging: level %q: want debug, info, warn or error: %w", s, err)
	}
	return l, nil
}

// New returns a logger writing records at or above level to w in the given
// format; an unknown format is treated as text (validate it with
// ParseFormat first). The handler serializes writes to w, so the logger
// is safe for concurrent use.
func New(format Format, level slog.Leveler, w io.Writer) *slog.Logger {
	opts := &slog.HandlerOptions{Level: level}
	if format == FormatJSON {
		return slog.New(slog.NewJSONHandler(w, opts))
	}
	return slog.New(slog.NewTextHandler(w, opts))
}
