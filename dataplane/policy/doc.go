// Package policy holds the compiled, immutable description of one dexplane
// node: its identity, its two ports, the IOAM namespaces it knows, the
// longest-prefix-match route table that decides which packets receive a DEX
// option (with one k/n sampler per route), the tunnel endpoints it
// terminates, and the settings handed to the flow tables, the exporter and
// the engine.
//
// A *Snapshot is built once by New (the config package compiles a YAML file
// into a Spec and calls New) and is never modified afterwards, so any number
// of workers may read it concurrently without locks. The engine publishes the
// current snapshot through an atomic.Pointer and swaps it on reload; because
// New either returns a complete snapshot or an error, a failed reload cannot
// be half-applied.
//
// The only mutable state reachable from a snapshot is the packet counter of
// each route's Sampler, which is updated atomically and is deliberately
// shared with the next snapshot when a route's prefix survives a reload, so
// that reloading does not restart the "first k of every n" cycle.
//
// This package does not know the configuration file format; it depends only
// on the standard library.
package policy
