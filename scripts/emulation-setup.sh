#!/usr/bin/env bash
# Let this host run another machine's Linux binaries (qemu user mode through binfmt_misc), as a build for a
# platform of another machine needs (issue 21): `bash scripts/emulation-setup.sh ARCH MACHINE`, ARCH as Debian
# and Docker name it, MACHINE as qemu and uname do (ptkit.platforms.Platform.arch and .machine, e.g. arm64 aarch64).
# Idempotent. Debian's qemu-user-static registers nothing where no binfmt_misc is mounted (a container-like host):
# this mounts it and enables the handler. One line and exit 1 when the host cannot.
set -euo pipefail
arch=${1:?usage: emulation-setup.sh ARCH MACHINE (e.g. arm64 aarch64)}
machine=${2:?usage: emulation-setup.sh ARCH MACHINE (e.g. arm64 aarch64)}
say() { echo "emulation-setup: $*" >&2; }
cannot() { say "this host cannot run $arch binaries: $*"; exit 1; }
runs() { command -v arch-test >/dev/null && arch-test "$arch" >/dev/null 2>&1; }

if runs; then say "$arch binaries run here"; exit 0; fi
missing=()
command -v arch-test >/dev/null || missing+=(arch-test)
command -v update-binfmts >/dev/null || missing+=(binfmt-support)
[ -x "/usr/bin/qemu-$machine-static" ] || missing+=(qemu-user-static)
if ((${#missing[@]})); then
  [ "$(id -u)" = 0 ] || cannot "run as root to install ${missing[*]}"
  { apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends \
      "${missing[@]}"; } >/dev/null 2>&1 || cannot "apt-get could not install ${missing[*]}"
fi
if ! mountpoint -q /proc/sys/fs/binfmt_misc; then
  mount -t binfmt_misc binfmt_misc /proc/sys/fs/binfmt_misc 2>/dev/null ||
    cannot "binfmt_misc cannot be mounted at /proc/sys/fs/binfmt_misc (an unprivileged container?)"
fi
update-binfmts --enable "qemu-$machine" >/dev/null 2>&1 || cannot "update-binfmts --enable qemu-$machine failed"
runs || cannot "arch-test $arch still fails with qemu-$machine registered"
say "$arch binaries run here (qemu-$machine-static through binfmt_misc)"
