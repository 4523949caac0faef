package testutil

import (
	"testing"
	"time"
)

func TestWithin(t *testing.T) {
	n := 0
	if !Within(time.Second, func() bool { n++; return n == 3 }) {
		t.Errorf("Within gave up on a condition true at the third call")
	}
	if n != 3 {
		t.Errorf("cond called %d times, want 3", n)
	}
	calls := 0
	start := time.Now()
	if Within(30*time.Millisecond, func() bool { calls++; return false }) {
		t.Errorf("Within reported a condition that never held")
	}
	if time.Since(start) < 30*time.Millisecond || calls < 2 {
		t.Errorf("Within returned after %v and %d calls, want at least the timeout and 2 calls", time.Since(start), calls)
	}
}
