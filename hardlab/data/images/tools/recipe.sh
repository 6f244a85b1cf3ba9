#!/usr/bin/env bash
# lab:tools — a Debian minbase rootfs (debootstrap) with the exercises' tools and hardlab-probe.
# Usage: recipe.sh ROOTFS_DIR. Needs root, debootstrap and a reachable Debian mirror (no registry).
set -euo pipefail
# A fresh machine may have no package lists yet: update once, only if the install needs it.
apt_install() { DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "$@" >/dev/null 2>&1 ||
  { apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "$@" >/dev/null; }; }
root=$1
here=$(cd "$(dirname "$0")" && pwd)
suite=${HARDLAB_DEBIAN_SUITE:-bookworm}
mirror=${HARDLAB_DEBIAN_MIRROR:-}
if [ -z "$mirror" ]; then
  # The mirror this host's apt already uses: the one place we know is reachable offline-from-registries.
  mirror=$(grep -hoE '^URIs: *\S+' /etc/apt/sources.list.d/*.sources 2>/dev/null | awk '{print $2}' | grep -v security | head -1)
  [ -n "$mirror" ] || mirror=$(grep -hoE '^deb +\S+' /etc/apt/sources.list 2>/dev/null | awk '{print $2}' | head -1)
  [ -n "$mirror" ] || mirror=http://deb.debian.org/debian
fi
if ! command -v debootstrap >/dev/null; then
  if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null; then
    apt_install debootstrap
  else echo "lab:tools needs debootstrap (apt-get install debootstrap) and root" >&2; exit 3; fi
fi
pkgs=python3,nmap,libcap2-bin,strace,iputils-ping,procps,util-linux
debootstrap --variant=minbase --include="$pkgs" "$suite" "$root" "$mirror" >"$root.debootstrap.log" 2>&1 || {
  tail -n 30 "$root.debootstrap.log" >&2; exit 4; }
# Slim it: docs, caches and apt lists are not needed inside a lab container.
rm -rf "$root"/usr/share/{doc,man,info,locale} "$root"/var/cache/apt/* "$root"/var/lib/apt/lists/*
install -m 0755 "$here/hardlab-probe" "$root/usr/local/bin/hardlab-probe"
chroot "$root" /usr/sbin/useradd -u 1000 -m -s /bin/sh user
# A setuid-root copy of id(1): shows euid=0 when it gains root, and nothing when no-new-privileges holds.
install -m 4755 -o root "$root/usr/bin/id" "$root/usr/local/bin/suid-id"
