package config

import (
	"errors"
	"fmt"
	"strings"
)

// Error is one problem found in a configuration file. Its text is
//
//	FILE:LINE:COLUMN: PATH: MESSAGE
//
// where PATH is the field path in the document, such as routes[2].freq,
// and MESSAGE names the offending value and says what would be valid.
type Error struct {
	// File is the name passed to Parse (the path for Load).
	File string
	// Line and Column are 1-based positions in the file.
	Line, Column int
	// Path is the field path, empty for document-level problems.
	Path string
	// Msg describes the problem.
	Msg string
}

// Error implements error.
func (e *Error) Error() string {
	if e.Path == "" {
		return fmt.Sprintf("%s:%d:%d: %s", e.File, e.Line, e.Column, e.Msg)
	}
	return fmt.Sprintf("%s:%d:%d: %s: %s", e.File, e.Line, e.Column, e.Path, e.Msg)
}

// ErrInvalid is wrapped by every ErrorList, so that callers can test for a
// configuration problem (as opposed to an I/O error) with errors.Is.
var ErrInvalid = errors.New("invalid configuration")

// ErrorList is every problem found in a file, in document order. Parse and
// Load return it (as an error) when the list is not empty.
type ErrorList []*Error

// Error implements error: one problem per line.
func (l ErrorList) Error() string {
	var b strings.Builder
	for i, e := range l {
		if i > 0 {
			b.WriteByte('\n')
		}
		b.WriteString(e.Error())
	}
	return b.String()
}

// Is makes errors.Is(list, ErrInvalid) true.
func (l ErrorList) Is(target error) bool { return target == ErrInvalid }
