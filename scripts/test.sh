#!/usr/bin/env bash
# The test command (README, .ci/run): host setup, then lint and the whole test suite through nox.
# The Docker tests build the cpu image through `nox -s cpu`, run the verifier in containers, push
# to a local registry, and remove every container, image and registry they created.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/host-setup.sh
exec .venv/bin/nox -s lint tests -- "$@"
