package gen

import (
	"fmt"
	"runtime"

	"github.com/vishvananda/netns"
)

// lockInNetns locks the calling goroutine to its OS thread and moves that
// thread into the named network namespace ("" keeps the current one).
//
// The thread is never unlocked: when the goroutine returns, the Go runtime
// terminates the thread instead of handing a thread in a foreign namespace
// to other goroutines.
func lockInNetns(name string) error {
	runtime.LockOSThread()
	if name == "" {
		return nil
	}
	h, err := netns.GetFromName(name)
	if err != nil {
		return fmt.Errorf("open network namespace %q: %w", name, err)
	}
	defer h.Close()
	if err := netns.Set(h); err != nil {
		return fmt.Errorf("enter network namespace %q: %w", name, err)
	}
	return nil
}
