#!/usr/bin/env bash
# Installs the Debian packages callpilot needs to build and run (idempotent).
# cmake/clang/libclang-dev: whisper.cpp build (whisper-rs) and bindgen.
# libespeak-ng-dev/espeak-ng: phonemes for the Piper voice and the robotic fallback voice.
set -euo pipefail
# chromium/nodejs: the browser tests (playwright-core drives Debian's chromium).
pkgs=(cmake clang libclang-dev libespeak-ng-dev espeak-ng pkg-config chromium nodejs)
# postgresql: a throwaway server for the PostgreSQL store tests (scripts/with-postgres.sh).
pkgs+=(postgresql)
missing=()
for p in "${pkgs[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
if [ ${#missing[@]} -eq 0 ]; then
  echo "system packages: all present"
  exit 0
fi
echo "system packages: installing ${missing[*]}"
SUDO=""
[ "$(id -u)" -ne 0 ] && SUDO="sudo"
export DEBIAN_FRONTEND=noninteractive
$SUDO apt-get update -qq
$SUDO apt-get install -y -qq --no-install-recommends "${missing[@]}"
