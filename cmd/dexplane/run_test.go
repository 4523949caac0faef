package main

import (
	"bytes"
	"context"
	"strings"
	"testing"
	"time"

	"github.com/dexplane/dexplane/dataplane/policy"
	"github.com/dexplane/dexplane/internal/testbed"
	"github.com/dexplane/dexplane/internal/testbed/plan"
	"github.com/dexplane/dexplane/internal/testutil"
	"github.com/dexplane/dexplane/internal/xsktest"
)

func TestRunFlags(t *testing.T) {
	for _, tc := range []struct {
		args []string
		code int
		msg  string
	}{
		{nil, 1, `port 0 "west"`}, // the embedded default (demo R1) names ports west/east
		{[]string{"--ports", "a"}, 2, "two interface names"},
		{[]string{"--ports", "a,b,c"}, 2, "two interface names"},
		{[]string{"--ports", "a,b", "--steer", "some"}, 2, `steer "some"`},
		{[]string{"--ports", "a,b", "--attach", "hw"}, 2, "attach mode"},
		{[]string{"--ports", "a,a"}, 2, "both are"},
		{[]string{"-c", "testdata/does-not-exist.yaml"}, 2, "does-not-exist"},
		{[]string{"--ports", "a,b", "extra"}, 2, "unexpected argument"},
		{[]string{"-h"}, 0, "usage"},
	} {
		var stderr bytes.Buffer
		if code := run(context.Background(), tc.args, &stderr); code != tc.code || !strings.Contains(stderr.String(), tc.msg) {
			t.Errorf("run %q: exit %d, want %d; stderr %q, want %q", tc.args, code, tc.code, stderr.String(), tc.msg)
		}
	}
}

func TestEngineOptionsOverrides(t *testing.T) {
	f := &runFlags{file: "../../config/examples/transit.yaml", ports: "west,east", steer: "sampled", attach: "generic", queues: 2}
	s, o, err := engineOptions(f)
	if err != nil {
		t.Fatal(err)
	}
	if o.Ports != [2]string{"west", "east"} || o.Steer != policy.SteerSampled || o.Attach != policy.AttachGeneric || o.Queues != 2 || o.Policy == nil || s != o.Policy {
		t.Errorf("options %+v", o)
	}
}

// TestRunBitw runs the built binary as a bump in the wire: --netns, -c and
// --ports, ping6 and a UDP stream across, SIGTERM, and no XDP program left.
func TestRunBitw(t *testing.T) {
	testbed.SkipIfNotRoot(t)
	if testing.Short() {
		t.Skip("builds the binary")
	}
	bin := testutil.BuildDexplane(t)
	cfg := testutil.TempFile(t, "bitw.yaml", []byte(`node:
  id: 1
ports:
  - {name: west, domain: inside}
  - {name: east, domain: inside}
dataplane:
  attach_mode: generic
  steer: all
  fill_ring_size: 4096
  umem_frames: 16384
`))
	for _, tc := range []struct {
		name string
		args []string
	}{
		{"config", []string{"-c", cfg}},
		{"ports", []string{"--ports", "west,east", "--attach", "generic"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			tb := testbed.New(t, testbed.Bitw)
			xsktest.NoTxChecksumOffload(t, tb)
			dut := tb.DUT()
			p := testutil.Start(t, bin, append([]string{"run", "--netns", dut.Name, "-v", "--interval", "300ms"}, tc.args...)...)
			if err := p.WaitLog("dataplane: started", 10*time.Second); err != nil {
				t.Fatal(err)
			}
			if id, _ := dut.XDPProgID(plan.West); id == 0 {
				t.Errorf("no XDP program on west while running")
			}
			if err := tb.HostA.Ping(tb.AddrB, 3); err != nil {
				t.Errorf("ping6 through dexplane run: %v", err)
			}
			r, res := xsktest.Stream(t, tb.HostB, tb.HostA, tb.AddrA, xsktest.StreamConfig{ID: 5, Count: 5000, MinSize: xsktest.MinPayload, MaxSize: 1452, Rate: 20000}, 3*time.Second)
			if r.Received.Load() != int64(res.Sent) || r.Corrupt.Load() != 0 {
				t.Errorf("stream: sent %d received %d corrupt %d", res.Sent, r.Received.Load(), r.Corrupt.Load())
			}
			time.Sleep(400 * time.Millisecond) // one -v counter line
			if err := p.Stop(10 * time.Second); err != nil {
				t.Error(err)
			}
			out := p.Log.String()
			for _, want := range []string{"dataplane: stopped", "pps", "port 1 east: rx"} {
				if !strings.Contains(out, want) {
					t.Errorf("output lacks %q:\n%s", want, out)
				}
			}
			for _, p := range []string{plan.West, plan.East} {
				if id, err := dut.XDPProgID(p); err != nil || id != 0 {
					t.Errorf("%s: XDP program %d left after SIGTERM (%v)", p, id, err)
				}
			}
		})
	}
}
