#!/usr/bin/env bash
# Start the local node if it is not up, run the whole suite, stop the node again if we started it.
# pytest's exit code 5 (no tests collected) counts as success only when every test was deselected on purpose.
set -uo pipefail
cd "$(dirname "$0")/.."
ns=.venv/bin/news-search
started=0
if ! $ns db status >/dev/null 2>&1; then
  $ns db start || exit 2
  started=1
fi
mkdir -p test-output
start=$(date +%s)
.venv/bin/python -m pytest tests -q -p no:cacheprovider --junitxml=test-output/junit.xml "$@"
status=$?
echo "[test] suite took $(( $(date +%s) - start ))s" >&2
if [ "$started" = 1 ]; then $ns db stop; fi
if [ "$status" = 5 ]; then echo "[test] pytest collected no tests (exit 5): treated as success" >&2; status=0; fi
exit $status
