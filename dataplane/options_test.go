package dataplane

import (
	"errors"
	"testing"

	"github.com/dexplane/dexplane/dataplane/policy"
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

func TestOptionsFromSnapshot(t *testing.T) {
	s, err := policy.New(policy.Spec{
		Node: policy.Node{ID: 7},
		Ports: [2]policy.Port{
			{Name: "ens1", Domain: policy.Outside, ForeignIOAM: policy.ForeignStrip},
			{Name: "ens2", Domain: policy.Inside},
		},
		Dataplane: policy.Dataplane{Queues: 4, RxRingSize: 4096, FillRingSize: 8192, FrameSize: 4096, UmemFrames: 32768,
			BatchSize: 32, AttachMode: policy.AttachGeneric, Steer: policy.SteerSampled, CPUs: []int{2, 3}},
	}, nil)
	if err != nil {
		t.Fatal(err)
	}
	o, err := OptionsFromSnapshot(s)
	if err != nil {
		t.Fatal(err)
	}
	if o.Ports != [2]string{"ens1", "ens2"} || o.Roles != [2]policy.Domain{policy.Outside, policy.Inside} ||
		o.Queues != 4 || o.RxSize != 4096 || o.FillSize != 8192 || o.TxSize != 0 || o.FrameSize != 4096 || o.Frames != 32768 ||
		o.BatchSize != 32 || o.Attach != policy.AttachGeneric || o.Steer != policy.SteerSampled || len(o.CPUs) != 2 ||
		o.PassForeignHbH || o.Policy != s {
		t.Errorf("options %+v", o)
	}
	if _, err := New(o); err != nil {
		t.Errorf("New(OptionsFromSnapshot): %v", err)
	}
	if _, err := OptionsFromSnapshot(nil); !errors.Is(err, ErrOptions) {
		t.Errorf("nil snapshot: %v", err)
	}
}
