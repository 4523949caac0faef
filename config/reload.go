package config

import (
	"sync/atomic"

	"github.com/dexplane/dexplane/dataplane/policy"
)

// Reload loads the configuration at path, compiles it against the snapshot
// in current and stores the result in current. It is all-or-nothing: on
// any error current is left untouched and the error (an ErrorList for a
// problem in the file) is returned. Concurrent reloads are not serialised;
// callers reload from one goroutine (the signal handler).
//
// Settings that cannot change while the engine runs (ports, the dataplane
// section) are swapped like everything else; the caller compares them with
// policy.RestartRequired and decides.
func Reload(path string, current *atomic.Pointer[policy.Snapshot]) (*Config, *policy.Snapshot, error) {
	c, err := Load(path)
	if err != nil {
		return nil, nil, err
	}
	s, err := c.Compile(current.Load())
	if err != nil {
		return nil, nil, err
	}
	current.Store(s)
	return c, s, nil
}
