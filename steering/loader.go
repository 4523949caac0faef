package steering

import (
	"errors"
	"fmt"
	"log/slog"
	"net/netip"
	"strings"
	"sync"
	"time"

	"github.com/cilium/ebpf"
	"github.com/cilium/ebpf/link"
	"github.com/vishvananda/netlink"
	"golang.org/x/sys/unix"

	"github.com/dexplane/dexplane/dataplane/policy"
)

// Sizes of the maps the loader may change (steer.c's defaults).
const (
	// DefaultMaxRoutes is the size of the steering LPM and sampler tables.
	DefaultMaxRoutes = 16384
	// DefaultOrderFlows is the size of the order_hold map.
	DefaultOrderFlows = 65536
	// MaxOrderWindow bounds Options.OrderWindow.
	MaxOrderWindow = time.Second
)

// ProgPrefix starts the kernel name of every dexplane XDP program; a
// program with this prefix found attached to a port is taken for a stale
// one of ours and replaced.
const ProgPrefix = "dxp_"

// Sentinel errors callers may branch on.
var (
	// ErrForeignProgram: the interface carries an XDP program that is not
	// dexplane's; we do not remove other people's programs.
	ErrForeignProgram = errors.New("interface has a foreign XDP program")
	// ErrPortBusy: a dexplane program is attached through a bpf_link
	// held by another live process (another dexplane running?).
	ErrPortBusy = errors.New("interface is held by another dexplane")
	// ErrClosed: the Objects were closed.
	ErrClosed = errors.New("ebpf objects closed")
)

// Program selects which XDP program AttachPort hooks to the ports.
type Program uint8

const (
	// ProgramSteer is dxp_steer, the classifier.
	ProgramSteer Program = iota
	// ProgramRedirect is dxp_redirect: every frame to the peer port.
	ProgramRedirect
)

// Options configures Load. The zero value steers all IPv6 to the workers.
type Options struct {
	Program Program
	// Steer selects what dxp_steer sends to the workers.
	Steer policy.Steer
	// MaxRoutes sizes the route LPM and sampler tables (route ids must be
	// below it); 0 means DefaultMaxRoutes.
	MaxRoutes int
	// PassForeignHbH keeps Hop-by-Hop frames arriving on outside ports in
	// the kernel in policy.SteerSampled unless their route selects them;
	// set it when foreign IOAM is forwarded untouched.
	PassForeignHbH bool
	// OrderWindow, in policy.SteerSampled, sends a flow's frames to the
	// worker for this long after one of them went there, so none overtakes
	// it (see the package documentation); 0 disables it. At most
	// MaxOrderWindow.
	OrderWindow time.Duration
	// OrderFlows sizes the order_hold LRU map (flows remembered at once);
	// 0 means DefaultOrderFlows. Ignored without OrderWindow.
	OrderFlows int
	// Logger receives attach/replace messages; nil means slog.Default().
	Logger *slog.Logger
}

// Objects are the shared maps of one node plus its attachments. Methods
// are safe for concurrent use. Map updates act immediately on running
// programs.
type Objects struct {
	opts Options
	spec *ebpf.CollectionSpec
	log  *slog.Logger

	mu     sync.Mutex
	maps   steerMaps
	atts   []*Attachment
	routes map[netip.Prefix]struct{}
	decap  map[netip.Addr]struct{}
	closed bool
	redir  *redirectWatch // nil when refused redirects cannot be counted
}

// Load creates the maps. Nothing is attached until AttachPort.
func Load(opts Options) (*Objects, error) {
	if opts.MaxRoutes == 0 {
		opts.MaxRoutes = DefaultMaxRoutes
	}
	if opts.MaxRoutes < 1 || opts.MaxRoutes > 1<<20 {
		return nil, fmt.Errorf("ebpf: MaxRoutes %d out of range 1..%d", opts.MaxRoutes, 1<<20)
	}
	if opts.Program > ProgramRedirect || opts.Steer > policy.SteerSampled {
		return nil, fmt.Errorf("ebpf: bad options program=%d steer=%d", opts.Program, opts.Steer)
	}
	if opts.OrderWindow < 0 || opts.OrderWindow > MaxOrderWindow {
		return nil, fmt.Errorf("ebpf: order window %v out of range 0..%v", opts.OrderWindow, MaxOrderWindow)
	}
	if opts.OrderWindow > 0 && opts.Steer != policy.SteerSampled {
		return nil, fmt.Errorf("ebpf: order window %v needs steer sampled (with steer all every frame goes to a worker)", opts.OrderWindow)
	}
	if opts.OrderFlows == 0 {
		opts.OrderFlows = DefaultOrderFlows
	}
	if opts.OrderFlows < 1 || opts.OrderFlows > 1<<24 {
		return nil, fmt.Errorf("ebpf: OrderFlows %d out of range 1..%d", opts.OrderFlows, 1<<24)
	}
	spec, err := loadSteer()
	if err != nil {
		return nil, fmt.Errorf("ebpf: parse steer object: %w", err)
	}
	spec.Maps["routes"].MaxEntries = uint32(opts.MaxRoutes)
	spec.Maps["samplers"].MaxEntries = uint32(opts.MaxRoutes)
	spec.Maps["order_hold"].MaxEntries = uint32(opts.OrderFlows)
	if opts.OrderWindow == 0 {
		spec.Maps["order_hold"].MaxEntries = 1 // unused: keep it small
	}
	o := &Objects{
		opts:   opts,
		spec:   spec,
		log:    opts.Logger,
		routes: map[netip.Prefix]struct{}{},
		decap:  map[netip.Addr]struct{}{},
	}
	if o.log == nil {
		o.log = slog.Default()
	}
	if err := spec.LoadAndAssign(&o.maps, nil); err != nil {
		return nil, fmt.Errorf("ebpf: create maps: %w", err)
	}
	if w, err := loadRedirectWatch(spec.Copy(), &o.maps); err != nil {
		o.log.Warn("xdp redirect failures will not be counted (dexplane_xdp_redirect_errors_total stays absent)", "err", err,
			"fix", "mount tracefs (mount -t tracefs none /sys/kernel/tracing)")
	} else {
		o.redir = w
	}
	return o, nil
}

// Attachment is one program attached to one port.
type Attachment struct {
	// Ifindex and Port are the interface and its port index.
	Ifindex, Port int
	// Mode is the mode the kernel accepted: policy.AttachNative or policy.AttachGeneric.
	Mode policy.AttachMode
	// Replaced names the stale dexplane program that was removed first,
	// empty when the interface had none.
	Replaced string

	// PeerViaTC: frames that cross go up with XDP_PASS and a TC program
	// moves them to the peer port (AttachPortPeerViaTC).
	PeerViaTC bool

	prog   *ebpf.Program
	lnk    link.Link
	tcProg *ebpf.Program
	tcLnk  link.Link
	o      *Objects
}

// Detach removes the program from the interface. Idempotent.
func (a *Attachment) Detach() error {
	a.o.mu.Lock()
	defer a.o.mu.Unlock()
	return a.detachLocked()
}

func (a *Attachment) detachLocked() error {
	var errs []error
	if a.lnk != nil {
		if err := a.lnk.Close(); err != nil {
			errs = append(errs, fmt.Errorf("ebpf: detach ifindex %d: %w", a.Ifindex, err))
		}
		a.lnk = nil
	}
	if a.tcLnk != nil {
		if err := a.tcLnk.Close(); err != nil {
			errs = append(errs, fmt.Errorf("ebpf: detach tc ifindex %d: %w", a.Ifindex, err))
		}
		a.tcLnk = nil
	}
	if a.tcProg != nil {
		errs = append(errs, a.tcProg.Close())
		a.tcProg = nil
	}
	if a.prog != nil {
		if a.o.redir != nil {
			a.o.redir.unwatch(a.prog)
		}
		errs = append(errs, a.prog.Close())
		a.prog = nil
	}
	for i, x := range a.o.atts {
		if x == a {
			a.o.atts = append(a.o.atts[:i], a.o.atts[i+1:]...)
			break
		}
	}
	return errors.Join(errs...)
}

// AttachPort loads a copy of the program for port portIndex (0 or 1), makes
// peerIfindex the port's egress, and attaches the program to ifindex.
// role decides what policy.SteerSampled steers on this port; to change it, Detach
// and attach again (the role is compiled into the port's program). An
// interface can hold one attachment at a time. A stale dexplane
// program on the interface is replaced (logged, and named in
// Attachment.Replaced); a foreign one makes AttachPort fail with
// ErrForeignProgram.
//
// Interface indexes are resolved in the network namespace of the calling
// OS thread: call it from the node's namespace (a locked thread that did
// setns, or a process started inside it).
func (o *Objects) AttachPort(ifindex, portIndex, peerIfindex int, mode policy.AttachMode, role policy.Domain) (*Attachment, error) {
	return o.attachPort(ifindex, portIndex, peerIfindex, mode, role, false)
}

// AttachPortPeerViaTC is AttachPort in native mode for a port whose peer
// port may refuse native XDP redirects (a veth whose neighbour runs no XDP
// program and no GRO): dxp_steer lets the frames that cross the bump up
// with XDP_PASS and dxp_tc_peer, on the port's TC ingress (tcx, Linux ≥
// 6.6), redirects them to the peer port on the skb path, which every
// device accepts. Native attach on a veth also makes the kernel segment
// what the neighbour sends (no GSO frames larger than a UMEM chunk), which
// generic attach does not. Needs ProgramSteer.
func (o *Objects) AttachPortPeerViaTC(ifindex, portIndex, peerIfindex int, role policy.Domain) (*Attachment, error) {
	if o.opts.Program != ProgramSteer {
		return nil, fmt.Errorf("ebpf: port %d: peer via tc needs the steer program", portIndex)
	}
	return o.attachPort(ifindex, portIndex, peerIfindex, policy.AttachNative, role, true)
}

func (o *Objects) attachPort(ifindex, portIndex, peerIfindex int, mode policy.AttachMode, role policy.Domain, viaTC bool) (*Attachment, error) {
	if portIndex < 0 || portIndex >= MaxPorts {
		return nil, fmt.Errorf("ebpf: port index %d out of range 0..%d", portIndex, MaxPorts-1)
	}
	if ifindex <= 0 || peerIfindex <= 0 {
		return nil, fmt.Errorf("ebpf: port %d: bad ifindex %d or peer %d", portIndex, ifindex, peerIfindex)
	}
	if mode > policy.AttachGeneric {
		return nil, fmt.Errorf("ebpf: port %d: bad attach mode %d", portIndex, mode)
	}
	o.mu.Lock()
	defer o.mu.Unlock()
	if o.closed {
		return nil, ErrClosed
	}

	if err := o.maps.TxPorts.Put(uint32(portIndex), uint32(peerIfindex)); err != nil {
		return nil, fmt.Errorf("ebpf: port %d: set peer ifindex %d: %w", portIndex, peerIfindex, err)
	}
	prog, err := o.loadProgram(portIndex, role, viaTC)
	if err != nil {
		return nil, err
	}
	a := &Attachment{Ifindex: ifindex, Port: portIndex, prog: prog, o: o, PeerViaTC: viaTC}
	if viaTC {
		// TC first: from the moment XDP passes frames up, they must cross.
		if a.tcProg, a.tcLnk, err = attachTCPeer(o.spec.Copy(), ifindex, peerIfindex); err != nil {
			prog.Close()
			return nil, err
		}
	}
	if a.Replaced, err = o.removeStale(ifindex); err != nil {
		prog.Close()
		return nil, err
	}

	try := []policy.AttachMode{mode}
	if mode == policy.AttachAuto {
		try = []policy.AttachMode{policy.AttachNative, policy.AttachGeneric}
	}
	var errs []error
	for _, m := range try {
		flags := link.XDPDriverMode
		if m == policy.AttachGeneric {
			flags = link.XDPGenericMode
		}
		l, err := link.AttachXDP(link.XDPOptions{Program: prog, Interface: ifindex, Flags: flags})
		if err != nil {
			errs = append(errs, fmt.Errorf("%s: %w", m, err))
			continue
		}
		a.lnk, a.Mode = l, m
		break
	}
	if a.lnk == nil {
		prog.Close()
		if a.tcLnk != nil {
			a.tcLnk.Close()
			a.tcProg.Close()
		}
		return nil, fmt.Errorf("ebpf: attach port %d to ifindex %d: %w", portIndex, ifindex, errors.Join(errs...))
	}
	if o.redir != nil {
		if err := o.redir.watch(prog, portIndex); err != nil {
			o.log.Warn("xdp redirect failures of this port will not be counted", "port_index", portIndex, "err", err)
		}
	}
	o.log.Info("xdp attached", "prog", progName[o.opts.Program], "port_index", portIndex, "ifindex", ifindex, "peer", peerIfindex,
		"mode", a.Mode, "requested", mode, "role", role, "steer", o.opts.Steer, "peer_via_tc", viaTC)
	o.atts = append(o.atts, a)
	return a, nil
}

var progName = [...]string{ProgramSteer: "dxp_steer", ProgramRedirect: "dxp_redirect"}

// loadProgram loads this port's copy of the selected program, sharing the
// node's maps; port_index and port_flags become verifier-known constants.
func (o *Objects) loadProgram(port int, role policy.Domain, viaTC bool) (*ebpf.Program, error) {
	var flags uint32
	switch {
	case o.opts.Steer == policy.SteerAll:
		flags = flagAll
	case role == policy.Outside:
		flags = flagRoutes
		if !o.opts.PassForeignHbH {
			// Hop-by-Hop and other extension headers (foreign IOAM in a
			// Destination Options header) meet the foreign_ioam policy.
			flags |= flagHbH | flagExtHdr
		}
	default:
		flags = flagHbH | flagDecap | flagExtHdr
	}
	spec := o.spec.Copy()
	if err := spec.Variables["port_index"].Set(uint32(port)); err != nil {
		return nil, fmt.Errorf("ebpf: set port_index: %w", err)
	}
	if err := spec.Variables["port_flags"].Set(flags); err != nil {
		return nil, fmt.Errorf("ebpf: set port_flags: %w", err)
	}
	if err := spec.Variables["order_window_ns"].Set(uint64(o.opts.OrderWindow.Nanoseconds())); err != nil {
		return nil, fmt.Errorf("ebpf: set order_window_ns: %w", err)
	}
	if viaTC {
		if err := spec.Variables["peer_via_tc"].Set(uint32(1)); err != nil {
			return nil, fmt.Errorf("ebpf: set peer_via_tc: %w", err)
		}
	}
	var steer struct {
		P *ebpf.Program `ebpf:"dxp_steer"`
	}
	var redirect struct {
		P *ebpf.Program `ebpf:"dxp_redirect"`
	}
	var dst any = &steer
	if o.opts.Program == ProgramRedirect {
		dst = &redirect
	}
	// Only the chosen program is loaded; it uses the node's maps.
	err := spec.LoadAndAssign(dst, &ebpf.CollectionOptions{MapReplacements: map[string]*ebpf.Map{
		"xsks":        o.maps.Xsks,
		"tx_ports":    o.maps.TxPorts,
		"routes":      o.maps.Routes,
		"samplers":    o.maps.Samplers,
		"decap_addrs": o.maps.DecapAddrs,
		"order_hold":  o.maps.OrderHold,
		"stats":       o.maps.Stats,
	}})
	if err != nil {
		return nil, fmt.Errorf("ebpf: load program for port %d: %w", port, err)
	}
	if o.opts.Program == ProgramRedirect {
		return redirect.P, nil
	}
	return steer.P, nil
}

// removeStale detaches a netlink-attached dexplane program from ifindex
// and returns its name ("" if there was none).
func (o *Objects) removeStale(ifindex int) (string, error) {
	l, err := netlink.LinkByIndex(ifindex)
	if err != nil {
		return "", fmt.Errorf("ebpf: ifindex %d: %w", ifindex, err)
	}
	x := l.Attrs().Xdp
	if x == nil || !x.Attached || x.ProgId == 0 {
		return "", nil
	}
	name := fmt.Sprintf("id %d", x.ProgId)
	if p, err := ebpf.NewProgramFromID(ebpf.ProgramID(x.ProgId)); err == nil {
		if info, err := p.Info(); err == nil {
			name = info.Name
		}
		p.Close()
	}
	if !strings.HasPrefix(name, ProgPrefix) {
		return "", fmt.Errorf("ebpf: %s: program %q: %w", l.Attrs().Name, name, ErrForeignProgram)
	}
	var modes []int
	switch x.AttachMode {
	case nlAttachedDrv:
		modes = []int{unix.XDP_FLAGS_DRV_MODE}
	case nlAttachedSkb:
		modes = []int{unix.XDP_FLAGS_SKB_MODE}
	case nlAttachedHw:
		modes = []int{unix.XDP_FLAGS_HW_MODE}
	default: // several at once
		modes = []int{unix.XDP_FLAGS_DRV_MODE, unix.XDP_FLAGS_SKB_MODE, unix.XDP_FLAGS_HW_MODE}
	}
	for _, m := range modes {
		if err := netlink.LinkSetXdpFdWithFlags(l, -1, m); err != nil && len(modes) == 1 {
			// The kernel refuses to remove a program held by a bpf_link.
			return "", fmt.Errorf("ebpf: %s: remove %q: %v: %w", l.Attrs().Name, name, err, ErrPortBusy)
		}
	}
	o.log.Warn("replaced stale dexplane XDP program", "ifname", l.Attrs().Name, "ifindex", ifindex, "prog", name)
	return name, nil
}

// IFLA_XDP_ATTACHED values.
const (
	nlAttachedDrv = 1
	nlAttachedSkb = 2
	nlAttachedHw  = 3
)

// Close detaches every attachment and frees the maps. Sockets registered
// in the XSKMAP are not closed (they belong to the caller).
func (o *Objects) Close() error {
	o.mu.Lock()
	defer o.mu.Unlock()
	if o.closed {
		return nil
	}
	o.closed = true
	var errs []error
	for len(o.atts) > 0 {
		errs = append(errs, o.atts[len(o.atts)-1].detachLocked())
	}
	if o.redir != nil {
		errs = append(errs, o.redir.close())
		o.redir = nil
	}
	errs = append(errs, o.maps.Close())
	return errors.Join(errs...)
}

// XSKMap returns the XSKMAP shared by both ports; key XSKKey(port, queue)
// (uint32, host byte order), value the AF_XDP socket fd (uint32).
// Prefer RegisterXSK.
func (o *Objects) XSKMap() *ebpf.Map { return o.maps.Xsks }

// XSKKey returns the XSKMAP key for RX queue queue of port port:
// port*MaxQueues + queue.
func XSKKey(port, queue int) uint32 { return uint32(port*MaxQueues + queue) }

func checkPortQueue(port, queue int) error {
	if port < 0 || port >= MaxPorts || queue < 0 || queue >= MaxQueues {
		return fmt.Errorf("ebpf: port %d queue %d out of range (ports < %d, queues < %d)", port, queue, MaxPorts, MaxQueues)
	}
	return nil
}

// RegisterXSK makes the AF_XDP socket fd receive what dxp_steer steers
// from RX queue queue of port port. The socket must be bound to that
// interface and queue.
func (o *Objects) RegisterXSK(port, queue, fd int) error {
	if err := checkPortQueue(port, queue); err != nil {
		return err
	}
	if err := o.maps.Xsks.Put(XSKKey(port, queue), uint32(fd)); err != nil {
		return fmt.Errorf("ebpf: register xsk fd %d for port %d queue %d: %w", fd, port, queue, err)
	}
	return nil
}

// UnregisterXSK removes the socket of port/queue; frames for it then cross
// to the peer port in the kernel. Not an error if none was registered.
func (o *Objects) UnregisterXSK(port, queue int) error {
	if err := checkPortQueue(port, queue); err != nil {
		return err
	}
	if err := o.maps.Xsks.Delete(XSKKey(port, queue)); err != nil && !errors.Is(err, ebpf.ErrKeyNotExist) {
		return fmt.Errorf("ebpf: unregister xsk port %d queue %d: %w", port, queue, err)
	}
	return nil
}
