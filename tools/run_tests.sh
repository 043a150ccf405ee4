#!/usr/bin/env bash
# Run the whole suite against a node of NEWS_LOCAL_NODE_DIR: use it if it runs, else start it (on free
# ports when another process already holds the CQL or storage port) and stop it again afterwards.
# The suite creates every keyspace it reads, so an empty node passes and a full one cannot help.
# pytest's exit code 5 (no tests collected) counts as success only when every test was deselected on purpose
# (a -m or -k expression among the arguments).
set -uo pipefail
cd "$(dirname "$0")/.."
ns=.venv/bin/news-search
started=0
if ! $ns db status >/dev/null 2>&1; then
  port_free() { .venv/bin/python -c "import socket,sys; s=socket.socket(); s.bind(('127.0.0.1', int(sys.argv[1])))" "$1" 2>/dev/null; }
  free_port() { .venv/bin/python -c "import socket; s=socket.socket(); s.bind(('127.0.0.1', 0)); print(s.getsockname()[1])"; }
  if ! port_free "${NEWS_CASSANDRA_PORT:-9042}" || ! port_free "${NEWS_LOCAL_STORAGE_PORT:-7000}"; then
    export NEWS_CASSANDRA_PORT=$(free_port) NEWS_LOCAL_STORAGE_PORT=$(free_port)
    echo "[test] the default ports are taken by another process: this node uses $NEWS_CASSANDRA_PORT/$NEWS_LOCAL_STORAGE_PORT" >&2
  fi
  $ns db start || exit 2
  started=1
fi
mkdir -p test-output
start=$(date +%s)
.venv/bin/python -m pytest tests -q -p no:cacheprovider --junitxml=test-output/junit.xml "$@"
status=$?
echo "[test] suite took $(( $(date +%s) - start ))s" >&2
if [ "$started" = 1 ]; then $ns db stop; fi
if [ "$status" = 5 ]; then
  case " $* " in
    *" -m "*|*" -k "*) echo "[test] every test was deselected by the given expression (pytest exit 5): success" >&2; status=0 ;;
    *) echo "[test] pytest collected no tests (exit 5): failure" >&2 ;;
  esac
fi
exit $status
