package keyword

import (
	"slices"
	"testing"
)

type color uint8

type signed int

// TestTable checks String, Value and Words on a table with an unnamed
// value 0, including the values without a word.
func TestTable(t *testing.T) {
	tab := New[color]("", "red", "green")
	for _, tc := range []struct {
		v    color
		want string
	}{{1, "red"}, {2, "green"}, {0, "color(0)"}, {3, "color(3)"}, {255, "color(255)"}} {
		if got := tab.String(tc.v); got != tc.want {
			t.Errorf("String(%d) = %q, want %q", uint8(tc.v), got, tc.want)
		}
	}
	for _, tc := range []struct {
		s    string
		want color
		ok   bool
	}{{"red", 1, true}, {"green", 2, true}, {"", 0, false}, {"Red", 0, false}, {"blue", 0, false}} {
		if got, ok := tab.Value(tc.s); got != tc.want || ok != tc.ok {
			t.Errorf("Value(%q) = %d, %v; want %d, %v", tc.s, uint8(got), ok, uint8(tc.want), tc.ok)
		}
	}
	w := tab.Words()
	if !slices.Equal(w, []string{"red", "green"}) {
		t.Errorf("Words() = %q", w)
	}
	w[0] = "x"
	if tab.String(1) != "red" {
		t.Error("changing Words' result changed the table")
	}
}

// TestSigned checks the "T(v)" form of a negative value of a signed
// enumeration.
func TestSigned(t *testing.T) {
	tab := New[signed]("zero")
	if got := tab.String(-1); got != "signed(-1)" {
		t.Errorf("String(-1) = %q", got)
	}
	if got := tab.String(0); got != "zero" {
		t.Errorf("String(0) = %q", got)
	}
}
