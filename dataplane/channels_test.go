package dataplane_test

import (
	"errors"
	"testing"

	"github.com/dexplane/dexplane/dataplane"
	"github.com/dexplane/dexplane/internal/testbed"
)

func TestRxQueues(t *testing.T) {
	a := testbed.NewNetns(t, "chan-a")
	b := testbed.NewNetns(t, "chan-b")
	testbed.VethQueues(t, 3, a, "v3", "02:00:00:00:aa:01", b, "v3p", "02:00:00:00:aa:02")
	testbed.Veth(t, a, "v1", "02:00:00:00:aa:03", b, "v1p", "02:00:00:00:aa:04")
	for _, tc := range []struct {
		ifname  string
		want    int
		wantErr error // nil: no error; errAny: some error
	}{
		{"v3", 3, nil},
		{"v1", 1, nil},
		{"lo", 0, dataplane.ErrNoChannels},
		{"nope0", 0, errAny},
		{"a-name-far-too-long-for-linux", 0, errAny},
	} {
		var got int
		err := a.Do(func() (err error) { got, err = dataplane.RxQueues(tc.ifname); return err })
		switch {
		case tc.wantErr == nil && err != nil:
			t.Errorf("RxQueues(%q): %v", tc.ifname, err)
		case tc.wantErr == errAny && err == nil, tc.wantErr != nil && tc.wantErr != errAny && !errors.Is(err, tc.wantErr):
			t.Errorf("RxQueues(%q) = %d, %v; want error %v", tc.ifname, got, err, tc.wantErr)
		case got != tc.want:
			t.Errorf("RxQueues(%q) = %d, want %d", tc.ifname, got, tc.want)
		}
	}
	// A channel change is seen at the next read.
	a.MustRun(t, "ethtool", "-L", "v3", "rx", "2", "tx", "2")
	var got int
	if err := a.Do(func() (err error) { got, err = dataplane.RxQueues("v3"); return err }); err != nil || got != 2 {
		t.Errorf("after ethtool -L v3 rx 2: RxQueues = %d, %v; want 2", got, err)
	}
}

var errAny = errors.New("any error")
