package config

import (
	"embed"
	"fmt"
	"path"
	"strings"
	"time"

	"github.com/dexplane/dexplane/dataplane/policy"
	"github.com/dexplane/dexplane/internal/keyword"
)

// Compile turns c into the data plane's immutable snapshot. prev, the
// snapshot currently running (or nil), lets routes whose prefix survives
// keep their sampler counters. Compile never modifies c or prev; on error
// nothing is half-applied, so a reload is: Load, Compile, then swap the
// pointer only if both succeeded.
func (c *Config) Compile(prev *policy.Snapshot) (*policy.Snapshot, error) {
	spec, err := c.Spec()
	if err != nil {
		return nil, err
	}
	s, err := policy.New(spec, prev)
	if err != nil {
		return nil, fmt.Errorf("config: compile: %w", err)
	}
	return s, nil
}

// Spec converts c into the input of policy.New. It fails only for a Config
// that did not come from Parse or Load and breaks their rules.
func (c *Config) Spec() (policy.Spec, error) {
	var s policy.Spec
	if len(c.Ports) != 2 {
		return s, fmt.Errorf("config: compile: %d ports, need 2", len(c.Ports))
	}
	s.Node = policy.Node{ID: uint32(c.Node.ID), IDWide: uint64(c.Node.IDWide), Address: c.Node.Address}
	for i, p := range c.Ports {
		dom, err := lookup(p.Domain, policy.Domains)
		if err != nil {
			return s, fmt.Errorf("config: compile: ports[%d].domain: %w", i, err)
		}
		fg, err := lookup(p.ForeignIOAM, policy.ForeignIOAMs)
		if err != nil {
			return s, fmt.Errorf("config: compile: ports[%d].foreign_ioam: %w", i, err)
		}
		cs := policy.ChecksumAuto
		if p.CompleteChecksums != "" {
			if cs, err = lookup(p.CompleteChecksums, policy.ChecksumModes); err != nil {
				return s, fmt.Errorf("config: compile: ports[%d].complete_checksums: %w", i, err)
			}
		}
		s.Ports[i] = policy.Port{
			Name: p.Name, Domain: dom, IOAMEnabled: p.IOAMEnabled,
			IfID: uint16(p.IfID), IfIDWide: uint32(p.IfIDWide), MTU: p.MTU, ForeignIOAM: fg, Checksums: cs,
		}
	}
	for _, ns := range c.Namespaces {
		pn := policy.Namespace{ID: ns.ID}
		if ns.Data != nil {
			pn.Data, pn.HasData = uint32(*ns.Data), true
		}
		if ns.DataWide != nil {
			pn.DataWide, pn.HasDataWide = uint64(*ns.DataWide), true
		}
		if ns.Schema != nil {
			pn.Schema = &policy.Schema{ID: uint32(ns.Schema.ID), Data: ns.Schema.Data}
		}
		s.Namespaces = append(s.Namespaces, pn)
	}
	for i, r := range c.Routes {
		mode, err := lookup(r.Mode, policy.Modes)
		if err != nil {
			return s, fmt.Errorf("config: compile: routes[%d].mode: %w", i, err)
		}
		pr := policy.Route{
			Prefix: r.Prefix, Mode: mode, TunSrc: r.TunSrc, TunDst: r.TunDst,
			K: r.Freq.K, N: r.Freq.N,
			DEX: policy.DEX{Namespace: r.DEX.Namespace, TraceType: uint32(r.DEX.TraceType), ExtFlags: uint8(r.DEX.ExtFlags)},
		}
		if r.Trace != nil {
			pr.HasTrace = true
			pr.Trace = policy.Trace{Namespace: r.Trace.Namespace, TraceType: uint32(r.Trace.Type), Size: r.Trace.Size}
		}
		s.Routes = append(s.Routes, pr)
		if r.Aggregate != nil {
			for len(s.Export.Aggregate.Routes) < i {
				s.Export.Aggregate.Routes = append(s.Export.Aggregate.Routes, policy.RouteAggregate{})
			}
			s.Export.Aggregate.Routes = append(s.Export.Aggregate.Routes,
				policy.RouteAggregate{Override: true, Interval: time.Duration(r.Aggregate.Interval)})
		}
	}
	s.DecapEndpoints = c.Decap.Endpoints
	s.Flows = policy.Flows{
		SeqStart: c.Flows.SeqStart, IdleTimeout: time.Duration(c.Flows.IdleTimeout),
		MaxFlows: c.Flows.MaxFlows, FlowID: policy.FlowIDHash, FlowIDSeed: uint32(c.Flows.FlowID.Seed),
	}
	for i, col := range c.Export.Collectors {
		tr, err := lookup(col.Transport, policy.Transports)
		if err != nil {
			return s, fmt.Errorf("config: compile: export.collectors[%d].transport: %w", i, err)
		}
		s.Export.Collectors = append(s.Export.Collectors, policy.Collector{
			Transport: tr, Address: col.Address, ObservationDomainID: col.ObservationDomainID,
			TLS:             policy.TLSFiles{CA: col.TLS.CA, Cert: col.TLS.Cert, Key: col.TLS.Key, ServerName: col.TLS.ServerName},
			TemplateRefresh: time.Duration(col.TemplateRefresh),
		})
	}
	s.Export.RateLimit = policy.RateLimit{
		RecordsPerSecond: c.Export.RateLimit.RecordsPerSecond, Burst: c.Export.RateLimit.Burst,
		CapacityFraction: c.Export.RateLimit.CapacityFraction,
	}
	s.Export.Aggregate.Interval = time.Duration(c.Export.Aggregate.Interval)
	s.Export.Aggregate.MaxFlows = int(c.Export.Aggregate.MaxFlows)
	s.Export.Aggregate.KeepPerPacket = c.Export.Aggregate.KeepPerPacket
	s.Export.Partition, _ = policy.Partitions.Value(c.Export.Partition) // "" (unset) is none
	for i, o := range c.Export.Outputs {
		f, err := lookup(o.Format, policy.OutputFormats)
		if err != nil {
			return s, fmt.Errorf("config: compile: export.outputs[%d].format: %w", i, err)
		}
		p := o.Path
		if p == "-" {
			p = ""
		}
		s.Export.Outputs = append(s.Export.Outputs, policy.LocalOutput{Format: f, Path: p})
	}
	dp := c.Dataplane
	am, err := policy.ParseAttachMode(dp.AttachMode)
	if err != nil {
		return s, fmt.Errorf("config: compile: dataplane.attach_mode: %w", err)
	}
	st, err := policy.ParseSteer(dp.Steer)
	if err != nil {
		return s, fmt.Errorf("config: compile: dataplane.steer: %w", err)
	}
	s.Dataplane = policy.Dataplane{
		Queues: dp.Queues, RxRingSize: dp.RxRingSize, TxRingSize: dp.TxRingSize,
		FillRingSize: dp.FillRingSize, CompletionRingSize: dp.CompletionRingSize,
		UmemFrames: dp.UmemFrames, FrameSize: dp.FrameSize, BatchSize: dp.BatchSize,
		AttachMode: am, Steer: st, OrderWindow: time.Duration(dp.OrderWindow), CPUs: dp.CPUs, MetricsAddress: dp.MetricsAddress, MetricsWebConfig: dp.MetricsWebConfig,
		BusyPoll: time.Duration(dp.BusyPoll), BusyPollBudget: dp.BusyPollBudget,
	}
	s.Options = policy.Options{MergeHbH: c.Options.MergeHbH, StripAtDecap: c.Options.Strip, PacketTooBig: c.Options.PacketTooBig}
	return s, nil
}

// lookup returns the value of table named key; for a keyword that names
// none, the message decoder.enum gives (keywords in value order).
func lookup[T ~uint8](key string, table keyword.Table[T]) (T, error) {
	v, ok := table.Value(key)
	if !ok {
		return v, fmt.Errorf("%q: must be one of %s", key, strings.Join(table.Words(), ", "))
	}
	return v, nil
}

//go:embed examples/*.yaml
var examples embed.FS

// DefaultName is the embedded example Default returns: the first node of
// the demo topology (host-a ↔ R1 ↔ R2 ↔ R3 ↔ R4 ↔ host-b), the
// encapsulating edge.
const DefaultName = "demo-r1"

// Default returns the embedded default configuration, used by
// "dexplane run" without -c.
func Default() (*Config, error) { return Example(DefaultName) }

// Example parses the embedded example name (a file of config/examples
// without ".yaml", such as "transit" or "demo-r3").
func Example(name string) (*Config, error) {
	p := path.Join("examples", name+".yaml")
	data, err := examples.ReadFile(p)
	if err != nil {
		return nil, fmt.Errorf("config: no embedded example %q (have %s)", name, strings.Join(Examples(), ", "))
	}
	return Parse(p, data)
}

// Examples lists the embedded example names.
func Examples() []string {
	ents, _ := examples.ReadDir("examples")
	var names []string
	for _, e := range ents {
		names = append(names, strings.TrimSuffix(e.Name(), ".yaml"))
	}
	return names
}
