package enum

import (
	"fmt"
	"testing"
)

type color uint8

const (
	red color = iota + 1
	green
	blue = green + 2
)

var colorNames = [...]string{red: "red", green: "green", blue: "blue"}

func (c color) String() string { return Name(c, colorNames[:], "color") }

type signed int

func TestName(t *testing.T) {
	for _, tc := range []struct {
		got, want string
	}{
		{red.String(), "red"},
		{green.String(), "green"},
		{blue.String(), "blue"},
		{color(0).String(), "color(0)"},     // a hole at the start
		{color(3).String(), "color(3)"},     // a hole in the middle
		{color(200).String(), "color(200)"}, // past the table
		{Name(signed(-1), nil, "signed"), "signed(-1)"},
		{Name(signed(1), []string{"a", "b"}, "signed"), "b"},
	} {
		if tc.got != tc.want {
			t.Errorf("got %q, want %q", tc.got, tc.want)
		}
	}
	// The fallback reads as fmt's %d of the value would.
	if got, want := color(9).String(), fmt.Sprintf("color(%d)", 9); got != want {
		t.Errorf("got %q, want %q", got, want)
	}
}
