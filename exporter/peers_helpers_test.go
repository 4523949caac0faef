package exporter_test

import (
	"bytes"
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"testing"
)

// startNfacctd starts nfacctd (the test skips when pmacct is not
// installed) on a free UDP port of 127.0.0.1 with the shipped primitives
// file and its print plugin writing the primitives in aggregate as JSON
// rows, once a second, to a file. It waits until nfacctd listens and
// returns the port and the output file; when the test fails, nfacctd's
// output is logged.
func startNfacctd(t *testing.T, aggregate string) (port int, out string) {
	t.Helper()
	bin, err := exec.LookPath("nfacctd")
	if err != nil {
		t.Skip("nfacctd not installed (Debian package pmacct)")
	}
	dir := t.TempDir()
	port = udpPort(t)
	prims, _ := filepath.Abs("iedefs/pmacct/primitives.lst")
	out = filepath.Join(dir, "out.json")
	conf := filepath.Join(dir, "nfacctd.conf")
	if err := os.WriteFile(conf, []byte(fmt.Sprintf(`daemonize: false
nfacctd_ip: 127.0.0.1
nfacctd_port: %d
aggregate_primitives: %s
plugins: print
aggregate: %s
print_output: json
print_output_file: %s
print_refresh_time: 1
`, port, prims, aggregate, out)), 0o644); err != nil {
		t.Fatal(err)
	}
	cmd, log := startPeer(t, bin, "-f", conf)
	waitBound(t, port, cmd, log)
	t.Cleanup(func() {
		if t.Failed() {
			t.Logf("nfacctd log:\n%s", log)
		}
	})
	return port, out
}

// startGoflow2Raw starts goflow2 (the test skips when it is not installed)
// on a free UDP port of 127.0.0.1 with its raw producer writing one JSON
// line per message to a file, waits until it listens and returns the port,
// the output file and goflow2's own output.
func startGoflow2Raw(t *testing.T) (port int, out string, log *bytes.Buffer) {
	t.Helper()
	return startGoflow2(t, "-produce", "raw")
}

// startGoflow2Mapped is startGoflow2Raw with goflow2's sample producer and
// the shipped mapping (collectors/goflow2/mapping.yaml): one JSON line per
// record, the DEX fields by name.
func startGoflow2Mapped(t *testing.T) (port int, out string) {
	t.Helper()
	mapping, err := filepath.Abs("iedefs/goflow2/mapping.yaml")
	if err != nil {
		t.Fatal(err)
	}
	port, out, _ = startGoflow2(t, "-produce", "sample", "-mapping", mapping)
	return port, out
}

// startGoflow2 starts goflow2 with the producer arguments produce, JSON to
// a file, one worker (see startGoflow2Raw).
func startGoflow2(t *testing.T, produce ...string) (port int, out string, log *bytes.Buffer) {
	t.Helper()
	bin := goflow2Path(t)
	port = udpPort(t)
	out = filepath.Join(t.TempDir(), "goflow2.json")
	args := append([]string{"-listen", fmt.Sprintf("netflow://127.0.0.1:%d?count=1&workers=1", port)}, produce...)
	cmd, log := startPeer(t, bin, append(args, "-format", "json", "-transport", "file", "-transport.file", out, "-addr", "")...)
	waitBound(t, port, cmd, log)
	return port, out, log
}

// goflowValue is one field of a record as goflow2's raw producer prints it.
type goflowValue struct {
	PenProvided bool   `json:"pen-provided"`
	Type        uint16 `json:"type"`
	Pen         uint32 `json:"pen"`
	Value       string `json:"value"` // base64 of the octets
}

// goflowFlowSet is one set of a message as goflow2's raw producer prints it.
type goflowFlowSet struct {
	ID      uint16 `json:"id"`
	Records []struct {
		Values []goflowValue `json:"values"`
	} `json:"records"`
}

// tsharkPath returns the tshark binary; the test skips when it is not
// installed.
func tsharkPath(t *testing.T) string {
	t.Helper()
	bin, err := exec.LookPath("tshark")
	if err != nil {
		t.Skip("tshark not installed (Debian package tshark)")
	}
	return bin
}

// tsharkCflow dissects pcap with tshark, UDP port as IPFIX (cflow), fails
// the test when tshark reports a malformed packet or expert info, and
// returns the cflow layer of each packet in order (nil if a packet has
// none).
func tsharkCflow(t *testing.T, bin, pcap string, port int) []json.RawMessage {
	t.Helper()
	out, err := exec.Command(bin, "-r", pcap, "-d", fmt.Sprintf("udp.port==%d,cflow", port), "-T", "json", "--no-duplicate-keys").Output()
	if err != nil {
		t.Fatalf("tshark: %v", err)
	}
	if bytes.Contains(out, []byte("_ws.malformed")) || bytes.Contains(out, []byte("_ws.expert")) {
		i := max(bytes.Index(out, []byte("_ws.malformed")), bytes.Index(out, []byte("_ws.expert")))
		t.Fatalf("tshark reports malformed or expert info: ...%s", out[max(i-1500, 0):min(i+500, len(out))])
	}
	var pkts []struct {
		Source struct {
			Layers map[string]json.RawMessage `json:"layers"`
		} `json:"_source"`
	}
	if err := json.Unmarshal(out, &pkts); err != nil {
		t.Fatal(err)
	}
	layers := make([]json.RawMessage, len(pkts))
	for i, p := range pkts {
		layers[i] = p.Source.Layers["cflow"]
	}
	return layers
}
