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

// thread is the goroutine a generator or a sink runs in: locked to its OS
// thread in a network namespace and pinned to CPUs.
type thread struct {
	done chan struct{} // closed when body has returned
	err  error         // body's error, once done is closed
}

func newThread() thread { return thread{done: make(chan struct{})} }

// start runs body on a new goroutine locked in netns and pinned to cpus.
// body calls ready once its sockets are open; start returns then, with nil,
// or with the error that ended body (or the set-up) before it called ready.
func (th *thread) start(netns string, cpus []int, body func(ready func()) error) error {
	ready := make(chan error, 1)
	go func() {
		defer close(th.done)
		signalled := false
		signal := func(err error) {
			if !signalled {
				signalled = true
				ready <- err
			}
		}
		err := lockInNetns(netns)
		if err == nil {
			err = pinThread(cpus)
		}
		if err == nil {
			err = body(func() { signal(nil) })
		}
		th.err = err
		signal(err)
	}()
	return <-ready
}

// Wait blocks until the generator or sink has stopped (its sockets closed,
// its XDP program detached) and returns its error.
func (th *thread) Wait() error {
	<-th.done
	return th.err
}
