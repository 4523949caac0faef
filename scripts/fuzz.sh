#!/usr/bin/env bash
# Runs every Go fuzz target in the module for a bounded time each.
# Usage: scripts/fuzz.sh [DURATION]   (default 5s; README documents longer runs)
set -euo pipefail
dur=${1:-5s}
cd "$(dirname "$0")/.."
n=0
for pkg in $(go list ./...); do
	for target in $(go test -list '^Fuzz' "$pkg" 2>/dev/null | grep '^Fuzz' || true); do
		echo "fuzz: $pkg $target ($dur)"
		go test -run '^$' -fuzz "^${target}\$" -fuzztime "$dur" "$pkg" >/tmp/dexplane-fuzz.log 2>&1 || {
			cat /tmp/dexplane-fuzz.log
			echo "fuzz: $pkg $target FAILED" >&2
			exit 1
		}
		n=$((n + 1))
	done
done
echo "fuzz: $n targets ran for $dur each, no failure"
