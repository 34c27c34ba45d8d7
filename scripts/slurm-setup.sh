#!/usr/bin/env bash
# Install Debian's Slurm (slurmctld, slurmd, sbatch) and munge for tests/test_slurm.py, idempotently:
# quick when already installed. Starts nothing: the test starts its own munged, slurmctld and slurmd
# with a generated one-node configuration and stops them afterwards.
set -euo pipefail
log() { echo "slurm-setup: $*" >&2; }

missing=()
command -v slurmctld >/dev/null || missing+=(slurmctld)
command -v slurmd >/dev/null || missing+=(slurmd)
command -v sbatch >/dev/null || missing+=(slurm-client)
command -v munged >/dev/null || missing+=(munge)
if ((${#missing[@]})); then
  [ "$(id -u)" = 0 ] || { log "run as root to install: ${missing[*]}"; exit 1; }
  log "installing ${missing[*]}"
  apt-get update -qq
  # No init system starts the packaged services here (policy-rc.d 101): the test runs its own daemons.
  DEBIAN_FRONTEND=noninteractive RUNLEVEL=1 apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
fi
log "ready: $(slurmctld -V), munge $(munged --version 2>&1 | awk '{print $1}')"
