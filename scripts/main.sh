#!/usr/bin/env bash
# The main job: build a variant's images (devel and runtime flavors) and verify each inside a
# container (default: cpu).     bash scripts/main.sh [VARIANT]   -> reports/VARIANT.json, reports/VARIANT-runtime.json
# On this kind of host (no container registry, local wheels) it first makes a Debian base image
# from the apt mirror and a wheelhouse with the host's pip, then runs `nox -s VARIANT`.
set -euo pipefail
cd "$(dirname "$0")/.."
variant=${1:-cpu}

bash scripts/host-setup.sh
# `ptkit base` prints the tag of the local base image (made once, kept afterwards).
base=${PTKIT_BASE_IMAGE:-$(.venv/bin/ptkit base --if-missing)}
lock_args=()
# The committed lock (locks/VARIANT.txt, hash-pinned) makes the build exact; PTKIT_LOCK="" resolves anew.
lock=${PTKIT_LOCK-locks/$variant.txt}
[ -n "$lock" ] && [ -f "$lock" ] && lock_args=(--lock "$lock")
.venv/bin/ptkit wheelhouse "$variant" ".cache/wheelhouse/$variant" "${lock_args[@]}"
.venv/bin/nox -s "$variant" -- --base-image "$base" --wheelhouse ".cache/wheelhouse/$variant" "${lock_args[@]}"
