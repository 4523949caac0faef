package testutil

import "testing"

type color uint8

// colorNames are color's names; each case of TestCheckNames sets them.
var colorNames []string

func (c color) String() string { return colorNames[c] }

func TestCheckNames(t *testing.T) {
	colorNames = []string{"red", "green"}
	CheckNames(t, color(2))
	for _, names := range [][]string{
		{"red", "green", ""},    // an empty name only
		{"red", "green", "red"}, // a duplicate only
	} {
		colorNames = names
		r := &recorder{TB: t}
		CheckNames(r, color(len(names)))
		if !r.failed {
			t.Errorf("CheckNames passed %q", names)
		}
	}
}
