package testutil

import "testing"

// Enum is an enumeration whose values 0 to N-1 have names.
type Enum interface {
	~uint8 | ~uint16 | ~uint32 | ~int
	String() string
}

// CheckNames fails t unless the values 0 to n-1 of an enumeration have
// names (String) that are non-empty and all different: counters, metrics
// and logs are keyed by them.
func CheckNames[T Enum](t testing.TB, n T) {
	t.Helper()
	seen := map[string]T{}
	for v := T(0); v < n; v++ {
		s := v.String()
		if prev, dup := seen[s]; s == "" || dup {
			t.Errorf("value %d: name %q empty or also the name of %d", v, s, prev)
		}
		seen[s] = v
	}
}
