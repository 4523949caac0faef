package exporter_test

import (
	"bytes"
	"encoding/json"
	"fmt"
	"net"
	"os/exec"
	"path/filepath"
	"syscall"
	"testing"
	"time"

	"github.com/dexplane/dexplane/internal/testutil"
)

// startNfacctd starts nfacctd (the test skips when pmacct is not
// installed) on a free UDP port of 127.0.0.1 with the shipped primitives
// file and its print plugin writing the primitives in aggregate as JSON
// rows, once a second, to a file. It waits until nfacctd listens and
// returns the port and the output file; when the test fails, nfacctd's
// output is logged.
func startNfacctd(t *testing.T, aggregate string) (port int, out string) {
	t.Helper()
	bin := testutil.NeedTool(t, "nfacctd", "Debian package pmacct")
	dir := t.TempDir()
	prims, _ := filepath.Abs("iedefs/pmacct/primitives.lst")
	out = filepath.Join(dir, "out.json")
	conf := filepath.Join(dir, "nfacctd.conf")
	port, peer := startBound(t, func(port int) *testutil.Proc {
		testutil.WriteFile(t, conf, []byte(fmt.Sprintf(`daemonize: false
nfacctd_ip: 127.0.0.1
nfacctd_port: %d
aggregate_primitives: %s
plugins: print
aggregate: %s
print_output: json
print_output_file: %s
print_refresh_time: 1
`, port, prims, aggregate, out)))
		return startPeer(t, bin, "-f", conf)
	})
	t.Cleanup(func() {
		if t.Failed() {
			t.Logf("nfacctd log:\n%s", peer.Log)
		}
	})
	return port, out
}

// startGoflow2Raw starts goflow2 (the test skips when it is not installed)
// on a free UDP port of 127.0.0.1 with its raw producer writing one JSON
// line per message to a file, waits until it listens and returns the port,
// the output file and goflow2's own output.
func startGoflow2Raw(t *testing.T) (port int, out string, log *testutil.LockedBuffer) {
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
func startGoflow2(t *testing.T, produce ...string) (port int, out string, log *testutil.LockedBuffer) {
	t.Helper()
	bin := testutil.GoBin(t, "goflow2", "install with: go install github.com/netsampler/goflow2/v2/cmd/goflow2@v2.2.6")
	out = filepath.Join(t.TempDir(), "goflow2.json")
	port, peer := startBound(t, func(port int) *testutil.Proc {
		args := append([]string{"-listen", fmt.Sprintf("netflow://127.0.0.1:%d?count=1&workers=1", port)}, produce...)
		return startPeer(t, bin, append(args, "-format", "json", "-transport", "file", "-transport.file", out, "-addr", "")...)
	})
	return port, out, peer.Log
}

// startBound starts a peer with start on a free UDP port of 127.0.0.1 and
// waits until it has bound the port. Another process (go test runs
// packages in parallel) can take a free port before the peer binds it, so a
// peer that exits before binding is started again on a new port, three
// times at most; one that neither binds nor exits fails t.
func startBound(t *testing.T, start func(port int) *testutil.Proc) (int, *testutil.Proc) {
	t.Helper()
	var err error
	for range 3 {
		port := int(testutil.FreeAddr(t, "udp").Port())
		peer := start(port)
		if err = waitBound(port, peer); err == nil {
			return port, peer
		}
		if !peer.Exited() {
			break
		}
		t.Logf("peer exited before binding UDP port %d, trying another port:\n%s", port, peer.Log)
	}
	t.Fatal(err)
	return 0, nil
}

// waitBound waits until some process has bound 127.0.0.1:port (our own
// bind attempt fails); it fails if peer exits first or 10 s pass.
func waitBound(port int, peer *testutil.Proc) error {
	return peer.WaitFor(fmt.Sprintf("bind of UDP port %d", port), 10*time.Second, func() bool {
		pc, err := net.ListenPacket("udp", fmt.Sprintf("127.0.0.1:%d", port))
		if err != nil {
			return true
		}
		pc.Close()
		return false
	})
}

// startPeer starts a peer process in a process group of its own and
// registers the group's termination.
func startPeer(t *testing.T, name string, args ...string) *testutil.Proc {
	t.Helper()
	cmd := exec.Command(name, args...)
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	p := testutil.StartCmd(t, cmd)
	t.Cleanup(func() {
		// The peer and the helpers it forked (nfacctd plugins) share its
		// process group: signal that group, identified by the peer's PID.
		syscall.Kill(-cmd.Process.Pid, syscall.SIGTERM)
		select {
		case <-p.Done():
		case <-time.After(1500 * time.Millisecond):
			syscall.Kill(-cmd.Process.Pid, syscall.SIGKILL)
			<-p.Done()
		}
	})
	return p
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
	return testutil.NeedTool(t, "tshark", "Debian package tshark")
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
