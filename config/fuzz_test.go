package config

import (
	"os"
	"path/filepath"
	"testing"
)

// FuzzParse feeds arbitrary documents to the decoder. Parse must never
// panic, must reject or accept without hanging, and everything it accepts
// must compile and survive a trip through its normalised form.
func FuzzParse(f *testing.F) {
	files, _ := filepath.Glob("examples/*.yaml")
	for _, p := range files {
		if data, err := os.ReadFile(p); err == nil {
			f.Add(data)
		}
	}
	f.Add([]byte(base))
	for _, ex := range spec45 {
		f.Add([]byte(routeDoc(`"` + ex.str + `"`)))
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		c, err := Parse("fuzz.yaml", data)
		if err != nil {
			if c != nil {
				t.Fatal("Parse returned both a Config and an error")
			}
			return
		}
		if _, err := c.Compile(nil); err != nil {
			t.Fatalf("accepted configuration does not compile: %v\n%s", err, data)
		}
		normalise(t, "fuzz.yaml", c)
	})
}
