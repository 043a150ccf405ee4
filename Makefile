# The README's two commands are `make demo` and `make test`; everything else is a building block.
SHELL := /bin/bash
.DEFAULT_GOAL := help
PY := .venv/bin/python
NS := .venv/bin/news-search
DEMO_CSV ?= data/news_sample.csv
PORT ?= 8501
PYTEST_ARGS ?=

.PHONY: help venv demo test test-unit test-integration test-cluster lint db-start db-stop db-status ingest-demo app \
        browser-deps bench bench-scale bench-cluster bench-million clean lock

help:  ## list the targets
	@grep -E '^[a-z-]+:.*##' $(MAKEFILE_LIST) | sed -E 's/:.*## /\t/' | expand -t 20

venv: .venv/.ready  ## create .venv (shared dependency env cached under ~/.cache/news-search/venvs)
.venv/.ready: pyproject.toml requirements.lock tools/make_venv.sh tools/depkey.py
	@bash tools/make_venv.sh
	@touch $@

demo: venv db-start ingest-demo app  ## start the local node, ingest the real sample (data/news_sample.csv), serve the search page

db-start: venv  ## start the local Cassandra 5.0 node (downloads jars from Maven Central once)
	@$(NS) db start

db-stop: venv  ## stop the local node
	@$(NS) db stop

db-status: venv
	@$(NS) db status

ingest-demo: venv
	@$(NS) ingest $(DEMO_CSV)

app: venv  ## serve the Streamlit search page on $(PORT)
	@$(NS) app --port $(PORT)

browser-deps:  ## Debian's chromium for the browser tests (never `playwright install`)
	@bash tools/ensure_chromium.sh

test: venv browser-deps  ## the whole suite: unit, integration (real node) and browser tests
	@bash tools/run_tests.sh $(PYTEST_ARGS)

test-unit: venv  ## fast tests: no node, no model
	@$(PY) -m pytest tests/unit -q $(PYTEST_ARGS)

test-integration: venv db-start  ## integration tests against the running local node
	@$(PY) -m pytest tests/integration -q $(PYTEST_ARGS)

test-cluster: venv  ## only the cluster tests: their own 3-node cluster, nodes killed (part of `make test` too)
	@$(PY) -m pytest tests/integration/test_cluster.py -q -p no:cacheprovider $(PYTEST_ARGS)

lint: venv  ## what CI checks: ruff lint, ruff format, mypy on the typed packages
	@.venv/bin/ruff check .
	@.venv/bin/ruff format --check .
	@$(PY) -m mypy newsindex ingest search_app localcassandra news_search

lock:  ## re-resolve requirements.lock from pyproject.toml (uv from PyPI, in a throwaway venv)
	@bash tools/lock.sh

bench: venv db-start  ## quick benchmarks (minutes); tables go to stdout and bench/results/
	@$(PY) -m bench quick

bench-scale: venv db-start  ## long scale runs (10k/100k/1M passages)
	@$(PY) -m bench scale

bench-cluster: venv  ## 1 node vs a 3-node cluster (their own, started and deleted by the bench) and a node's death
	@$(PY) -m bench.cluster_bench

bench-million: venv db-start  ## 1,000,000 realistic passages on the configured node (hours; use a node of its own)
	@$(PY) -m bench.million

clean:  ## remove this checkout's venv and caches (the shared env and the node's data stay)
	rm -rf .venv .pytest_cache .ruff_cache test-output
