#!/usr/bin/env bash
# Installs what dexplane's tests, demo and benchmarks use on a Debian machine
# that already has Go. Safe to run again: it only installs what is missing.
#
#   scripts/install-deps.sh          everything the tests use
#   scripts/install-deps.sh --demo   only what `make demo` needs (iproute2, ethtool, ping)
set -euo pipefail

apt_pkgs=(clang llvm libbpf-dev tshark tcpdump python3-scapy python3-ipfix pmacct iproute2 iputils-ping ethtool openssl)
demo_only=false
if [[ ${1:-} == --demo ]]; then
	apt_pkgs=(iproute2 iputils-ping ethtool)
	demo_only=true
fi
missing=()
for p in "${apt_pkgs[@]}"; do
	dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
if ((${#missing[@]})); then
	if [[ $(id -u) -ne 0 ]]; then
		echo "install-deps: need root to install: ${missing[*]}" >&2
		exit 1
	fi
	echo "install-deps: apt-get install ${missing[*]}"
	export DEBIAN_FRONTEND=noninteractive
	apt-get update -qq
	# tshark asks whether non-root users may capture; the default (no) is fine.
	apt-get install -y -qq "${missing[@]}" >/dev/null
fi

$demo_only && exit 0

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
