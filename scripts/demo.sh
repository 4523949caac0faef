#!/usr/bin/env bash
# demo.sh — the main job: a four-node IOAM DEX domain in network namespaces.
#
#   host-a ── R1 (encap, ip6ip6, DEX 0xC0 on 1 of 10) ── R2 (transit) ── R3 (transit) ── R4 (decap) ── host-b
#                 │                                        │                 │                 │
#                 └──────────── management links to the collector namespace (IPFIX over UDP) ──┘
#
# It builds the domain4 testbed (scripts/testbed.sh), starts four dexplane
# nodes with config/examples/demo-rN.yaml plus an IPFIX collector and a metrics
# endpoint, sends self-checking UDP traffic from host-a to host-b, then prints
# per-node counters and the path of a few sampled packets across the domain.
# Everything it creates is removed on exit. Needs root; run `make demo`.
set -euo pipefail

here=$(cd "$(dirname "$0")" && pwd)
top=$(cd "$here/.." && pwd)
bin=${DEXPLANE:-$top/bin/dexplane}
prefix=${DEMO_PREFIX:-dxdemo}
count=${DEMO_PACKETS:-3000}
flows=${DEMO_FLOWS:-7}  # coprime with freq 1/10, so every flow gets sampled packets
rate=${DEMO_RATE:-3000}
work=$(mktemp -d /tmp/dexplane-demo.XXXXXX)
pids=()

[[ $(id -u) -eq 0 ]] || { echo "demo: needs root (network namespaces, XDP)" >&2; exit 1; }
[[ -x $bin ]] || { echo "demo: $bin missing: run 'make build' first" >&2; exit 1; }

say() { printf '\n\033[1m== %s\033[0m\n' "$*"; }
nsx() { local n=$1; shift; ip netns exec "$prefix-$n" "$@"; }

cleanup() {
	local p
	for p in "${pids[@]}"; do kill -TERM "$p" 2>/dev/null || true; done
	for p in "${pids[@]}"; do wait "$p" 2>/dev/null || true; done
	"$here/testbed.sh" down domain4 "$prefix" >/dev/null 2>&1 || true
	[[ -n ${KEEP_DEMO:-} ]] && echo "demo: files kept in $work" || rm -rf "$work"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

say "building the domain: host-a, R1..R4, host-b ($prefix-*)"
# With a management network: one point-to-point link from each node to the
# collector namespace, outside the data plane, so export traffic never
# crosses a port dexplane could add DEX to.
TESTBED_MGMT=1 "$here/testbed.sh" up domain4 "$prefix" >/dev/null

# Node configs (scripts/domain-configs.sh): the examples, with IPFIX to the
# collector (observation domain = node number) and a metrics endpoint instead
# of text on stdout. R2 also aggregates (export.aggregate, 1 s): the collector
# prints its per-flow aggregates beside the per-packet view.
"$here/domain-configs.sh" --aggregate-r2 "$work" "$bin" '[::1]:9102'

say "starting the collector and four dexplane nodes"
ip netns exec "$prefix-coll" "$bin" collect --quiet --paths 4 --listen 'udp://[::]:4739' >"$work/collect.out" 2>"$work/collect.err" &
pids+=($!)
for n in 1 2 3 4; do
	"$bin" run -c "$work/r$n.yaml" --netns "$prefix-r$n" >"$work/r$n.out" 2>"$work/r$n.log" &
	pids+=($!)
done
for n in 1 2 3 4; do
	for _ in $(seq 100); do
		nsx "r$n" "$bin" stats --addr '[::1]:9102' --json >/dev/null 2>&1 && break
		sleep 0.1
	done
	nsx "r$n" "$bin" stats --addr '[::1]:9102' --json >/dev/null 2>&1 || {
		echo "demo: node R$n did not start:" >&2; cat "$work/r$n.log" >&2; exit 1; }
	echo "  R$n forwarding ($(grep -o 'mode=[a-z]*' "$work/r$n.log" | head -1 || true))"
done

say "sending $count UDP datagrams in $flows flows host-a → host-b"
ip netns exec "$prefix-host-b" "$bin" probe recv --listen '[2001:db8:1::b]:5001' --idle 2s --timeout 60s >"$work/recv.out" &
recv=$!
sleep 0.3
nsx host-a "$bin" probe send --to '[2001:db8:1::b]:5001' --flows "$flows" --count "$count" --size 512 --rate "$rate"
wait "$recv" || true
echo "  host-b: $(cat "$work/recv.out")"
nsx host-a ping -6 -c 3 -i 0.2 -q 2001:db8:1::b | tail -2 | sed 's/^/  ping: /'

say "per-node counters"
for n in 1 2 3 4; do
	echo "--- R$n"
	nsx "r$n" "$bin" stats --addr '[::1]:9102' | sed 's/^/  /'
done

say "stopping nodes (records drain to the collector)"; [[ -n ${DEMO_TRACE:-} ]] && set -x
# stop PID NAME: SIGTERM, then SIGKILL if it has not exited within 15 s.
stop() {
	local pid=$1 name=$2 i
	kill -TERM "$pid" 2>/dev/null || return 0
	for i in $(seq 150); do
		kill -0 "$pid" 2>/dev/null || break
		sleep 0.1
	done
	if kill -0 "$pid" 2>/dev/null; then
		echo "demo: $name did not stop within 15 s; killing it" >&2
		kill -KILL "$pid"
	fi
	wait "$pid" || echo "demo: $name exited with status $?" >&2
}
for i in 1 2 3 4; do stop "${pids[$i]}" "R$i"; done
sleep 0.5
stop "${pids[0]}" collector
pids=()
for n in 1 2 3 4; do
	echo "  R$n: $(grep '^roles:' "$work/r$n.log" | cut -c1-150)"
done

say "what the collector saw: packets across the domain, by (namespace, flow id, seq)"
if [[ -s $work/collect.out ]]; then
	cat "$work/collect.out"
else
	echo "(no collector output)"; cat "$work/collect.err"
fi
