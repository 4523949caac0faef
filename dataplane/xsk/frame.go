package xsk

import "github.com/dexplane/dexplane/dataplane/handle"

// The worker's handler contract is package handle's; these are its names as
// the worker code in this package uses them (aliases: the same types, not
// second definitions). Code outside the package uses handle directly.
type (
	// Frame is handle.Frame.
	Frame = handle.Frame
	// Verdict is handle.Verdict.
	Verdict = handle.Verdict
	// Handler is handle.Handler.
	Handler = handle.Handler
	// BatchHandler is handle.BatchHandler.
	BatchHandler = handle.BatchHandler
	// Identity is handle.Identity.
	Identity = handle.Identity
	// HandlerFunc is handle.HandlerFunc.
	HandlerFunc = handle.HandlerFunc
)

// Verdicts (handle.Forward, handle.Drop, handle.Reflect).
const (
	Forward = handle.Forward
	Drop    = handle.Drop
	Reflect = handle.Reflect
)
