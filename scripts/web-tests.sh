#!/usr/bin/env bash
# Browser tests (part of `make test`): playwright-core from npm drives Debian's chromium against
# the release binary. scripts/install-system-deps.sh installs chromium, nodejs and espeak-ng.
set -euo pipefail
cd "$(dirname "$0")/.."
if ! command -v node >/dev/null || ! command -v chromium >/dev/null; then
  echo "web tests: node and chromium are required (run scripts/install-system-deps.sh)" >&2
  exit 1
fi
npm install --prefix web-tests --no-audit --no-fund --loglevel=error
node web-tests/run.mjs
