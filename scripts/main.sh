#!/usr/bin/env bash
# The main job: build a variant's image and verify it inside a container (default: cpu).
#   bash scripts/main.sh [VARIANT]      -> reports/VARIANT.json
# On this kind of host (no container registry, local wheels) it first makes a Debian base image
# from the apt mirror and a wheelhouse with the host's pip, then runs `nox -s VARIANT`.
set -euo pipefail
cd "$(dirname "$0")/.."
variant=${1:-cpu}
# torch 2.13.0+cpu is the only CPU torch this host's wheels offer; PyPI's torchvision is a CUDA
# build that fails to import beside it and torchaudio has no 2.13 release, so the cpu image gets
# torch and numpy only. Set PTKIT_PACKAGES="" to install the matrix's full set.
if [ "$variant" = cpu ]; then packages=${PTKIT_PACKAGES-torch numpy}; else packages=${PTKIT_PACKAGES-}; fi
base=${PTKIT_BASE_IMAGE:-ptkit/base:bookworm}

bash scripts/host-setup.sh
docker image inspect "$base" >/dev/null 2>&1 || .venv/bin/ptkit base --tag "$base"
pkg_args=()
[ -n "$packages" ] && pkg_args=(--packages "$packages")
# The committed lock (locks/VARIANT.txt, hash-pinned) makes the build exact; PTKIT_LOCK="" resolves anew.
lock=${PTKIT_LOCK-locks/$variant.txt}
[ -f "$lock" ] && pkg_args+=(--lock "$lock")
.venv/bin/ptkit wheelhouse "$variant" ".cache/wheelhouse/$variant" "${pkg_args[@]}"
.venv/bin/nox -s "$variant" -- --base-image "$base" --wheelhouse ".cache/wheelhouse/$variant" "${pkg_args[@]}"
