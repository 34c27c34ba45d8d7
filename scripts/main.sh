#!/usr/bin/env bash
# The main job: build a variant's images (devel and runtime flavors) and verify each inside a container.
#
#   bash scripts/main.sh [VARIANT] [--source NAME] [--platform P]
#     (default: the matrix's `latest` row, its own source, linux/amd64)
#     -> reports/IMAGE.json (devel), reports/IMAGE-runtime.json; IMAGE is VARIANT, VARIANT-NAME with --source, and
#        the platform's suffix for another platform (cuda130-arm64)
#
# On this kind of host (no container registry, local wheels) it first makes a Debian base image from the apt
# mirror and a wheelhouse of the row's wheels with the host's pip (its committed lock, locks/IMAGE.txt, when there
# is one), then runs `nox -s IMAGE` from that wheelhouse. The wheelhouse step is the probe of whether this host
# reaches the row's index: when pip cannot get the wheels, nothing is built and one line says why and which command
# to run instead (the row's other sources, from the matrix). Another machine's platform (issue 21) is emulated:
# scripts/emulation-setup.sh sets up qemu through binfmt_misc, and scripts/qemu-trixie.sh puts Debian trixie's
# qemu 10 behind it (PyPI's aarch64 torch 2.11 and later crashes at import under bookworm's qemu 7.2).
# Environment: PTKIT_BASE_IMAGE (a base image instead of the local one), PTKIT_LOCK (another lock; "" resolves anew).
# Exit: 0 both images built and verified; 1 a step failed (host setup, a build, a verification); 2 usage (unknown
# variant, source, platform or option); 3 this host cannot get the row's wheels (nothing built; the line names the
# alternative).
set -euo pipefail
cd "$(dirname "$0")/.."
me=main.sh
usage() { echo "$me: $1 (usage: bash scripts/main.sh [VARIANT] [--source NAME] [--platform P])" >&2; exit 2; }

variant="" source="" platform=""
while (($#)); do
  case $1 in
    --source) (($# >= 2)) || usage "--source needs a NAME"; source=$2; shift 2 ;;
    --source=*) source=${1#--source=}; shift ;;
    --platform) (($# >= 2)) || usage "--platform needs a platform, e.g. linux/arm64"; platform=$2; shift 2 ;;
    --platform=*) platform=${1#--platform=}; shift ;;
    -*) usage "unknown option $1" ;;
    *) [ -z "$variant" ] || usage "one VARIANT only (got $variant and $1)"; variant=$1; shift ;;
  esac
done

bash scripts/host-setup.sh
# From the matrix: the image (and nox session) name, the source flag for `ptkit wheelhouse` and for nox, the row's
# torch and index, the platform, its arch and machine when emulated ('-': this host's), the nox session and its
# --source, and the command(s) to run instead.
plan=$(.venv/bin/python - "$variant" "$source" "$platform" <<'EOF'
import platform as host
import sys

from ptkit import matrix
from ptkit.platforms import DEFAULT_PLATFORM

name, source, on = sys.argv[1], sys.argv[2] or None, sys.argv[3] or DEFAULT_PLATFORM.name
try:
    m = matrix.load()
    row = m.get(name or m.latest or "")
    v = row.from_source(source)
    p = v.on(on)
except matrix.MatrixError as exc:
    hint = ""
    if "v" in locals():  # the row and source exist, not for this platform: the sources that are built for it
        fits = [s for s in row.sources if on in row.from_source(s).platforms]
        hint = f" (run `bash scripts/main.sh {row.name} --source {fits[0]} --platform {on}`)" if fits else ""
    sys.exit(f"main.sh: {exc}{hint}")
option = "" if p == DEFAULT_PLATFORM else f" --platform {p.name}"
others = [s for s in row.sources if s != v.source and on in row.from_source(s).platforms]
instead = " or ".join(f"`bash scripts/main.sh {row.name}" + ("" if s == row.source else f" --source {s}") + option
                      + "`" for s in others) or f"nothing on this host: build it where {v.index_url} answers"
flag = "" if v.default_source else v.source
machine = "-" if p.machine == host.machine() else f"{p.arch} {p.machine}"
# nox: the row's session with --source on the default platform (`nox -s cuda126 -- --source pypi`); another
# platform's session is the image's, and names its source and platform itself (`nox -s cpu-pypi-arm64`)
session, nox_flag = (row.name, flag) if p == DEFAULT_PLATFORM else (p.named(v.image_name), "")
print(row.name, p.named(v.image_name), flag or "-", v.torch, v.index_url, p.name, machine, session, nox_flag or "-",
      instead, sep="\t")
EOF
) || exit 2
IFS=$'\t' read -r variant image source_flag torch index platform machine session nox_flag instead <<<"$plan"
source_args=() nox_args=()
[ "$source_flag" = - ] || source_args=(--source "$source_flag")
[ "$nox_flag" = - ] || nox_args=(--source "$nox_flag")
if [ "$machine" != - ]; then  # "ARCH MACHINE" of the platform, another machine's: emulated
  bash scripts/emulation-setup.sh $machine
  bash scripts/qemu-trixie.sh "${machine#* }"
fi

# `ptkit base` prints the tag of the local base image of the platform (made once, kept afterwards).
base=${PTKIT_BASE_IMAGE:-$(.venv/bin/ptkit base --platform "$platform" --if-missing)}
lock_args=()
# The committed lock (locks/IMAGE.txt, hash-pinned) makes the build exact; PTKIT_LOCK="" resolves anew.
lock=${PTKIT_LOCK-locks/$image.txt}
[ -n "$lock" ] && [ -f "$lock" ] && lock_args=(--lock "$lock")
wheels=.cache/wheelhouse/$image
new=$([ -e "$wheels" ] || echo yes)
errors=$(mktemp)
trap 'rm -f "$errors"' EXIT
echo "$me: $image: torch $torch: its wheels into $wheels (a CUDA row's are 3-4 GB; files already there are kept)" >&2
if ! .venv/bin/ptkit wheelhouse "$variant" "$wheels" "${source_args[@]}" --platform "$platform" "${lock_args[@]}" \
    2>"$errors"; then
  [ -z "$new" ] || rm -rf "$wheels"  # leave nothing behind that this run made
  # pip's reason without its list of the versions it did find, nor ptkit's hint (main.sh names the alternative)
  reason=$(grep -v '^\s*$' "$errors" | tail -1 \
    | sed -E 's/^ptkit wheelhouse: error: //; s/ \(from versions:[^)]*\)?//; s/ \(try --use-variant-index[^)]*\)//')
  echo "$me: cannot build $image here: this host's pip cannot get torch $torch (index $index):" \
    "${reason:-no reason given}; run instead: $instead" >&2
  exit 3
fi
cat "$errors" >&2
.venv/bin/nox -s "$session" -- "${nox_args[@]}" --base-image "$base" --wheelhouse "$wheels" "${lock_args[@]}"
