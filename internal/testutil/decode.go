package testutil

import (
	"bufio"
	"bytes"
	"encoding/json"
	"os/exec"
	"testing"

	"github.com/dexplane/dexplane/internal/decodejson"
)

// DecodePcap runs `bin decode -r file --json` and returns one entry per
// captured packet, in capture order. It fails t if the command fails or a
// line is not a decodejson.Packet.
func DecodePcap(t testing.TB, bin, file string) []decodejson.Packet {
	t.Helper()
	out, err := exec.Command(bin, "decode", "-r", file, "--json").Output()
	if err != nil {
		t.Fatalf("dexplane decode %s: %v", file, err)
	}
	var pkts []decodejson.Packet
	sc := bufio.NewScanner(bytes.NewReader(out))
	sc.Buffer(make([]byte, 1<<20), 1<<20)
	for sc.Scan() {
		var p decodejson.Packet
		if err := json.Unmarshal(sc.Bytes(), &p); err != nil {
			t.Fatalf("dexplane decode %s: line %q: %v", file, sc.Text(), err)
		}
		pkts = append(pkts, p)
	}
	if err := sc.Err(); err != nil {
		t.Fatalf("dexplane decode %s: %v", file, err)
	}
	return pkts
}
