#!/bin/bash
# Install Debian's chromium for the report's browser test (tests/browser.py drives it headless over
# the DevTools protocol). Idempotent: does nothing when /usr/bin/chromium is there. Runs as root.
set -euo pipefail

if command -v chromium >/dev/null 2>&1; then
  echo "browser install: already present ($(chromium --version 2>/dev/null || echo chromium))"
  exit 0
fi
[ "$(id -u)" = 0 ] || { echo "browser install: must run as root" >&2; exit 1; }
command -v apt-get >/dev/null || { echo "browser install: needs apt-get (Debian/Ubuntu)" >&2; exit 1; }

export DEBIAN_FRONTEND=noninteractive
timeout -k 10 300 apt-get update -qq
timeout -k 10 600 apt-get install -y -qq --no-install-recommends chromium
command -v chromium >/dev/null || { echo "browser install: chromium still missing" >&2; exit 1; }
echo "browser install: done ($(chromium --version 2>/dev/null || echo chromium))"
