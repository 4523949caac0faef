#!/usr/bin/env bash
# domain-configs.sh — the node configs of the demo's domain (scripts/demo.sh,
# scripts/soak.sh): config/examples/demo-rN.yaml for N = 1..4 with IPFIX to
# the collector namespace over the management network (observation domain =
# node number) and a metrics endpoint instead of text on stdout, written to
# DIR/rN.yaml and checked with `DEXPLANE validate`. With --aggregate-r2, R2
# also aggregates (export.aggregate, 1 s, per-packet records kept).
#
#   scripts/domain-configs.sh [--aggregate-r2] DIR DEXPLANE METRICS_ADDRESS
set -euo pipefail

aggregate=false
if [[ ${1:-} == --aggregate-r2 ]]; then
	aggregate=true
	shift
fi
(($# == 3)) || { sed -n 's/^#   //p' "$0" >&2; exit 2; }
dir=$1 bin=$2 metrics=$3
top=$(cd "$(dirname "$0")/.." && pwd)

for n in 1 2 3 4; do
	sed '/^export:/,$d' "$top/config/examples/demo-r$n.yaml" >"$dir/r$n.yaml"
	cat >>"$dir/r$n.yaml" <<YAML
export:
  collectors:
    - address: "[2001:db8:ee:$n::1]:4739"
      observation_domain_id: $n
      template_refresh: 5s
  rate_limit:
    records_per_second: 100000
$( $aggregate && ((n == 2)) && printf '  aggregate:          # R2 also sends one record per flow and second\n    interval: 1s\n    keep_per_packet: true\n' )
dataplane:
  metrics_address: "$metrics"
YAML
	"$bin" validate -q -c "$dir/r$n.yaml"
done
