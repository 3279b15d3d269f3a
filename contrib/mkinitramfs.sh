#!/bin/sh
# Builds an initramfs whose /init is tend, for a minimal VM:
#
#   contrib/mkinitramfs.sh OUT.cpio.gz INIT.toml [TEND_BINARY [SRC=DEST...]]
#
# It holds the static tend as /init, busybox (from Debian's busybox-static)
# with its applets as the apps' tools, and INIT.toml as /etc/tend/init.toml.
# Each SRC=DEST after the binary copies the file SRC to DEST (an absolute
# path in the image), for example bench/memgrow=/bin/memgrow or a second
# config, extra.toml=/etc/tend/extra.toml.
# Boot it with any kernel that has a serial console, for example:
#
#   qemu-system-x86_64 -accel tcg -m 256 -nographic -no-reboot \
#     -kernel vmlinuz -initrd OUT.cpio.gz \
#     -append "rdinit=/init console=ttyS0 panic=-1"
set -eu
out=$1
config=$2
tend=${3:-target/x86_64-unknown-linux-musl/release/tend}
if [ $# -gt 3 ]; then shift 3; else set --; fi
for extra in "$@"; do
  case $extra in
    *=/*) [ -f "${extra%%=*}" ] || { echo "mkinitramfs: ${extra%%=*} not found" >&2; exit 1; } ;;
    *) echo "mkinitramfs: $extra is not SRC=/DEST" >&2; exit 1 ;;
  esac
done
busybox=$(command -v busybox || true)
[ -n "$busybox" ] || { echo "mkinitramfs: busybox not found (apt-get install busybox-static)" >&2; exit 1; }
file -L "$busybox" | grep -q 'statically linked' || { echo "mkinitramfs: $busybox is not static (apt-get install busybox-static)" >&2; exit 1; }
[ -x "$tend" ] || { echo "mkinitramfs: $tend not found (cargo build --release)" >&2; exit 1; }

root=$(mktemp -d)
trap 'rm -rf "$root"' EXIT
mkdir -p "$root/bin" "$root/etc/tend" "$root/proc" "$root/sys" "$root/dev" "$root/run" "$root/tmp" "$root/root"
cp "$tend" "$root/init"
cp "$busybox" "$root/bin/busybox"
for applet in $("$busybox" --list); do
  [ "$applet" = busybox ] || ln -s busybox "$root/bin/$applet"
done
cp "$config" "$root/etc/tend/init.toml"
for extra in "$@"; do
  dest=$root${extra#*=}
  mkdir -p "$(dirname "$dest")"
  cp "${extra%%=*}" "$dest"
done
printf 'root:x:0:0:root:/root:/bin/sh\nnobody:x:65534:65534:nobody:/nonexistent:/bin/false\n' > "$root/etc/passwd"
printf 'root:x:0:\nnogroup:x:65534:\n' > "$root/etc/group"
(cd "$root" && find . | cpio -o -H newc --quiet) | gzip -1 > "$out"
