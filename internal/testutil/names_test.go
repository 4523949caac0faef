package testutil

import "testing"

type color uint8

func (c color) String() string { return [...]string{"red", "green", "", "red"}[c] }

func TestCheckNames(t *testing.T) {
	CheckNames(t, color(2))           // red, green: fine
	for _, n := range []color{3, 4} { // an empty name; then a duplicate too
		r := &recorder{TB: t}
		CheckNames(r, n)
		if !r.failed {
			t.Errorf("CheckNames up to %d passed an empty or duplicate name", n)
		}
	}
}
