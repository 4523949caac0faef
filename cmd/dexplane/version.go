package main

import (
	"fmt"
	"runtime/debug"
)

func init() {
	register("version", "print the build version", func([]string) int {
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
	})
}
