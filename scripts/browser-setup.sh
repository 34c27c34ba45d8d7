#!/usr/bin/env bash
# Install Debian's headless chromium for the report's browser test (tests/test_report_browser.py), idempotently.
# Playwright's own browser downloads are not reachable from CI, so the test drives this system browser.
set -euo pipefail
log() { echo "browser-setup: $*" >&2; }

if ! command -v chromium >/dev/null; then
  [ "$(id -u)" = 0 ] || { log "run as root to install chromium"; exit 1; }
  log "installing chromium"
  apt-get update -qq
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends chromium fonts-dejavu-core >/dev/null
fi
log "ready: $(chromium --version 2>/dev/null || echo 'chromium (version unknown)')"
