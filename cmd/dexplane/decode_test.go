package main

import (
	"bytes"
	"encoding/json"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"

	"github.com/gopacket/gopacket/layers"

	"github.com/dexplane/dexplane/internal/specvec"
	"github.com/dexplane/dexplane/internal/testutil"
)

// IPv6 packets of the reference spec §7, plus malformed variants.
var decodeVectors = []struct {
	name string
	hex  string
	want string // expected JSON object, without "index"
}{
	{"plain", specvec.Plain,
		`{"ok":true,"encap":"none","src":"2001:db8::1","dst":"2001:db8::2","ioam":[]}`},
	{"a", specvec.A,
		`{"ok":true,"encap":"inline","src":"2001:db8::1","dst":"2001:db8::2","ioam":[
			{"offset":4,"option_type":49,"ioam_type":4,"ns":123,"flags":0,"ext_flags":0,"trace_type":8388608}]}`},
	{"b", specvec.B,
		`{"ok":true,"encap":"inline","src":"2001:db8::1","dst":"2001:db8::2","ioam":[
			{"offset":4,"option_type":49,"ioam_type":4,"ns":123,"flags":0,"ext_flags":192,"trace_type":11534336,"flow_id":305419896,"seq":0}]}`},
	{"b2", specvec.B2,
		`{"ok":true,"encap":"inline","src":"2001:db8::1","dst":"2001:db8::2","ioam":[
			{"offset":4,"option_type":49,"ioam_type":4,"ns":123,"flags":0,"ext_flags":128,"trace_type":11534336,"flow_id":305419896}]}`},
	{"c", specvec.C,
		`{"ok":true,"encap":"ip6ip6","src":"2001:db8:ffff::1","dst":"2001:db8:ffff::2","inner_src":"2001:db8::1","inner_dst":"2001:db8::2","ioam":[
			{"offset":4,"option_type":49,"ioam_type":4,"ns":123,"flags":0,"ext_flags":192,"trace_type":8388608,"flow_id":305419896,"seq":1}]}`},
	{"d", specvec.D,
		`{"ok":true,"encap":"inline","src":"2001:db8::1","dst":"2001:db8::2","ioam":[
			{"offset":8,"option_type":49,"ioam_type":4,"ns":123,"flags":0,"ext_flags":0,"trace_type":8388608}]}`},
	{"e", specvec.E,
		`{"ok":true,"encap":"inline","src":"2001:db8::1","dst":"2001:db8::2","ioam":[
			{"offset":4,"option_type":49,"ioam_type":0,"ns":123,"flags":0,"trace_type":8388608,"node_len":1,"rem_len":1,
			 "overflow":false,"hops":[{"index":0,"hop_limit":63,"node_id":1}]}]}`},
	{"ioam 0x11", "60000000001c004020010db800000000000000000000000120010db800000000000000000000000211010100110a0004007b0000800000009c401389000c15c770696e67",
		`{"ok":true,"encap":"inline","src":"2001:db8::1","dst":"2001:db8::2","ioam":[
			{"offset":4,"option_type":17,"ioam_type":4,"ns":123,"flags":0,"ext_flags":0,"trace_type":8388608}]}`},
	{"misaligned", "600000000024004020010db800000000000000000000000120010db80000000000000000000000021102010100310a0004007b0000800000000105000000000000" + "9c401389000c15c770696e67",
		`{"ok":false,"error":"packet: IOAM option is not 4n-aligned (frame offset L3+45, value 5)","encap":"none","src":"2001:db8::1","dst":"2001:db8::2","ioam":[]}`},
	{"overrun", "600000000014004020010db800000000000000000000000120010db8000000000000000000000002" + "11000100310a0004" + "9c401389000c15c770696e67",
		`{"ok":false,"error":"packet: Hop-by-Hop option runs past the end of the header (frame offset L3+45, value 10)","encap":"none","src":"2001:db8::1","dst":"2001:db8::2","ioam":[]}`},
	{"ipv4", "4500001c000000004011000000000000000000000000000000000000",
		`{"ok":true,"encap":"none","ioam":[]}`},
}

// linkCase wraps an IP packet in a link-layer header.
type linkCase struct {
	name string
	lt   layers.LinkType
	ng   bool // write pcapng instead of pcap
	wrap func(ip []byte) []byte
	l3   int
}

func etherType(ip []byte) []byte {
	if ip[0]>>4 == 6 {
		return []byte{0x86, 0xdd}
	}
	return []byte{0x08, 0x00}
}

var linkCases = []linkCase{
	{"ethernet-pcap", layers.LinkTypeEthernet, false, func(ip []byte) []byte {
		h := append([]byte{2, 0, 0, 0, 0, 2, 2, 0, 0, 0, 0, 1}, etherType(ip)...)
		return append(h, ip...)
	}, 14},
	{"vlan-pcapng", layers.LinkTypeEthernet, true, func(ip []byte) []byte {
		h := append([]byte{2, 0, 0, 0, 0, 2, 2, 0, 0, 0, 0, 1, 0x81, 0, 0, 100}, etherType(ip)...)
		return append(h, ip...)
	}, 18},
	{"rawipv6-pcap", layers.LinkTypeIPv6, false, func(ip []byte) []byte { return ip }, 0},
	{"raw-pcapng", layers.LinkTypeRaw, true, func(ip []byte) []byte { return ip }, 0},
	{"sll-pcap", layers.LinkTypeLinuxSLL, false, func(ip []byte) []byte {
		// packet type 0 (to us), ARPHRD_ETHER, address length 6, address, protocol
		h := append([]byte{0, 0, 0, 1, 0, 6, 2, 0, 0, 0, 0, 1, 0, 0}, etherType(ip)...)
		return append(h, ip...)
	}, 16},
	{"sll2-pcapng", layers.LinkTypeLinuxSLL2, true, func(ip []byte) []byte {
		// protocol, reserved, ifindex 2, ARPHRD_ETHER, packet type 0, address length 6, address
		h := append(etherType(ip), 0, 0, 0, 0, 0, 2, 0, 1, 0, 6, 2, 0, 0, 0, 0, 1, 0, 0)
		return append(h, ip...)
	}, 20},
}

// writeCapture writes frames to a pcap or pcapng file and returns its path.
func writeCapture(t testing.TB, lc linkCase, frames [][]byte, truncate map[int]int) string {
	t.Helper()
	return testutil.WriteCapture(t, filepath.Join(t.TempDir(), lc.name+".cap"),
		testutil.Capture{LinkType: lc.lt, NG: lc.ng, Truncate: truncate}, frames)
}

// TestDecodeJSON writes the spec vectors in every supported link type and
// container, decodes them with --json and compares each object.
func TestDecodeJSON(t *testing.T) {
	for _, lc := range linkCases {
		t.Run(lc.name, func(t *testing.T) {
			out := decodeFile(t, writeCapture(t, lc, vectorFrames(t, lc, len(decodeVectors)), nil), true)
			lines := strings.Split(strings.TrimSuffix(out.String(), "\n"), "\n")
			if len(lines) != len(decodeVectors) {
				t.Fatalf("%d lines for %d packets:\n%s", len(lines), len(decodeVectors), out.String())
			}
			for i, v := range decodeVectors {
				var got, want map[string]any
				if err := json.Unmarshal([]byte(lines[i]), &got); err != nil {
					t.Fatalf("line %d: %v: %s", i, err, lines[i])
				}
				exp := strings.ReplaceAll(v.want, "L3+", "")
				exp = strings.Replace(exp, "frame offset 45", "frame offset "+itoa(lc.l3+45), 1)
				if err := json.Unmarshal([]byte(exp), &want); err != nil {
					t.Fatalf("bad expectation %s: %v", v.name, err)
				}
				want["index"] = float64(i)
				if !reflect.DeepEqual(got, want) {
					t.Errorf("%s:\n got %s\nwant %s", v.name, lines[i], exp)
				}
			}
		})
	}
}

func itoa(n int) string { b, _ := json.Marshal(n); return string(b) }

// vectorFrames returns the first n decodeVectors behind lc's link header.
func vectorFrames(t testing.TB, lc linkCase, n int) [][]byte {
	var frames [][]byte
	for _, v := range decodeVectors[:n] {
		frames = append(frames, lc.wrap(testutil.MustHex(t, v.hex)))
	}
	return frames
}

// decodeFile runs decodeCapture on the capture file at path (as --json if
// asJSON) and returns what it printed.
func decodeFile(t testing.TB, path string, asJSON bool) *bytes.Buffer {
	t.Helper()
	f, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	var out bytes.Buffer
	if err := decodeCapture(f, &out, asJSON); err != nil {
		t.Fatal(err)
	}
	return &out
}

// TestDecodeText checks the human-readable form and that a truncated
// capture is reported as such while decoding continues.
func TestDecodeText(t *testing.T) {
	path := writeCapture(t, linkCases[0], vectorFrames(t, linkCases[0], len(decodeVectors)), map[int]int{1: 50})
	out := decodeFile(t, path, false)
	lines := strings.Split(out.String(), "\n")
	for i, want := range []string{
		"0 2001:db8::1 > 2001:db8::2 none",
		"1 MALFORMED: packet: truncated IPv6 header (frame offset 14, value 36) (capture truncated to 50 of 82 octets)",
		"2 2001:db8::1 > 2001:db8::2 inline | IOAM@4 opt 0x31 type 4 DEX ns 123 flags 0x00 ext 0xc0 trace 0xb00000 flow 0x12345678 seq 0",
		"3 2001:db8::1 > 2001:db8::2 inline | IOAM@4 opt 0x31 type 4 DEX ns 123 flags 0x00 ext 0x80 trace 0xb00000 flow 0x12345678",
		"4 2001:db8:ffff::1 > 2001:db8:ffff::2 ip6ip6 [2001:db8::1 > 2001:db8::2] | IOAM@4 opt 0x31 type 4 DEX ns 123 flags 0x00 ext 0xc0 trace 0x800000 flow 0x12345678 seq 1",
		"5 2001:db8::1 > 2001:db8::2 inline | IOAM@8 opt 0x31 type 4 DEX ns 123 flags 0x00 ext 0x00 trace 0x800000",
		"6 2001:db8::1 > 2001:db8::2 inline | IOAM@4 opt 0x31 type 0 PTO ns 123 trace 0x800000 nodelen 1 remlen 1 hop[0] hop_limit 63 node_id 1",
		"7 2001:db8::1 > 2001:db8::2 inline | IOAM@4 opt 0x11 type 4 DEX ns 123 flags 0x00 ext 0x00 trace 0x800000",
		"8 MALFORMED 2001:db8::1 > 2001:db8::2: packet: IOAM option is not 4n-aligned (frame offset 59, value 5)",
		"9 MALFORMED 2001:db8::1 > 2001:db8::2: packet: Hop-by-Hop option runs past the end of the header (frame offset 59, value 10)",
		"10 not IPv6",
	} {
		if i >= len(lines) || lines[i] != want {
			t.Errorf("line %d:\n got %q\nwant %q", i, lines[min(i, len(lines)-1)], want)
		}
	}
}

// TestRunDecode checks the CLI wrapper: usage errors and unreadable files.
func TestRunDecode(t *testing.T) {
	if code := runDecode(nil); code != 2 {
		t.Errorf("no -r: exit %d, want 2", code)
	}
	if code := runDecode([]string{"-r", filepath.Join(t.TempDir(), "missing.pcap")}); code != 1 {
		t.Errorf("missing file: exit %d, want 1", code)
	}
	junk := filepath.Join(t.TempDir(), "junk.pcap")
	if err := os.WriteFile(junk, []byte("this is not a capture file"), 0o644); err != nil {
		t.Fatal(err)
	}
	if code := runDecode([]string{"-r", junk, "--json"}); code != 1 {
		t.Errorf("junk file: exit %d, want 1", code)
	}
}

// FuzzDecodeCapture feeds arbitrary capture files to `dexplane decode`: it
// must never panic or hang, and a file it accepts produces one JSON object
// per packet.
func FuzzDecodeCapture(f *testing.F) {
	for _, lc := range linkCases {
		data, err := os.ReadFile(writeCapture(f, lc, vectorFrames(f, lc, 3), nil))
		if err != nil {
			f.Fatal(err)
		}
		f.Add(data)
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		var out bytes.Buffer
		if err := decodeCapture(bytes.NewReader(data), &out, true); err != nil {
			return
		}
		d := json.NewDecoder(&out)
		for d.More() {
			var rec map[string]any
			if err := d.Decode(&rec); err != nil {
				t.Fatalf("output is not a JSON object stream: %v", err)
			}
		}
	})
}
