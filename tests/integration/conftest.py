"""Integration fixtures: the real local Cassandra node, the real bundled model, a fresh keyspace per test."""

from __future__ import annotations

import os
import uuid
from collections.abc import Iterator
from typing import Any

import pytest

from newsindex.settings import Settings

pytestmark = pytest.mark.integration


def _base_env() -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if k.startswith("NEWS_")}
    env.setdefault("NEWS_MODEL", "all-MiniLM-L6-v2")
    return env


@pytest.fixture(scope="session")
def node_session() -> Iterator[Any]:
    """A driver session on the running node; fails in CI, skips elsewhere, when no node answers."""
    from newsindex.connect import close, connect
    from newsindex.errors import StoreUnavailable

    settings = Settings.from_env(env=_base_env())
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

    return load_encoder(Settings.from_env(env=_base_env()))


@pytest.fixture
def settings(node_session: Any, tmp_path: Any) -> Iterator[Settings]:
    """Settings pointing at a keyspace of this test's own, dropped afterwards."""
    keyspace = f"t_{uuid.uuid4().hex[:12]}"
    env = {**_base_env(), "NEWS_KEYSPACE": keyspace, "NEWS_STATE_DIR": str(tmp_path / "state")}
    yield Settings.from_env(env=env)
    node_session.execute(f"DROP KEYSPACE IF EXISTS {keyspace}", timeout=120)


@pytest.fixture
def store(settings: Settings, node_session: Any) -> Any:
    from newsindex.store import IndexStore

    return IndexStore(node_session, settings)


@pytest.fixture(scope="session", autouse=True)
def _ui_test_keyspace() -> Iterator[None]:
    """The page tests (AppTest, browser) read settings from the environment like a user would; point
    them at a keyspace of their own so they never touch a developer's `news` index."""
    previous = os.environ.get("NEWS_KEYSPACE")
    os.environ["NEWS_KEYSPACE"] = "news_uitest"
    yield
    if previous is None:
        os.environ.pop("NEWS_KEYSPACE", None)
    else:
        os.environ["NEWS_KEYSPACE"] = previous
