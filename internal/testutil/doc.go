// Package testutil holds the helpers dexplane's tests share: building the
// dexplane binary, starting a command and waiting for its output, stopping
// it and reading its exit status (Proc, Run), skipping a test when a tool
// is missing (NeedTool, GoBin), scratch files (TempFile, WriteFile, Lines),
// a buffer safe for a writer and concurrent readers, decoding hex vectors,
// waiting for a condition with a deadline, golden files and the -update
// flag that rewrites them, checking an enumeration's names, and reading
// `dexplane decode --json` output (DecodePcap).
//
// Besides the standard library it imports only internal/decodejson, which
// imports nothing, so that any package's tests (including package packet's
// internal tests) can import it without a cycle. Test-only: it imports
// "testing".
package testutil
