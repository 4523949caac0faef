// Package keyword names the values of small integer enumerations: one table
// per enumeration gives a value's word (its String), the value a word names
// (configuration parsing) and the list of words (validation messages), so
// that each keyword is written once, beside nothing else that spells it.
//
// Tables are built once, at package initialisation, and only read after;
// they are safe for concurrent use.
package keyword

import (
	"fmt"
	"reflect"
	"slices"
)

// Table holds the words of enumeration T, indexed by value.
type Table[T ~uint8 | ~int] struct {
	typ   string   // T's name, for values without a word
	words []string // words[v] names value v; "" names nothing
}

// New returns the table whose value i is named words[i]; an empty word
// leaves value i unnamed (an enumeration that starts at 1 passes "" first).
func New[T ~uint8 | ~int](words ...string) Table[T] {
	return Table[T]{typ: reflect.TypeFor[T]().Name(), words: words}
}

// String returns the word of v, or "T(v)" (T the enumeration's type name,
// v in decimal) for a value without one.
func (t Table[T]) String(v T) string {
	if v >= 0 && int(v) < len(t.words) && t.words[v] != "" {
		return t.words[v]
	}
	return fmt.Sprintf("%s(%d)", t.typ, int(v))
}

// Value returns the value named s (an exact, case-sensitive match) and
// whether there is one.
func (t Table[T]) Value(s string) (T, bool) {
	if i := slices.Index(t.words, s); i >= 0 && s != "" {
		return T(i), true
	}
	return 0, false
}

// Words returns the words in value order (a new slice).
func (t Table[T]) Words() []string {
	return slices.DeleteFunc(slices.Clone(t.words), func(w string) bool { return w == "" })
}
