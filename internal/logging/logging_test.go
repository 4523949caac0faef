package logging

import (
	"bytes"
	"encoding/json"
	"log/slog"
	"strings"
	"testing"
)

func TestNew(t *testing.T) {
	for _, tc := range []struct {
		format Format
		want   []string
	}{
		{FormatText, []string{"level=WARN", `msg="ring full"`, "port=eth1", "worker=3"}},
		{FormatJSON, []string{`"level":"WARN"`, `"msg":"ring full"`, `"port":"eth1"`, `"worker":3`}},
		{"bogus", []string{"level=WARN"}},
	} {
		var b bytes.Buffer
		log := New(tc.format, slog.LevelWarn, &b)
		log.Info("not shown")
		log.Warn("ring full", "port", "eth1", "worker", 3)
		out := b.String()
		if strings.Contains(out, "not shown") {
			t.Errorf("%s: info logged at warn level: %s", tc.format, out)
		}
		for _, w := range tc.want {
			if !strings.Contains(out, w) {
				t.Errorf("%s: %q lacks %q", tc.format, out, w)
			}
		}
		if tc.format == FormatJSON {
			var m map[string]any
			if err := json.Unmarshal(b.Bytes(), &m); err != nil {
				t.Errorf("json output %q: %v", out, err)
			}
		}
	}
}

func TestParse(t *testing.T) {
	for _, tc := range []struct {
		in   string
		want Format
		ok   bool
	}{{"", FormatText, true}, {"text", FormatText, true}, {"JSON", FormatJSON, true}, {"xml", "", false}} {
		got, err := ParseFormat(tc.in)
		if got != tc.want || (err == nil) != tc.ok {
			t.Errorf("ParseFormat(%q) = %q, %v", tc.in, got, err)
		}
	}
	for _, tc := range []struct {
		in   string
		want slog.Level
		ok   bool
	}{{"", slog.LevelInfo, true}, {"debug", slog.LevelDebug, true}, {"WARN", slog.LevelWarn, true}, {"error", slog.LevelError, true}, {"loud", 0, false}} {
		got, err := ParseLevel(tc.in)
		if got != tc.want || (err == nil) != tc.ok {
			t.Errorf("ParseLevel(%q) = %v, %v", tc.in, got, err)
		}
	}
}
