#!/usr/bin/env bash
# soak.sh — the demo domain under continuous probe load with faults injected
# on a timer (issue 8, "Proof"). Not in CI; run `make soak` as root.
#
#   host-a ── R1 (encap) ── R2 ── R3 ── R4 (decap) ── host-b,  IPFIX to a collector namespace
#
# The run is cut into cycles of SOAK_CYCLE seconds. In each cycle host-a sends
# SOAK_RATE probe datagrams per second (7 flows) to host-b, a fresh receiver
# counts them, and half-way through one fault is injected, in rotation:
#
#   sighup     SIGHUP to all four nodes (configuration reloaded)  — lossless by contract
#   collector  the IPFIX collector stopped for 1 s and restarted   — lossless by contract
#   flap       R2's east port down for SOAK_FLAP seconds, then up — loses what is sent meanwhile
#   kill       R3 killed with SIGKILL and restarted, same config  — loses what is sent until it forwards
#
# Accounting, per cycle: sent = received + missing (the probe receiver sees
# every (flow, seq) that arrived intact; missing is sent minus received).
# Missing datagrams must be explained by
#   (a) drops the nodes counted: the sum over nodes and ports of every
#       "drops" counter in /stats (handler, invalid, tx_device_drop, socket_*,
#       xdp_no_peer), as a delta over the cycle (for a restarted node, its
#       counters since the restart), and
#   (b) the fault's outage window, for flap and kill only: SOAK_RATE × the
#       measured time the port was down / the node was not forwarding, plus
#       a 0.25 s margin for links coming back (carrier, fill rings).
# Any loss beyond (a)+(b), any corrupt or duplicate datagram, a node that
# dies (other than the one killed), a panic or data race in a node log, or
# growth of go_goroutines (> +10) or process_resident_memory_bytes
# (> +25 % and > +16 MiB) between the first and last sample of each process
# makes the run FAIL.
#
# Environment: SOAK_SECONDS (default 600), SOAK_CYCLE (10), SOAK_RATE (1000),
# SOAK_FLAP (0.5), SOAK_RACE (1: build a -race binary and fail on races; 0:
# use $DEXPLANE or bin/dexplane), SOAK_PREFIX (dxsoak), KEEP_SOAK=1 keeps files.
set -euo pipefail

here=$(cd "$(dirname "$0")" && pwd)
top=$(cd "$here/.." && pwd)
seconds=${SOAK_SECONDS:-600}
cycle=${SOAK_CYCLE:-10}
rate=${SOAK_RATE:-1000}
flap=${SOAK_FLAP:-0.5}
race=${SOAK_RACE:-1}
prefix=${SOAK_PREFIX:-dxsoak}
flows=7
metrics='[::1]:9102'
work=$(mktemp -d /tmp/dexplane-soak.XXXXXX)
declare -A pid   # r1..r4, coll
declare -A base_gor base_rss last_gor last_rss # runtime samples by node number
fail=()

[[ $(id -u) -eq 0 ]] || { echo "soak: needs root (network namespaces, XDP)" >&2; exit 1; }
for tool in jq ip; do command -v $tool >/dev/null || { echo "soak: needs $tool" >&2; exit 1; }; done

if [[ $race == 1 ]]; then
	bin=$work/dexplane-race
	echo "soak: building a -race binary"
	(cd "$top" && go build -race -o "$bin" ./cmd/dexplane)
else
	bin=${DEXPLANE:-$top/bin/dexplane}
	[[ -x $bin ]] || { echo "soak: $bin missing: run 'make build' first" >&2; exit 1; }
fi

nsx() { local n=$1; shift; ip netns exec "$prefix-$n" "$@"; }
now() { date +%s.%N; }
log() { printf '%s %s\n' "$(date +%H:%M:%S)" "$*"; }

cleanup() {
	local p
	for p in "${pid[@]}"; do kill -TERM "$p" 2>/dev/null || true; done
	for p in "${pid[@]}"; do wait "$p" 2>/dev/null || true; done
	[[ -n ${sendpid:-} ]] && kill "$sendpid" 2>/dev/null || true
	[[ -n ${recvpid:-} ]] && kill "$recvpid" 2>/dev/null || true
	"$here/testbed.sh" down domain4 "$prefix" >/dev/null 2>&1 || true
	ip netns del "$prefix-coll" 2>/dev/null || true
	[[ -n ${KEEP_SOAK:-} ]] && echo "soak: files kept in $work" || rm -rf "$work"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

# --- topology: the demo's (scripts/demo.sh) -----------------------------------
"$here/testbed.sh" up domain4 "$prefix" >/dev/null
ip netns add "$prefix-coll"
nsx coll ip link set lo up
for n in 1 2 3 4; do
	ip link add "m$n" netns "$prefix-coll" type veth peer name mgmt netns "$prefix-r$n"
	nsx coll ip addr add "2001:db8:ee:$n::1/64" dev "m$n" nodad
	nsx "r$n" ip addr add "2001:db8:ee:$n::2/64" dev mgmt nodad
	nsx coll ip link set "m$n" up
	nsx "r$n" ip link set mgmt up
	nsx "r$n" ip link set lo up
	sed '/^export:/,$d' "$top/config/examples/demo-r$n.yaml" >"$work/r$n.yaml"
	cat >>"$work/r$n.yaml" <<YAML
export:
  collectors:
    - address: "[2001:db8:ee:$n::1]:4739"
      observation_domain_id: $n
      template_refresh: 5s
  rate_limit:
    records_per_second: 100000
dataplane:
  metrics_address: "$metrics"
YAML
	"$bin" validate -q -c "$work/r$n.yaml"
done

start_collector() {
	ip netns exec "$prefix-coll" "$bin" collect --quiet --listen 'udp://[::]:4739' >>"$work/collect.out" 2>>"$work/collect.err" &
	pid[coll]=$!
}
stats() { nsx "r$1" "$bin" stats --addr "$metrics" --json 2>/dev/null; }
# start_node N: start R N and wait until its metrics endpoint answers.
start_node() {
	local n=$1 i
	"$bin" run -c "$work/r$n.yaml" --netns "$prefix-r$n" >>"$work/r$n.out" 2>>"$work/r$n.log" &
	pid[r$n]=$!
	for i in $(seq 200); do
		stats "$n" >/dev/null && return 0
		kill -0 "${pid[r$n]}" 2>/dev/null || break
		sleep 0.05
	done
	echo "soak: R$n did not start:" >&2; tail -20 "$work/r$n.log" >&2; exit 1
}
# drops N: sum of every drop counter of R N's ports.
drops() { { stats "$1" || echo '{}'; } | jq '[.ports[]?.drops[]] | add // 0'; }
# runtime N: "goroutines rss" of R N from /metrics.
runtime_of() {
	nsx "r$1" curl -s "http://$metrics/metrics" |
		awk '$1=="go_goroutines"{g=$2} $1=="process_resident_memory_bytes"{r=$2} END{printf "%d %d\n", g, r}'
}

start_collector
for n in 1 2 3 4; do start_node "$n"; done
for _ in $(seq 20); do nsx host-a ping -6 -c1 -W1 -q 2001:db8:1::b >/dev/null 2>&1 && break; done
log "domain up; soak for ${seconds}s in ${cycle}s cycles at ${rate} datagrams/s (race=$race)"

faults=(sighup collector flap kill)
declare -A tot=([sent]=0 [received]=0 [corrupt]=0 [dup]=0 [nodedrops]=0 [outage]=0 [missing]=0 [unexplained]=0)
declare -A nfault=()
restarted=0
end=$(( $(date +%s) + seconds ))
c=0
printf '%-5s %-9s %7s %8s %7s %9s %10s %11s\n' cycle fault sent received missing nodedrops outage_alw unexplained >"$work/table"
while (( $(date +%s) + cycle <= end )); do
	f=${faults[$((c % ${#faults[@]}))]}
	count=$((rate * cycle))
	declare -A d0=()
	for n in 1 2 3 4; do d0[$n]=$(drops "$n"); done
	nsx host-b "$bin" probe recv --listen '[2001:db8:1::b]:5001' --idle 1s --timeout $((cycle + 30))s >"$work/recv.$c" &
	recvpid=$!
	sleep 0.2
	nsx host-a "$bin" probe send --to '[2001:db8:1::b]:5001' --flows $flows --count "$count" --rate "$rate" >"$work/send.$c" &
	sendpid=$!
	sleep "$((cycle / 2))"
	window=0
	case $f in
	sighup)
		for n in 1 2 3 4; do kill -HUP "${pid[r$n]}"; done ;;
	collector)
		kill -TERM "${pid[coll]}"; wait "${pid[coll]}" || true
		sleep 1
		start_collector ;;
	flap)
		t0=$(now)
		nsx r2 ip link set dev east down
		sleep "$flap"
		nsx r2 ip link set dev east up
		window=$(awk -v a="$t0" -v b="$(now)" 'BEGIN{printf "%.3f", b - a}') ;;
	kill)
		t0=$(now)
		kill -KILL "${pid[r3]}"; wait "${pid[r3]}" 2>/dev/null || true
		d0[3]=0 # its counters die with it; count from the restart
		start_node 3
		window=$(awk -v a="$t0" -v b="$(now)" 'BEGIN{printf "%.3f", b - a}')
		restarted=$((restarted + 1))
		unset 'base_gor[3]' 'base_rss[3]' ;;
	esac
	wait "$sendpid" || fail+=("cycle $c: probe send failed")
	sendpid=
	wait "$recvpid" || true
	recvpid=
	sent=$(awk '/^sent/{print $2}' "$work/send.$c")
	read -r received corrupt dup < <(sed -E 's/received ([0-9]+), corrupt ([0-9]+), duplicates ([0-9]+).*/\1 \2 \3/' "$work/recv.$c")
	nd=0
	for n in 1 2 3 4; do
		kill -0 "${pid[r$n]}" 2>/dev/null || { fail+=("cycle $c: R$n died"); continue; }
		d=$(drops "$n"); nd=$((nd + d - d0[$n]))
	done
	outage=0
	[[ $f == flap || $f == kill ]] && outage=$(awk -v w="$window" -v r="$rate" 'BEGIN{printf "%d", (w + 0.25) * r}')
	missing=$((sent - received))
	unexplained=$((missing - nd - outage)); ((unexplained < 0)) && unexplained=0
	printf '%-5d %-9s %7d %8d %7d %9d %10d %11d\n' "$c" "$f" "$sent" "$received" "$missing" "$nd" "$outage" "$unexplained" >>"$work/table"
	log "cycle $c $f: sent $sent received $received missing $missing node-drops $nd outage-allowance $outage (window ${window}s) corrupt $corrupt dup $dup"
	((unexplained == 0)) || fail+=("cycle $c ($f): $unexplained datagrams lost beyond counted drops and the outage window")
	((corrupt == 0 && dup == 0)) || fail+=("cycle $c ($f): $corrupt corrupt, $dup duplicate datagrams")
	tot[sent]=$((tot[sent] + sent)); tot[received]=$((tot[received] + received)); tot[missing]=$((tot[missing] + missing))
	tot[corrupt]=$((tot[corrupt] + corrupt)); tot[dup]=$((tot[dup] + dup)); tot[nodedrops]=$((tot[nodedrops] + nd))
	tot[outage]=$((tot[outage] + (missing - nd > 0 ? (missing - nd < outage ? missing - nd : outage) : 0)))
	tot[unexplained]=$((tot[unexplained] + unexplained))
	nfault[$f]=$((${nfault[$f]:-0} + 1))
	# Runtime samples: the first one per process (after a full cycle of
	# warm-up) is the baseline; the last one is compared at the end.
	for n in 1 2 3 4; do
		read -r g r < <(runtime_of "$n")
		[[ -z ${base_gor[$n]:-} ]] && { base_gor[$n]=$g; base_rss[$n]=$r; }
		last_gor[$n]=$g; last_rss[$n]=$r
	done
	c=$((c + 1))
done

# --- summary -------------------------------------------------------------------
for n in 1 2 3 4; do
	if grep -q -e 'DATA RACE' -e '^panic' -e 'goroutine [0-9]* \[running\]' "$work/r$n.log"; then
		fail+=("R$n log has a panic or data race (see $work/r$n.log)")
	fi
done
growth=()
for n in 1 2 3 4; do
	bg=${base_gor[$n]:-0} lg=${last_gor[$n]:-0} br=${base_rss[$n]:-0} lr=${last_rss[$n]:-0}
	growth+=("R$n goroutines $bg→$lg rss $((br >> 20))→$((lr >> 20)) MiB")
	((lg <= bg + 10)) || fail+=("R$n goroutines grew $bg → $lg")
	if ((lr > br + br / 4 && lr > br + (16 << 20))); then fail+=("R$n RSS grew $((br >> 20)) → $((lr >> 20)) MiB"); fi
done
((c > 0)) || fail+=("no complete cycle: SOAK_SECONDS ($seconds) < SOAK_CYCLE ($cycle)")

{
	echo "=== dexplane soak summary: ${seconds}s, $c cycles of ${cycle}s at ${rate}/s, race detector $([[ $race == 1 ]] && echo on || echo off)"
	echo "faults: sighup ${nfault[sighup]:-0}, collector restart ${nfault[collector]:-0}, port flap ${nfault[flap]:-0} (${flap}s), SIGKILL+restart of R3 ${nfault[kill]:-0}"
	cat "$work/table"
	echo "packets: sent ${tot[sent]} = received ${tot[received]} + missing ${tot[missing]}"
	echo "missing ${tot[missing]} = counted by nodes ${tot[nodedrops]} + lost in fault windows ${tot[outage]} + unexplained ${tot[unexplained]}"
	echo "corrupt ${tot[corrupt]}, duplicates ${tot[dup]}"
	echo "runtime (first → last sample of each process): ${growth[*]}"
	for n in 1 2 3 4; do
		printf 'R%d export (since its last start): %s\n' "$n" "$(stats "$n" | jq -c '.export | {offered, exported, drops}')"
	done
	if ((${#fail[@]} == 0)); then
		echo "RESULT: PASS"
	else
		printf 'FAIL: %s\n' "${fail[@]}"
		echo "RESULT: FAIL"
	fi
} | tee "$work/summary"
((${#fail[@]} == 0))
