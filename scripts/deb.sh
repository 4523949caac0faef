#!/usr/bin/env bash
# Builds dexplane_VERSION_ARCH.deb with dpkg-deb alone (no debhelper):
#   /usr/bin/dexplane                                 the binary (static, CGO off)
#   /lib/systemd/system/dexplane.service              deploy/dexplane.service, ExecStart in /usr/bin
#   /etc/dexplane/dexplane.yaml                       conffile: config/examples/transit.yaml
#   /usr/share/dexplane/wireshark/dexplane.lua        the Lua dissector, linked into Wireshark's
#                                                     global plugin directory
#   /usr/share/dexplane/collectors/...                ipfixcol2 / goflow2 / pmacct definitions
#   /usr/share/dexplane/examples/*.yaml               the example configurations
# postinst creates the system user dexplane the unit runs as; purge removes it,
# /etc/dexplane and /var/log/dexplane.
#
# usage: scripts/deb.sh [OUTDIR]     (VERSION and ARCH from the environment)
set -euo pipefail
cd "$(dirname "$0")/.."
out=${1:-bin}
arch=${ARCH:-$(go env GOARCH)}
version=${VERSION:-0.0.0~git$(git log -1 --format=%cd --date=format:%Y%m%d 2>/dev/null || date +%Y%m%d).$(git rev-parse --short HEAD 2>/dev/null || echo local)}
case $version in [0-9]*) ;; *) echo "deb.sh: version $version must start with a digit" >&2; exit 2 ;; esac

root=$(mktemp -d)
trap 'rm -rf "$root"' EXIT
install -d "$root/DEBIAN" "$root/usr/bin" "$root/lib/systemd/system" "$root/etc/dexplane" \
  "$root/usr/share/dexplane/wireshark" "$root/usr/share/dexplane/examples" "$root/usr/share/doc/dexplane" \
  "$root/usr/lib/x86_64-linux-gnu/wireshark/plugins"
CGO_ENABLED=0 GOARCH=$arch go build -trimpath -o "$root/usr/bin/dexplane" ./cmd/dexplane
sed 's|/usr/local/bin/dexplane|/usr/bin/dexplane|g; /^#   install/d; /^#   systemctl daemon-reload/d; s|^# systemd unit for one dexplane node. Install:|# systemd unit for one dexplane node (Debian package).|' \
  deploy/dexplane.service >"$root/lib/systemd/system/dexplane.service"
install -m 0644 config/examples/transit.yaml "$root/etc/dexplane/dexplane.yaml"
install -m 0644 deploy/wireshark/dexplane.lua "$root/usr/share/dexplane/wireshark/dexplane.lua"
if [ "$arch" = amd64 ]; then
  ln -s /usr/share/dexplane/wireshark/dexplane.lua "$root/usr/lib/x86_64-linux-gnu/wireshark/plugins/dexplane.lua"
else
  rm -r "$root/usr/lib/x86_64-linux-gnu"
fi
for d in exporter/iedefs/*/; do
  install -d "$root/usr/share/dexplane/collectors/$(basename "$d")"
  install -m 0644 "$d"* "$root/usr/share/dexplane/collectors/$(basename "$d")/"
done
install -m 0644 config/examples/*.yaml "$root/usr/share/dexplane/examples/"
install -m 0644 deploy/README.md "$root/usr/share/doc/dexplane/operations.md"
install -m 0644 README.md "$root/usr/share/doc/dexplane/README.md"

cat >"$root/DEBIAN/control" <<CTL
Package: dexplane
Version: $version
Architecture: $arch
Maintainer: dexplane developers <dexplane@localhost>
Section: net
Priority: optional
Recommends: iproute2, ethtool
Suggests: tshark
Installed-Size: $(du -sk "$root" | cut -f1)
Homepage: https://github.com/dexplane/dexplane
Description: IOAM Direct Exporting (RFC 9326) data plane over AF_XDP
 A bump in the wire between two ports: XDP steers the IPv6 frames it must
 touch into AF_XDP sockets, Go workers insert, export and strip the IOAM DEX
 option, and an IPFIX exporter (UDP, TCP or TLS) ships the records.
 Includes a Wireshark Lua dissector for DEX and the collector definition
 files for ipfixcol2, goflow2 and pmacct.
CTL
echo /etc/dexplane/dexplane.yaml >"$root/DEBIAN/conffiles"

cat >"$root/DEBIAN/postinst" <<'SH'
#!/bin/sh
set -e
if [ "$1" = configure ]; then
  if ! getent passwd dexplane >/dev/null; then
    useradd --system --user-group --home-dir /nonexistent --no-create-home --shell /usr/sbin/nologin dexplane
  fi
  install -d -o dexplane -g dexplane -m 0750 /var/log/dexplane
  if [ -d /run/systemd/system ]; then systemctl daemon-reload || true; fi
fi
exit 0
SH
cat >"$root/DEBIAN/prerm" <<'SH'
#!/bin/sh
set -e
if [ -d /run/systemd/system ] && [ "$1" = remove ]; then
  systemctl stop dexplane.service 2>/dev/null || true
  systemctl disable dexplane.service 2>/dev/null || true
fi
exit 0
SH
cat >"$root/DEBIAN/postrm" <<'SH'
#!/bin/sh
set -e
if [ "$1" = purge ]; then
  rm -rf /var/log/dexplane
  rmdir /etc/dexplane 2>/dev/null || true
  if getent passwd dexplane >/dev/null; then userdel dexplane || true; fi
  if getent group dexplane >/dev/null; then groupdel dexplane 2>/dev/null || true; fi
fi
if [ -d /run/systemd/system ]; then systemctl daemon-reload || true; fi
exit 0
SH
chmod 0755 "$root/DEBIAN/postinst" "$root/DEBIAN/prerm" "$root/DEBIAN/postrm"
find "$root" -type d -exec chmod 0755 {} +
mkdir -p "$out"
deb="$out/dexplane_${version}_${arch}.deb"
dpkg-deb --root-owner-group --build "$root" "$deb" >/dev/null
echo "$deb"
