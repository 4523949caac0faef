package doctor

import (
	"bufio"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"runtime"
	"strconv"
	"strings"

	"github.com/cilium/ebpf"
	"github.com/cilium/ebpf/asm"
	"github.com/cilium/ebpf/features"
	"github.com/cilium/ebpf/link"
	"github.com/vishvananda/netlink"
	"golang.org/x/sys/unix"

	"github.com/dexplane/dexplane/dataplane/xsk"
)

// MinKernel is the oldest kernel dexplane runs on: AF_XDP sockets of two
// devices sharing one UMEM (XDP_SHARED_UMEM across devices) arrived in 5.10,
// after bpf_link for XDP (5.9).
const MinKernel = "5.10"

// Kernel capabilities dexplane needs (<linux/capability.h> numbers).
const (
	capNetAdmin = 12
	capNetRaw   = 13
	capIPCLock  = 14
	capSysAdmin = 21
	capBPF      = 39
)

// capability is one capability the data plane needs and why.
type capability struct {
	bit  uint
	name string
	why  string
}

// neededCaps are the capabilities `dexplane run` needs, in the order of
// deploy/dexplane.service.
var neededCaps = []capability{
	{capNetAdmin, "CAP_NET_ADMIN", "attach XDP programs, bind AF_XDP sockets"},
	{capBPF, "CAP_BPF", "load the XDP program and create its maps"},
	{capNetRaw, "CAP_NET_RAW", "open AF_XDP sockets"},
	{capIPCLock, "CAP_IPC_LOCK", "lock UMEM pages beyond RLIMIT_MEMLOCK"},
}

// CapsFix is how to give a binary, or the systemd unit, what `dexplane
// run` needs.
const CapsFix = "run as root, or: sudo setcap cap_net_admin,cap_bpf,cap_net_raw,cap_ipc_lock+ep \"$(command -v dexplane)\"\n" +
	"under systemd: AmbientCapabilities=CAP_NET_ADMIN CAP_BPF CAP_NET_RAW CAP_IPC_LOCK (deploy/dexplane.service)"

// MemlockFix is how to raise RLIMIT_MEMLOCK.
const MemlockFix = "grant CAP_IPC_LOCK (as for the other capabilities: cap_ipc_lock in setcap, CAP_IPC_LOCK in the unit), or raise the limit: ulimit -l unlimited (shell),\n" +
	"LimitMEMLOCK=infinity (systemd unit), or a memlock line in /etc/security/limits.conf"

// effectiveCaps returns the calling process's effective capability set
// (CapEff of /proc/self/status).
func effectiveCaps() (uint64, error) {
	f, err := os.Open("/proc/self/status")
	if err != nil {
		return 0, err
	}
	defer f.Close()
	s := bufio.NewScanner(f)
	for s.Scan() {
		if v, ok := strings.CutPrefix(s.Text(), "CapEff:"); ok {
			return strconv.ParseUint(strings.TrimSpace(v), 16, 64)
		}
	}
	return 0, errors.New("no CapEff in /proc/self/status")
}

// kernelRelease returns uname -r and its major and minor numbers.
func kernelRelease() (string, int, int) {
	var u unix.Utsname
	if unix.Uname(&u) != nil {
		return "unknown", 0, 0
	}
	rel := unix.ByteSliceToString(u.Release[:])
	var maj, min int
	fmt.Sscanf(rel, "%d.%d", &maj, &min)
	return rel, maj, min
}

// versionAtLeast reports whether maj.min ≥ want ("5.10").
func versionAtLeast(maj, min int, want string) bool {
	var wm, wn int
	fmt.Sscanf(want, "%d.%d", &wm, &wn)
	return maj > wm || maj == wm && min >= wn
}

// feature is one kernel feature and how to probe it.
type feature struct {
	name     string
	minimum  string // first kernel with it
	required bool   // false: dexplane runs without it, less well
	why      string // what dexplane uses it for
	probe    func() error
}

// features lists what the data plane uses, each probed by syscall (nil: the
// kernel has it; errors.Is(err, ebpf.ErrNotSupported): it does not).
var kernelFeatures = []feature{
	{"XDP programs", "4.8", true, "steering frames", func() error { return features.HaveProgramType(ebpf.XDP) }},
	{"XSKMAP", "4.18", true, "redirecting frames to AF_XDP sockets", func() error { return features.HaveMapType(ebpf.XSKMap) }},
	{"bpf_redirect_map", "4.18", true, "redirecting frames to sockets and the peer port",
		func() error { return features.HaveProgramHelper(ebpf.XDP, asm.FnRedirectMap) }},
	{"XDP metadata", "4.15", true, "8 octets of steer reason and route id (bpf_xdp_adjust_meta)",
		func() error { return features.HaveProgramHelper(ebpf.XDP, asm.FnXdpAdjustMeta) }},
	{"BPF global data", "5.2", true, "per-port constants (read-only maps)",
		func() error { return features.HaveMapFlag(features.BPF_F_RDONLY_PROG) }},
	{"bpf_link for XDP", "5.9", true, "an XDP program that leaves with the process", probeXDPLink},
	{"AF_XDP sockets", "4.18", true, "moving frames to the workers", probeAFXDP},
	{"AF_XDP need_wakeup", "5.4", true, "kicking the kernel only when it sleeps", probeNeedWakeup},
	{"AF_XDP shared UMEM", "5.10", true, "one UMEM for both ports of a worker (forwarding without a copy)", probeSharedUmem},
	{"XDP multi-buffer", "5.18", false, "frames longer than one page (jumbo MTU)", probeXDPFrags},
	{"busy polling", "5.11", false, "SO_PREFER_BUSY_POLL for AF_XDP sockets", probePreferBusyPoll},
}

// checkHost runs the host checks.
func checkHost(r *Report, t *Target) {
	const scope = "host"
	rel, maj, min := kernelRelease()
	if versionAtLeast(maj, min, MinKernel) {
		r.add(scope, "kernel", OK, fmt.Sprintf("Linux %s (dexplane needs %s or later)", rel, MinKernel), "")
	} else {
		r.add(scope, "kernel", Fail, fmt.Sprintf("Linux %s: dexplane needs %s or later", rel, MinKernel),
			"upgrade the kernel to "+MinKernel+" or later (Debian 12 ships 6.1)")
	}
	var denied []string // probes the process may not run
	for _, f := range kernelFeatures {
		name := f.name
		if f.probe == nil { // no syscall can tell without binding a port
			if versionAtLeast(maj, min, f.minimum) {
				r.add(scope, name, OK, fmt.Sprintf("kernel %s ≥ %s (by version: probing needs a bound socket)", rel, f.minimum), "")
			} else {
				r.add(scope, name, Fail, fmt.Sprintf("missing: needs kernel %s for %s", f.minimum, f.why), "upgrade the kernel to "+f.minimum+" or later")
			}
			continue
		}
		err := f.probe()
		switch {
		case err == nil:
			r.add(scope, name, OK, "supported (probed)", "")
		case errors.Is(err, ebpf.ErrNotSupported):
			s := Fail
			if !f.required {
				s = Warn
			}
			r.add(scope, name, s, fmt.Sprintf("not supported by this kernel (needs %s) — used for %s", f.minimum, f.why),
				"upgrade the kernel to "+f.minimum+" or later")
		case errors.Is(err, unix.EPERM) || errors.Is(err, unix.EACCES):
			denied = append(denied, name)
		default:
			r.add(scope, name, Warn, fmt.Sprintf("not probed: %v", err), "")
		}
	}
	if len(denied) > 0 {
		r.add(scope, "kernel features", Warn, fmt.Sprintf("%d not probed, permission denied: %s", len(denied), strings.Join(denied, ", ")),
			"run doctor as the node runs: as root, or with the capabilities below")
	}
	checkCaps(r, t)
}

// checkCaps checks the capabilities and RLIMIT_MEMLOCK.
func checkCaps(r *Report, t *Target) {
	const scope = "host"
	eff, err := effectiveCaps()
	if err != nil {
		r.add(scope, "capabilities", Warn, "cannot read: "+err.Error(), "")
		return
	}
	has := func(bit uint) bool { return eff&(1<<bit) != 0 }
	_, maj, min := kernelRelease()
	var lim unix.Rlimit
	unix.Getrlimit(unix.RLIMIT_MEMLOCK, &lim)
	memOK := lim.Cur == unix.RLIM_INFINITY || lim.Cur >= t.MemlockBytes
	for _, c := range neededCaps {
		switch {
		case has(c.bit):
			r.add(scope, c.name, OK, "held", "")
		case c.bit == capBPF && (has(capSysAdmin) || !versionAtLeast(maj, min, "5.8")):
			r.add(scope, c.name, OK, "not held, CAP_SYS_ADMIN covers it", "")
		case c.bit == capIPCLock && memOK:
			r.add(scope, c.name, OK, "not held; RLIMIT_MEMLOCK is large enough", "")
		default:
			r.add(scope, c.name, Fail, "missing: needed to "+c.why, CapsFix)
		}
	}
	need := fmt.Sprintf("the node locks %s", bytesStr(t.MemlockBytes))
	switch {
	case has(capIPCLock):
		r.add(scope, "RLIMIT_MEMLOCK", OK, fmt.Sprintf("%s; not a limit with CAP_IPC_LOCK (%s)", limitStr(lim.Cur), need), "")
	case memOK:
		r.add(scope, "RLIMIT_MEMLOCK", OK, fmt.Sprintf("%s ≥ %s", limitStr(lim.Cur), need), "")
	default:
		r.add(scope, "RLIMIT_MEMLOCK", Fail, fmt.Sprintf("%s: %s (UMEM of %d worker(s))", limitStr(lim.Cur), need, max(t.Queues, 1)), MemlockFix)
	}
}

func limitStr(v uint64) string {
	if v == unix.RLIM_INFINITY {
		return "unlimited"
	}
	return bytesStr(v)
}

func bytesStr(v uint64) string {
	switch {
	case v >= 1<<30 && v%(1<<30) == 0:
		return fmt.Sprintf("%d GiB", v>>30)
	case v >= 1<<20:
		return fmt.Sprintf("%.1f MiB", float64(v)/(1<<20))
	case v >= 1<<10:
		return fmt.Sprintf("%d KiB", v>>10)
	}
	return fmt.Sprintf("%d B", v)
}

// notSupported maps an errno that means "this kernel has no such thing" to
// ebpf.ErrNotSupported.
func notSupported(err error, errnos ...unix.Errno) error {
	for _, e := range errnos {
		if errors.Is(err, e) {
			return fmt.Errorf("%w: %v", ebpf.ErrNotSupported, err)
		}
	}
	return err
}

// probeAFXDP opens an AF_XDP socket.
func probeAFXDP() error {
	return notSupported(xsk.HaveSockets(), unix.EAFNOSUPPORT)
}

// probeNeedWakeup checks the kernel's AF_XDP ring layout for need_wakeup.
func probeNeedWakeup() error {
	err := xsk.HaveNeedWakeup()
	if errors.Is(err, xsk.ErrNoNeedWakeup) {
		return fmt.Errorf("%w: %v", ebpf.ErrNotSupported, err)
	}
	return notSupported(err, unix.EAFNOSUPPORT)
}

// probePreferBusyPoll sets SO_PREFER_BUSY_POLL (5.11) on a UDP socket; AF_XDP
// sockets take the same socket option.
func probePreferBusyPoll() error {
	fd, err := unix.Socket(unix.AF_INET6, unix.SOCK_DGRAM|unix.SOCK_CLOEXEC, 0)
	if err != nil {
		fd, err = unix.Socket(unix.AF_INET, unix.SOCK_DGRAM|unix.SOCK_CLOEXEC, 0)
		if err != nil {
			return err
		}
	}
	defer unix.Close(fd)
	return notSupported(unix.SetsockoptInt(fd, unix.SOL_SOCKET, unix.SO_PREFER_BUSY_POLL, 1), unix.ENOPROTOOPT)
}

// passProgram is the smallest XDP program: return XDP_PASS.
func passProgram(flags uint32) (*ebpf.Program, error) {
	return ebpf.NewProgramWithOptions(&ebpf.ProgramSpec{
		Name: "dxp_doctor", Type: ebpf.XDP, License: "GPL", Flags: flags,
		Instructions: asm.Instructions{asm.Mov.Imm(asm.R0, 2), asm.Return()},
	}, ebpf.ProgramOptions{LogDisabled: true})
}

// probeXDPFrags loads an XDP program flagged BPF_F_XDP_HAS_FRAGS (5.18):
// older kernels refuse the unknown flag with EINVAL.
func probeXDPFrags() error {
	p, err := passProgram(unix.BPF_F_XDP_HAS_FRAGS)
	if err != nil {
		return notSupported(err, unix.EINVAL)
	}
	p.Close()
	return nil
}

// probeXDPLink attaches an XDP_PASS program through a bpf_link (5.9) to the
// loopback device of a network namespace created for the probe on a
// thread of its own; the thread, and so the namespace, end with the probe.
func probeXDPLink() error {
	prog, err := passProgram(0)
	if err != nil {
		return err
	}
	defer prog.Close()
	return inPrivateNetns(func() error {
		lo := 1 // the loopback device is ifindex 1 in a new namespace
		l, err := link.AttachXDP(link.XDPOptions{Program: prog, Interface: lo, Flags: link.XDPGenericMode})
		if err != nil {
			return notSupported(err, unix.EINVAL)
		}
		return l.Close()
	})
}

// inPrivateNetns runs fn on a locked thread inside a network namespace
// created for it; the thread, and with it the namespace, ends with fn.
func inPrivateNetns(fn func() error) error {
	res := make(chan error, 1)
	go func() {
		runtime.LockOSThread() // never unlocked: the thread dies with its namespace
		if err := unix.Unshare(unix.CLONE_NEWNET); err != nil {
			res <- fmt.Errorf("private namespace for the probe: %w", err)
			return
		}
		res <- fn()
	}()
	return <-res
}

// probeSharedUmem binds two AF_XDP sockets of one UMEM to two devices
// (a veth pair in a private namespace), as a worker binds its two ports:
// kernels before 5.10 refuse the second bind with EINVAL.
func probeSharedUmem() error {
	return inPrivateNetns(func() error {
		var idx [2]int
		veth := &netlink.Veth{LinkAttrs: netlink.LinkAttrs{Name: "dxpprobe0"}, PeerName: "dxpprobe1"}
		if err := netlink.LinkAdd(veth); err != nil {
			return fmt.Errorf("veth pair for the probe: %w", err)
		}
		for i := range idx {
			l, err := netlink.LinkByName(fmt.Sprintf("dxpprobe%d", i))
			if err != nil {
				return err
			}
			idx[i] = l.Attrs().Index
		}
		u, err := xsk.NewUmem(xsk.UmemConfig{FrameSize: xsk.FrameSize2K, NumFrames: 64})
		if err != nil {
			return err
		}
		defer u.Close()
		quiet := slog.New(slog.NewTextHandler(io.Discard, nil))
		for i, ifindex := range idx {
			s, err := u.NewSocket(xsk.SocketConfig{Ifindex: ifindex, RxSize: 16, TxSize: 16, FillSize: 16, CompletionSize: 16,
				Mode: xsk.ModeCopy, Logger: quiet})
			if err != nil {
				if i == 1 {
					return notSupported(err, unix.EINVAL)
				}
				return err
			}
			defer s.Close()
		}
		return nil
	})
}
