package dataplane

import (
	"errors"
	"testing"
)

func TestNewValidates(t *testing.T) {
	for _, tc := range []struct {
		name string
		opts Options
	}{
		{"no ports", Options{}},
		{"same port", Options{Ports: [2]string{"a", "a"}}},
		{"frame size", Options{Ports: [2]string{"a", "b"}, FrameSize: 3000}},
		{"ring size", Options{Ports: [2]string{"a", "b"}, RxSize: 1000}},
		{"queues", Options{Ports: [2]string{"a", "b"}, Queues: 1000}},
		{"batch", Options{Ports: [2]string{"a", "b"}, BatchSize: 5000}},
		{"frames", Options{Ports: [2]string{"a", "b"}, Frames: 100}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if _, err := New(tc.opts); !errors.Is(err, ErrOptions) {
				t.Errorf("New: %v, want ErrOptions", err)
			}
		})
	}
	e, err := New(Options{Ports: [2]string{"a", "b"}})
	if err != nil {
		t.Fatal(err)
	}
	if e.opts.Queues != 1 || e.opts.FillSize != 4096 || e.opts.Frames != 2*(4096+2048) {
		t.Errorf("defaults: %+v", e.opts)
	}
	if err := e.Stop(); !errors.Is(err, ErrNotStarted) {
		t.Errorf("Stop before Start: %v", err)
	}
}
