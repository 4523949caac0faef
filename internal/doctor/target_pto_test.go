package doctor

import "testing"

// TestRouteOverheadTrace: a trace route's overhead is the kernel's layout
// (16 + size rounded up to 8, plus 40 in encap), with DEX after it when the
// route has both.
func TestRouteOverheadTrace(t *testing.T) {
	for _, c := range []struct {
		r    Route
		want int
	}{
		{Route{Mode: "inline", TraceSize: 12, NoDEX: true}, 32},
		{Route{Mode: "encap", TraceSize: 48, NoDEX: true}, 40 + 64},
		{Route{Mode: "auto", TraceSize: 12, ExtFlags: 0xC0}, 40 + 48},
	} {
		if got := c.r.Overhead(); got != c.want {
			t.Errorf("%+v: overhead %d, want %d", c.r, got, c.want)
		}
	}
}
