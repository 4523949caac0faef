// Package xsktest holds helpers for tests of the AF_XDP data plane: a UDP
// stream sender and checker whose datagrams carry internal/payload's
// self-checking payload, and testbed set-up the stream tests share. It
// imports "testing" and is imported by tests only. (The steering program
// the tests attach is internal/xskprog's.)
package xsktest
