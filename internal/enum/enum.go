// Package enum is the one implementation of the String methods of
// dexplane's small integer enumerations: a table of names indexed by value
// and, for a value without a name, the type's name and the number, as
// fmt's %v of an unnamed value would read ("Domain(7)").
package enum

import "strconv"

// Integer is the underlying type of an enumeration.
type Integer interface {
	~uint8 | ~uint16 | ~uint32 | ~int
}

// Name returns names[v], or typ + "(" + v in decimal + ")" when v lies
// outside names or names[v] is empty. names is usually a keyed array
// literal, so that the values and their names stand side by side:
//
//	var domainNames = [...]string{Inside: "inside", Outside: "outside"}
//
//	func (d Domain) String() string { return enum.Name(d, domainNames[:], "Domain") }
//
// Safe for concurrent use; names is only read.
func Name[T Integer](v T, names []string, typ string) string {
	if int64(v) >= 0 && int64(v) < int64(len(names)) && names[v] != "" {
		return names[v]
	}
	return typ + "(" + strconv.FormatInt(int64(v), 10) + ")"
}
