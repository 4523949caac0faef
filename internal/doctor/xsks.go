package doctor

import (
	"encoding/binary"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"

	"github.com/vishvananda/netlink/nl"
	"golang.org/x/sys/unix"
)

// XSK is one AF_XDP socket bound to a device queue, as sock_diag reports
// it (what `ss -a --xdp -p` lists).
type XSK struct {
	// Inode is the socket's inode number (socket:[Inode] in /proc/PID/fd).
	Inode uint32
	// Ifindex and Queue are where it is bound.
	Ifindex, Queue int
	// PID and Comm name a process holding it (0, "" if none was found).
	PID  int
	Comm string
}

// String names the socket, its queue and the process holding it.
func (x XSK) String() string {
	s := fmt.Sprintf("AF_XDP socket (inode %d) on queue %d", x.Inode, x.Queue)
	if x.PID != 0 {
		s += fmt.Sprintf(" held by %s (pid %d)", x.Comm, x.PID)
	}
	return s
}

// ErrNoXSKDiag: the kernel cannot list AF_XDP sockets (built without
// CONFIG_XDP_SOCKETS_DIAG, module xsk_diag; `ss --xdp` shows nothing).
var ErrNoXSKDiag = errors.New("kernel without AF_XDP socket diagnostics (CONFIG_XDP_SOCKETS_DIAG, module xsk_diag)")

// <linux/xdp_diag.h>
const (
	xdpShowInfo = 1 << 0
	xdpDiagInfo = 1
)

// BoundXSKs lists the AF_XDP sockets of the calling thread's network
// namespace that are bound to ifindex (all interfaces when ifindex is 0),
// with the process holding each when /proc shows it.
func BoundXSKs(ifindex int) ([]XSK, error) {
	req := nl.NewNetlinkRequest(nl.SOCK_DIAG_BY_FAMILY, unix.NLM_F_DUMP)
	// struct xdp_diag_req: family, protocol, pad, ino, show, cookie[2].
	body := make([]byte, 20)
	body[0] = unix.AF_XDP
	binary.NativeEndian.PutUint32(body[8:], xdpShowInfo)
	req.AddRawData(body)
	msgs, err := req.Execute(unix.NETLINK_SOCK_DIAG, 0)
	if errors.Is(err, unix.ENOENT) {
		return nil, ErrNoXSKDiag
	}
	if err != nil {
		return nil, fmt.Errorf("sock_diag AF_XDP: %w", err)
	}
	var out []XSK
	for _, m := range msgs {
		// struct xdp_diag_msg: family, type, pad, ino, cookie[2].
		if len(m) < 16 {
			continue
		}
		x := XSK{Inode: binary.NativeEndian.Uint32(m[4:]), Ifindex: -1}
		attrs, err := nl.ParseRouteAttr(m[16:])
		if err != nil {
			continue
		}
		for _, a := range attrs {
			if a.Attr.Type == xdpDiagInfo && len(a.Value) >= 8 {
				x.Ifindex = int(binary.NativeEndian.Uint32(a.Value))
				x.Queue = int(binary.NativeEndian.Uint32(a.Value[4:]))
			}
		}
		if x.Ifindex < 0 || ifindex != 0 && x.Ifindex != ifindex {
			continue
		}
		out = append(out, x)
	}
	if len(out) > 0 {
		findOwners(out)
	}
	return out, nil
}

// findOwners fills PID and Comm from /proc/*/fd links "socket:[INODE]".
func findOwners(xs []XSK) {
	want := map[string]int{}
	for i, x := range xs {
		want[fmt.Sprintf("socket:[%d]", x.Inode)] = i
	}
	procs, _ := os.ReadDir("/proc")
	for _, p := range procs {
		pid, err := strconv.Atoi(p.Name())
		if err != nil {
			continue
		}
		fds, _ := os.ReadDir(filepath.Join("/proc", p.Name(), "fd"))
		for _, fd := range fds {
			l, err := os.Readlink(filepath.Join("/proc", p.Name(), "fd", fd.Name()))
			if err != nil {
				continue
			}
			if i, ok := want[l]; ok && xs[i].PID == 0 {
				comm, _ := os.ReadFile(filepath.Join("/proc", p.Name(), "comm"))
				xs[i].PID, xs[i].Comm = pid, strings.TrimSpace(string(comm))
			}
		}
	}
}

// linkOwner returns a process holding bpf_link id (from the "link_id:" line
// of /proc/PID/fdinfo of its anon_inode:bpf_link descriptors).
func linkOwner(id uint32) (pid int, comm string) {
	want := fmt.Sprintf("link_id:\t%d\n", id)
	procs, _ := os.ReadDir("/proc")
	for _, p := range procs {
		n, err := strconv.Atoi(p.Name())
		if err != nil {
			continue
		}
		dir := filepath.Join("/proc", p.Name())
		fds, _ := os.ReadDir(filepath.Join(dir, "fd"))
		for _, fd := range fds {
			if l, err := os.Readlink(filepath.Join(dir, "fd", fd.Name())); err != nil || l != "anon_inode:bpf_link" {
				continue
			}
			info, err := os.ReadFile(filepath.Join(dir, "fdinfo", fd.Name()))
			if err == nil && strings.Contains(string(info), want) {
				c, _ := os.ReadFile(filepath.Join(dir, "comm"))
				return n, strings.TrimSpace(string(c))
			}
		}
	}
	return 0, ""
}
