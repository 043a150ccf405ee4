"""The demo index the page tests search: keyspace from the environment, demo CSV ingested on demand."""

from __future__ import annotations

import csv
import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from newsindex.settings import Settings

REPO = Path(__file__).resolve().parents[2]
DEMO_CSV = REPO / "data" / "demo_news.csv"
DEMO_QUERIES = REPO / "tests" / "data" / "demo_queries.jsonl"


def demo_case() -> tuple[str, str]:
    """(query, title of its expected article) from the first line of demo_queries.jsonl."""
    case = json.loads(DEMO_QUERIES.read_text(encoding="utf-8").splitlines()[0])
    with DEMO_CSV.open(encoding="utf-8", newline="") as f:
        titles = {row["Link"]: row["Title"] for row in csv.DictReader(f)}
    return case["query"], titles[case["expected_link"]]


def ensure_demo_index(env: dict[str, str]) -> None:
    """Make sure the configured keyspace answers the demo query; ingest data/demo_news.csv when it does not."""
    from newsindex.connect import close
    from newsindex.errors import SchemaMismatch, StoreUnavailable
    from newsindex.factory import build_service
    from newsindex.search import SearchRequest

    query, title = demo_case()
    try:
        service = build_service(Settings.from_env(env=env))
    except StoreUnavailable as exc:
        if os.environ.get("CI"):
            pytest.fail(f"the local Cassandra node is not running: {exc}")
        pytest.skip(f"no Cassandra node (run `news-search db start`): {exc}")
    except SchemaMismatch:
        service = None
    if service is not None:
        found = any(r.title == title for r in service.search(SearchRequest(query, k=10)).results)
        close(service.store.session)
        if found:
            return
    run = subprocess.run(
        [sys.executable, "-m", "news_search", "ingest", str(DEMO_CSV)],
        env=env,
        cwd=REPO,
        capture_output=True,
        text=True,
        timeout=900,
    )
    if run.returncode != 0:
        pytest.fail(f"could not ingest the demo data (exit {run.returncode}):\n{run.stderr[-3000:]}")
