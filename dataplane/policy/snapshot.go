package policy

import (
	"errors"
	"fmt"
	"net/netip"
	"slices"
)

// Sentinel errors wrapped by New and the validators; callers may branch on
// them with errors.Is.
var (
	// ErrTraceType reports an unacceptable DEX IOAM-Trace-Type.
	ErrTraceType = errors.New("invalid trace type")
	// ErrFreq reports a sampling frequency outside 1 <= k <= n <= MaxFreq.
	ErrFreq = errors.New("invalid frequency")
	// ErrPrefix reports an invalid, non-IPv6 or duplicate route prefix.
	ErrPrefix = errors.New("invalid prefix")
	// ErrTunnel reports inconsistent tunnel addresses for a route's mode.
	ErrTunnel = errors.New("invalid tunnel")
	// ErrNamespace reports an unknown, duplicate or invalid namespace.
	ErrNamespace = errors.New("invalid namespace")
	// ErrNode reports an out-of-range node identity.
	ErrNode = errors.New("invalid node")
	// ErrPort reports an invalid port.
	ErrPort = errors.New("invalid port")
)

// Spec is the uncompiled input of New: everything a snapshot holds, as
// plain values. Route.Sampler and Route.ID are ignored (New assigns them).
type Spec struct {
	Node           Node
	Ports          [2]Port
	Namespaces     []Namespace
	Routes         []Route
	DecapEndpoints []netip.Addr
	Flows          Flows
	Export         Export
	Dataplane      Dataplane
	Options        Options
}

// Snapshot is the compiled, immutable state of a node. All fields and
// everything reachable from them are read-only after New returns; a
// Snapshot is safe for concurrent use by any number of goroutines.
type Snapshot struct {
	// Generation is 1 for a snapshot built without a predecessor and the
	// predecessor's Generation plus one otherwise.
	Generation uint64
	// Node is this node's IOAM identity.
	Node Node
	// Ports are the two ports; index 0 and 1 are the engine's port
	// indices (handle.Frame.Ingress).
	Ports [2]Port
	// Namespaces are the configured IOAM namespaces.
	Namespaces *NamespaceTable
	// Routes is the longest-prefix-match table of DEX routes.
	Routes *RouteTable
	// DecapEndpoints are the tunnel endpoint addresses this node
	// terminates: ip6ip6 packets addressed to them are decapsulated.
	DecapEndpoints *AddrSet
	// Flows configures the encapsulating node's flow tables.
	Flows Flows
	// Export configures the exporter.
	Export Export
	// Dataplane configures the engine.
	Dataplane Dataplane
	// Options are behaviour switches of the roles.
	Options Options
}

// New validates spec and compiles it into a Snapshot. When prev is not nil,
// every route whose prefix also exists in prev continues prev's sampler
// counter. New never modifies prev and copies everything it keeps from
// spec, so either a complete snapshot or an error results: a failed reload
// leaves the running snapshot untouched.
//
// The configuration package reports friendlier, positioned errors for the
// same rules; New re-checks them so that a Snapshot is valid whoever builds
// it.
func New(spec Spec, prev *Snapshot) (*Snapshot, error) {
	var errs []error
	n := spec.Node
	if n.ID > MaxNodeID {
		errs = append(errs, fmt.Errorf("%w: id 0x%x exceeds 24 bits", ErrNode, n.ID))
	}
	if n.IDWide > MaxNodeIDWide {
		errs = append(errs, fmt.Errorf("%w: id_wide 0x%x exceeds 56 bits", ErrNode, n.IDWide))
	}
	if n.Address.IsValid() && !n.Address.Is6() {
		errs = append(errs, fmt.Errorf("%w: address %s is not IPv6", ErrNode, n.Address))
	}
	for i, p := range spec.Ports {
		if p.Name == "" {
			errs = append(errs, fmt.Errorf("%w: port %d has no name", ErrPort, i))
		}
		if p.MTU < 0 {
			errs = append(errs, fmt.Errorf("%w: port %q: negative mtu %d", ErrPort, p.Name, p.MTU))
		}
	}
	if spec.Ports[0].Name != "" && spec.Ports[0].Name == spec.Ports[1].Name {
		errs = append(errs, fmt.Errorf("%w: both ports are named %q", ErrPort, spec.Ports[0].Name))
	}

	nst, err := newNamespaceTable(spec.Namespaces)
	if err != nil {
		errs = append(errs, err)
	}

	routes := make([]Route, len(spec.Routes))
	seen := make(map[netip.Prefix]int, len(spec.Routes))
	var carry map[netip.Prefix]*Sampler
	if prev != nil && prev.Routes != nil {
		carry = make(map[netip.Prefix]*Sampler, prev.Routes.Len())
		for i := range prev.Routes.routes {
			r := &prev.Routes.routes[i]
			carry[r.Prefix] = r.Sampler
		}
	}
	for i, r := range spec.Routes {
		r.ID = i
		r.Sampler = nil
		if err := checkRoute(&r, n, nst); err != nil {
			errs = append(errs, fmt.Errorf("route %d (%s): %w", i, r.Prefix, err))
			continue
		}
		if j, dup := seen[r.Prefix]; dup {
			errs = append(errs, fmt.Errorf("route %d: %w: %s duplicates route %d", i, ErrPrefix, r.Prefix, j))
			continue
		}
		seen[r.Prefix] = i
		if old := carry[r.Prefix]; old != nil {
			r.Sampler = old.withFreq(r.K, r.N)
		} else {
			r.Sampler, _ = NewSampler(r.K, r.N) // validated by checkRoute
		}
		routes[i] = r
	}

	var eps []netip.Addr
	for _, a := range spec.DecapEndpoints {
		if !a.Is6() || a.IsUnspecified() {
			errs = append(errs, fmt.Errorf("%w: decap endpoint %s is not a unicast IPv6 address", ErrTunnel, a))
			continue
		}
		eps = append(eps, a)
	}
	if len(errs) > 0 {
		return nil, errors.Join(errs...)
	}

	s := &Snapshot{
		Generation:     1,
		Node:           n,
		Ports:          spec.Ports,
		Namespaces:     nst,
		Routes:         newRouteTable(routes),
		DecapEndpoints: newAddrSet(eps),
		Flows:          spec.Flows,
		Export:         cloneExport(spec.Export),
		Dataplane:      spec.Dataplane,
		Options:        spec.Options,
	}
	s.Dataplane.CPUs = slices.Clone(spec.Dataplane.CPUs)
	if prev != nil {
		s.Generation = prev.Generation + 1
	}
	return s, nil
}

// checkRoute validates r and normalises its prefix and mode in place.
func checkRoute(r *Route, n Node, nst *NamespaceTable) error {
	if !r.Prefix.IsValid() || !r.Prefix.Addr().Is6() || r.Prefix.Addr().Zone() != "" {
		return fmt.Errorf("%w: %s is not an IPv6 prefix", ErrPrefix, r.Prefix)
	}
	r.Prefix = r.Prefix.Masked()
	if err := validateFreq(r.K, r.N); err != nil {
		return err
	}
	if r.HasDEX() || !r.HasTrace {
		if err := ValidateTraceType(r.DEX.TraceType); err != nil {
			return err
		}
		if nst != nil {
			if _, ok := nst.Lookup(r.DEX.Namespace); !ok {
				return fmt.Errorf("%w: namespace %d is not configured", ErrNamespace, r.DEX.Namespace)
			}
		}
	}
	if r.HasTrace {
		if err := ValidateTrace(r.Trace); err != nil {
			return err
		}
		if nst != nil {
			if _, ok := nst.Lookup(r.Trace.Namespace); !ok {
				return fmt.Errorf("%w: trace namespace %d is not configured", ErrNamespace, r.Trace.Namespace)
			}
		}
	}
	if r.ConfiguredMode == 0 {
		r.ConfiguredMode = r.Mode
	}
	switch r.Mode {
	case ModeInline:
		if r.TunSrc.IsValid() || r.TunDst.IsValid() {
			return fmt.Errorf("%w: inline mode takes neither tunsrc nor tundst", ErrTunnel)
		}
		return nil
	case ModeEncap, ModeAuto:
		r.Mode = ModeEncap
	default:
		return fmt.Errorf("%w: unknown mode %d", ErrTunnel, r.Mode)
	}
	if !r.TunDst.IsValid() || !r.TunDst.Is6() || r.TunDst.IsUnspecified() {
		return fmt.Errorf("%w: %s mode needs a unicast IPv6 tundst, have %v", ErrTunnel, r.ConfiguredMode, r.TunDst)
	}
	if !r.TunSrc.IsValid() {
		r.TunSrc = n.Address
	}
	if !r.TunSrc.IsValid() || !r.TunSrc.Is6() || r.TunSrc.IsUnspecified() {
		return fmt.Errorf("%w: %s mode needs tunsrc or the node address (have %v)", ErrTunnel, r.ConfiguredMode, r.TunSrc)
	}
	return nil
}

func cloneExport(e Export) Export {
	e.Collectors = slices.Clone(e.Collectors)
	e.Outputs = slices.Clone(e.Outputs)
	return e
}

// NamespaceTable maps Namespace-IDs to the configured namespaces. It is
// immutable and safe for concurrent use.
type NamespaceTable struct {
	ids []uint16 // sorted
	ns  []Namespace
}

func newNamespaceTable(in []Namespace) (*NamespaceTable, error) {
	t := &NamespaceTable{ns: make([]Namespace, len(in))}
	copy(t.ns, in)
	slices.SortFunc(t.ns, func(a, b Namespace) int { return int(a.ID) - int(b.ID) })
	var errs []error
	for i := range t.ns {
		ns := &t.ns[i]
		if i > 0 && t.ns[i-1].ID == ns.ID {
			errs = append(errs, fmt.Errorf("%w: namespace %d configured twice", ErrNamespace, ns.ID))
		}
		if !ns.HasData {
			ns.Data = 0xFFFFFFFF
		}
		if !ns.HasDataWide {
			ns.DataWide = 0xFFFFFFFFFFFFFFFF
		}
		if sc := ns.Schema; sc != nil {
			if sc.ID > MaxSchemaID {
				errs = append(errs, fmt.Errorf("%w: namespace %d: schema id 0x%x exceeds 24 bits", ErrNamespace, ns.ID, sc.ID))
			}
			if len(sc.Data) > MaxSchemaData {
				errs = append(errs, fmt.Errorf("%w: namespace %d: schema data of %d octets exceeds %d", ErrNamespace, ns.ID, len(sc.Data), MaxSchemaData))
			}
			data := make([]byte, (len(sc.Data)+3)&^3)
			copy(data, sc.Data)
			ns.Schema = &Schema{ID: sc.ID, Data: data}
		}
		t.ids = append(t.ids, ns.ID)
	}
	if len(errs) > 0 {
		return nil, errors.Join(errs...)
	}
	return t, nil
}

// Lookup returns the namespace with the given id. It does not allocate.
func (t *NamespaceTable) Lookup(id uint16) (*Namespace, bool) {
	lo, hi := 0, len(t.ids)
	for lo < hi {
		m := int(uint(lo+hi) >> 1)
		if t.ids[m] < id {
			lo = m + 1
		} else {
			hi = m
		}
	}
	if lo < len(t.ids) && t.ids[lo] == id {
		return &t.ns[lo], true
	}
	return nil, false
}

// Len returns the number of namespaces.
func (t *NamespaceTable) Len() int { return len(t.ns) }

// All returns the namespaces sorted by ID. The slice is shared: callers
// must not modify it.
func (t *NamespaceTable) All() []Namespace { return t.ns }

// AddrSet is an immutable set of IPv6 addresses with allocation-free
// membership tests. It is safe for concurrent use.
type AddrSet struct {
	addrs [][16]byte // sorted
}

func newAddrSet(in []netip.Addr) *AddrSet {
	s := &AddrSet{}
	for _, a := range in {
		s.addrs = append(s.addrs, a.As16())
	}
	slices.SortFunc(s.addrs, func(a, b [16]byte) int { return bytesCompare16(&a, &b) })
	s.addrs = slices.Compact(s.addrs)
	return s
}

func bytesCompare16(a, b *[16]byte) int {
	for i := range a {
		if a[i] != b[i] {
			return int(a[i]) - int(b[i])
		}
	}
	return 0
}

// Contains reports whether a (network byte order) is in the set. It does
// not allocate.
func (s *AddrSet) Contains(a [16]byte) bool {
	for i := range s.addrs {
		if s.addrs[i] == a {
			return true
		}
	}
	return false
}

// Len returns the number of addresses.
func (s *AddrSet) Len() int { return len(s.addrs) }

// All returns the addresses in ascending order.
func (s *AddrSet) All() []netip.Addr {
	out := make([]netip.Addr, len(s.addrs))
	for i, a := range s.addrs {
		out[i] = netip.AddrFrom16(a)
	}
	return out
}

// RestartRequired lists the differences between old and next that the
// engine cannot apply to running workers: port names and the whole
// Dataplane section (sockets, rings and UMEM are sized at start). An empty
// result means next can be swapped in live. Either snapshot may be nil
// (then nothing is reported).
func RestartRequired(old, next *Snapshot) []string {
	if old == nil || next == nil {
		return nil
	}
	var diffs []string
	for i := range old.Ports {
		if old.Ports[i].Name != next.Ports[i].Name {
			diffs = append(diffs, fmt.Sprintf("ports[%d].name %q -> %q", i, old.Ports[i].Name, next.Ports[i].Name))
		}
	}
	a, b := old.Dataplane, next.Dataplane
	if !slices.Equal(a.CPUs, b.CPUs) {
		diffs = append(diffs, fmt.Sprintf("dataplane.cpus %v -> %v", a.CPUs, b.CPUs))
	}
	a.CPUs, b.CPUs = nil, nil
	if !equalDataplane(a, b) {
		diffs = append(diffs, fmt.Sprintf("dataplane %+v -> %+v", a, b))
	}
	return diffs
}

// equalDataplane compares two Dataplane values without CPUs.
func equalDataplane(a, b Dataplane) bool {
	return a.Queues == b.Queues && a.RxRingSize == b.RxRingSize && a.TxRingSize == b.TxRingSize &&
		a.FillRingSize == b.FillRingSize && a.CompletionRingSize == b.CompletionRingSize &&
		a.UmemFrames == b.UmemFrames && a.FrameSize == b.FrameSize && a.BatchSize == b.BatchSize &&
		a.AttachMode == b.AttachMode && a.Steer == b.Steer && a.OrderWindow == b.OrderWindow && a.MetricsAddress == b.MetricsAddress &&
		a.MetricsWebConfig == b.MetricsWebConfig &&
		a.BusyPoll == b.BusyPoll && a.BusyPollBudget == b.BusyPollBudget
}
