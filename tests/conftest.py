"""Shared test setup: every test runs with its own state dir and the bundled offline model."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
SHARED = Path(os.environ.get("NEWS_SHARED_DIR", REPO.parent / "shared"))
SAMPLE_CSV = SHARED / "data" / "news_sample.csv"
TEST_MODEL = "all-MiniLM-L6-v2"


@pytest.fixture(autouse=True)
def _isolated_env(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    """No test touches the developer's state dir or downloads a model."""
    monkeypatch.setenv("NEWS_STATE_DIR", str(tmp_path / "state"))
    monkeypatch.setenv("NEWS_MODEL", os.environ.get("NEWS_TEST_MODEL", TEST_MODEL))
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    monkeypatch.setenv("TOKENIZERS_PARALLELISM", "false")


@pytest.fixture
def sample_csv() -> Path:
    if not SAMPLE_CSV.exists():
        pytest.skip(f"the shared dataset sample is not at {SAMPLE_CSV} (set NEWS_SHARED_DIR)")
    return SAMPLE_CSV
