package daemon

import "testing"

func TestLoopbackDefault(t *testing.T) {
	for in, want := range map[string]string{
		":9102":          "localhost:9102",
		"[::1]:9102":     "[::1]:9102",
		"0.0.0.0:9102":   "0.0.0.0:9102",
		"[::]:9102":      "[::]:9102",
		"node.lan:9102":  "node.lan:9102",
		"127.0.0.1:9102": "127.0.0.1:9102",
	} {
		if got := loopbackDefault(in); got != want {
			t.Errorf("loopbackDefault(%q) = %q, want %q", in, got, want)
		}
	}
}
