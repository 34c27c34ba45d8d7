#!/usr/bin/env bash
# The main job: build a variant's images (devel and runtime flavors) and verify each inside a container.
#
#   bash scripts/main.sh [VARIANT] [--source NAME]   (default: the matrix's `latest` row, its own source)
#     -> reports/IMAGE.json (devel), reports/IMAGE-runtime.json; IMAGE is VARIANT, or VARIANT-NAME with --source
#
# On this kind of host (no container registry, local wheels) it first makes a Debian base image from the apt
# mirror and a wheelhouse of the row's wheels with the host's pip (its committed lock, locks/IMAGE.txt, when there
# is one), then runs `nox -s VARIANT [-- --source NAME]` from that wheelhouse. The wheelhouse step is the probe of
# whether this host reaches the row's index: when pip cannot get the wheels, nothing is built and one line says why
# and which command to run instead (the row's other sources, from the matrix).
# Environment: PTKIT_BASE_IMAGE (a base image instead of the local one), PTKIT_LOCK (another lock; "" resolves anew).
# Exit: 0 both images built and verified; 1 a step failed (host setup, a build, a verification); 2 usage (unknown
# variant, source or option); 3 this host cannot get the row's wheels (nothing built; the line names the alternative).
set -euo pipefail
cd "$(dirname "$0")/.."
me=main.sh
usage() { echo "$me: $1 (usage: bash scripts/main.sh [VARIANT] [--source NAME])" >&2; exit 2; }

variant="" source=""
while (($#)); do
  case $1 in
    --source) (($# >= 2)) || usage "--source needs a NAME"; source=$2; shift 2 ;;
    --source=*) source=${1#--source=}; shift ;;
    -*) usage "unknown option $1" ;;
    *) [ -z "$variant" ] || usage "one VARIANT only (got $variant and $1)"; variant=$1; shift ;;
  esac
done

bash scripts/host-setup.sh
# From the matrix: the image name, the source flag for nox, the row's index, and the command(s) to run instead.
plan=$(.venv/bin/python - "$variant" "$source" <<'EOF'
import sys
from ptkit import matrix
name, source = sys.argv[1], sys.argv[2] or None
try:
    m = matrix.load()
    row = m.get(name or m.latest or "")
    v = row.from_source(source)
except matrix.MatrixError as exc:
    sys.exit(f"main.sh: {exc}")
others = [s for s in row.sources if s != v.source]
instead = " or ".join(f"`bash scripts/main.sh {row.name}" + ("" if s == row.source else f" --source {s}") + "`"
                      for s in others) or f"nothing on this host: build it where {v.index_url} answers"
flag = "" if v.default_source else v.source
print(row.name, v.image_name, flag or "-", v.torch, v.index_url, instead, sep="\t")
EOF
) || exit 2
IFS=$'\t' read -r variant image source_flag torch index instead <<<"$plan"
source_args=()
[ "$source_flag" = - ] || source_args=(--source "$source_flag")

# `ptkit base` prints the tag of the local base image (made once, kept afterwards).
base=${PTKIT_BASE_IMAGE:-$(.venv/bin/ptkit base --if-missing)}
lock_args=()
# The committed lock (locks/IMAGE.txt, hash-pinned) makes the build exact; PTKIT_LOCK="" resolves anew.
lock=${PTKIT_LOCK-locks/$image.txt}
[ -n "$lock" ] && [ -f "$lock" ] && lock_args=(--lock "$lock")
wheels=.cache/wheelhouse/$image
new=$([ -e "$wheels" ] || echo yes)
errors=$(mktemp)
trap 'rm -f "$errors"' EXIT
echo "$me: $image: torch $torch: its wheels into $wheels (a CUDA row's are 3-4 GB; files already there are kept)" >&2
if ! .venv/bin/ptkit wheelhouse "$variant" "$wheels" "${source_args[@]}" "${lock_args[@]}" 2>"$errors"; then
  [ -z "$new" ] || rm -rf "$wheels"  # leave nothing behind that this run made
  # pip's reason without its list of the versions it did find, nor ptkit's hint (main.sh names the alternative)
  reason=$(grep -v '^\s*$' "$errors" | tail -1 \
    | sed -E 's/^ptkit wheelhouse: error: //; s/ \(from versions:[^)]*\)?//; s/ \(try --use-variant-index[^)]*\)//')
  echo "$me: cannot build $image here: this host's pip cannot get torch $torch (index $index):" \
    "${reason:-no reason given}; run instead: $instead" >&2
  exit 3
fi
cat "$errors" >&2
.venv/bin/nox -s "$variant" -- "${source_args[@]}" --base-image "$base" --wheelhouse "$wheels" "${lock_args[@]}"
