package steering

import (
	"errors"
	"fmt"

	"github.com/cilium/ebpf"
	"github.com/cilium/ebpf/link"
	"github.com/dexplane/dexplane/internal/keyword"
)

// RedirectTarget is what a refused XDP redirect was aimed at.
type RedirectTarget int

const (
	// TargetPeer is the peer port (the frame was to cross in the kernel).
	TargetPeer RedirectTarget = iota
	// TargetXSK is a worker's AF_XDP socket (its RX ring was full or it
	// was being replaced).
	TargetXSK
	// TargetOther is anything else.
	TargetOther
	// NumTargets is the number of targets.
	NumTargets
)

// String returns "peer", "xsk" or "other".
func (t RedirectTarget) String() string { return redirectTargets.String(t) }

var redirectTargets = keyword.New[RedirectTarget]("peer", "xsk", "other")

// RedirectErrors are the redirects the kernel refused, by ingress port and
// target, summed over CPUs: RedirectErrors[port][target]. A frame whose
// redirect is refused is dropped by the kernel.
type RedirectErrors [MaxPorts][NumTargets]uint64

// redirectWatch counts the refused redirects of this node's programs with
// dxp_redirect_err (steer.c) on the xdp:xdp_redirect_err tracepoint, in the
// node's maps watch and redirect_errs.
type redirectWatch struct {
	prog  *ebpf.Program
	lnk   link.Link
	ports *ebpf.Map // watch: program id -> port index
	errs  *ebpf.Map // redirect_errs
}

// ErrRedirectNotCounted: the tracepoint program could not be attached (no
// tracefs, or a kernel without the tracepoint); Load logs it and goes on.
var ErrRedirectNotCounted = errors.New("xdp redirect failures cannot be counted")

// loadRedirectWatch loads dxp_redirect_err from spec (a copy of the node's,
// which it changes) for the node's maps and attaches it.
func loadRedirectWatch(spec *ebpf.CollectionSpec, maps *steerMaps) (*redirectWatch, error) {
	for name, m := range map[string]*ebpf.Map{"peer_map_id": maps.TxPorts, "xsk_map_id": maps.Xsks} {
		info, err := m.Info()
		if err != nil {
			return nil, fmt.Errorf("%w: map info: %w", ErrRedirectNotCounted, err)
		}
		id, ok := info.ID()
		if !ok {
			return nil, fmt.Errorf("%w: kernel does not report map ids", ErrRedirectNotCounted)
		}
		if err := spec.Variables[name].Set(uint32(id)); err != nil {
			return nil, fmt.Errorf("%w: set %s: %w", ErrRedirectNotCounted, name, err)
		}
	}
	var prog struct {
		P *ebpf.Program `ebpf:"dxp_redirect_err"`
	}
	err := spec.LoadAndAssign(&prog, &ebpf.CollectionOptions{MapReplacements: map[string]*ebpf.Map{
		"watch":         maps.Watch,
		"redirect_errs": maps.RedirectErrs,
	}})
	if err != nil {
		return nil, fmt.Errorf("%w: load: %w", ErrRedirectNotCounted, err)
	}
	w := &redirectWatch{prog: prog.P, ports: maps.Watch, errs: maps.RedirectErrs}
	w.lnk, err = link.Tracepoint("xdp", "xdp_redirect_err", w.prog, nil)
	if err != nil {
		w.prog.Close()
		return nil, fmt.Errorf("%w: attach tracepoint xdp:xdp_redirect_err: %w", ErrRedirectNotCounted, err)
	}
	return w, nil
}

// watch starts counting the refused redirects of prog for port.
func (w *redirectWatch) watch(prog *ebpf.Program, port int) error {
	info, err := prog.Info()
	if err != nil {
		return err
	}
	id, ok := info.ID()
	if !ok {
		return errors.New("kernel does not report program ids")
	}
	return w.ports.Put(uint32(id), uint32(port))
}

// unwatch stops counting for prog (best effort: the entry is small).
func (w *redirectWatch) unwatch(prog *ebpf.Program) {
	if info, err := prog.Info(); err == nil {
		if id, ok := info.ID(); ok {
			_ = w.ports.Delete(uint32(id))
		}
	}
}

func (w *redirectWatch) read() (RedirectErrors, error) {
	var r RedirectErrors
	var percpu []uint64
	for p := range MaxPorts {
		for t := range NumTargets {
			key := uint32(p)*uint32(NumTargets) + uint32(t)
			if err := w.errs.Lookup(key, &percpu); err != nil {
				return r, fmt.Errorf("ebpf: read redirect errors port %d target %s: %w", p, RedirectTarget(t), err)
			}
			for _, v := range percpu {
				r[p][t] += v
			}
		}
	}
	return r, nil
}

// close detaches and unloads the program; the maps are the node's.
func (w *redirectWatch) close() error {
	return errors.Join(w.lnk.Close(), w.prog.Close())
}

// RedirectErrors reads the refused redirects of this node's programs.
// ok is false when they cannot be counted (Load logged why).
func (o *Objects) RedirectErrors() (r RedirectErrors, ok bool, err error) {
	o.mu.Lock()
	defer o.mu.Unlock()
	if o.closed {
		return r, false, ErrClosed
	}
	if o.redir == nil {
		return r, false, nil
	}
	r, err = o.redir.read()
	return r, err == nil, err
}
