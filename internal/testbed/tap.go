package testbed

// Capture points for XDP data planes.
//
// A frame that a bump node transmits with AF_XDP (copy mode: the kernel
// builds an skb and hands it straight to the driver) or redirects with an XDP
// devmap never passes the packet taps of the node's own interfaces, so
// tcpdump on a node's port does not see what the node sends. Domain4Tap puts
// a "wire" namespace on each link between two bump nodes: a Linux bridge
// between two veths. The wire-side veths carry the XDP_PASS program (a veth
// only accepts XDP-redirected frames when its peer has a native XDP
// program), so every frame a node puts on the link is received by the
// wire's kernel as an skb, passes its taps, and is bridged on to the next
// node. Capturing on a wire veth with direction "in" therefore sees exactly
// what one node transmitted towards the other.
//
// Domain4Tap also needs ethtool (hosts' TX checksum offload off), and
// StartCapture needs tcpdump; scripts/install-deps.sh installs both.

import (
	"bufio"
	"bytes"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"regexp"
	"strconv"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/dexplane/dexplane/internal/testbed/plan"
)

// Interface names inside a wire namespace: WireWest faces the bump node on
// host-a's side (Bumps[i] East), WireEast the one on host-b's side
// (Bumps[i+1] West). WireBridge enslaves both.
const (
	WireWest   = "west"
	WireEast   = "east"
	WireBridge = "br0"
)

// WireMAC returns the MAC of a wire namespace's veth: wire is the index in
// Testbed.Wires, port 0 is WireWest, 1 is WireEast.
func WireMAC(wire, port int) string {
	return fmt.Sprintf("02:00:00:ff:%02x:%02x", wire+1, port+1)
}

// addWire builds wire namespace i between Bumps[i] East and Bumps[i+1]
// West: a bridge without STP, multicast snooping, IPv6 or addresses, so it
// never emits a frame of its own, and XDP_PASS on both veths.
func (tb *Testbed) addWire(t testing.TB, i int) {
	t.Helper()
	w := NewNetns(t, fmt.Sprintf("w%d%d", i+1, i+2))
	// New devices in w (including veths moved in) start with IPv6 off.
	w.Sysctl(t, "net.ipv6.conf.default.disable_ipv6", "1")
	w.Sysctl(t, "net.ipv6.conf.all.disable_ipv6", "1")
	VethQueues(t, tb.Queues, tb.Bumps[i], plan.East, plan.PortMAC(i+1, 1), w, WireWest, WireMAC(i, 0))
	VethQueues(t, tb.Queues, w, WireEast, WireMAC(i, 1), tb.Bumps[i+1], plan.West, plan.PortMAC(i+2, 0))
	w.mustIP(t, "link", "add", WireBridge, "type", "bridge", "stp_state", "0", "mcast_snooping", "0")
	w.mustIP(t, "link", "set", WireBridge, "addrgenmode", "none")
	for _, ifname := range []string{WireBridge, WireWest, WireEast} {
		w.Sysctl(t, "net.ipv6.conf."+ifname+".disable_ipv6", "1")
	}
	for _, p := range []string{WireWest, WireEast} {
		w.mustIP(t, "link", "set", p, "master", WireBridge)
		if err := w.AttachPass(p); err != nil {
			t.Fatalf("testbed: wire %s: %v", w.Node, err)
		}
	}
	w.mustIP(t, "link", "set", WireBridge, "up")
	tb.Wires = append(tb.Wires, w)
}

// hostsChecksumTx turns TX checksum offload off on the hosts' eth0, so
// their L4 checksums are complete when a frame leaves them: a veth peer with
// XDP hands a data plane the frame with the checksum a NIC would have
// filled in still unfilled, and host-b's kernel would count every datagram
// that crossed an AF_XDP node as a checksum error (see dataplane/engine.go).
func (tb *Testbed) hostsChecksumTx(t testing.TB) {
	t.Helper()
	for _, h := range []*Netns{tb.HostA, tb.HostB} {
		h.MustRun(t, "ethtool", "-K", plan.HostIf, "tx", "off")
	}
}

// TapPoint returns where a capture of direction "in" sees the frames that
// cross link i of a Domain4Tap testbed (between Bumps[i] and Bumps[i+1]):
// eastbound (towards host-b) is what Bumps[i] transmits on its East port,
// westbound what Bumps[i+1] transmits on its West port. It fails the test
// for other topologies or an out-of-range link.
func (tb *Testbed) TapPoint(t testing.TB, i int, eastbound bool) (*Netns, string) {
	t.Helper()
	if i < 0 || i >= len(tb.Wires) {
		t.Fatalf("testbed: %s has no wire on link %d (%d wires)", tb.Topology, i, len(tb.Wires))
	}
	if eastbound {
		return tb.Wires[i], WireWest
	}
	return tb.Wires[i], WireEast
}

// Capture is a running tcpdump writing a pcap file. Stop it with Stop;
// t.Cleanup kills it if the test forgot.
type Capture struct {
	// File is the pcap file being written.
	File string
	// Iface and NS say where the capture runs.
	Iface string
	NS    *Netns

	cmd  *exec.Cmd
	done chan struct{} // closed when stderr reached EOF
	mu   sync.Mutex
	errb bytes.Buffer // tcpdump's stderr
	once sync.Once
	err  error
	stat CaptureStats
}

// CaptureStats are the totals tcpdump prints when it stops.
type CaptureStats struct {
	// Captured is the number of packets written to the file.
	Captured int
	// Received is the number of packets the kernel's filter accepted.
	Received int
	// Dropped is the number of packets the kernel dropped for lack of
	// buffer space (they are missing from the file).
	Dropped int
}

// StartCapture starts `tcpdump -U -w file -i ifname -Q dir` inside n (dir is
// "in", "out" or "inout"), unbuffered, immediate mode, full snap length and
// a 64 MiB kernel buffer (room for a whole test run of full-size frames
// when a loaded machine starves tcpdump), and returns once tcpdump is listening, so no frame
// sent afterwards is missed. It needs tcpdump in PATH.
func (n *Netns) StartCapture(t testing.TB, ifname, dir, file string) (*Capture, error) {
	t.Helper()
	if _, err := exec.LookPath("tcpdump"); err != nil {
		return nil, fmt.Errorf("testbed: capture needs tcpdump (scripts/install-deps.sh): %w", err)
	}
	c := &Capture{File: file, Iface: ifname, NS: n, done: make(chan struct{})}
	// -Z root: tcpdump must not drop privileges to a user that cannot
	// write file's directory.
	c.cmd = n.Command("tcpdump", "-n", "-U", "--immediate-mode", "-s", "0", "-B", "65536",
		"-Z", "root", "-Q", dir, "-i", ifname, "-w", file)
	stderr, err := c.cmd.StderrPipe()
	if err != nil {
		return nil, fmt.Errorf("testbed: tcpdump on %s/%s: %w", n.Node, ifname, err)
	}
	if err := c.cmd.Start(); err != nil {
		return nil, fmt.Errorf("testbed: start tcpdump on %s/%s: %w", n.Node, ifname, err)
	}
	ready := make(chan struct{})
	go func() {
		defer close(c.done)
		sc := bufio.NewScanner(stderr)
		signalled := false
		for sc.Scan() {
			line := sc.Text()
			c.mu.Lock()
			c.errb.WriteString(line + "\n")
			c.mu.Unlock()
			if !signalled && bytes.Contains([]byte(line), []byte("listening on")) {
				close(ready)
				signalled = true
			}
		}
		_, _ = io.Copy(io.Discard, stderr)
	}()
	t.Cleanup(func() { _, _ = c.Stop() })
	select {
	case <-ready:
		return c, nil
	case <-c.done:
		_, err := c.Stop()
		return nil, fmt.Errorf("testbed: tcpdump on %s/%s exited before listening: %w: %s", n.Node, ifname, err, c.stderr())
	case <-time.After(10 * time.Second):
		_, _ = c.Stop()
		return nil, fmt.Errorf("testbed: tcpdump on %s/%s not listening after 10 s: %s", n.Node, ifname, c.stderr())
	}
}

func (c *Capture) stderr() string {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.errb.String()
}

var statRE = regexp.MustCompile(`(?m)^(\d+) packets? (captured|received by filter|dropped by kernel)$`)

// Stop interrupts tcpdump (it flushes the file), waits for it (killing it
// after 10 s) and returns its totals. It is safe to call more than once.
// The error reports a tcpdump that did not stop cleanly or printed no
// totals; dropped packets are not an error, callers check Dropped.
func (c *Capture) Stop() (CaptureStats, error) {
	c.once.Do(func() {
		_ = c.cmd.Process.Signal(syscall.SIGINT)
		timer := time.AfterFunc(10*time.Second, func() { _ = c.cmd.Process.Kill() })
		<-c.done
		werr := c.cmd.Wait()
		timer.Stop()
		out := c.stderr()
		found := 0
		for _, m := range statRE.FindAllStringSubmatch(out, -1) {
			v, _ := strconv.Atoi(m[1])
			found++
			switch m[2] {
			case "captured":
				c.stat.Captured = v
			case "received by filter":
				c.stat.Received = v
			case "dropped by kernel":
				c.stat.Dropped = v
			}
		}
		var ee *exec.ExitError
		switch {
		case werr != nil && !(errors.As(werr, &ee) && ee.ExitCode() == 0):
			// tcpdump exits 0 on SIGINT; anything else is a failure.
			c.err = fmt.Errorf("testbed: tcpdump on %s/%s: %w: %s", c.NS.Node, c.Iface, werr, out)
		case found < 3:
			c.err = fmt.Errorf("testbed: tcpdump on %s/%s printed no totals: %s", c.NS.Node, c.Iface, out)
		}
		if _, err := os.Stat(c.File); err != nil && c.err == nil {
			c.err = fmt.Errorf("testbed: tcpdump on %s/%s: %w", c.NS.Node, c.Iface, err)
		}
	})
	return c.stat, c.err
}
