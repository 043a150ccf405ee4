#!/usr/bin/env bash
# Create .venv for this checkout. The heavy dependencies (torch, sentence-transformers, streamlit...)
# live in a shared virtualenv under ~/.cache/news-search/venvs/<hash of the dependency spec>, built once
# per machine and spec; .venv is a small venv of its own that sees them through a .pth file and has
# this checkout installed in editable mode. A fresh machine builds everything; a repeat run takes seconds.
# The shared environment is installed from requirements.lock (every package pinned, with hashes) and keyed
# by that file, so every machine gets the same versions and a changed lock gets a fresh environment.
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
python=${PYTHON:-python3.11}
command -v "$python" >/dev/null || python=python3
key=$("$python" "$root/tools/depkey.py")
cache=${NEWS_VENV_CACHE:-$HOME/.cache/news-search/venvs}
shared="$cache/$key"
mkdir -p "$cache"

exec 9>"$cache/$key.lock"
flock 9
if [ ! -f "$shared/.complete" ]; then
  echo "[venv] building the shared dependency environment $shared (first time on this machine: several minutes)" >&2
  rm -rf "$shared"
  "$python" -m venv "$shared"
  cp "$root/requirements.lock" "$shared/requirements.lock"
  "$shared/bin/pip" install -q --require-hashes --no-deps -r "$shared/requirements.lock"
  touch "$shared/.complete"
fi
flock -u 9

site=$("$shared/bin/python" -c 'import sysconfig; print(sysconfig.get_paths()["purelib"])')
venv="$root/.venv"
if [ ! -x "$venv/bin/python" ] || [ "$(cat "$venv/.shared" 2>/dev/null)" != "$shared" ]; then
  rm -rf "$venv"
  # No pip of its own: pip and setuptools come from the shared (locked) environment through the .pth file.
  "$python" -m venv --without-pip "$venv"
  local_site=$("$venv/bin/python" -c 'import sysconfig; print(sysconfig.get_paths()["purelib"])')
  echo "import site; site.addsitedir('$site')" > "$local_site/zz_news_search_shared.pth"
  echo "$shared" > "$venv/.shared"
  # The shared tools, run by this venv's python so that they see this checkout.
  for tool in pytest mypy streamlit; do
    printf '#!/bin/sh\nexec "%s" -m %s "$@"\n' "$venv/bin/python" "$tool" > "$venv/bin/$tool"
    chmod +x "$venv/bin/$tool"
  done
  ln -sfn "$shared/bin/ruff" "$venv/bin/ruff"  # a native binary: `python -m ruff` would find this very file
fi
installed=$(cd / && "$venv/bin/python" -c 'import os, news_search; print(os.path.dirname(os.path.dirname(news_search.__file__)))' 2>/dev/null || true)
if [ ! -x "$venv/bin/news-search" ] || [ "$installed" != "$root" ]; then
  "$venv/bin/python" -m pip install -q --no-deps --no-build-isolation -e "$root"
fi
echo "[venv] ready: $venv (dependencies from $shared)" >&2
