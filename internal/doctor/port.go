package doctor

import (
	"bufio"
	"cmp"
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"path/filepath"
	"runtime"
	"slices"
	"strconv"
	"strings"
	"unsafe"

	"github.com/cilium/ebpf"
	"github.com/cilium/ebpf/link"
	"github.com/vishvananda/netlink"
	"github.com/vishvananda/netlink/nl"
	"github.com/vishvananda/netns"
	"golang.org/x/sys/unix"

	"github.com/dexplane/dexplane/dataplane"
	"github.com/dexplane/dexplane/dataplane/policy"
	"github.com/dexplane/dexplane/steering"
)

// netdev generic netlink family (<linux/netdev.h>, Linux 6.3+).
const (
	netdevCmdDevGet        = 1
	netdevAttrIfindex      = 1
	netdevAttrXDPFeatures  = 3
	netdevAttrXDPZCMaxSegs = 4
	netdevXDPBasic         = 1 << 0
	netdevXDPRedirect      = 1 << 1
	netdevXDPNdoXmit       = 1 << 2
	netdevXDPXSKZeroCopy   = 1 << 3
	netdevXDPRxSG          = 1 << 5
)

// Texts of the XDP support checks.
const (
	errNoXDPFeaturesKernel  = "6.3" // first kernel reporting xdp-features
	virtualZeroCopyExpected = "copy mode: no virtual device has AF_XDP zero-copy"
	physicalZeroCopyAdvice  = "for zero-copy use a NIC whose driver has it (ice, i40e, ixgbe, mlx5, igc, stmmac …) with attach_mode native"
)

// xdpFeatures asks the kernel which XDP features the device's driver has
// (NETDEV_CMD_DEV_GET, the data `ip -d link` does not show).
func xdpFeatures(ifindex int) (uint64, error) {
	fam, err := netlink.GenlFamilyGet("netdev")
	if err != nil {
		return 0, fmt.Errorf("%w: generic netlink family netdev: %v", ebpf.ErrNotSupported, err)
	}
	req := nl.NewNetlinkRequest(int(fam.ID), 0)
	// struct genlmsghdr and the ifindex attribute written out: nl.Genlmsg
	// leaves its reserved octets uninitialised, and the kernel rejects a
	// non-zero one (EINVAL).
	body := []byte{netdevCmdDevGet, 1, 0, 0, 8, 0, netdevAttrIfindex, 0}
	req.AddRawData(append(body, nl.Uint32Attr(uint32(ifindex))...))
	msgs, err := req.Execute(unix.NETLINK_GENERIC, 0)
	if err != nil {
		return 0, err
	}
	for _, m := range msgs {
		if len(m) < 4 {
			continue
		}
		attrs, err := nl.ParseRouteAttr(m[4:])
		if err != nil {
			return 0, err
		}
		for _, a := range attrs {
			if a.Attr.Type == netdevAttrXDPFeatures && len(a.Value) >= 8 {
				return *(*uint64)(unsafe.Pointer(&a.Value[0])), nil
			}
		}
	}
	return 0, errors.New("no xdp-features in the answer")
}

// isVirtual reports whether the interface has no bus device (veth, tap,
// bridge, macvlan, …).
func isVirtual(name string) bool {
	_, err := os.Stat(filepath.Join("/sys/class/net", name, "device"))
	return err != nil
}

// ethtoolValue is struct ethtool_value.
type ethtoolValue struct{ Cmd, Data uint32 }

// ifreqData is struct ifreq with ifr_data.
type ifreqData struct {
	Name [unix.IFNAMSIZ]byte
	Data unsafe.Pointer
	_    [24 - unsafe.Sizeof(uintptr(0))]byte
}

// ethtool runs one SIOCETHTOOL request on ifname with data.
func ethtool(ifname string, data unsafe.Pointer) error {
	fd, err := unix.Socket(unix.AF_INET, unix.SOCK_DGRAM|unix.SOCK_CLOEXEC, 0)
	if err != nil {
		if fd, err = unix.Socket(unix.AF_INET6, unix.SOCK_DGRAM|unix.SOCK_CLOEXEC, 0); err != nil {
			return err
		}
	}
	defer unix.Close(fd)
	var ifr ifreqData
	copy(ifr.Name[:], ifname)
	ifr.Data = data
	if _, _, e := unix.Syscall(unix.SYS_IOCTL, uintptr(fd), unix.SIOCETHTOOL, uintptr(unsafe.Pointer(&ifr))); e != 0 {
		return e
	}
	return nil
}

// txChecksum reports whether TX checksum offload is on (ethtool -k: tx-checksumming).
func txChecksum(ifname string) (bool, error) {
	v := ethtoolValue{Cmd: unix.ETHTOOL_GTXCSUM}
	err := ethtool(ifname, unsafe.Pointer(&v))
	return v.Data != 0, err
}

// rssQueues returns the RX queues the device's RSS indirection table
// spreads flows over (ethtool -x), or nil with an error.
func rssQueues(ifname string) ([]int, error) {
	hdr := struct{ Cmd, Size uint32 }{Cmd: unix.ETHTOOL_GRXFHINDIR}
	if err := ethtool(ifname, unsafe.Pointer(&hdr)); err != nil {
		return nil, err
	}
	if hdr.Size == 0 || hdr.Size > 1<<16 {
		return nil, unix.EOPNOTSUPP
	}
	buf := make([]uint32, 2+hdr.Size)
	buf[0], buf[1] = unix.ETHTOOL_GRXFHINDIR, hdr.Size
	if err := ethtool(ifname, unsafe.Pointer(&buf[0])); err != nil {
		return nil, err
	}
	seen := map[int]bool{}
	var qs []int
	for _, q := range buf[2:] {
		if !seen[int(q)] {
			seen[int(q)] = true
			qs = append(qs, int(q))
		}
	}
	slices.Sort(qs)
	return qs, nil
}

// queueIRQs maps RX queue number to IRQ for ifname from /proc/interrupts.
func queueIRQs(ifname string) map[int]int {
	f, err := os.Open("/proc/interrupts")
	if err != nil {
		return nil
	}
	defer f.Close()
	return parseInterrupts(f, ifname)
}

// parseInterrupts reads /proc/interrupts and maps queue number to IRQ for
// the names drivers give per-queue interrupts: "IF-TxRx-3" (i40e, ice,
// ixgbe), "IF-rx-3", "IF-3" (virtio, igc); TX-only vectors ("IF-tx-3") are
// skipped. Names such as "mlx5_comp3@pci:…" do not carry the interface
// name and are not matched.
func parseInterrupts(r io.Reader, ifname string) map[int]int {
	out := map[int]int{}
	s := bufio.NewScanner(r)
	for s.Scan() {
		fields := strings.Fields(s.Text())
		if len(fields) < 2 {
			continue
		}
		irq, err := strconv.Atoi(strings.TrimSuffix(fields[0], ":"))
		if err != nil {
			continue
		}
		rest, ok := strings.CutPrefix(fields[len(fields)-1], ifname)
		if !ok || rest == "" || (rest[0] != '-' && rest[0] != '_') {
			continue
		}
		lower := strings.ToLower(rest)
		if strings.Contains(lower, "tx") && !strings.Contains(lower, "rx") {
			continue
		}
		i := strings.LastIndexAny(rest, "-_")
		q, err := strconv.Atoi(rest[i+1:])
		if err != nil {
			continue
		}
		out[q] = irq
	}
	return out
}

// irqCPUs reads /proc/irq/N/smp_affinity_list.
func irqCPUs(irq int) ([]int, error) {
	b, err := os.ReadFile(fmt.Sprintf("/proc/irq/%d/smp_affinity_list", irq))
	if err != nil {
		return nil, err
	}
	return parseCPUList(string(b))
}

// parseCPUList parses a CPU list such as "0-3,8".
func parseCPUList(list string) ([]int, error) {
	var cpus []int
	for _, part := range strings.Split(strings.TrimSpace(list), ",") {
		lo, hi, isRange := strings.Cut(part, "-")
		a, err := strconv.Atoi(lo)
		if err != nil {
			return nil, fmt.Errorf("cpu list %q: %w", list, err)
		}
		z := a
		if isRange {
			if z, err = strconv.Atoi(hi); err != nil {
				return nil, fmt.Errorf("cpu list %q: %w", list, err)
			}
		}
		for c := a; c <= z; c++ {
			cpus = append(cpus, c)
		}
	}
	return cpus, nil
}

// XDPProgram describes the XDP program attached to an interface.
type XDPProgram struct {
	// Name and ID of the program; Mode is how it is attached (xdpdrv,
	// xdpgeneric, xdpoffload, or several).
	Name string
	ID   uint32
	Mode string
	// LinkID is the bpf_link holding it (0: attached by netlink, as
	// `ip link set dev IF xdp obj …` does).
	LinkID uint32
	// Ours: the name has dexplane's prefix (dxp_).
	Ours bool
	// LinkPID and LinkComm name a process holding the bpf_link (0, "" if
	// none was found).
	LinkPID  int
	LinkComm string
}

// Detach is the command that removes the program; for one held by a
// bpf_link, how to find the process that holds it.
func (x *XDPProgram) Detach(ifname string) string {
	if x.LinkID != 0 && x.LinkPID != 0 {
		return fmt.Sprintf("it goes when the process holding its bpf_link stops: kill %d (%s)", x.LinkPID, x.LinkComm)
	}
	if x.LinkID != 0 {
		return fmt.Sprintf("it is held by bpf_link %d of a running process: stop that process (bpftool link show id %d lists its pids)", x.LinkID, x.LinkID)
	}
	return fmt.Sprintf("ip link set dev %s %s off", ifname, x.Mode)
}

// String names the program, its id, mode and the bpf_link holding it.
func (x *XDPProgram) String() string {
	s := fmt.Sprintf("XDP program %q (id %d) attached in %s mode", x.Name, x.ID, x.Mode)
	if x.LinkID != 0 {
		s += fmt.Sprintf(" through bpf_link %d", x.LinkID)
	}
	if x.LinkPID != 0 {
		s += fmt.Sprintf(" of %s (pid %d)", x.LinkComm, x.LinkPID)
	}
	return s
}

// AttachedXDP returns the XDP program attached to ifname, nil if none.
func AttachedXDP(ifname string) (*XDPProgram, error) {
	l, err := netlink.LinkByName(ifname)
	if err != nil {
		return nil, err
	}
	x := l.Attrs().Xdp
	if x == nil || !x.Attached || x.ProgId == 0 {
		return nil, nil
	}
	p := &XDPProgram{ID: x.ProgId, Name: fmt.Sprintf("id %d", x.ProgId)}
	switch x.AttachMode {
	case 1:
		p.Mode = "xdpdrv"
	case 2:
		p.Mode = "xdpgeneric"
	case 3:
		p.Mode = "xdpoffload"
	default:
		p.Mode = "xdp"
	}
	if prog, err := ebpf.NewProgramFromID(ebpf.ProgramID(x.ProgId)); err == nil {
		if info, err := prog.Info(); err == nil {
			p.Name = info.Name
		}
		prog.Close()
	}
	p.Ours = strings.HasPrefix(p.Name, steering.ProgPrefix)
	var it link.Iterator
	defer it.Close()
	for it.Next() {
		info, err := it.Link.Info()
		if err != nil || info.Type != link.XDPType {
			continue
		}
		// Interface indexes repeat across namespaces; program ids do not.
		if xi := info.XDP(); xi != nil && int(xi.Ifindex) == l.Attrs().Index && uint32(info.Program) == x.ProgId {
			p.LinkID = uint32(it.ID)
			p.LinkPID, p.LinkComm = linkOwner(p.LinkID)
			break
		}
	}
	return p, nil
}

// checkPorts runs the per-port checks.
func checkPorts(r *Report, t *Target) {
	var mtu [2]int
	var present [2]bool
	for p := range 2 {
		scope := t.portLabel(p)
		name := t.Ports[p].Name
		ifc, err := net.InterfaceByName(name)
		if err != nil {
			r.add(scope, "interface", Fail, fmt.Sprintf("no interface %q in this network namespace; the name comes from %s", name, t.Source), HowToGivePorts)
			continue
		}
		present[p] = true
		mtu[p] = ifc.MTU
		if t.Ports[p].MTU != 0 {
			mtu[p] = t.Ports[p].MTU
		}
		if ifc.Flags&net.FlagUp == 0 {
			r.add(scope, "link", Warn, "administratively down: nothing crosses", "ip link set dev "+name+" up")
		} else {
			r.add(scope, "link", OK, fmt.Sprintf("up, ifindex %d, MTU %d", ifc.Index, ifc.MTU), "")
		}
		if m := t.Ports[p].MTU; m > ifc.MTU {
			r.add(scope, "configured MTU", Warn, fmt.Sprintf("ports[%d].mtu is %d but the interface's MTU is %d: frames above %d are dropped on the way out", p, m, ifc.MTU, ifc.MTU),
				fmt.Sprintf("ip link set dev %s mtu %d (and its neighbours), or set ports[%d].mtu: %d", name, m, p, ifc.MTU))
		}
		virtual := isVirtual(name)
		driver := "unknown"
		if fd, err := unix.Socket(unix.AF_INET, unix.SOCK_DGRAM|unix.SOCK_CLOEXEC, 0); err == nil {
			if di, err := unix.IoctlGetEthtoolDrvinfo(fd, name); err == nil {
				driver = unix.ByteSliceToString(di.Driver[:])
			}
			unix.Close(fd)
		}
		kind := "NIC"
		if virtual {
			kind = "virtual device"
		}
		r.add(scope, "driver", OK, fmt.Sprintf("%s (%s)", driver, kind), "")
		if driver == "unknown" {
			driver = name + "'s driver"
		}
		checkXDPSupport(r, t, p, ifc.Index, virtual, driver)
		checkQueues(r, t, p, virtual)
		if virtual {
			checkTxChecksum(r, t, p)
		}
		checkXDPAttached(r, t, p)
		checkXSKs(r, t, p, ifc.Index)
	}
	checkMTU(r, t, present, mtu)
}

func checkXDPSupport(r *Report, t *Target, p, ifindex int, virtual bool, driver string) {
	scope := t.portLabel(p)
	feat, err := xdpFeatures(ifindex)
	if err != nil {
		detail := "unknown: " + err.Error()
		if errors.Is(err, ebpf.ErrNotSupported) {
			detail = "unknown: the kernel does not report xdp-features (Linux " + errNoXDPFeaturesKernel + "+)"
		}
		r.add(scope, "native XDP", Warn, detail, "")
		return
	}
	switch {
	case feat&netdevXDPBasic != 0:
		r.add(scope, "native XDP", OK, fmt.Sprintf("supported by %s (xdp-features %#x)", driver, feat), "")
	case t.Attach == policy.AttachNative.String():
		r.add(scope, "native XDP", Fail, fmt.Sprintf("%s has no native XDP and dataplane.attach_mode is native", driver),
			"set dataplane.attach_mode: generic (or auto), or run with --attach generic")
	default:
		r.add(scope, "native XDP", Warn, fmt.Sprintf("%s has no native XDP: generic mode (an skb per frame, slower)", driver),
			"use a NIC whose driver has native XDP for line rate")
	}
	switch {
	case feat&netdevXDPXSKZeroCopy != 0:
		r.add(scope, "zero-copy", OK, "AF_XDP zero-copy supported", "")
	case virtual:
		r.add(scope, "zero-copy", OK, virtualZeroCopyExpected, "")
	default:
		r.add(scope, "zero-copy", Warn, fmt.Sprintf("%s has no AF_XDP zero-copy: copy mode (two copies per frame)", driver), physicalZeroCopyAdvice)
	}
}

func checkQueues(r *Report, t *Target, p int, virtual bool) {
	scope, name := t.portLabel(p), t.Ports[p].Name
	q := max(t.Queues, 1)
	n, err := dataplane.RxQueues(name)
	setChannels := fmt.Sprintf("ethtool -L %s combined %d", name, q)
	if virtual {
		setChannels = fmt.Sprintf("ethtool -L %s rx %d tx %d (a veth cannot exceed the queues it was created with: ip link add … numrxqueues %d numtxqueues %d)", name, q, q, q, q)
	}
	switch {
	case err != nil:
		r.add(scope, "channels", Warn, fmt.Sprintf("unknown (%v); dataplane.queues is %d", err, q), "")
	case n < q:
		r.add(scope, "channels", Fail, fmt.Sprintf("%d RX queue(s), fewer than dataplane.queues %d: dexplane run refuses to start", n, q),
			setChannels+"\nor set dataplane.queues: "+strconv.Itoa(n))
	case n > q:
		r.add(scope, "channels", Warn, fmt.Sprintf("%d RX queues but dataplane.queues is %d: frames on queues %d..%d cross without IOAM (xsk_miss)", n, q, q, n-1),
			setChannels+"\nor set dataplane.queues: "+strconv.Itoa(n))
	default:
		r.add(scope, "channels", OK, fmt.Sprintf("%d RX queue(s) = dataplane.queues", n), "")
	}
	if n <= 1 {
		r.add(scope, "RSS", OK, "one queue: nothing to spread", "")
	} else if qs, err := rssQueues(name); err != nil {
		if virtual {
			r.add(scope, "RSS", OK, "no indirection table (virtual device: the sender's queue selects the RX queue)", "")
		} else {
			r.add(scope, "RSS", Warn, fmt.Sprintf("indirection table unreadable: %v", err), "")
		}
	} else if want := seq(q); !slices.Equal(qs, want) {
		r.add(scope, "RSS", Warn, fmt.Sprintf("flows spread over queues %v, workers serve %v", qs, want),
			fmt.Sprintf("ethtool -X %s equal %d", name, q))
	} else {
		r.add(scope, "RSS", OK, fmt.Sprintf("flows spread over queues %v, one worker each", qs), "")
	}
	irqs := queueIRQs(name)
	switch {
	case len(irqs) == 0:
		r.add(scope, "IRQ affinity", OK, "no per-queue interrupts found (virtual device or unnamed IRQs)", "")
	case len(t.CPUs) == 0:
		r.add(scope, "IRQ affinity", OK, "dataplane.cpus not set: workers float, IRQs not compared", "")
	default:
		var bad []string
		var fix []string
		for qi := 0; qi < q; qi++ {
			irq, ok := irqs[qi]
			if !ok {
				continue
			}
			cpu := t.CPUs[qi%len(t.CPUs)]
			cpus, err := irqCPUs(irq)
			if err != nil || !slices.Equal(cpus, []int{cpu}) {
				bad = append(bad, fmt.Sprintf("queue %d IRQ %d on CPUs %v, worker on CPU %d", qi, irq, cpus, cpu))
				fix = append(fix, fmt.Sprintf("echo %d > /proc/irq/%d/smp_affinity_list", cpu, irq))
			}
		}
		if len(bad) == 0 {
			r.add(scope, "IRQ affinity", OK, "each queue's IRQ is on its worker's CPU", "")
		} else {
			r.add(scope, "IRQ affinity", Warn, strings.Join(bad, "; "),
				"stop irqbalance for these IRQs, then: "+strings.Join(fix, "; "))
		}
	}
}

func seq(n int) []int {
	s := make([]int, n)
	for i := range s {
		s[i] = i
	}
	return s
}

// checkTxChecksum warns when frames a virtual port receives may carry
// unfinished checksums that dexplane does not complete (complete_checksums:
// off): a sender device with TX checksum offload (a veth
// peer, a tap) hands over CHECKSUM_PARTIAL frames, which leave AF_XDP with
// the pseudo-header sum only. For a veth the peer is checked, in its own
// namespace when `ip netns` names it; otherwise the port itself (a veth
// pair is created with the same offloads).
func checkTxChecksum(r *Report, t *Target, p int) {
	scope, name := t.portLabel(p), t.Ports[p].Name
	who, where := name, ""
	var on bool
	var err error
	l, lerr := netlink.LinkByName(name)
	switch {
	case lerr == nil && l.Type() == "veth" && l.Attrs().NetNsID < 0:
		if peer, perr := netlink.LinkByIndex(l.Attrs().ParentIndex); perr == nil {
			who = peer.Attrs().Name
		}
		on, err = txChecksum(who)
	case lerr == nil && l.Type() == "veth":
		var ns string
		ns, who, on, err = peerTxChecksum(l.Attrs().NetNsID, l.Attrs().ParentIndex)
		if err == nil {
			where = " (in network namespace " + ns + ")"
		} else {
			who, where = name, " (its veth peer's namespace is not one `ip netns` names; the pair shares its offloads)"
			on, err = txChecksum(name)
		}
	default:
		on, err = txChecksum(name)
	}
	switch {
	case err != nil:
		r.add(scope, "tx checksum", OK, fmt.Sprintf("%s does not report TX checksum offload (%v)", who, err), "")
	case on && t.Ports[p].CompleteChecksums != "off":
		r.add(scope, "tx checksum", OK,
			fmt.Sprintf("TX checksum offload on %s%s, which sends into this port: dexplane completes its unfinished checksums (complete_checksums: %s; counted in dexplane_checksums_completed_total)", who, where, cmp.Or(t.Ports[p].CompleteChecksums, "auto")),
			"")
	case on:
		fix := fmt.Sprintf("ethtool -K %s tx off", who)
		if ns, ok := strings.CutPrefix(where, " (in network namespace "); ok {
			fix = fmt.Sprintf("ip netns exec %s ethtool -K %s tx off", strings.TrimSuffix(ns, ")"), who)
		}
		r.add(scope, "tx checksum", Warn,
			fmt.Sprintf("TX checksum offload on %s%s, which sends into this port, and complete_checksums is off: its frames may carry unfinished checksums (CHECKSUM_PARTIAL) that AF_XDP forwards unfinished", who, where),
			fmt.Sprintf("set ports[%d].complete_checksums: auto\nor %s", p, fix))
	default:
		r.add(scope, "tx checksum", OK, fmt.Sprintf("offload off on %s%s, which sends into this port: checksums arrive complete", who, where), "")
	}
}

// peerTxChecksum reads TX checksum offload of interface ifindex in the
// network namespace the calling namespace knows as nsid, looked up among
// the namespaces `ip netns` names (/var/run/netns).
func peerTxChecksum(nsid, ifindex int) (ns, name string, on bool, err error) {
	ents, err := os.ReadDir("/var/run/netns")
	if err != nil {
		return "", "", false, err
	}
	for _, e := range ents {
		h, herr := netns.GetFromPath(filepath.Join("/var/run/netns", e.Name()))
		if herr != nil {
			continue
		}
		id, iderr := netlink.GetNetNsIdByFd(int(h))
		if iderr != nil || id != nsid {
			h.Close()
			continue
		}
		defer h.Close()
		res := make(chan error, 1)
		go func() {
			runtime.LockOSThread() // unlocked only if the namespace is restored
			orig, err := netns.Get()
			if err != nil {
				res <- err
				return
			}
			defer orig.Close()
			if err := netns.Set(h); err != nil {
				res <- err
				return
			}
			var ferr error
			if ifc, err := net.InterfaceByIndex(ifindex); err != nil {
				ferr = err
			} else {
				name = ifc.Name
				on, ferr = txChecksum(name)
			}
			if netns.Set(orig) == nil {
				runtime.UnlockOSThread()
			}
			res <- ferr
		}()
		return e.Name(), name, on, <-res
	}
	return "", "", false, fmt.Errorf("no named network namespace has nsid %d", nsid)
}

func checkXDPAttached(r *Report, t *Target, p int) {
	scope, name := t.portLabel(p), t.Ports[p].Name
	x, err := AttachedXDP(name)
	switch {
	case err != nil:
		r.add(scope, "XDP program", Warn, "cannot read: "+err.Error(), "")
	case x == nil:
		r.add(scope, "XDP program", OK, "none attached", "")
	case x.Ours && x.LinkID != 0:
		r.add(scope, "XDP program", Fail, "another dexplane runs on this port: "+x.String(), stopOther(x))
	case x.Ours:
		r.add(scope, "XDP program", OK, "stale dexplane "+x.String()+": replaced at start", "")
	default:
		r.add(scope, "XDP program", Fail, "another program uses this port: "+x.String()+"; dexplane does not remove other people's programs",
			"detach it: "+x.Detach(name))
	}
}

// checkMTU compares the inside port's MTU with the outside port's plus the
// largest route overhead: a full-size packet selected for DEX must still
// fit, or it crosses without DEX (skipped_mtu).
func checkMTU(r *Report, t *Target, present [2]bool, mtu [2]int) {
	if len(t.Routes) == 0 {
		return
	}
	for p := range 2 {
		in := 1 - p
		if t.Ports[p].Domain != "inside" || t.Ports[in].Domain != "outside" || !present[p] || !present[in] {
			continue
		}
		worst := t.Routes[0]
		for _, rt := range t.Routes[1:] {
			if rt.Overhead() > worst.Overhead() {
				worst = rt
			}
		}
		need := mtu[in] + worst.Overhead()
		detail := fmt.Sprintf("MTU %d; full-size packets from %s (MTU %d) plus the largest route overhead, %d octets (route %s mode %s ext_flags %#x trace_type %#06x), need %d",
			mtu[p], t.Ports[in].Name, mtu[in], worst.Overhead(), worst.Prefix, worst.Mode, worst.ExtFlags, worst.TraceType, need)
		if mtu[p] >= need {
			r.add(t.portLabel(p), "MTU", OK, detail, "")
			continue
		}
		r.add(t.portLabel(p), "MTU", Warn, detail+": larger packets cross without DEX (skipped_mtu)",
			fmt.Sprintf("ip link set dev %s mtu %d (and every link of the IOAM domain), or ip link set dev %s mtu %d on the hosts outside, or options.packet_too_big: true for encap routes",
				t.Ports[p].Name, need, t.Ports[in].Name, mtu[p]-worst.Overhead()))
	}
}

// checkXSKs reports AF_XDP sockets already bound to the port's queues: a
// worker's bind on such a queue fails with EBUSY.
func checkXSKs(r *Report, t *Target, p, ifindex int) {
	scope := t.portLabel(p)
	xs, err := BoundXSKs(ifindex)
	if errors.Is(err, ErrNoXSKDiag) {
		r.add(scope, "AF_XDP sockets", OK, "not listed: "+err.Error()+"; a queue in use shows at start as EBUSY", "")
		return
	}
	if err != nil {
		r.add(scope, "AF_XDP sockets", Warn, "cannot list: "+err.Error(), "")
		return
	}
	var busy []string
	var fix []string
	for _, x := range xs {
		if x.Queue < max(t.Queues, 1) {
			busy = append(busy, x.String())
			if x.PID != 0 {
				fix = append(fix, fmt.Sprintf("kill %d (%s)", x.PID, x.Comm))
			}
		}
	}
	if len(busy) == 0 {
		r.add(scope, "AF_XDP sockets", OK, "no other socket on the workers' queues", "")
		return
	}
	f := "stop the process holding it (ss -a --xdp -p lists them)"
	if len(fix) > 0 {
		f = "stop the process holding it: " + strings.Join(fix, "; ") + " (or systemctl stop dexplane)"
	}
	r.add(scope, "AF_XDP sockets", Fail, strings.Join(busy, "; ")+": dexplane cannot bind these queues (EBUSY)", f)
}
