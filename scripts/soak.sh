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
#   (a) counted drops: the sum over nodes and ports of every "drops" counter
#       in /stats (handler, invalid, tx_device_drop, socket_*, xdp_no_peer),
#       as a delta over the cycle (for a restarted node, its counters since
#       the restart), plus what host-b's kernel counted (Udp6NoPorts,
#       Udp6InErrors, eth0 rx dropped), and
#   (b) the fault's outage window, for flap and kill only: SOAK_RATE × the
#       measured time the port was down / the node was not forwarding, plus
#       a 0.25 s margin for links coming back (carrier, fill rings).
# Any loss beyond (a)+(b), any corrupt or duplicate datagram, a node that
# dies (other than the one killed), a panic or data race in a node log, or
# growth of go_goroutines (> +10), process_resident_memory_bytes (> +25 %
# and > +16 MiB) or go_memstats_heap_inuse_bytes (> +25 % and > +8 MiB)
# between a process's baseline (its sample after 3 cycles, past the warm-up
# of RSS; per-cycle samples in $work/runtime) and its last sample makes the
# run FAIL. With the race detector on, RSS growth is reported but not a
# failure: ThreadSanitizer's shadow and history memory grows with heap
# churn (measured here: +27 % in 10 minutes with -race, while the same run
# without it stayed at 42 → 45 MiB); run SOAK_RACE=0 for the memory verdict.
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
declare -A base_gor base_rss base_heap last_gor last_rss last_heap # runtime samples by node number
fail=()

[[ $(id -u) -eq 0 ]] || { echo "soak: needs root (network namespaces, XDP)" >&2; exit 1; }
for tool in jq ip; do command -v $tool >/dev/null || { echo "soak: needs $tool" >&2; exit 1; }; done

# $tool runs the probe, stats and the collector; $bin the four nodes.
tool=${DEXPLANE:-$top/bin/dexplane}
[[ -x $tool ]] || { echo "soak: $tool missing: run 'make build' first" >&2; exit 1; }
bin=$tool
if [[ $race == 1 ]]; then
	bin=$work/dexplane-race
	echo "soak: building a -race binary for the nodes"
	(cd "$top" && go build -race -o "$bin" ./cmd/dexplane)
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
	[[ -n ${KEEP_SOAK:-} ]] && echo "soak: files kept in $work" || rm -rf "$work"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

# --- topology: the demo's (scripts/demo.sh) -----------------------------------
TESTBED_MGMT=1 "$here/testbed.sh" up domain4 "$prefix" >/dev/null
"$here/domain-configs.sh" "$work" "$tool" "$metrics"

start_collector() {
	ip netns exec "$prefix-coll" "$tool" collect --quiet --listen 'udp://[::]:4739' >>"$work/collect.out" 2>>"$work/collect.err" &
	pid[coll]=$!
}
stats() { nsx "r$1" "$tool" stats --addr "$metrics" --json 2>/dev/null; }
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
# runtime_of N: "goroutines rss heap" of R N from /metrics (heap: Go heap
# in use; RSS also holds the UMEM, touched frame by frame as rings cycle).
runtime_of() {
	nsx "r$1" curl -s "http://$metrics/metrics" | awk '$1=="go_goroutines"{g=$2}
		$1=="process_resident_memory_bytes"{r=$2} $1=="go_memstats_heap_inuse_bytes"{h=$2}
		END{printf "%d %d %d\n", g, r, h}'
}

# hostb_drops: datagrams host-b's kernel dropped: UDP without a socket
# (Udp6NoPorts), UDP receive errors (Udp6InErrors, which include buffer
# overruns) and frames eth0 dropped on receive.
hostb_drops() {
	local udp rx
	udp=$(nsx host-b cat /proc/net/snmp6 | awk '$1=="Udp6NoPorts"||$1=="Udp6InErrors"{s+=$2} END{print s+0}')
	rx=$(nsx host-b ip -s -j link show dev eth0 | jq '.[0].stats64.rx.dropped // 0')
	echo $((udp + rx))
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
warm=3 # a process's runtime baseline is its sample after this many cycles
declare -A age=([1]=0 [2]=0 [3]=0 [4]=0)
c=0
printf '%-5s %-9s %7s %8s %7s %9s %10s %11s\n' cycle fault sent received missing counted outage_alw unexplained >"$work/table"
while (( $(date +%s) + cycle <= end )); do
	f=${faults[$((c % ${#faults[@]}))]}
	count=$((rate * cycle))
	declare -A d0=()
	for n in 1 2 3 4; do d0[$n]=$(drops "$n"); done
	h0=$(hostb_drops)
	nsx host-b "$tool" probe recv --listen '[2001:db8:1::b]:5001' --idle 1s --timeout $((cycle + 30))s >"$work/recv.$c" &
	recvpid=$!
	for _ in $(seq 100); do nsx host-b ss -Hlun 'sport = :5001' | grep -q . && break; sleep 0.02; done
	nsx host-a "$tool" probe send --to '[2001:db8:1::b]:5001' --flows $flows --count "$count" --rate "$rate" >"$work/send.$c" &
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
		unset 'base_gor[3]' 'base_rss[3]' 'base_heap[3]'
		age[3]=0 ;;
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
	hd=$(($(hostb_drops) - h0))
	nd=$((nd + hd))
	outage=0
	[[ $f == flap || $f == kill ]] && outage=$(awk -v w="$window" -v r="$rate" 'BEGIN{printf "%d", (w + 0.25) * r}')
	missing=$((sent - received))
	unexplained=$((missing - nd - outage)); ((unexplained < 0)) && unexplained=0
	printf '%-5d %-9s %7d %8d %7d %9d %10d %11d\n' "$c" "$f" "$sent" "$received" "$missing" "$nd" "$outage" "$unexplained" >>"$work/table"
	log "cycle $c $f: sent $sent received $received missing $missing counted-drops $nd (host-b $hd) outage-allowance $outage (window ${window}s) corrupt $corrupt dup $dup"
	((unexplained == 0)) || fail+=("cycle $c ($f): $unexplained datagrams lost beyond counted drops and the outage window")
	((corrupt == 0 && dup == 0)) || fail+=("cycle $c ($f): $corrupt corrupt, $dup duplicate datagrams")
	tot[sent]=$((tot[sent] + sent)); tot[received]=$((tot[received] + received)); tot[missing]=$((tot[missing] + missing))
	tot[corrupt]=$((tot[corrupt] + corrupt)); tot[dup]=$((tot[dup] + dup)); tot[nodedrops]=$((tot[nodedrops] + nd))
	tot[outage]=$((tot[outage] + (missing - nd > 0 ? (missing - nd < outage ? missing - nd : outage) : 0)))
	tot[unexplained]=$((tot[unexplained] + unexplained))
	nfault[$f]=$((${nfault[$f]:-0} + 1))
	# Runtime samples: RSS climbs for the first 20-30 s of a process (UMEM
	# pages touched as the rings cycle; race-detector shadow memory), so a
	# process's baseline is its sample at the end of its third cycle; the
	# last sample is compared with it at the end.
	for n in 1 2 3 4; do
		read -r g r h < <(runtime_of "$n")
		age[$n]=$((age[$n] + 1))
		echo "cycle $c R$n age ${age[$n]} goroutines $g rss $r heap $h" >>"$work/runtime"
		((age[$n] == warm)) && { base_gor[$n]=$g base_rss[$n]=$r base_heap[$n]=$h; }
		last_gor[$n]=$g last_rss[$n]=$r last_heap[$n]=$h
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
	if [[ -z ${base_gor[$n]:-} ]]; then
		growth+=("R$n n/a (process younger than $warm cycles);")
		continue
	fi
	bg=${base_gor[$n]:-0} lg=${last_gor[$n]:-0} br=${base_rss[$n]:-0} lr=${last_rss[$n]:-0}
	bh=${base_heap[$n]:-0} lh=${last_heap[$n]:-0}
	growth+=("R$n goroutines $bg→$lg rss $((br >> 20))→$((lr >> 20)) MiB heap $((bh >> 20))→$((lh >> 20)) MiB;")
	((lg <= bg + 10)) || fail+=("R$n goroutines grew $bg → $lg")
	if ((lr > br + br / 4 && lr > br + (16 << 20))); then
		if [[ $race == 1 ]]; then
			growth+=("(R$n RSS growth not judged with the race detector on; SOAK_RACE=0 judges it)")
		else
			fail+=("R$n RSS grew $((br >> 20)) → $((lr >> 20)) MiB")
		fi
	fi
	if ((lh > bh + bh / 4 && lh > bh + (8 << 20))); then fail+=("R$n Go heap grew $((bh >> 20)) → $((lh >> 20)) MiB"); fi
done
((c > 0)) || fail+=("no complete cycle: SOAK_SECONDS ($seconds) < SOAK_CYCLE ($cycle)")

{
	echo "=== dexplane soak summary: ${seconds}s, $c cycles of ${cycle}s at ${rate}/s, race detector $([[ $race == 1 ]] && echo on || echo off)"
	echo "faults: sighup ${nfault[sighup]:-0}, collector restart ${nfault[collector]:-0}, port flap ${nfault[flap]:-0} (${flap}s), SIGKILL+restart of R3 ${nfault[kill]:-0}"
	cat "$work/table"
	echo "packets: sent ${tot[sent]} = received ${tot[received]} + missing ${tot[missing]}"
	echo "missing ${tot[missing]} = counted drops (nodes + host-b kernel) ${tot[nodedrops]} + lost in fault windows ${tot[outage]} + unexplained ${tot[unexplained]}"
	echo "corrupt ${tot[corrupt]}, duplicates ${tot[dup]}"
	echo "runtime (each process's sample after $warm cycles → last sample; for R3 since its last restart): ${growth[*]}"
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
