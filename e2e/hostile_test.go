package e2e

import (
	"bytes"
	"context"
	"encoding/binary"
	"flag"
	"fmt"
	"os"
	"path/filepath"
	"runtime"
	"slices"
	"strconv"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"golang.org/x/sys/unix"

	"github.com/dexplane/dexplane/dataplane"
	"github.com/dexplane/dexplane/dataplane/node"
	"github.com/dexplane/dexplane/dataplane/packet"
	"github.com/dexplane/dexplane/dataplane/policy"
	"github.com/dexplane/dexplane/dataplane/telemetry"
	"github.com/dexplane/dexplane/dataplane/xsk"
	dxebpf "github.com/dexplane/dexplane/ebpf"
	"github.com/dexplane/dexplane/internal/testbed"
)

var update = flag.Bool("update", false, "rewrite testdata/hostile.pcap and testdata/hostile.md from the table")

// TestHostileFiles keeps testdata/hostile.pcap and testdata/hostile.md in
// step with Frames.
func TestHostileFiles(t *testing.T) {
	fs := Frames()
	var pcap, md bytes.Buffer
	if err := WritePcap(&pcap, fs); err != nil {
		t.Fatal(err)
	}
	if err := WriteTable(&md, fs); err != nil {
		t.Fatal(err)
	}
	for _, f := range []struct {
		path string
		data []byte
	}{{"testdata/hostile.pcap", pcap.Bytes()}, {"testdata/hostile.md", md.Bytes()}} {
		if *update {
			if err := os.MkdirAll(filepath.Dir(f.path), 0o755); err != nil {
				t.Fatal(err)
			}
			if err := os.WriteFile(f.path, f.data, 0o644); err != nil {
				t.Fatal(err)
			}
			continue
		}
		got, err := os.ReadFile(f.path)
		if err != nil {
			t.Fatalf("%v (run go test ./e2e -run TestHostileFiles -update)", err)
		}
		if !bytes.Equal(got, f.data) {
			t.Errorf("%s differs from the table in hostile_frames.go (run go test ./e2e -run TestHostileFiles -update)", f.path)
		}
	}
}

// counterNames returns the names node.Counters.Each reports.
func counterNames() map[string]bool {
	m := map[string]bool{}
	var c node.Counters
	c.Each(func(name string, _ uint64) { m[name] = true })
	return m
}

// parseCounters reads an Expect.Counters list ("a,b=2") into deltas.
func parseCounters(s string) (map[string]uint64, error) {
	m := map[string]uint64{}
	for _, item := range strings.Split(s, ",") {
		if item = strings.TrimSpace(item); item == "" {
			continue
		}
		name, n, ok := strings.Cut(item, "=")
		v := uint64(1)
		if ok {
			var err error
			if v, err = strconv.ParseUint(n, 10, 64); err != nil {
				return nil, fmt.Errorf("counter %q: %w", item, err)
			}
		}
		m[name] = v
	}
	return m, nil
}

// TestHostileTable checks the table itself: enough frames, unique names,
// known counter names, Want only where an edited frame is expected.
func TestHostileTable(t *testing.T) {
	fs := Frames()
	if len(fs) < 40 {
		t.Errorf("%d frames, want at least 40", len(fs))
	}
	names := counterNames()
	seen := map[string]bool{}
	for _, f := range fs {
		if seen[f.Name] {
			t.Errorf("duplicate frame name %q", f.Name)
		}
		seen[f.Name] = true
		if !bytes.Equal(Frames()[len(seen)-1].Bytes, f.Bytes) {
			t.Errorf("%s: table is not deterministic", f.Name)
		}
		for r, e := range f.Expect {
			m, err := parseCounters(e.Counters)
			if err != nil {
				t.Errorf("%s/%v: %v", f.Name, Role(r), err)
			}
			for n := range m {
				if !names[n] {
					t.Errorf("%s/%v: unknown counter %q", f.Name, Role(r), n)
				}
			}
			if f.Want[r] != nil && e.Outcome != WithDEX && e.Outcome != Stripped {
				t.Errorf("%s/%v: Want set for outcome %v", f.Name, Role(r), e.Outcome)
			}
		}
	}
}

// ---- checking one handled frame ----

// checker collects the failures of one frame in one role, so that rows
// marked as known bugs can be reported instead of failing.
type checker struct{ errs []string }

func (c *checker) errorf(format string, args ...any) {
	c.errs = append(c.errs, fmt.Sprintf(format, args...))
}

// settle reports c's failures on t, honouring a known-bug mark.
func (c *checker) settle(t *testing.T, bug string) {
	t.Helper()
	switch {
	case bug == "":
		for _, e := range c.errs {
			t.Error(e)
		}
	case len(c.errs) > 0:
		t.Logf("KNOWN BUG (%s): %s", bug, strings.Join(c.errs, "; "))
	default:
		t.Errorf("row is marked as a known bug (%s) but the code now follows the table: remove the mark", bug)
	}
}

// hbhParts splits an Ethernet frame whose outer IPv6 header starts at l3
// into the link header, the IPv6 header with Next Header set to what
// follows its Hop-by-Hop header (0 payload length), the Hop-by-Hop header
// (nil if none) and the rest of the frame.
func hbhParts(frame []byte, l3 int) (link, ip, h, rest []byte) {
	ip = slices.Clone(frame[l3 : l3+40])
	binary.BigEndian.PutUint16(ip[4:], 0)
	rest = frame[l3+40:]
	if ip[6] == packet.ProtoHopByHop && len(rest) >= 2 {
		n := min((int(rest[1])+1)*8, len(rest))
		h, rest = rest[:n], rest[n:]
		ip[6] = h[0]
	}
	return frame[:l3], ip, h, rest
}

// nonPadOptions returns the TLVs of Hop-by-Hop header h other than padding,
// and, separately, those that are IOAM options.
func nonPadOptions(h []byte) (other, ioam [][]byte) {
	for o := 2; o < len(h); {
		if h[o] == packet.OptPad1 {
			o++
			continue
		}
		if o+2 > len(h) || o+2+int(h[o+1]) > len(h) {
			return other, ioam
		}
		tlv := h[o : o+2+int(h[o+1])]
		switch h[o] {
		case packet.OptPadN:
		case packet.OptIOAM, packet.OptIOAMAlt:
			ioam = append(ioam, tlv)
		default:
			other = append(other, tlv)
		}
		o += len(tlv)
	}
	return other, ioam
}

// checkOutput checks the frame that left (out, nil if dropped) against the
// row's expectation for role r; in is the frame that arrived.
func checkOutput(c *checker, f *Frame, r Role, in, out []byte) {
	e := f.Expect[r]
	if e.Outcome == Dropped {
		if out != nil {
			c.errorf("%s/%v: want dropped, a %d-octet frame left", f.Name, r, len(out))
		}
		return
	}
	if out == nil {
		c.errorf("%s/%v: want %v, the frame was dropped", f.Name, r, e.Outcome)
		return
	}
	if e.Outcome == Unchanged {
		if !bytes.Equal(out, in) {
			c.errorf("%s/%v: want forwarded unchanged, got\n%x\nwant\n%x", f.Name, r, out, in)
		}
		return
	}
	if w := f.Want[r]; w != nil {
		if !bytes.Equal(out, w) {
			c.errorf("%s/%v: want %v, got\n%x\nwant\n%x", f.Name, r, e.Outcome, out, w)
		}
		return
	}
	// Structural check: same link header and IPv6 header apart from the
	// length, same octets after the Hop-by-Hop header, the same non-IOAM
	// options, and DEX added or every IOAM option gone.
	var pi, po packet.Packet
	if err := packet.Parse(in, &pi); err != nil {
		c.errorf("%s/%v: input does not parse: %v", f.Name, r, err)
		return
	}
	if err := packet.Parse(out, &po); err != nil {
		c.errorf("%s/%v: output does not parse: %v", f.Name, r, po.Detail(err))
		return
	}
	li, ii, hi, ri := hbhParts(in, pi.L3)
	lo, io, ho, ro := hbhParts(out, po.L3)
	if !bytes.Equal(li, lo) || !bytes.Equal(ii, io) || !bytes.Equal(ri, ro) {
		c.errorf("%s/%v: headers or payload changed beyond the Hop-by-Hop header:\n%x\n%x", f.Name, r, in, out)
	}
	oi, _ := nonPadOptions(hi)
	oo, ioam := nonPadOptions(ho)
	if !slices.EqualFunc(oi, oo, bytes.Equal) {
		c.errorf("%s/%v: non-IOAM options changed: %x → %x", f.Name, r, oi, oo)
	}
	switch e.Outcome {
	case WithDEX:
		d := po.DEX
		if len(ioam) != 1 || !po.HasDEX || d.Namespace != Namespace || d.TraceType != TraceType || d.ExtFlags != 0 || d.Flags != 0 {
			c.errorf("%s/%v: want the route's DEX, got %d IOAM options, %+v", f.Name, r, len(ioam), d)
		}
	case Stripped:
		if len(ioam) != 0 || po.NumIOAM != 0 {
			c.errorf("%s/%v: IOAM left in %x", f.Name, r, out)
		}
	}
}

// checkCounters compares the counter deltas after one frame with the row:
// the listed counters moved by their amount, the verdict counter by one,
// and nothing else moved except incidental counters.
func checkCounters(c *checker, f *Frame, r Role, delta map[string]uint64) {
	e := f.Expect[r]
	want, err := parseCounters(e.Counters)
	if err != nil {
		c.errorf("%s/%v: %v", f.Name, r, err)
		return
	}
	if e.Outcome == Dropped {
		want["dropped"] = 1
	} else {
		want["forwarded"] = 1
	}
	for n, v := range want {
		if delta[n] != v {
			c.errorf("%s/%v: counter %s moved by %d, want %d (moved: %v)", f.Name, r, n, delta[n], v, delta)
		}
	}
	incidental := map[string]bool{"dex_seen": true, "flows_active": true, "flows_new": true}
	if r == RoleEncap {
		incidental["records_exported"] = true // the encapsulating node's own record
	}
	for n, v := range delta {
		if _, ok := want[n]; !ok && v != 0 && !incidental[n] {
			c.errorf("%s/%v: counter %s moved by %d unexpectedly (want %v)", f.Name, r, n, v, want)
		}
	}
}

// snapshotCounters returns all counters of n by name.
func snapshotCounters(n *node.Node) map[string]uint64 {
	m := map[string]uint64{}
	n.Counters().Each(func(name string, v uint64) { m[name] = v })
	return m
}

// deltaCounters returns after − before for the counters that moved.
func deltaCounters(before, after map[string]uint64) map[string]uint64 {
	d := map[string]uint64{}
	for k, v := range after {
		if v != before[k] {
			d[k] = v - before[k]
		}
	}
	return d
}

// newNode returns a node for role r of the suite's policy.
func newNode(t testing.TB, r Role) *node.Node {
	t.Helper()
	s, err := policy.New(Spec(r), nil)
	if err != nil {
		t.Fatalf("policy.New(%v): %v", r, err)
	}
	var ptr atomic.Pointer[policy.Snapshot]
	ptr.Store(s)
	n, err := node.New(node.Config{Policy: &ptr, RingSize: 64})
	if err != nil {
		t.Fatalf("node.New(%v): %v", r, err)
	}
	return n
}

// Layout of the UMEM-like test buffer: three chunks, the frame in the
// middle one, the neighbours filled with a pattern that must survive.
const (
	chunk    = 2048
	headroom = xsk.DefaultHeadroom
	guard    = 0xa5
)

// handleInUMEM runs frame through n in the middle of a three-chunk buffer
// and returns the verdict and the frame that left (nil when dropped). It
// reports a change to a neighbouring chunk on c.
func handleInUMEM(c *checker, name string, n *node.Node, frame []byte) (xsk.Verdict, []byte) {
	umem := bytes.Repeat([]byte{guard}, 3*chunk)
	buf := umem[chunk : 2*chunk : 2*chunk]
	copy(buf[headroom:], frame)
	fr := &xsk.Frame{Buf: buf, Off: headroom, Len: len(frame), Ingress: 0, RxTime: 1_700_000_000_000_000_000}
	v := n.Handle(fr)
	for _, nb := range [][]byte{umem[:chunk], umem[2*chunk:]} {
		if i := slices.IndexFunc(nb, func(b byte) bool { return b != guard }); i >= 0 {
			c.errorf("%s: neighbour chunk corrupted at octet %d", name, i)
		}
	}
	if fr.Off < 0 || fr.Len < 0 || fr.Off+fr.Len > len(buf) {
		c.errorf("%s: frame bounds off %d len %d outside the chunk", name, fr.Off, fr.Len)
		return v, nil
	}
	if v == xsk.Drop {
		return v, nil
	}
	return v, slices.Clone(buf[fr.Off : fr.Off+fr.Len])
}

// TestHostileUnit runs every frame through node.Handle in every role.
func TestHostileUnit(t *testing.T) {
	for _, f := range Frames() {
		t.Run(f.Name, func(t *testing.T) {
			var c checker
			for r := range NumRoles {
				n := newNode(t, r)
				before := snapshotCounters(n)
				v, out := handleInUMEM(&c, f.Name+"/"+r.String(), n, f.Bytes)
				if (v == xsk.Drop) != (out == nil) {
					c.errorf("%s/%v: verdict %v with output %v", f.Name, r, v, out != nil)
				}
				checkOutput(&c, &f, r, f.Bytes, out)
				checkCounters(&c, &f, r, deltaCounters(before, snapshotCounters(n)))
				checkRecord(&c, &f, r, n)
			}
			c.settle(t, f.Bug)
		})
	}
}

// checkRecord checks the transit record of a row that expects one: the
// namespace and the hop limit of the header that carries DEX.
func checkRecord(c *checker, f *Frame, r Role, n *node.Node) {
	want, _ := parseCounters(f.Expect[r].Counters)
	var rec telemetry.Record
	got := 0
	for n.Ring().Pop(&rec) {
		got++
		if r == RoleEncap {
			continue
		}
		var p packet.Packet
		if err := packet.Parse(f.Bytes, &p); err != nil {
			c.errorf("%s/%v: record for a frame that does not parse", f.Name, r)
			continue
		}
		if rec.Namespace != Namespace || rec.HopLimit != packet.HopLimit(f.Bytes, p.L3) {
			c.errorf("%s/%v: record namespace %d hop limit %d, want %d and %d", f.Name, r, rec.Namespace, rec.HopLimit, Namespace, packet.HopLimit(f.Bytes, p.L3))
		}
	}
	if r != RoleEncap && uint64(got) != want["records_exported"] {
		c.errorf("%s/%v: %d records in the ring, want %d", f.Name, r, got, want["records_exported"])
	}
}

// TestHostileExtFlags runs a DEX option with every Extension-Flags value,
// at its exact length and one field short, through every role.
func TestHostileExtFlags(t *testing.T) {
	nodes := [NumRoles]*node.Node{}
	for r := range NumRoles {
		nodes[r] = newNode(t, r)
	}
	for e := range 256 {
		ef := uint8(e)
		fields := fieldsFor(ef)
		p := plain("ext-flags")
		good := eth6(withHbH(p, dexHbH(0, Namespace, ef, fields...)))
		rows := []Frame{{Name: fmt.Sprintf("ext%02x", ef), Bytes: good,
			Expect: [NumRoles]Expect{drop("foreign_dropped"), same("records_exported"), strip("dex_removed,records_exported")},
			Want:   [NumRoles][]byte{RoleDecap: eth6(p)}}}
		if len(fields) > 0 {
			o := ioamOpt(0x31, 10+4*(len(fields)-1), dexBody(Namespace, 0, ef, TraceType, fields...))
			body := cat(pad(2), o)
			if r := (2 + len(body)) % 8; r != 0 {
				body = cat(body, pad(8-r))
			}
			rows = append(rows, Frame{Name: fmt.Sprintf("ext%02x-short", ef), Bytes: eth6(withHbH(p, hbh(0, body))),
				Expect: malformed("dex_ext_truncated")})
		}
		var c checker
		for i := range rows {
			f := &rows[i]
			for r := range NumRoles {
				n := nodes[r]
				before := snapshotCounters(n)
				_, out := handleInUMEM(&c, f.Name, n, f.Bytes)
				checkOutput(&c, f, r, f.Bytes, out)
				checkCounters(&c, f, r, deltaCounters(before, snapshotCounters(n)))
				var rec telemetry.Record
				for n.Ring().Pop(&rec) {
					if r == RoleEncap {
						continue
					}
					if rec.ExtFlags != ef || rec.HasFlowID != (ef&0x80 != 0) || rec.HasSeq != (ef&0x40 != 0) {
						c.errorf("%s/%v: record ext 0x%02x flow %v seq %v", f.Name, r, rec.ExtFlags, rec.HasFlowID, rec.HasSeq)
					}
					if rec.HasFlowID && rec.FlowID != fields[0] {
						c.errorf("%s/%v: flow id 0x%x, want 0x%x", f.Name, r, rec.FlowID, fields[0])
					}
					if rec.HasSeq && rec.Seq != fields[popBefore(ef, 0x40)] {
						c.errorf("%s/%v: seq 0x%x, want 0x%x", f.Name, r, rec.Seq, fields[popBefore(ef, 0x40)])
					}
				}
			}
		}
		c.settle(t, "")
	}
}

// popBefore returns the index of the optional field of flag bit among the
// fields extFlags announces (fields are in bit order, 0x80 first).
func popBefore(extFlags, bit uint8) int {
	n := 0
	for b := uint8(0x80); b > bit; b >>= 1 {
		if extFlags&b != 0 {
			n++
		}
	}
	return n
}

// TestHostileFlowExhaustion sends one million distinct 5-tuples through the
// encapsulating role with Flow ID and sequence numbers on: the flow table
// stays within max_flows, evictions are counted and the heap stays bounded.
func TestHostileFlowExhaustion(t *testing.T) {
	const (
		flows    = 1_000_000
		maxFlows = 4096
	)
	if testing.Short() {
		t.Skip("one million packets")
	}
	spec := Spec(RoleEncap)
	spec.Routes[0].DEX.ExtFlags = packet.ExtFlagFlowID | packet.ExtFlagSeq
	spec.Flows.MaxFlows = maxFlows
	s, err := policy.New(spec, nil)
	if err != nil {
		t.Fatal(err)
	}
	var ptr atomic.Pointer[policy.Snapshot]
	ptr.Store(s)
	n, err := node.New(node.Config{Policy: &ptr, RingSize: 64})
	if err != nil {
		t.Fatal(err)
	}
	base := eth6(plain("flows"))
	buf := make([]byte, chunk)
	f := &xsk.Frame{Buf: buf}
	var ms runtime.MemStats
	runtime.GC()
	runtime.ReadMemStats(&ms)
	heap0 := ms.HeapAlloc
	var rec telemetry.Record
	for i := range flows {
		copy(buf[headroom:], base)
		l3 := headroom + 14
		// The source address's last octets and the source port make the
		// tuple distinct; the destination port stays 5001 (not an export
		// port, which would never get DEX).
		binary.BigEndian.PutUint32(buf[l3+20:], uint32(i>>12))
		binary.BigEndian.PutUint16(buf[l3+40:], uint16(i*13))
		f.Off, f.Len, f.RxTime = headroom, len(base), int64(i)
		if v := n.Handle(f); v != xsk.Forward {
			t.Fatalf("packet %d dropped", i)
		}
		for n.Ring().Pop(&rec) {
		}
		if i%100_000 == 0 {
			if a := n.Counters().FlowsActive.Load(); a > maxFlows {
				t.Fatalf("after %d packets: %d flows active, max %d", i+1, a, maxFlows)
			}
		}
	}
	runtime.GC()
	runtime.ReadMemStats(&ms)
	c := n.Counters()
	active, created, evicted := c.FlowsActive.Load(), c.FlowsNew.Load(), c.FlowsEvicted.Load()
	t.Logf("flows: active %d new %d evicted %d expired %d; dex inserted %d; heap %d → %d octets",
		active, created, evicted, c.FlowsExpired.Load(), c.DEXInserted.Load(), heap0, ms.HeapAlloc)
	if active > maxFlows || active == 0 {
		t.Errorf("flows active %d, want 1..%d", active, maxFlows)
	}
	// Distinct 5-tuples can share a 32-bit Flow ID (about 120 pairs
	// among a million), so a few packets continue an existing flow.
	if created < flows-1000 || created > flows {
		t.Errorf("flows created %d, want about %d", created, flows)
	}
	if evicted+c.FlowsExpired.Load() != created-active {
		t.Errorf("evicted %d + expired %d != created %d − active %d", evicted, c.FlowsExpired.Load(), created, active)
	}
	if got := c.DEXInserted.Load(); got != flows {
		t.Errorf("dex inserted %d, want %d", got, flows)
	}
	if ms.HeapAlloc > heap0+8<<20 {
		t.Errorf("heap grew from %d to %d octets over %d flows", heap0, ms.HeapAlloc, flows)
	}
}

// ---- the real data plane ----

// capture is an AF_PACKET socket on host-b's eth0 that returns received
// frames with their 802.1Q/802.1ad tag put back (the receive path moves
// it into the packet's metadata before packet sockets see the frame).
type capture struct{ fd int }

// openCapture opens the capture socket inside ns.
func openCapture(t *testing.T, ns *testbed.Netns) *capture {
	t.Helper()
	ifindex := ns.MustIfindex(t, testbed.HostIf)
	var fd int
	err := ns.Do(func() error {
		var err error
		proto := int(htons(unix.ETH_P_ALL))
		if fd, err = unix.Socket(unix.AF_PACKET, unix.SOCK_RAW|unix.SOCK_CLOEXEC, proto); err != nil {
			return fmt.Errorf("capture socket: %w", err)
		}
		if err := unix.SetsockoptInt(fd, unix.SOL_PACKET, unix.PACKET_AUXDATA, 1); err != nil {
			return fmt.Errorf("PACKET_AUXDATA: %w", err)
		}
		return unix.Bind(fd, &unix.SockaddrLinklayer{Protocol: htons(unix.ETH_P_ALL), Ifindex: ifindex})
	})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { unix.Close(fd) })
	return &capture{fd: fd}
}

func htons(v uint16) uint16 { return v<<8 | v>>8 }

// next returns the next frame received (not sent) on the interface, or nil
// after timeout.
func (c *capture) next(timeout time.Duration) ([]byte, error) {
	deadline := time.Now().Add(timeout)
	buf := make([]byte, 4096)
	oob := make([]byte, 256)
	for {
		left := time.Until(deadline)
		if left <= 0 {
			return nil, nil
		}
		tv := unix.NsecToTimeval(max(left.Nanoseconds(), int64(time.Millisecond)))
		if err := unix.SetsockoptTimeval(c.fd, unix.SOL_SOCKET, unix.SO_RCVTIMEO, &tv); err != nil {
			return nil, fmt.Errorf("SO_RCVTIMEO: %w", err)
		}
		n, oobn, _, from, err := unix.Recvmsg(c.fd, buf, oob, 0)
		if err == unix.EAGAIN || err == unix.EINTR {
			continue
		}
		if err != nil {
			return nil, fmt.Errorf("capture: %w", err)
		}
		if ll, ok := from.(*unix.SockaddrLinklayer); ok && ll.Pkttype == unix.PACKET_OUTGOING {
			continue
		}
		frame := slices.Clone(buf[:n])
		msgs, err := unix.ParseSocketControlMessage(oob[:oobn])
		if err != nil {
			return nil, fmt.Errorf("capture: control messages: %w", err)
		}
		for _, m := range msgs {
			if m.Header.Level != unix.SOL_PACKET || m.Header.Type != unix.PACKET_AUXDATA || len(m.Data) < 20 {
				continue
			}
			// struct tpacket_auxdata: status u32, len u32, snaplen u32,
			// mac u16, net u16, vlan_tci u16, vlan_tpid u16 (host order).
			status := binary.NativeEndian.Uint32(m.Data[0:])
			if status&unix.TP_STATUS_VLAN_VALID == 0 || len(frame) < 12 {
				continue
			}
			tpid := uint16(0x8100)
			if status&unix.TP_STATUS_VLAN_TPID_VALID != 0 {
				tpid = binary.NativeEndian.Uint16(m.Data[18:])
			}
			tag := binary.BigEndian.AppendUint16(binary.BigEndian.AppendUint16(nil, tpid), binary.NativeEndian.Uint16(m.Data[16:]))
			frame = cat(frame[:12], tag, frame[12:])
		}
		return frame, nil
	}
}

// sender is an AF_PACKET socket on host-a's eth0 that sends raw frames.
type sender struct {
	fd int
	to unix.SockaddrLinklayer
}

func openSender(t *testing.T, ns *testbed.Netns) *sender {
	t.Helper()
	s := &sender{to: unix.SockaddrLinklayer{Ifindex: ns.MustIfindex(t, testbed.HostIf), Halen: 6}}
	copy(s.to.Addr[:], hostBMAC)
	err := ns.Do(func() error {
		var err error
		// Protocol 0: the socket sends only and never receives.
		s.fd, err = unix.Socket(unix.AF_PACKET, unix.SOCK_RAW|unix.SOCK_CLOEXEC, 0)
		return err
	})
	if err != nil {
		t.Fatalf("sender socket: %v", err)
	}
	t.Cleanup(func() { unix.Close(s.fd) })
	return s
}

func (s *sender) send(frame []byte) error { return unix.Sendto(s.fd, frame, 0, &s.to) }

// kernelPath lists the steering reasons under which dxp_steer sends a
// frame to the peer port itself (steer: all), and the node never sees it.
var kernelPath = []dxebpf.Reason{dxebpf.ReasonNotIPv6, dxebpf.ReasonND, dxebpf.ReasonMalformed}

// TestHostileDataPlane sends every frame of the table from host-a through
// the engine running the node roles in the dut of a bitw testbed, one
// engine start per role, and checks what host-b receives and which counter
// moved.
func TestHostileDataPlane(t *testing.T) {
	testbed.SkipIfNotRoot(t)
	tb := testbed.New(t, testbed.Bitw)
	// Quiet hosts: without IPv6 on their eth0 they send nothing (no MLD,
	// ND or ICMPv6 errors), so only the table's frames cross the bump.
	for _, h := range []*testbed.Netns{tb.HostA, tb.HostB} {
		h.Sysctl(t, "net.ipv6.conf."+testbed.HostIf+".disable_ipv6", "1")
	}
	tx := openSender(t, tb.HostA)
	rx := openCapture(t, tb.HostB)
	for r := range NumRoles {
		t.Run(r.String(), func(t *testing.T) { hostileRole(t, tb, r, tx, rx) })
	}
}

// hostileRole runs the table through one engine start in role r.
func hostileRole(t *testing.T, tb *testbed.Testbed, r Role, tx *sender, rx *capture) {
	spec := Spec(r)
	s, err := policy.New(spec, nil)
	if err != nil {
		t.Fatal(err)
	}
	opts := dataplane.Options{
		Ports:  [2]string{testbed.West, testbed.East},
		Attach: dxebpf.AttachGeneric,
		Steer:  dxebpf.SteerAll,
		Policy: s,
	}
	for i, p := range spec.Ports {
		opts.Roles[i] = dxebpf.RoleInside
		if p.Domain == policy.Outside {
			opts.Roles[i] = dxebpf.RoleOutside
		}
	}
	var (
		e       *dataplane.Engine
		nodes   []*node.Node
		nodeErr error
	)
	opts.Handler = func(int) xsk.Handler {
		n, err := node.New(node.Config{Policy: e.Policy()})
		if err != nil {
			nodeErr = err
			return xsk.Identity{}
		}
		nodes = append(nodes, n)
		return n
	}
	if e, err = dataplane.New(opts); err != nil {
		t.Fatal(err)
	}
	if err := tb.DUT().Do(func() error { return e.Start(context.Background()) }); err != nil {
		t.Fatalf("engine start: %v", err)
	}
	defer func() {
		if err := e.Stop(); err != nil {
			t.Errorf("engine stop: %v", err)
		}
	}()
	if nodeErr != nil || len(nodes) != 1 {
		t.Fatalf("node.New: %v (%d nodes)", nodeErr, len(nodes))
	}
	n := nodes[0]
	for f, err := rx.next(50 * time.Millisecond); f != nil || err != nil; f, err = rx.next(50 * time.Millisecond) {
		if err != nil {
			t.Fatal(err)
		}
	}
	xdpCount := func() (kernel uint64) {
		c := e.Counters()
		for _, reason := range kernelPath {
			kernel += c.Ports[0].XDP[reason].Packets
		}
		return kernel
	}
	for _, f := range Frames() {
		if f.NoInject != "" {
			continue
		}
		var c checker
		before, kBefore := snapshotCounters(n), xdpCount()
		if err := tx.send(f.Bytes); err != nil {
			t.Fatalf("%s: send: %v", f.Name, err)
		}
		// Wait until the node or the steering program has handled it.
		var viaKernel bool
		for deadline := time.Now().Add(2 * time.Second); ; {
			now := snapshotCounters(n)
			if now["forwarded"]+now["dropped"] > before["forwarded"]+before["dropped"] {
				break
			}
			if xdpCount() > kBefore {
				viaKernel = true
				break
			}
			if time.Now().After(deadline) {
				c.errorf("%s/%v: neither the node nor the steering program counted the frame", f.Name, r)
				break
			}
			time.Sleep(time.Millisecond)
		}
		wait := 50 * time.Millisecond
		if f.Expect[r].Outcome != Dropped || viaKernel {
			wait = time.Second
		}
		out, err := rx.next(wait)
		if err != nil {
			t.Fatal(err)
		}
		if viaKernel {
			// dxp_steer redirected the frame to east itself. host-b's stack
			// may discard a frame it cannot untag before packet sockets
			// see it, so the steering counter is the evidence it was sent.
			if out == nil {
				out = f.Bytes
			}
			if !slices.Equal(out, f.Bytes) {
				c.errorf("%s/%v: frame forwarded by the steering program changed", f.Name, r)
			}
			if f.Expect[r].Outcome != Unchanged {
				c.errorf("%s/%v: want %v, dxp_steer forwarded it in the kernel", f.Name, r, f.Expect[r].Outcome)
			}
			if d := deltaCounters(before, snapshotCounters(n)); len(d) != 0 {
				c.errorf("%s/%v: node counters moved for a frame it never saw: %v", f.Name, r, d)
			}
		} else {
			checkOutput(&c, &f, r, f.Bytes, out)
			checkCounters(&c, &f, r, deltaCounters(before, snapshotCounters(n)))
		}
		bug := f.RealBug
		if f.Bug != "" {
			bug = f.Bug
		}
		c.settle(t, bug)
	}
	if f, err := rx.next(100 * time.Millisecond); f != nil || err != nil {
		t.Errorf("stray frame after the table: %x (%v)", f, err)
	}
	var b strings.Builder
	c := e.Counters()
	_ = c.WriteText(&b)
	t.Logf("engine counters:\n%s", b.String())
}

// runUnit handles every row of rows in role r on a fresh node built from
// spec and checks it like TestHostileUnit.
func runUnit(t *testing.T, spec policy.Spec, r Role, rows []Frame) {
	t.Helper()
	s, err := policy.New(spec, nil)
	if err != nil {
		t.Fatal(err)
	}
	for i := range rows {
		f := &rows[i]
		var ptr atomic.Pointer[policy.Snapshot]
		ptr.Store(s)
		n, err := node.New(node.Config{Policy: &ptr, RingSize: 64})
		if err != nil {
			t.Fatal(err)
		}
		var c checker
		before := snapshotCounters(n)
		_, out := handleInUMEM(&c, f.Name, n, f.Bytes)
		checkOutput(&c, f, r, f.Bytes, out)
		checkCounters(&c, f, r, deltaCounters(before, snapshotCounters(n)))
		checkRecord(&c, f, r, n)
		c.settle(t, f.Bug)
	}
}

// ioamLengthReasons are the parse failures the node forwards untouched
// inside the domain when the ingress port is not IOAM-enabled (node's
// malformed-packet table: Linux checks IOAM lengths only then).
var ioamLengthReasons = []string{"malformed_ioam_short", "malformed_dex_short", "malformed_dex_ext_truncated", "malformed_pto_short"}

// TestHostileIOAMDisabled runs the table in the transit and decap roles
// with the ingress port not IOAM-enabled. Documented policy: IOAM length
// errors are forwarded untouched inside the domain (transit) but still
// dropped before an outside port (decap); misalignment is dropped anyway;
// DEX is never exported (ioam_disabled, checked before the namespace as in
// Linux ipv6_hop_ioam) and still removed at the edge.
func TestHostileIOAMDisabled(t *testing.T) {
	for _, r := range []Role{RoleTransit, RoleDecap} {
		t.Run(r.String(), func(t *testing.T) {
			spec := Spec(r)
			spec.Ports[0].IOAMEnabled = false
			var rows []Frame
			for _, f := range Frames() {
				e := &f.Expect[r]
				if r == RoleTransit && e.Outcome == Dropped && slices.Contains(ioamLengthReasons, e.Counters) {
					e.Outcome = Unchanged // Linux ignores IOAM it is not enabled for
				}
				// Never a record, whatever the namespace: the enabled check
				// comes first.
				var ctrs []string
				for _, c := range strings.Split(e.Counters, ",") {
					if c == "records_exported" || c == "unknown_namespace" {
						c = "ioam_disabled"
					}
					if c != "" && !slices.Contains(ctrs, c) {
						ctrs = append(ctrs, c)
					}
				}
				e.Counters = strings.Join(ctrs, ",")
				rows = append(rows, f)
			}
			runUnit(t, spec, r, rows)
		})
	}
}

// TestHostileForeignPolicies runs every row the encapsulating role drops
// as foreign IOAM under the two other foreign_ioam policies. forward: the
// packet leaves untouched. strip: the IOAM options go, and the packet is
// handled as if it had arrived without them, so it leaves with no IOAM but
// the route's own DEX (when its destination is routed).
func TestHostileForeignPolicies(t *testing.T) {
	var rows []Frame
	for _, f := range Frames() {
		if f.Expect[RoleEncap].Counters == "foreign_dropped" {
			rows = append(rows, f)
		}
	}
	if len(rows) < 20 {
		t.Fatalf("only %d foreign-IOAM rows", len(rows))
	}
	t.Run("forward", func(t *testing.T) {
		spec := Spec(RoleEncap)
		spec.Ports[0].ForeignIOAM = policy.ForeignForward
		fw := slices.Clone(rows)
		for i := range fw {
			fw[i].Expect[RoleEncap] = same("foreign_forwarded")
		}
		runUnit(t, spec, RoleEncap, fw)
	})
	t.Run("strip", func(t *testing.T) {
		spec := Spec(RoleEncap)
		spec.Ports[0].ForeignIOAM = policy.ForeignStrip
		s, err := policy.New(spec, nil)
		if err != nil {
			t.Fatal(err)
		}
		for _, f := range rows {
			var ptr atomic.Pointer[policy.Snapshot]
			ptr.Store(s)
			n, err := node.New(node.Config{Policy: &ptr, RingSize: 64})
			if err != nil {
				t.Fatal(err)
			}
			var c checker
			before := snapshotCounters(n)
			v, out := handleInUMEM(&c, f.Name, n, f.Bytes)
			d := deltaCounters(before, snapshotCounters(n))
			var pi, po packet.Packet
			switch {
			case v != xsk.Forward || out == nil:
				c.errorf("%s: dropped under foreign_ioam strip (counters %v)", f.Name, d)
			case packet.Parse(f.Bytes, &pi) != nil:
				c.errorf("%s: input does not parse", f.Name)
			case packet.Parse(out, &po) != nil:
				c.errorf("%s: output does not parse: %x", f.Name, out)
			default:
				routed := routePrefix.Contains(packet.Addr(packet.Dst(f.Bytes, pi.L3)))
				li, ii, hi, ri := hbhParts(f.Bytes, pi.L3)
				lo, io, ho, ro := hbhParts(out, po.L3)
				oi, _ := nonPadOptions(hi)
				oo, ioam := nonPadOptions(ho)
				if !bytes.Equal(li, lo) || !bytes.Equal(ii, io) || !bytes.Equal(ri, ro) || !slices.EqualFunc(oi, oo, bytes.Equal) {
					c.errorf("%s: more than the IOAM options changed:\n%x\n%x", f.Name, f.Bytes, out)
				}
				wantIOAM := 0
				if routed {
					wantIOAM = 1
				}
				if len(ioam) != wantIOAM || (routed && (po.DEX.Namespace != Namespace || po.DEX.ExtFlags != 0 || po.DEX.TraceType != TraceType)) {
					c.errorf("%s: %d IOAM options left (%+v), want %d (the route's DEX only)", f.Name, len(ioam), po.DEX, wantIOAM)
				}
				if d["foreign_stripped"] != 1 || (routed && d["dex_inserted"] != 1) || (!routed && d["no_route"] != 1) {
					c.errorf("%s: counters %v", f.Name, d)
				}
			}
			c.settle(t, f.Bug)
		}
	})
}

// cutPlen returns frame[:n] with the Payload Length of the IPv6 header at
// l3 set to what is left after that header.
func cutPlen(frame []byte, l3, n int) []byte {
	b := slices.Clone(frame[:n])
	binary.BigEndian.PutUint16(b[l3+4:], uint16(n-l3-40))
	return b
}

// TestHostileTruncations cuts two IOAM frames (802.1Q + inline DEX, and
// ip6ip6 with DEX) at every octet. A plain cut always leaves a short
// Ethernet/802.1Q/IPv6 header or a Payload Length past the frame: dropped
// in every role. A cut that also shortens the Payload Length is dropped
// while a header is incomplete (Hop-by-Hop, inner IPv6) or the inner
// Payload Length overruns; an inline DEX packet whose Hop-by-Hop header is
// complete is a valid (short) packet and handled as such.
func TestHostileTruncations(t *testing.T) {
	p := plain("cut")
	vlanDEX := ether(0x86dd, withHbH(p, dexHbH(0, Namespace, 0)), vlanTag{0x8100, 100})
	vlanPlain := ether(0x86dd, p, vlanTag{0x8100, 100})
	tunDEX := eth6(encapIn(p, peerNode, endpoint, dexHbH(0, Namespace, 0xc0, 1, 2)))
	var rows []Frame
	for _, base := range []struct {
		name  string
		frame []byte
		l3    int
	}{{"vlan-dex", vlanDEX, 18}, {"ip6ip6-dex", tunDEX, 14}} {
		for n := range len(base.frame) {
			rows = append(rows, Frame{Name: fmt.Sprintf("%s-cut%d", base.name, n), Bytes: base.frame[:n], Expect: all(drop(""))})
			if n < base.l3+40 {
				continue
			}
			plen := n - base.l3 - 40
			f := Frame{Name: fmt.Sprintf("%s-plen%d", base.name, plen), Bytes: cutPlen(base.frame, base.l3, n)}
			switch {
			case base.name == "ip6ip6-dex":
				f.Expect = all(drop("")) // outer HbH, inner header or inner length cut
			case plen < 16:
				f.Expect = malformed("hbh_truncated")
			default:
				f.Expect = [NumRoles]Expect{drop("foreign_dropped"), same("records_exported"), strip("dex_removed,records_exported")}
				f.Want[RoleDecap] = cutPlen(vlanPlain, base.l3, n-16)
			}
			rows = append(rows, f)
		}
	}
	for r := range NumRoles {
		t.Run(r.String(), func(t *testing.T) {
			n := newNode(t, r)
			for i := range rows {
				f := &rows[i]
				var c checker
				before := snapshotCounters(n)
				_, out := handleInUMEM(&c, f.Name, n, f.Bytes)
				d := deltaCounters(before, snapshotCounters(n))
				checkOutput(&c, f, r, f.Bytes, out)
				if f.Expect[r].Outcome == Dropped && f.Expect[r].Counters == "" {
					// Any one parse reason, exactly once.
					var m uint64
					for k, v := range d {
						if strings.HasPrefix(k, "malformed_") {
							m += v
						}
					}
					if m != 1 || d["dropped"] != 1 {
						c.errorf("%s/%v: counters %v, want dropped and one malformed reason", f.Name, r, d)
					}
				} else {
					checkCounters(&c, f, r, d)
				}
				for rec := (telemetry.Record{}); n.Ring().Pop(&rec); {
				}
				c.settle(t, "")
			}
		})
	}
}
