#!/usr/bin/env bash
# The lab VM's disk: a Debian rootfs (bookworm or trixie: HARDLAB_DEBIAN_SUITE) from Debian's packages alone
# (no registry, no cloud image). Packages: packages.txt (every suite) plus packages-SUITE.txt when present.
# Usage: build.sh rootfs ROOTFS_DIR        (slow, needs root, mmdebstrap or debootstrap and a Debian mirror)
#        build.sh disk ROOTFS_DIR OUT_DIR  (seconds: adds the guest's PID 1, writes OUT_DIR/{vmlinuz,initrd.img,
#                                           disk.qcow2,packages.txt} with mkfs.ext4 -d and qemu-img)
# The kernel is booted directly by qemu, so the disk needs no bootloader; the initrd only has to find an ext4
# root on virtio. Both stages are cached by the caller, keyed by a hash of the files they read.
set -euo pipefail
stage=$1
here=$(cd "$(dirname "$0")" && pwd)
suite=${HARDLAB_DEBIAN_SUITE:-bookworm}
size=${HARDLAB_VM_DISK_SIZE:-6G}
mirror=${HARDLAB_DEBIAN_MIRROR:-}
if [ -z "$mirror" ]; then
  # The mirror this host's apt already uses: the one place we know is reachable.
  mirror=$(grep -hoE '^URIs: *\S+' /etc/apt/sources.list.d/*.sources 2>/dev/null | awk '{print $2}' | grep -v security | head -1)
  [ -n "$mirror" ] || mirror=$(grep -hoE '^deb +\S+' /etc/apt/sources.list 2>/dev/null | awk '{print $2}' | head -1)
  [ -n "$mirror" ] || mirror=http://deb.debian.org/debian
fi
lists=("$here/packages.txt")
[ -f "$here/packages-$suite.txt" ] && lists+=("$here/packages-$suite.txt")
pkgs=$(cat "${lists[@]}" | grep -vE '^\s*(#|$)' | tr '\n' ',' | sed 's/,$//')

stamp() { printf '[build %5ss] %s\n' "$SECONDS" "$*"; }

if [ "$stage" = disk ]; then
  root=$2 out=$3
  mkdir -p "$out"
  # The guest's own bits: PID 1 and mount points for the shares. The rootfs stays pristine for the next disk.
  install -m 0755 "$here/guest-init" "$root/sbin/hardlab-init"
  mkdir -p "$root/hardlab" "$root/spool" "$root/hostcache" "$root/pydeps"
  # crun, where the suite ships it, is a second OCI runtime (`--runtime crun`); runc stays the default.
  if [ -x "$root/usr/bin/crun" ]; then
    mkdir -p "$root/etc/docker"
    printf '{\n  "runtimes": {"crun": {"path": "/usr/bin/crun"}}\n}\n' >"$root/etc/docker/daemon.json"
  fi
  cp "$(ls "$root"/boot/vmlinuz-* | sort -V | tail -1)" "$out/vmlinuz"
  cp "$(ls "$root"/boot/initrd.img-* | sort -V | tail -1)" "$out/initrd.img"
  cp "$root/.hardlab-packages.txt" "$out/packages.txt"
  stamp "disk: ext4 $size"
  rm -f "$out/disk.raw"
  mkfs.ext4 -q -F -L hardlab-root -d "$root" "$out/disk.raw" "$size"
  qemu-img convert -O qcow2 "$out/disk.raw" "$out/disk.qcow2"
  rm -f "$out/disk.raw"
  stamp "disk ready: $(du -sh "$out/disk.qcow2" | cut -f1), kernel $(ls "$root"/boot/vmlinuz-* | sort -V | tail -1 | sed 's/.*vmlinuz-//')"
  exit 0
fi
[ "$stage" = rootfs ] || { echo "usage: build.sh rootfs ROOTFS_DIR | disk ROOTFS_DIR OUT_DIR" >&2; exit 2; }
root=$2
rm -rf "$root"
mkdir -p "$(dirname "$root")"

# Before the kernel package is configured: a small initrd holding only what finds root on virtio.
initrd_hook='mkdir -p "$1/etc/initramfs-tools/conf.d" &&
  echo MODULES=list > "$1/etc/initramfs-tools/conf.d/hardlab" &&
  printf "%s\n" virtio_pci virtio_blk ext4 crc32c_generic > "$1/etc/initramfs-tools/modules"'

stamp "rootfs: $suite from $mirror"
if command -v mmdebstrap >/dev/null; then
  mmdebstrap --mode=root --variant=apt --format=directory \
    --aptopt='APT::Install-Recommends "false"' --dpkgopt='path-exclude=/usr/share/{doc,man,info,locale}/*' \
    --essential-hook="$initrd_hook" --include="$pkgs" \
    "$suite" "$root" "$mirror" >"$root.mmdebstrap.log" 2>&1 || { tail -n 40 "$root.mmdebstrap.log" >&2; exit 4; }
else
  debootstrap --variant=minbase --include="$pkgs" "$suite" "$root" "$mirror" >"$root.debootstrap.log" 2>&1 ||
    { tail -n 40 "$root.debootstrap.log" >&2; exit 4; }
  # debootstrap configured the kernel before our initrd settings existed: regenerate with them.
  bash -c "$initrd_hook" _ "$root"
  chroot "$root" update-initramfs -u -k all >/dev/null
fi
stamp "rootfs ready ($(du -sh "$root" | cut -f1))"

# Nothing in the guest starts on its own or resolves names: it has no network but its own bridges.
echo hardlab-vm >"$root/etc/hostname"
printf '127.0.0.1 localhost\n127.0.1.1 hardlab-vm\n' >"$root/etc/hosts"
: >"$root/etc/resolv.conf"
rm -rf "$root"/var/cache/apt/*.bin "$root"/var/lib/apt/lists/*
chroot "$root" dpkg-query -W -f '${Package} ${Version}\n' >"$root/.hardlab-packages.txt"
stamp "rootfs done"
