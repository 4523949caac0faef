package testutil

import (
	"testing"
	"time"
)

// Poll is how often Within and Eventually check their condition.
const Poll = 10 * time.Millisecond

// Within calls cond every Poll until it returns true or timeout has passed,
// and reports whether it returned true. cond runs at least once, and once
// more at the deadline, so a condition that became true during the last
// sleep is not missed.
func Within(timeout time.Duration, cond func() bool) bool {
	deadline := time.Now().Add(timeout)
	for {
		if cond() {
			return true
		}
		left := time.Until(deadline)
		if left <= 0 {
			return cond()
		}
		time.Sleep(min(Poll, left))
	}
}

// Eventually waits up to timeout for cond to return nil (polling as Within
// does) and fails t with the last error cond returned, prefixed by "not
// within <timeout>:". cond's error should say what was seen and what was
// wanted (a buffer's contents, a counter's value).
func Eventually(t testing.TB, timeout time.Duration, cond func() error) {
	t.Helper()
	var last error
	if !Within(timeout, func() bool { last = cond(); return last == nil }) {
		t.Fatalf("not within %v: %v", timeout, last)
	}
}
