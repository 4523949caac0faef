#!/usr/bin/env bash
# bench.sh — dexplane's benchmark harness on network namespaces (bench/README.md).
#
#   scripts/bench.sh quick [FLAGS]        smoke matrix, well under 3 minutes
#   scripts/bench.sh full  [FLAGS]        the paper's matrix, 5 repetitions (about an hour;
#                                         narrow it with -filter, see -list)
#   scripts/bench.sh plot [-o DIR] CSV…   summary table and figures from CSV files
#                                         (also those of bench/trex/run_matrix.py)
#
# FLAGS are those of `dexbench run` (run `scripts/bench.sh quick -h`), e.g.
#   scripts/bench.sh full -filter 'encap-inline,!sampled' -reps 5
# Results go to bench/results/RUNID/ (results.csv, summary.md, *.png, dut/ configs and logs).
# quick and full need root: they build two testbeds (scripts/testbed.sh), start the devices
# under test, and remove everything when done or interrupted.
set -euo pipefail

usage() { sed -n '2,15p' "$0" | sed 's/^# \{0,1\}//' >&2; exit 2; }
(($# >= 1)) || usage
cd "$(dirname "$0")/.."
mode=$1
shift

tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
go build -o "$tmp/dexbench" ./bench/cmd/dexbench

case $mode in
quick | full)
	[[ $(id -u) -eq 0 ]] || { echo "bench.sh: $mode needs root (network namespaces, XDP, AF_XDP)" >&2; exit 1; }
	"$tmp/dexbench" run -mode "$mode" -testbed scripts/testbed.sh -out bench/results "$@"
	;;
plot) "$tmp/dexbench" plot "$@" ;;
*) usage ;;
esac
