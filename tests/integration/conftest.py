"""Integration fixtures: the real local Cassandra node, the real model, keyspaces the suite creates itself.

Nothing here reads a keyspace the suite did not create: each test gets a fresh one (dropped afterwards),
and the search and page tests share one session keyspace holding the test corpus (sample_corpus.py),
ingested at the start of the session and dropped at its end.
"""

from __future__ import annotations

import os
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from newsindex.settings import Settings
from tests.conftest import TEST_MODEL
from tests.integration import sample_corpus

pytestmark = pytest.mark.integration


def base_env(**extra: str) -> dict[str, str]:
    """The node's NEWS_* settings from the environment (ports), the test model, offline."""
    env = {k: v for k, v in os.environ.items() if k.startswith("NEWS_")}
    env.update({"NEWS_MODEL": TEST_MODEL, **extra})
    return env


def new_keyspace(prefix: str = "t") -> str:
    return f"{prefix}_{uuid.uuid4().hex[:12]}"


@pytest.fixture(scope="session")
def node_session() -> Iterator[Any]:
    """A driver session on the running node; fails in CI, skips elsewhere, when no node answers."""
    from newsindex.connect import close, connect
    from newsindex.errors import StoreUnavailable

    settings = Settings.from_env(env=base_env())
    try:
        session = connect(settings)
    except StoreUnavailable as exc:
        if os.environ.get("CI"):
            pytest.fail(f"the local Cassandra node is not running: {exc}")
        pytest.skip(f"no Cassandra node (run `news-search db start`): {exc}")
    yield session
    close(session)


@pytest.fixture(scope="session")
def encoder() -> Any:
    from newsindex.encoder import load_encoder

    return load_encoder(Settings.from_env(env=base_env()))


@pytest.fixture
def settings(node_session: Any, tmp_path: Path) -> Iterator[Settings]:
    """Settings pointing at a keyspace of this test's own, dropped afterwards."""
    keyspace = new_keyspace()
    yield Settings.from_env(env=base_env(NEWS_KEYSPACE=keyspace, NEWS_STATE_DIR=str(tmp_path / "state")))
    node_session.execute(f"DROP KEYSPACE IF EXISTS {keyspace}", timeout=120)


@pytest.fixture
def store(settings: Settings, node_session: Any) -> Any:
    from newsindex.store import IndexStore

    return IndexStore(node_session, settings)


@pytest.fixture(scope="session")
def sample_index(node_session: Any, encoder: Any, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Settings]:
    """A keyspace with the test corpus ingested once per session (search, page and browser tests)."""
    from ingest.cli import run_ingest

    tmp = tmp_path_factory.mktemp("sample-index")
    keyspace = new_keyspace("t_sample")
    settings = Settings.from_env(env=base_env(NEWS_KEYSPACE=keyspace, NEWS_STATE_DIR=str(tmp / "state")))
    summary = run_ingest(sample_corpus.write_corpus(tmp / "corpus.csv"), settings, encoder=encoder)
    assert summary.failed == 0 and summary.quarantined == 0, summary.failures
    yield settings
    node_session.execute(f"DROP KEYSPACE IF EXISTS {keyspace}", timeout=120)
