#!/usr/bin/env bash
# Installs what dexplane's tests, demo and benchmarks use on a Debian machine
# that already has Go. Safe to run again: it only installs what is missing.
#
#   scripts/install-deps.sh          everything the tests use
#   scripts/install-deps.sh --demo   only what `make demo` needs (iproute2, ethtool, ping)
set -euo pipefail

apt_pkgs=(clang llvm libbpf-dev libxdp-dev tshark tcpdump python3-scapy python3-ipfix pmacct iproute2 iputils-ping ethtool openssl)
demo_only=false
if [[ ${1:-} == --demo ]]; then
	apt_pkgs=(iproute2 iputils-ping ethtool)
	demo_only=true
fi
# apt_install [APT-GET OPTION...] -- PACKAGE...: apt-get install the packages
# that are not installed yet (needs root), with the given options.
apt_install() {
	local opts=() missing=() p
	while [[ $1 != -- ]]; do
		opts+=("$1")
		shift
	done
	shift
	for p; do
		dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
	done
	((${#missing[@]})) || return 0
	if [[ $(id -u) -ne 0 ]]; then
		echo "install-deps: need root to install: ${missing[*]}" >&2
		exit 1
	fi
	echo "install-deps: apt-get install ${missing[*]}"
	export DEBIAN_FRONTEND=noninteractive
	apt-get update -qq
	# tshark asks whether non-root users may capture; the default (no) is fine.
	apt-get install -y -qq "${opts[@]}" "${missing[@]}" >/dev/null
}
apt_install -- "${apt_pkgs[@]}"

$demo_only && exit 0

# Prometheus (Debian 12: 2.42) scrapes `dexplane collect --metrics-address`
# in cmd/dexplane's analytics test; without recommends (no node exporter).
apt_install --no-install-recommends -- prometheus

# An OpenTelemetry Collector built from its Go modules (e2e/otelcol: otelcol
# v0.165.0, v1.71.0 modules, OTLP receiver and OTLP/HTTP exporter) for
# cmd/dexplane's TestCollectOTLP; named by the hash of its sources (as the test
# names it), so it is rebuilt only when they change. A few
# minutes the first time (module download and compile), cached after.
otelcol_src=$(cd "$(dirname "$0")/../e2e/otelcol" && pwd)
otelcol_sum=$(cd "$otelcol_src" && cat main.go go.mod go.sum | sha256sum | cut -c1-12)
otelcol_bin=$(go env GOPATH)/bin/otelcol-dexplane-test-$otelcol_sum
if [[ ! -x $otelcol_bin ]]; then
	echo "install-deps: build the OpenTelemetry Collector (e2e/otelcol)"
	(cd "$otelcol_src" && go build -o "$otelcol_bin" .)
fi

# goflow2 is an independent IPFIX decoder used by the exporter's tests.
gobin=$(go env GOPATH)/bin
if [[ ! -x $gobin/goflow2 ]]; then
	echo "install-deps: go install goflow2 v2.2.6"
	go install github.com/netsampler/goflow2/v2/cmd/goflow2@v2.2.6
fi

# staticcheck, pinned: `make lint` (part of `make test`) runs it. v0.8.2
# (release 2026.2.2) is built for Go 1.26, this module's Go version (the
# v0.7 line targets Go 1.25).
staticcheck_version=v0.8.2
if [[ $("$gobin/staticcheck" -version 2>/dev/null) != *"(${staticcheck_version#v})"* ]]; then
	echo "install-deps: go install staticcheck $staticcheck_version"
	go install honnef.co/go/tools/cmd/staticcheck@$staticcheck_version
fi
