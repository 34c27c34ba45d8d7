#!/usr/bin/env bash
# Download one package's .deb from Debian trixie into DEST, through apt with a list, state and cache of its own
# (this host's Debian mirror and keyring): nothing is installed and nothing else of trixie reaches the host's apt.
# Used for cosign (host-setup.sh: bookworm has none) and a CUDA 12 cuobjdump (cuobjdump-cuda12.sh).
#   bash scripts/trixie-download.sh COMPONENT PACKAGE DEST     # COMPONENT: main, non-free, ...
set -euo pipefail
[ $# = 3 ] || { echo "usage: trixie-download.sh COMPONENT PACKAGE DEST" >&2; exit 2; }
component=$1 package=$2 dest=$3
dir=$(mktemp -d)
trap 'rm -rf "$dir"' EXIT
mirror=$( (sed -n 's/^URIs: *//p' /etc/apt/sources.list.d/*.sources; awk '$1 == "deb" {print $2}' \
           /etc/apt/sources.list) 2>/dev/null | tr ' ' '\n' | grep -m1 '/debian$') || true
[ -n "$mirror" ] || { echo "trixie-download: no Debian mirror in this host's apt sources" >&2; exit 1; }
echo "deb [signed-by=/usr/share/keyrings/debian-archive-keyring.gpg] $mirror trixie $component" >"$dir/sources.list"
mkdir -p "$dir/lists/partial" "$dir/cache/archives/partial" "$dest"
opts=(-o "Dir::Etc::SourceList=$dir/sources.list" -o Dir::Etc::SourceParts=- -o "Dir::State::Lists=$dir/lists"
      -o "Dir::Cache=$dir/cache" -o APT::Sandbox::User=root)
apt-get "${opts[@]}" update -qq
(cd "$dest" && apt-get "${opts[@]}" download -qq "$package")
