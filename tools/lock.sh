#!/usr/bin/env bash
# Re-resolve requirements.lock (every package pinned, with hashes) from pyproject.toml's dependencies
# and its dev + bench extras, for CPython 3.11 on x86_64 Linux. uv comes from PyPI into a throwaway venv.
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
python3 -m venv "$tmp/venv"
"$tmp/venv/bin/pip" install -q "uv==0.13.9"
"$tmp/venv/bin/uv" pip compile "$root/pyproject.toml" --extra dev --extra bench --python-version 3.11 \
  --python-platform x86_64-manylinux_2_28 --generate-hashes --quiet -o "$root/requirements.lock"
echo "[lock] wrote $root/requirements.lock; the next make venv builds a fresh shared environment" >&2
