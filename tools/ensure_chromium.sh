#!/usr/bin/env bash
# Debian's chromium for the browser tests; installed once per machine (we never let Playwright download one).
set -euo pipefail
if [ -x /usr/bin/chromium ]; then exit 0; fi
if [ "$(id -u)" != 0 ] || ! command -v apt-get >/dev/null; then
  echo "[browser] /usr/bin/chromium missing and apt-get unavailable: browser tests will be skipped" >&2
  exit 0
fi
echo "[browser] installing Debian's chromium (once per machine)" >&2
export DEBIAN_FRONTEND=noninteractive
apt-get update -qq >/dev/null
apt-get install -y -qq chromium >/dev/null
