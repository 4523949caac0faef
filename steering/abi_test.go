package steering

import (
	"bufio"
	"encoding/hex"
	"fmt"
	"os"
	"regexp"
	"strconv"
	"strings"
	"testing"

	"github.com/dexplane/dexplane/dataplane/packet"
)

// abiHeader is steer_abi.h as TestABIMatchesHeader reads it.
type abiHeader struct {
	defines map[string]uint64 // #define NAME VALUE
	reasons []string          // enum reason, in order, NR_REASONS last
	meta    []abiField        // struct meta, in order
}

type abiField struct {
	name        string
	off, size   int
	declaration string
}

var (
	reDefine = regexp.MustCompile(`^#define\s+(\w+)\s+(.+?)\s*(?://.*)?$`)
	reShift  = regexp.MustCompile(`^\((\d+)u? << (\d+)\)$`)
	reField  = regexp.MustCompile(`^(__u8|__u16|__u32|__u64)\s+(\w+);`)
)

// parseABIHeader reads the subset of C steer_abi.h is written in (see its
// head comment); anything else inside the enum or the struct is an error,
// so the header cannot grow a form this parser silently skips.
func parseABIHeader(path string) (*abiHeader, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	h := &abiHeader{defines: map[string]uint64{}}
	sizes := map[string]int{"__u8": 1, "__u16": 2, "__u32": 4, "__u64": 8}
	var in string // "", "enum" or "struct"
	off := 0
	sc := bufio.NewScanner(f)
	for n := 1; sc.Scan(); n++ {
		line := strings.TrimSpace(sc.Text())
		code, _, _ := strings.Cut(line, "//")
		code = strings.TrimSpace(code)
		switch {
		case in == "" && strings.HasPrefix(code, "#define"):
			m := reDefine.FindStringSubmatch(line)
			if m == nil {
				continue // the include guard: no value
			}
			v, err := strconv.ParseUint(m[2], 0, 64)
			if s := reShift.FindStringSubmatch(m[2]); s != nil {
				a, _ := strconv.ParseUint(s[1], 10, 64)
				b, _ := strconv.ParseUint(s[2], 10, 64)
				v, err = a<<b, nil
			}
			if err != nil {
				return nil, fmt.Errorf("%s:%d: #define %s %q: not a number this test reads", path, n, m[1], m[2])
			}
			h.defines[m[1]] = v
		case in == "" && code == "enum reason {":
			in = "enum"
		case in == "" && code == "struct meta {":
			in = "struct"
		case in != "" && code == "};":
			in = ""
		case in == "enum" && code != "":
			id, _, _ := strings.Cut(strings.TrimSuffix(code, ","), "=")
			id = strings.TrimSpace(id)
			if want := "R_NOT_IPV6 = 0,"; len(h.reasons) == 0 && code != want {
				return nil, fmt.Errorf("%s:%d: enum reason must start with %q", path, n, want)
			}
			if len(h.reasons) > 0 && strings.Contains(code, "=") {
				return nil, fmt.Errorf("%s:%d: %q: explicit values are only allowed on the first reason", path, n, code)
			}
			h.reasons = append(h.reasons, id)
		case in == "struct" && code != "":
			m := reField.FindStringSubmatch(code)
			if m == nil {
				return nil, fmt.Errorf("%s:%d: struct meta field %q: want __uN name;", path, n, code)
			}
			size := sizes[m[1]]
			off = (off + size - 1) / size * size // natural alignment
			h.meta = append(h.meta, abiField{m[2], off, size, code})
			off += size
		}
	}
	if err := sc.Err(); err != nil {
		return nil, err
	}
	if in != "" || len(h.reasons) == 0 || len(h.meta) == 0 {
		return nil, fmt.Errorf("%s: enum reason or struct meta not found or not closed", path)
	}
	return h, nil
}

// TestABIMatchesHeader: the Go side of the steer.c interface equals
// steer_abi.h, its one source: every #define, the order of enum reason, and
// the layout of struct meta. A value added on one side only fails too.
func TestABIMatchesHeader(t *testing.T) {
	h, err := parseABIHeader("steer_abi.h")
	if err != nil {
		t.Fatal(err)
	}
	goDefines := map[string]uint64{
		"MAX_PORTS":     MaxPorts,
		"MAX_QUEUES":    MaxQueues,
		"MAX_DECAP":     MaxDecapEndpoints,
		"F_ALL":         flagAll,
		"F_ROUTES":      flagRoutes,
		"F_HBH":         flagHbH,
		"F_DECAP":       flagDecap,
		"F_EXT_HDR":     flagExtHdr,
		"MAX_VLAN_TAGS": packet.MaxVLANTags,
		"META_MAGIC":    metaMagic,
	}
	for name, c := range h.defines {
		g, ok := goDefines[name]
		switch {
		case !ok:
			t.Errorf("steer_abi.h defines %s = %#x; Go has no counterpart in goDefines", name, c)
		case g != c:
			t.Errorf("%s: steer_abi.h %#x, Go %#x", name, c, g)
		}
	}
	for name := range goDefines {
		if _, ok := h.defines[name]; !ok {
			t.Errorf("Go expects %s, steer_abi.h does not define it", name)
		}
	}

	if got := h.reasons[len(h.reasons)-1]; got != "NR_REASONS" || len(h.reasons)-1 != int(NumReasons) {
		t.Errorf("enum reason: %d values ending in %s, Go NumReasons %d", len(h.reasons)-1, got, NumReasons)
	}
	for i, id := range h.reasons[:len(h.reasons)-1] {
		if want := "R_" + strings.ToUpper(Reason(i).String()); id != want {
			t.Errorf("reason %d: steer_abi.h %s, Go %s (%s)", i, id, want, Reason(i))
		}
	}

	want := []abiField{{"route_id", metaOffRouteID, 4, ""}, {"reason", metaOffReason, 2, ""}, {"magic", metaOffMagic, 2, ""}}
	if len(h.meta) != len(want) {
		t.Fatalf("struct meta has %d fields %v, Go decodes %d", len(h.meta), h.meta, len(want))
	}
	end := 0
	for i, f := range h.meta {
		if f.name != want[i].name || f.off != want[i].off || f.size != want[i].size {
			t.Errorf("struct meta field %d: %q at offset %d (%d octets), Go reads %s at %d (%d)",
				i, f.declaration, f.off, f.size, want[i].name, want[i].off, want[i].size)
		}
		end = f.off + f.size
	}
	if end != MetaLen {
		t.Errorf("struct meta is %d octets, MetaLen %d", end, MetaLen)
	}
}

// TestABIOneSource: steer.c takes the shared values from steer_abi.h and
// defines none of them itself.
func TestABIOneSource(t *testing.T) {
	h, err := parseABIHeader("steer_abi.h")
	if err != nil {
		t.Fatal(err)
	}
	src, err := os.ReadFile("steer.c")
	if err != nil {
		t.Fatal(err)
	}
	c := string(src)
	if !strings.Contains(c, `#include "steer_abi.h"`) {
		t.Error(`steer.c does not #include "steer_abi.h"`)
	}
	for name := range h.defines {
		if regexp.MustCompile(`(?m)^#define\s+` + name + `\b`).MatchString(c) {
			t.Errorf("steer.c defines %s again", name)
		}
	}
	for _, decl := range []string{"enum reason {", "struct meta {"} {
		if strings.Contains(c, decl) {
			t.Errorf("steer.c declares %s} again", decl)
		}
	}
}

// TestParseMeta decodes struct meta as it sits in front of a packet
// (little-endian host, as every target dexplane builds for).
func TestParseMeta(t *testing.T) {
	for _, tc := range []struct {
		name string
		hex  string // octets before the packet; struct meta is the last 8
		want Meta
		ok   bool
	}{
		// route_id 7 | reason 7 (sampled) | magic 0xd7e5
		{"sampled", "07000000" + "0700" + "e5d7", Meta{Reason: ReasonSampled, RouteID: 7}, true},
		// headroom before it is ignored
		{"headroom", "ffffffff" + "00000000" + "0800" + "e5d7", Meta{Reason: ReasonHbH}, true},
		{"wrong magic", "07000000" + "0700" + "d7e5", Meta{}, false},
		{"short", "0700" + "e5d7", Meta{}, false},
		{"none", "", Meta{}, false},
	} {
		b, err := hex.DecodeString(tc.hex)
		if err != nil {
			t.Fatal(err)
		}
		if m, ok := ParseMeta(b); m != tc.want || ok != tc.ok {
			t.Errorf("%s: %+v %v, want %+v %v", tc.name, m, ok, tc.want, tc.ok)
		}
	}
	if n := testing.AllocsPerRun(100, func() { ParseMeta(make([]byte, 0, 8)[:8]) }); n != 0 {
		t.Errorf("ParseMeta allocates %v times", n)
	}
}

// BenchmarkParseMeta is the per-frame cost of reading the metadata.
func BenchmarkParseMeta(b *testing.B) {
	buf, _ := hex.DecodeString("07000000" + "0700" + "e5d7")
	for b.Loop() {
		if _, ok := ParseMeta(buf); !ok {
			b.Fatal("no meta")
		}
	}
}
