package testutil

import (
	"bufio"
	"bytes"
	"encoding/json"
	"os/exec"
	"testing"
)

// DecodedIOAM is one IOAM option as `dexplane decode --json` prints it (the
// CLI contract in cmd/dexplane/decode.go, read independently of that code).
// Pointer fields are nil when the key is absent.
type DecodedIOAM struct {
	Offset     int     `json:"offset"` // octets from the start of the Hop-by-Hop header
	OptionType uint8   `json:"option_type"`
	IOAMType   uint8   `json:"ioam_type"`
	NS         *uint16 `json:"ns"`
	Flags      *uint8  `json:"flags"`
	ExtFlags   *uint8  `json:"ext_flags"`
	TraceType  *uint32 `json:"trace_type"`
	FlowID     *uint32 `json:"flow_id"`
	Seq        *uint32 `json:"seq"`
}

// DecodedPacket is one line of `dexplane decode --json`.
type DecodedPacket struct {
	Index    int           `json:"index"`
	OK       bool          `json:"ok"`
	Error    string        `json:"error"`
	Encap    string        `json:"encap"`
	Src      string        `json:"src"`
	Dst      string        `json:"dst"`
	InnerSrc string        `json:"inner_src"`
	InnerDst string        `json:"inner_dst"`
	IOAM     []DecodedIOAM `json:"ioam"`
}

// DecodePcap runs `bin decode -r file --json` and returns one entry per
// captured packet, in capture order. It fails t if the command fails or a
// line is not a DecodedPacket.
func DecodePcap(t testing.TB, bin, file string) []DecodedPacket {
	t.Helper()
	out, err := exec.Command(bin, "decode", "-r", file, "--json").Output()
	if err != nil {
		t.Fatalf("dexplane decode %s: %v", file, err)
	}
	var pkts []DecodedPacket
	sc := bufio.NewScanner(bytes.NewReader(out))
	sc.Buffer(make([]byte, 1<<20), 1<<20)
	for sc.Scan() {
		var p DecodedPacket
		if err := json.Unmarshal(sc.Bytes(), &p); err != nil {
			t.Fatalf("dexplane decode %s: line %q: %v", file, sc.Text(), err)
		}
		pkts = append(pkts, p)
	}
	return pkts
}
