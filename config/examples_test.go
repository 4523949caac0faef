package config

import (
	"net/netip"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"gopkg.in/yaml.v3"
)

// TestExamples validates and compiles every file in examples/, and checks
// that its normalised form parses back to the same Config.
func TestExamples(t *testing.T) {
	files, err := filepath.Glob("examples/*.yaml")
	if err != nil || len(files) == 0 {
		t.Fatalf("no examples: %v", err)
	}
	for _, f := range files {
		t.Run(filepath.Base(f), func(t *testing.T) {
			c, err := Load(f)
			if err != nil {
				t.Fatal(err)
			}
			if _, err := c.Compile(nil); err != nil {
				t.Fatalf("Compile: %v", err)
			}
			normalise(t, f, c)
		})
	}
}

// normalise marshals c to YAML and parses that again (its normalised form,
// named name " (normalised)"); it fails t if the normalised form does not
// parse or does not marshal to the same YAML, and returns the Config parsed
// from it and the YAML.
func normalise(t testing.TB, name string, c *Config) (*Config, []byte) {
	t.Helper()
	out, err := yaml.Marshal(c)
	if err != nil {
		t.Fatal(err)
	}
	c2, err := Parse(name+" (normalised)", out)
	if err != nil {
		t.Fatalf("normalised form does not parse: %v\n%s", err, out)
	}
	out2, _ := yaml.Marshal(c2)
	if string(out) != string(out2) {
		t.Fatalf("normalisation is not idempotent:\n%s\n---\n%s", out, out2)
	}
	return c2, out
}

func TestEmbeddedExamples(t *testing.T) {
	names := Examples()
	files, _ := filepath.Glob("examples/*.yaml")
	if len(names) != len(files) {
		t.Errorf("Examples() = %v, want one per file in examples/", names)
	}
	for _, n := range names {
		if _, err := Example(n); err != nil {
			t.Errorf("Example(%q): %v", n, err)
		}
	}
	if _, err := Example("nope"); err == nil || !strings.Contains(err.Error(), "demo-r1") {
		t.Errorf("Example(nope) error = %v, want the list of examples", err)
	}
	c, err := Default()
	if err != nil {
		t.Fatal(err)
	}
	if len(c.Routes) != 1 || c.Ports[0].Domain != "outside" {
		t.Errorf("Default() is not the demo's encapsulating edge: %+v", c)
	}
}

// TestDemoTopology checks that the four demo nodes fit together: R1's
// tunnel ends at R4, the ports line up and every node knows namespace 123.
func TestDemoTopology(t *testing.T) {
	var nodes []*Config
	for _, n := range []string{"demo-r1", "demo-r2", "demo-r3", "demo-r4"} {
		c, err := Example(n)
		if err != nil {
			t.Fatal(err)
		}
		nodes = append(nodes, c)
		if c.Ports[0].Name != "west" || c.Ports[1].Name != "east" {
			t.Errorf("%s: ports %s, %s; want west, east", n, c.Ports[0].Name, c.Ports[1].Name)
		}
		if len(c.Namespaces) != 1 || c.Namespaces[0].ID != 123 {
			t.Errorf("%s: namespaces %+v, want 123", n, c.Namespaces)
		}
	}
	r1, r4 := nodes[0], nodes[3]
	if len(r1.Routes) != 1 {
		t.Fatalf("R1 has %d routes, want 1", len(r1.Routes))
	}
	rt := r1.Routes[0]
	if rt.Mode != "encap" || rt.DEX.ExtFlags != 0xc0 || rt.Freq != (Freq{1, 10}) || rt.DEX.Namespace != 123 {
		t.Errorf("R1 route = %+v", rt)
	}
	if !rt.Prefix.Contains(netip.MustParseAddr("2001:db8:1::b")) {
		t.Errorf("R1 route %s does not cover host-b", rt.Prefix)
	}
	if len(r4.Decap.Endpoints) != 1 || r4.Decap.Endpoints[0] != rt.TunDst {
		t.Errorf("R4 terminates %v, R1 tunnels to %s", r4.Decap.Endpoints, rt.TunDst)
	}
	doms := func(c *Config) string { return c.Ports[0].Domain + "/" + c.Ports[1].Domain }
	want := []string{"outside/inside", "inside/inside", "inside/inside", "inside/outside"}
	for i, c := range nodes {
		if doms(c) != want[i] {
			t.Errorf("R%d domains %s, want %s", i+1, doms(c), want[i])
		}
	}
	if _, err := os.Stat("examples/demo-r1.yaml"); err != nil {
		t.Error(err)
	}
}
