"""Ingestion against the real node and the real model: first run, re-run, edits, refusal, kill and resume."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
from pathlib import Path

import pytest
from click.testing import CliRunner

from ingest.cli import ingest, run_ingest
from newsindex.errors import SchemaMismatch
from tests.integration.sample_corpus import real_rows
from tests.integration.sample_corpus import write_csv as _write

REPO = Path(__file__).resolve().parents[2]


def _rows() -> list[dict[str, str]]:
    """Real articles (every 10th of data/news_sample.csv), newest first."""
    return real_rows()


def _table_state(store) -> tuple[dict[str, tuple[str, int]], dict[str, list[int]]]:
    s = store.settings
    articles = {
        r.article_id: (r.content_hash, r.passage_count)
        for r in store.session.execute(f"SELECT article_id, content_hash, passage_count FROM {s.keyspace}.articles")
    }
    passages: dict[str, list[int]] = {}
    for r in store.session.execute(f"SELECT article_id, chunk_no FROM {s.keyspace}.passages"):
        passages.setdefault(r.article_id, []).append(r.chunk_no)
    return articles, passages


def _assert_consistent(store, expected_articles: int) -> None:
    """Every article complete, every passage belongs to an article, no chunk beyond passage_count."""
    articles, passages = _table_state(store)
    assert len(articles) == expected_articles
    assert set(passages) == set(articles)
    for article_id, (_hash, count) in articles.items():
        assert sorted(passages[article_id]) == list(range(count)), article_id


def test_first_ingest_writes_every_article_and_counts_reconcile(settings, store, encoder, tmp_path) -> None:
    rows = _rows()[:12]
    rows += [
        dict(rows[0]),
        {
            "Title": "Broken",
            "Date": "not a date",
            "Link": "https://example.org/fictional/broken-date",
            "Content": "Some text here.",
        },
    ]
    summary = run_ingest(_write(tmp_path / "in.csv", rows), settings, encoder=encoder)
    assert (summary.new, summary.duplicates, summary.quarantined, summary.failed) == (12, 1, 1, 0)
    assert summary.reconciles() and summary.read == 13
    assert summary.passages >= 12
    _assert_consistent(store, 12)
    quarantine = [json.loads(line) for line in Path(summary.quarantine_file).read_text().splitlines()]
    assert quarantine[0]["reason"].startswith("bad_date") and "Broken" in quarantine[0]["raw"]


def test_rerun_changes_nothing_and_skips_encoding(settings, store, encoder, tmp_path) -> None:
    path = _write(tmp_path / "in.csv", _rows()[:10])
    first = run_ingest(path, settings, encoder=encoder)
    second = run_ingest(path, settings, encoder=encoder)
    assert (second.new, second.updated, second.unchanged, second.passages) == (0, 0, 10, 0)
    assert second.encode_seconds == 0
    assert first.passages == sum(c for _h, c in _table_state(store)[0].values())


def test_edited_article_is_replaced_without_orphans(settings, store, encoder, tmp_path) -> None:
    rows = _rows()
    long_index = max(range(len(rows)), key=lambda i: len(rows[i]["Content"]))
    chosen = [rows[long_index], rows[0]]
    run_ingest(_write(tmp_path / "v1.csv", chosen), settings, encoder=encoder)
    before, _ = _table_state(store)
    edited = dict(chosen[0], Content=chosen[0]["Content"][:600])  # much shorter: fewer passages
    summary = run_ingest(_write(tmp_path / "v2.csv", [edited, chosen[1]]), settings, encoder=encoder)
    assert (summary.new, summary.updated, summary.unchanged) == (0, 1, 1)
    after, _ = _table_state(store)
    changed = next(a for a in after if after[a][0] != before[a][0])
    assert after[changed][1] < before[changed][1]
    _assert_consistent(store, 2)


def test_ingest_with_another_model_is_refused(settings, store, encoder, tmp_path) -> None:
    path = _write(tmp_path / "in.csv", _rows()[:2])
    run_ingest(path, settings, encoder=encoder)
    with pytest.raises(SchemaMismatch, match="different model"):
        run_ingest(path, settings.with_(passage_prefix="document: "), encoder=None)


def test_cli_json_summary_and_exit_codes(settings, tmp_path, monkeypatch) -> None:
    for key in ("NEWS_KEYSPACE", "NEWS_STATE_DIR"):
        monkeypatch.setenv(key, str(getattr(settings, key[5:].lower())))
    bad = tmp_path / "bad.csv"
    bad.write_text("Headline,When,Url,Body\nx,y,z,w\n")
    result = CliRunner().invoke(ingest, [str(bad)])
    assert result.exit_code == 2 and "header" in result.output.lower()
    good = _write(tmp_path / "in.csv", _rows()[:3])
    result = CliRunner().invoke(ingest, [str(good), "--json"])
    assert result.exit_code == 0, result.output
    summary = json.loads(result.stdout.strip().splitlines()[-1])
    for key in (
        "read",
        "new",
        "updated",
        "unchanged",
        "duplicates",
        "quarantined",
        "failed",
        "passages",
        "seconds",
        "encode_seconds",
        "write_seconds",
    ):
        assert key in summary
    assert summary["new"] == 3


@pytest.mark.slow
def test_killed_run_resumes_to_exactly_the_expected_state(settings, store, tmp_path) -> None:
    rows = _rows()[:30]
    path = _write(tmp_path / "in.csv", rows)
    env = {
        **os.environ,
        "NEWS_KEYSPACE": settings.keyspace,
        "NEWS_STATE_DIR": str(settings.state_dir),
        "NEWS_READ_CHUNK_ROWS": "3",
        "NEWS_ENCODE_BATCH_SIZE": "4",
    }
    killed = subprocess.run(
        [sys.executable, "-m", "ingest", str(path)],
        env={**env, "NEWS_FAULT_KILL_AFTER": "article:5"},  # SIGKILL right after the 5th article row is acknowledged
        cwd=REPO,
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert killed.returncode == -signal.SIGKILL, killed.stderr[-2000:]
    assert 5 <= store.count("articles") < len(rows)
    resumed = subprocess.run(
        [sys.executable, "-m", "ingest", str(path), "--json"],
        env=env,
        cwd=REPO,
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert resumed.returncode == 0, resumed.stderr[-2000:]
    summary = json.loads(resumed.stdout.strip().splitlines()[-1])
    assert summary["unchanged"] >= 5 and summary["new"] + summary["unchanged"] == len(rows)
    _assert_consistent(store, len(rows))
