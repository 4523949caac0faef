package testutil

import (
	"testing"
	"time"
)

// Polling intervals of Within: the first sleep is MinPoll, each next one
// twice the last, up to MaxPoll. A condition that holds soon is seen soon,
// and one that takes seconds (a process to start, a collector to answer)
// is checked at most 1/MaxPoll times a second.
const (
	MinPoll = time.Millisecond
	MaxPoll = 50 * time.Millisecond
)

// Within calls cond until it returns true or timeout has passed, sleeping
// between calls as MinPoll and MaxPoll say, and reports whether it returned
// true. cond runs at least once, and once more at the deadline, so a
// condition that became true during the last sleep is not missed. Use it
// where the failure message must show the state seen at the end (a log, a
// counter); otherwise use Eventually.
func Within(timeout time.Duration, cond func() bool) bool {
	deadline := time.Now().Add(timeout)
	for poll := MinPoll; ; poll = min(2*poll, MaxPoll) {
		if cond() {
			return true
		}
		left := time.Until(deadline)
		if left <= 0 {
			return cond()
		}
		time.Sleep(min(poll, left))
	}
}

// Eventually waits up to timeout for cond to return true (see Within) and
// fails t with "timed out after <timeout> waiting for <what>" if it does
// not.
func Eventually(t testing.TB, what string, timeout time.Duration, cond func() bool) {
	t.Helper()
	if !Within(timeout, cond) {
		t.Fatalf("timed out after %v waiting for %s", timeout, what)
	}
}
