#!/usr/bin/env bash
# Run MACHINE binaries through Debian trixie's qemu (10.0) instead of bookworm's (7.2): torch 2.14.1's aarch64
# build segfaults at import under qemu 7.2 (docs/evidence/arm64/README.md).
#   bash scripts/qemu-trixie.sh MACHINE          # e.g. aarch64; after scripts/emulation-setup.sh ARCH MACHINE
# Downloads trixie's qemu-user .deb (scripts/trixie-download.sh: nothing of trixie is installed through apt),
# keeps its static qemu-MACHINE in /usr/local/lib/ptkit-qemu/, and re-registers binfmt_misc's qemu-MACHINE
# handler with it (same magic and mask as Debian's, flags F: the kernel opens the binary once, so containers
# and chroots use it too). `update-binfmts --disable qemu-MACHINE && update-binfmts --enable qemu-MACHINE`
# goes back to bookworm's. Idempotent; one line and exit 1 when it cannot.
set -euo pipefail
machine=${1:?usage: qemu-trixie.sh MACHINE (e.g. aarch64)}
say() { echo "qemu-trixie: $*" >&2; }
cannot() { say "cannot use trixie's qemu-$machine: $*"; exit 1; }
dir=/usr/local/lib/ptkit-qemu
entry=/proc/sys/fs/binfmt_misc/qemu-$machine
spec=/usr/share/binfmts/qemu-$machine
[ -f "$spec" ] || cannot "no $spec (run scripts/emulation-setup.sh first)"
mountpoint -q /proc/sys/fs/binfmt_misc || cannot "binfmt_misc is not mounted (run scripts/emulation-setup.sh)"
if [ ! -x "$dir/qemu-$machine" ]; then
  tmp=$(mktemp -d)
  trap 'rm -rf "$tmp"' EXIT
  bash "$(dirname "$0")/trixie-download.sh" main qemu-user "$tmp" >/dev/null || cannot "the download failed"
  dpkg-deb -x "$tmp"/qemu-user_*.deb "$tmp/x"
  [ -x "$tmp/x/usr/bin/qemu-$machine" ] || cannot "trixie's qemu-user has no qemu-$machine"
  install -D -m 755 "$tmp/x/usr/bin/qemu-$machine" "$dir/qemu-$machine"
fi
magic=$(sed -n 's/^magic //p' "$spec") mask=$(sed -n 's/^mask //p' "$spec")
[ -e "$entry" ] && echo -1 >"$entry"
printf ':qemu-%s:M:0:%s:%s:%s:F' "$machine" "$magic" "$mask" "$dir/qemu-$machine" >/proc/sys/fs/binfmt_misc/register ||
  cannot "binfmt_misc refused the registration"
say "qemu-$machine is $("$dir/qemu-$machine" --version | sed -n 1p)"  # sed reads it all: no SIGPIPE under pipefail
