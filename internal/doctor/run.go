package doctor

import (
	"context"
	"fmt"
	"net"
	"time"
)

// CollectorTimeout bounds each collector's resolution and TCP connect.
const CollectorTimeout = 2 * time.Second

// Run checks the host, the target's ports and its collectors, in that
// order, and returns the report. It attaches nothing and binds nothing to
// the ports.
func Run(t *Target) *Report {
	r := &Report{Source: t.Source}
	checkHost(r, t)
	checkPorts(r, t)
	checkCollectors(r, t)
	return r
}

// checkCollectors resolves each collector and, for TCP, connects to it;
// for UDP it asks the kernel for a route (connect on a datagram socket).
func checkCollectors(r *Report, t *Target) {
	ctx := t.Context
	if ctx == nil {
		ctx = context.Background()
	}
	for i, c := range t.Collectors {
		scope := fmt.Sprintf("collector %d %s://%s", i, c.Transport, c.Address)
		host, port, err := net.SplitHostPort(c.Address)
		if err != nil {
			r.add(scope, "address", Fail, err.Error(), fmt.Sprintf("write export.collectors[%d].address as HOST:PORT ([2001:db8::9]:4739)", i))
			continue
		}
		rctx, cancel := context.WithTimeout(ctx, CollectorTimeout)
		addrs, err := net.DefaultResolver.LookupHost(rctx, host)
		cancel()
		if err != nil || len(addrs) == 0 {
			r.add(scope, "resolve", Warn, fmt.Sprintf("%s does not resolve: %v; records for it are lost", host, err),
				fmt.Sprintf("fix export.collectors[%d].address or the resolver (getent hosts %s)", i, host))
			continue
		}
		r.add(scope, "resolve", OK, fmt.Sprintf("%s → %v", host, addrs), "")
		target := net.JoinHostPort(addrs[0], port)
		network := "tcp"
		if c.Transport == "udp" {
			network = "udp"
		}
		d := net.Dialer{Timeout: CollectorTimeout}
		conn, err := d.DialContext(ctx, network, target)
		if err != nil {
			fix := fmt.Sprintf("start the collector (dexplane collect --listen %s://%s) or fix export.collectors[%d].address", network, c.Address, i)
			if network == "udp" {
				fix = fmt.Sprintf("add a route to %s (ip -6 route get %s shows none)", addrs[0], addrs[0])
			}
			r.add(scope, "reach", Warn, fmt.Sprintf("%s %s: %v; dexplane forwards anyway, its records are lost", network, target, err), fix)
			continue
		}
		detail := fmt.Sprintf("%s connect to %s accepted", network, target)
		if network == "udp" {
			detail = fmt.Sprintf("route to %s from %s (UDP has no handshake: delivery is not checked)", target, conn.LocalAddr())
		}
		conn.Close()
		r.add(scope, "reach", OK, detail, "")
	}
}
