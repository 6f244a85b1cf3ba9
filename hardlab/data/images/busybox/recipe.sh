#!/usr/bin/env bash
# lab:busybox — FROM scratch plus Debian's static busybox. Usage: recipe.sh ROOTFS_DIR
set -euo pipefail
# A fresh machine may have no package lists yet: update once, only if the install needs it.
apt_install() { DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "$@" >/dev/null 2>&1 ||
  { apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "$@" >/dev/null; }; }
root=$1
bb=$(command -v busybox || true)
if [ -z "$bb" ] || ! file -b "$bb" 2>/dev/null | grep -q 'statically linked'; then
  if [ -x /bin/busybox ] && ldd /bin/busybox 2>&1 | grep -q 'not a dynamic'; then bb=/bin/busybox
  elif [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null; then
    apt_install busybox-static; bb=/bin/busybox
  else echo "lab:busybox needs Debian's busybox-static (apt-get install busybox-static)" >&2; exit 3; fi
fi
mkdir -p "$root"/{bin,etc,tmp,root,home/user,proc,sys,dev}
chmod 1777 "$root/tmp"; chmod 700 "$root/root"
cp "$bb" "$root/bin/busybox"
for applet in $("$root/bin/busybox" --list); do
  [ "$applet" = busybox ] || ln -sf busybox "$root/bin/$applet"
done
cat >"$root/etc/passwd" <<'P'
root:x:0:0:root:/root:/bin/sh
user:x:1000:1000:lab user:/home/user:/bin/sh
nobody:x:65534:65534:nobody:/nonexistent:/bin/false
P
printf 'root:x:0:\nusers:x:100:\nuser:x:1000:\nnogroup:x:65534:\n' >"$root/etc/group"
chown 1000:1000 "$root/home/user"
