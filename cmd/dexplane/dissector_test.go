package main

import (
	"bytes"
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"

	"github.com/dexplane/dexplane/internal/decodejson"
	"github.com/dexplane/dexplane/internal/hostile"
	"github.com/dexplane/dexplane/internal/specvec"
	"github.com/dexplane/dexplane/internal/testutil"
)

// dissector is the Lua dissector shipped in the repository and the package.
const dissector = "../../deploy/wireshark/dexplane.lua"

// goldenIPv6 are the byte-exact IPv6 packets of the reference spec §7
// (dataplane/packet/vectors_test.go documents their layout), plus variants
// that exercise the other fields: (a) inline DEX, (b) Flow ID + Sequence
// Number, (b2) Flow ID only, (c) IPv6-in-IPv6, (d) after another option,
// (e) Pre-allocated Trace with one node, and a two-node PTO with wide
// fields.
var goldenIPv6 = []string{
	specvec.Plain,
	specvec.A,
	specvec.B,
	specvec.B2,
	specvec.C,
	specvec.D,
	specvec.E,
	// DEX ns 7, flags 0x80, ext 0x40 (seq only), trace 0xF00000, seq 0xFFFFFFFE.
	"600000000024004020010db800000000000000000000000120010db800000000000000000000000211020100310e000400078040f0000000fffffffe010200009c401389000c15c770696e67",
	// PTO ns 9, NodeLen 4, RemLen 0, trace 0xC08000 (bits 0, 1, 8), two
	// nodes of 16 octets: HbH 2 + PadN(2) + 44 = 48 octets (Hdr Ext Len 5).
	"60000000003c004020010db800000000000000000000000120010db800000000000000000000000211050100" +
		"31" + "2a" + "0000" + "0009" + "2000" + "c08000" + "00" +
		"3f000002" + "000b000c" + "3f00000000000002" +
		"40000001" + "0015" + "0016" + "4000000000000001" +
		"9c401389000c15c770696e67",
}

// goldenPcap writes the golden packets behind an Ethernet header to a pcap
// file and returns its path.
func goldenPcap(t *testing.T) string {
	t.Helper()
	eth := linkCases[0]
	var frames [][]byte
	for _, h := range goldenIPv6 {
		frames = append(frames, eth.wrap(testutil.MustHex(t, h)))
	}
	return writeCapture(t, eth, frames, nil)
}

// dissectorFields are the fields compared, as tshark -e names them.
var dissectorFields = []string{
	"dexplane.ioam.offset", "dexplane.ioam.option_type", "dexplane.ioam.type",
	"dexplane.dex.ns", "dexplane.dex.flags", "dexplane.dex.ext_flags", "dexplane.dex.trace_type",
	"dexplane.dex.flow_id", "dexplane.dex.seq",
	"dexplane.pto.ns", "dexplane.pto.flags", "dexplane.pto.node_len", "dexplane.pto.rem_len", "dexplane.pto.trace_type",
	// Wireshark's own PTO fields, which the dissector defers to.
	"ipv6.opt.ioam.trace.ns", "ipv6.opt.ioam.trace.nodelen", "ipv6.opt.ioam.trace.remlen", "ipv6.opt.ioam.trace.type",
	// PTO node data: ours, then Wireshark's (compared pairwise).
	"dexplane.pto.node.hop_limit", "dexplane.pto.node.node_id", "dexplane.pto.node.ingress_if_id",
	"dexplane.pto.node.egress_if_id", "dexplane.pto.node.node_id_wide",
	"ipv6.opt.ioam.trace.node.hlim", "ipv6.opt.ioam.trace.node.id", "ipv6.opt.ioam.trace.node.iif",
	"ipv6.opt.ioam.trace.node.eif", "ipv6.opt.ioam.trace.node.id_wide",
}

// nodeFieldPairs pair the dissector's PTO node fields with Wireshark's.
var nodeFieldPairs = [][2]string{
	{"dexplane.pto.node.hop_limit", "ipv6.opt.ioam.trace.node.hlim"},
	{"dexplane.pto.node.node_id", "ipv6.opt.ioam.trace.node.id"},
	{"dexplane.pto.node.ingress_if_id", "ipv6.opt.ioam.trace.node.iif"},
	{"dexplane.pto.node.egress_if_id", "ipv6.opt.ioam.trace.node.eif"},
	{"dexplane.pto.node.node_id_wide", "ipv6.opt.ioam.trace.node.id_wide"},
}

// expectFields returns, per field of dissectorFields, the values `dexplane
// decode --json` found in one packet, in option order.
func expectFields(r decodejson.Packet) map[string][]uint64 {
	m := map[string][]uint64{}
	add := func(k string, v uint64) { m[k] = append(m[k], v) }
	for _, o := range r.IOAM {
		prefix, ok := map[uint8]string{4: "dexplane.dex.", 0: "dexplane.pto."}[o.IOAMType]
		if !ok || o.NS == nil {
			continue
		}
		add("dexplane.ioam.offset", uint64(o.Offset))
		add("dexplane.ioam.option_type", uint64(o.OptionType))
		add("dexplane.ioam.type", uint64(o.IOAMType))
		add(prefix+"ns", uint64(*o.NS))
		add(prefix+"flags", uint64(*o.Flags))
		add(prefix+"trace_type", uint64(*o.TraceType))
		switch o.IOAMType {
		case 4:
			add("dexplane.dex.ext_flags", uint64(*o.ExtFlags))
			if o.FlowID != nil {
				add("dexplane.dex.flow_id", uint64(*o.FlowID))
			}
			if o.Seq != nil {
				add("dexplane.dex.seq", uint64(*o.Seq))
			}
		case 0:
			add("dexplane.pto.node_len", uint64(*o.NodeLen))
			add("dexplane.pto.rem_len", uint64(*o.RemLen))
			add("ipv6.opt.ioam.trace.ns", uint64(*o.NS))
			add("ipv6.opt.ioam.trace.nodelen", uint64(*o.NodeLen))
			add("ipv6.opt.ioam.trace.remlen", uint64(*o.RemLen))
			add("ipv6.opt.ioam.trace.type", uint64(*o.TraceType))
		}
	}
	return m
}

// tsharkFields runs tshark with the dissector over pcap and returns, per
// frame, the values of dissectorFields, and the Lua errors it reported.
func tsharkFields(t *testing.T, script, pcap string) (frames []map[string][]uint64, luaErrors []string) {
	t.Helper()
	args := []string{"-n", "-X", "lua_script:" + script, "-o", "dexplane.force_pto:TRUE", "-r", pcap,
		"-T", "fields", "-E", "separator=/t", "-E", "occurrence=a", "-E", "aggregator=,", "-e", "frame.number", "-e", "_ws.expert.message"}
	for _, f := range dissectorFields {
		args = append(args, "-e", f)
	}
	var stderr bytes.Buffer
	cmd := exec.Command("tshark", args...)
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	if err != nil {
		t.Fatalf("tshark: %v: %s", err, stderr.String())
	}
	if strings.Contains(stderr.String(), "Lua") || strings.Contains(stderr.String(), "lua") {
		t.Fatalf("tshark reports a Lua problem: %s", stderr.String())
	}
	for _, line := range strings.Split(strings.TrimRight(string(out), "\n"), "\n") {
		cols := strings.Split(line, "\t")
		if len(cols) != 2+len(dissectorFields) {
			t.Fatalf("tshark line %q has %d columns", line, len(cols))
		}
		if strings.Contains(cols[1], "Lua Error") {
			luaErrors = append(luaErrors, "frame "+cols[0]+": "+cols[1])
		}
		m := map[string][]uint64{}
		for i, c := range cols[2:] {
			if c == "" {
				continue
			}
			for _, v := range strings.Split(c, ",") {
				n, err := strconv.ParseUint(v, 0, 64)
				if err != nil {
					t.Fatalf("tshark %s value %q: %v", dissectorFields[i], v, err)
				}
				m[dissectorFields[i]] = append(m[dissectorFields[i]], n)
			}
		}
		frames = append(frames, m)
	}
	return frames, luaErrors
}

// notIOAMToDexplane names the hostile frames whose IOAM bytes Wireshark
// dissects but that dexplane, on purpose, does not treat as IOAM, so
// `dexplane decode` reports none and the comparison does not apply.
var notIOAMToDexplane = map[string]string{
	"vlan-three-tags": "three VLAN tags exceed the tag stack both classifiers accept: not IPv6 to dexplane",
	"pto-in-dstopts":  "a Pre-allocated Trace in a Destination Options header is not IOAM to Linux, nor to dexplane",
}

// hostileNames are the hostile frames' names in capture order.
var hostileNames = func() []string {
	var names []string
	for _, f := range hostile.Frames() {
		names = append(names, f.Name)
	}
	return names
}()

// TestLuaDissector runs tshark with deploy/wireshark/dexplane.lua over the
// golden vectors and the hostile capture and compares every DEX and PTO
// field with `dexplane decode --json` (decodeCapture, its implementation):
// equal on every packet dexplane decodes, and no Lua error anywhere (on
// malformed packets the dissector shows what it can; dexplane decodes
// nothing there, so only the absence of errors is checked).
func TestLuaDissector(t *testing.T) {
	testutil.NeedTool(t, "tshark", "scripts/install-deps.sh installs it")
	golden := goldenPcap(t)
	for _, pcap := range []string{golden, "../../e2e/testdata/hostile.pcap"} {
		t.Run(filepath.Base(pcap), func(t *testing.T) {
			var recs []decodejson.Packet
			dec := json.NewDecoder(decodeFile(t, pcap, true))
			for dec.More() {
				var r decodejson.Packet
				if err := dec.Decode(&r); err != nil {
					t.Fatal(err)
				}
				recs = append(recs, r)
			}
			got, luaErrors := tsharkFields(t, dissector, pcap)
			for _, e := range luaErrors {
				t.Error(e)
			}
			if len(got) != len(recs) {
				t.Fatalf("tshark saw %d frames, dexplane decode %d", len(got), len(recs))
			}
			compared, fields := 0, 0
			for i, r := range recs {
				if pcap != golden && i < len(hostileNames) {
					if why, ok := notIOAMToDexplane[hostileNames[i]]; ok {
						t.Logf("frame %d (%s): compared for Lua errors only: %s", i+1, hostileNames[i], why)
						continue
					}
				}
				if !r.OK {
					if pcap == golden {
						t.Errorf("golden frame %d: dexplane decode: %s", i+1, r.Error)
					}
					continue
				}
				want := expectFields(r)
				for _, pair := range nodeFieldPairs {
					a, b := got[i][pair[0]], got[i][pair[1]]
					if fmt.Sprint(a) != fmt.Sprint(b) {
						t.Errorf("frame %d PTO node data %s %v, Wireshark's %s %v", i+1, pair[0], a, pair[1], b)
					}
					want[pair[0]], want[pair[1]] = a, b
					fields += len(a)
				}
				for _, k := range dissectorFields {
					if fmt.Sprint(want[k]) != fmt.Sprint(got[i][k]) {
						t.Errorf("frame %d %s: tshark %v, dexplane decode %v", i+1, k, got[i][k], want[k])
					}
					fields += len(want[k])
				}
				compared++
			}
			t.Logf("%d packets compared, %d field values equal or reported", compared, fields)
			if fields == 0 {
				t.Error("no IOAM field compared")
			}
		})
	}
}

// TestLuaDissectorCatchesErrors: the comparison above fails for a
// dissector with a Lua error, so its pass means something.
func TestLuaDissectorCatchesErrors(t *testing.T) {
	testutil.NeedTool(t, "tshark", "scripts/install-deps.sh installs it")
	src, err := os.ReadFile(dissector)
	if err != nil {
		t.Fatal(err)
	}
	broken := strings.Replace(string(src), "tree:add(f.dex_seq, tvb(o, 4))", "tree:add(f.dex_seq, tvb(o, 4)):no_such_method()", 1)
	if broken == string(src) {
		t.Fatal("the line to break is gone from the dissector")
	}
	dir := t.TempDir()
	script := filepath.Join(dir, "broken.lua")
	os.WriteFile(script, []byte(broken), 0o644)
	golden := goldenPcap(t)
	if _, luaErrors := tsharkFields(t, script, golden); len(luaErrors) == 0 {
		t.Error("a dissector that calls a missing method passed the Lua error check")
	}
}
