package hostile

import (
	"bytes"
	"encoding/binary"
	"fmt"
	"slices"
	"strings"
	"testing"

	"github.com/dexplane/dexplane/dataplane/node"
	"github.com/dexplane/dexplane/dataplane/packet"
	"github.com/dexplane/dexplane/dataplane/telemetry"
)

// Checker collects the failures of one frame in one role, so that rows
// marked as known bugs can be reported instead of failing.
type Checker struct{ errs []string }

// Errorf records one failure.
func (c *Checker) Errorf(format string, args ...any) {
	c.errs = append(c.errs, fmt.Sprintf(format, args...))
}

// Settle reports c's failures on t, honouring a known-bug mark.
func (c *Checker) Settle(t testing.TB, bug string) {
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

// CheckOutput checks the frame that left (out, nil if dropped) against the
// row's expectation for role r; in is the frame that arrived.
func CheckOutput(c *Checker, f *Frame, r telemetry.Role, in, out []byte) {
	e := f.Expect[r]
	if e.Outcome == Dropped {
		if out != nil {
			c.Errorf("%s/%v: want dropped, a %d-octet frame left", f.Name, r, len(out))
		}
		return
	}
	if out == nil {
		c.Errorf("%s/%v: want %v, the frame was dropped", f.Name, r, e.Outcome)
		return
	}
	if e.Outcome == Unchanged {
		if !bytes.Equal(out, in) {
			c.Errorf("%s/%v: want forwarded unchanged, got\n%x\nwant\n%x", f.Name, r, out, in)
		}
		return
	}
	if w := f.Want[r]; w != nil {
		if !bytes.Equal(out, w) {
			c.Errorf("%s/%v: want %v, got\n%x\nwant\n%x", f.Name, r, e.Outcome, out, w)
		}
		return
	}
	// Structural check: same link header and IPv6 header apart from the
	// length, same octets after the Hop-by-Hop header, the same non-IOAM
	// options, and DEX added or every IOAM option gone.
	var pi, po packet.Packet
	if err := packet.Parse(in, &pi); err != nil {
		c.Errorf("%s/%v: input does not parse: %v", f.Name, r, err)
		return
	}
	if err := packet.Parse(out, &po); err != nil {
		c.Errorf("%s/%v: output does not parse: %v", f.Name, r, po.Detail(err))
		return
	}
	li, ii, hi, ri := hbhParts(in, pi.L3)
	lo, io, ho, ro := hbhParts(out, po.L3)
	if !bytes.Equal(li, lo) || !bytes.Equal(ii, io) || !bytes.Equal(ri, ro) {
		c.Errorf("%s/%v: headers or payload changed beyond the Hop-by-Hop header:\n%x\n%x", f.Name, r, in, out)
	}
	oi, _ := nonPadOptions(hi)
	oo, ioam := nonPadOptions(ho)
	if !slices.EqualFunc(oi, oo, bytes.Equal) {
		c.Errorf("%s/%v: non-IOAM options changed: %x → %x", f.Name, r, oi, oo)
	}
	switch e.Outcome {
	case WithDEX:
		d := po.DEX
		if len(ioam) != 1 || !po.HasDEX || d.Namespace != Namespace || d.TraceType != TraceType || d.ExtFlags != 0 || d.Flags != 0 {
			c.Errorf("%s/%v: want the route's DEX, got %d IOAM options, %+v", f.Name, r, len(ioam), d)
		}
	case Stripped:
		if len(ioam) != 0 || po.NumIOAM != 0 {
			c.Errorf("%s/%v: IOAM left in %x", f.Name, r, out)
		}
	}
}

// CheckCounters compares the counter deltas after one frame with the row:
// the listed counters moved by their amount, the verdict counter by one,
// and nothing else moved except incidental counters.
func CheckCounters(c *Checker, f *Frame, r telemetry.Role, delta map[string]uint64) {
	e := f.Expect[r]
	want := e.Counters.Deltas()
	if e.Outcome == Dropped {
		want["dropped"] = 1
	} else {
		want["forwarded"] = 1
	}
	for n, v := range want {
		if delta[n] != v {
			c.Errorf("%s/%v: counter %s moved by %d, want %d (moved: %v)", f.Name, r, n, delta[n], v, delta)
		}
	}
	incidental := map[string]bool{"dex_seen": true, "flows_active": true, "flows_new": true}
	if r == telemetry.RoleEncap {
		incidental["records_exported"] = true // the encapsulating node's own record
	}
	for n, v := range delta {
		if _, ok := want[n]; !ok && v != 0 && !incidental[n] {
			c.Errorf("%s/%v: counter %s moved by %d unexpectedly (want %v)", f.Name, r, n, v, want)
		}
	}
}

// SnapshotCounters returns all counters of n by name.
func SnapshotCounters(n *node.Handler) map[string]uint64 {
	m := map[string]uint64{}
	n.Counters().Each(func(name string, v uint64) { m[name] = v })
	return m
}

// DeltaCounters returns after − before for the counters that moved.
func DeltaCounters(before, after map[string]uint64) map[string]uint64 {
	d := map[string]uint64{}
	for k, v := range after {
		if v != before[k] {
			d[k] = v - before[k]
		}
	}
	return d
}
