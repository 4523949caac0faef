package main

import (
	"fmt"
	"runtime/debug"
)

// runVersion prints the VCS revision the binary was built from ("devel"
// when the build recorded none).
func runVersion([]string) int {
	v := "devel"
	if bi, ok := debug.ReadBuildInfo(); ok {
		for _, s := range bi.Settings {
			if s.Key == "vcs.revision" {
				v = s.Value
			}
		}
	}
	fmt.Println("dexplane", v)
	return 0
}
