// Package testutil holds the helpers dexplane's tests share: building the
// dexplane binary, a buffer safe for a writer and concurrent readers,
// decoding hex vectors, waiting for a condition with a deadline, and
// reading `dexplane decode --json` output.
//
// It imports only the standard library, so that any package's tests
// (including package packet's internal tests) can import it without a
// cycle. Test-only: it imports "testing".
package testutil
