#!/usr/bin/env bash
# Make this host ready for ptkit, idempotently: a Docker engine that answers, the tools the tests
# need (mmdebstrap for `ptkit base`, docker-registry for push tests, chromium for the report's
# browser test, cosign, skopeo and umoci for the signature tests), and .venv with ptkit, its dev tools
# and the matrix's CPU torch. Safe to run again; installs only what is missing.
set -euo pipefail
cd "$(dirname "$0")/.."
log() { echo "host-setup: $*" >&2; }

# Each tool the tests use, and the Debian packages that hold it (the first one has the command).
declare -A packages=([dockerd]="docker.io" [mmdebstrap]="mmdebstrap" [docker-registry]="docker-registry"
                     [skopeo]="skopeo golang-github-containers-common" [umoci]="umoci"
                     [chromium]="chromium fontconfig-config fonts-dejavu-core")
missing=()
for tool in "${!packages[@]}"; do
  # shellcheck disable=SC2206  # the value is a list of package names
  command -v "$tool" >/dev/null || missing+=(${packages[$tool]})
done
if ((${#missing[@]})); then
  [ "$(id -u)" = 0 ] || { log "run as root to install: ${missing[*]}"; exit 1; }
  log "installing ${missing[*]}"
  apt-get update -qq
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
fi

# A tool can be installed yet broken: its package's files deleted (a mutation run as root once removed
# /etc here) leave skopeo without /etc/containers/policy.json and chromium without its font config, and every test
# that uses them fails. dpkg lists each package's missing files; reinstall those packages, restoring their
# configuration files too (--force-confmiss; --force-confold keeps any a user changed).
damaged=()
for pkg in ${packages[*]}; do
  # documentation is left out on purpose on slim systems (dpkg path-exclude), so it does not count
  dpkg --verify "$pkg" 2>/dev/null | grep '^missing' | grep -qvE ' /usr/share/(doc|man|info|locale)/' &&
    damaged+=("$pkg")
done
if ((${#damaged[@]})); then
  [ "$(id -u)" = 0 ] || { log "files of ${damaged[*]} are missing: run as root to reinstall them"; exit 1; }
  log "reinstalling ${damaged[*]}: some of their files are missing"
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --reinstall -o Dpkg::Options::=--force-confmiss \
    -o Dpkg::Options::=--force-confold "${damaged[@]}" >/dev/null
fi

# cosign signs images (`ptkit build --sign`, issue 22); bookworm has none, trixie's 2.5 (one Go binary, Depends:
# libc6 >= 2.34) runs here. Its .deb comes through apt from a trixie list of its own (own list, state and cache
# folders, this host's Debian mirror and keyring): nothing else can come from trixie. Without it the signature
# tests skip, saying so: a warning, not a failed setup.
install_cosign() {  # $1: an empty folder for the .deb
  bash scripts/trixie-download.sh main cosign "$1" && dpkg -i "$1"/cosign_*.deb
}
if ! command -v cosign >/dev/null; then
  if [ "$(id -u)" != 0 ]; then
    log "run as root to install cosign (the signature tests skip without it)"
  else
    cosign_tmp=$(mktemp -d)
    install_cosign "$cosign_tmp" >"$cosign_tmp/log" 2>&1 ||
      log "cosign not installed (the signature tests skip): $(tail -1 "$cosign_tmp/log")"
    rm -rf "$cosign_tmp"
  fi
fi

bash scripts/slurm-setup.sh  # slurm-wlm and munge for the Slurm test (daemons are started by the test)

if ! docker info >/dev/null 2>&1; then
  log "no Docker daemon answers: starting dockerd (log: /var/log/ptkit-dockerd.log)"
  setsid dockerd >/var/log/ptkit-dockerd.log 2>&1 < /dev/null &
  for _ in $(seq 60); do docker info >/dev/null 2>&1 && break; sleep 1; done
  docker info >/dev/null 2>&1 || { log "dockerd did not start:"; tail -5 /var/log/ptkit-dockerd.log >&2; exit 1; }
fi

[ -x .venv/bin/python ] || python3 -m venv .venv
# ptkit first: it reads the matrix's CPU torch (tomllib is Python 3.11+, ptkit also runs on 3.10).
.venv/bin/pip install -q --disable-pip-version-check -e ".[dev]" 2>&1 | grep -v "is ignored" >&2 || true
cpu_torch=$(.venv/bin/python -c 'from ptkit import matrix; print(matrix.load().get("cpu").torch)')
# Where no local wheel exists, point pip at the CPU index: PIP_EXTRA_INDEX_URL=https://download.pytorch.org/whl/cpu
.venv/bin/pip install -q --disable-pip-version-check "torch==${cpu_torch}" 2>&1 | grep -v "is ignored" >&2 || true
.venv/bin/ptkit --help >/dev/null
# Emulation only where a build needs it: PTKIT_PLATFORMS (e.g. linux/arm64) names a platform of another machine
# than this host's (ptkit.platforms has each one's arch and machine). Unset, no kernel handler is touched.
if [ -n "${PTKIT_PLATFORMS:-}" ]; then
  foreign=$(.venv/bin/python - "$PTKIT_PLATFORMS" <<'EOF'
import platform, sys
from ptkit.platforms import PLATFORMS
for name in sys.argv[1].split(","):
    if name not in PLATFORMS:
        sys.exit(f"host-setup: PTKIT_PLATFORMS: unknown platform {name!r} (known: {', '.join(PLATFORMS)})")
    if PLATFORMS[name].machine != platform.machine():
        print(PLATFORMS[name].arch, PLATFORMS[name].machine)
EOF
  )
  while read -r arch machine; do
    [ -z "$arch" ] || bash scripts/emulation-setup.sh "$arch" "$machine"
  done <<<"$foreign"
fi
log "ready: $(docker version --format 'engine {{.Server.Version}}'), $(.venv/bin/python -c 'import torch; print("torch", torch.__version__)')"
