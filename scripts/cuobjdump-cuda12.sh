#!/usr/bin/env bash
# A CUDA 12 cuobjdump for fatbins CUDA 13's cannot read (NVIDIA's only PyPI cuobjdump is CUDA 13's; it stops with
# 'Invalid ELF' in torch 2.4.1+cu121's libtorch_cuda.so): Debian trixie's non-free nvidia-cuda-toolkit 12.4
# (an 87 MB .deb), of which only usr/bin/cuobjdump is kept, in .cache/cuobjdump-cuda12/. Prints the
# PTKIT_CUOBJDUMP value that tries the PyPI wheel's first, then this one (ptkit.fatbin.find_cuobjdumps):
#   export PTKIT_CUOBJDUMP=$(bash scripts/cuobjdump-cuda12.sh)
set -euo pipefail
cd "$(dirname "$0")/.."
dest=.cache/cuobjdump-cuda12
if [ ! -x "$dest/cuobjdump" ]; then
  tmp=$(mktemp -d)
  trap 'rm -rf "$tmp"' EXIT
  bash scripts/trixie-download.sh non-free nvidia-cuda-toolkit "$tmp" >&2
  dpkg-deb -x "$tmp"/nvidia-cuda-toolkit_*.deb "$tmp/x"
  mkdir -p "$dest" && cp "$tmp/x/usr/bin/cuobjdump" "$dest/cuobjdump"
fi
wheel=$(.venv/bin/python -c 'from ptkit import fatbin; print(*fatbin.find_cuobjdumps()[:1])')
echo "${wheel:+$wheel:}$PWD/$dest/cuobjdump"
