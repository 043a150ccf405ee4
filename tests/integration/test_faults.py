"""Ingestion you can leave unattended: kills, a dying database, concurrent shards, retention and sync.

Every test compares the index it leaves with one clean run of the same final file (index_snapshot):
same articles, passages, postings, document frequencies and totals, no leftovers. Kill points are
exact (NEWS_FAULT_KILL_AFTER, a real SIGKILL) and drawn from a seeded generator, so a failure replays.
"""

from __future__ import annotations

import json
import os
import random
import signal
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner

from ingest.cli import run_ingest
from ingest.maintain_cli import prune, verify
from newsindex.connect import close, connect
from newsindex.errors import StoreUnavailable
from newsindex.settings import Settings
from tests.integration.conftest import base_env, new_keyspace
from tests.integration.index_snapshot import snapshot
from tests.integration.private_node import PrivateNode
from tests.integration.sample_corpus import real_rows, write_csv

pytestmark = pytest.mark.slow
REPO = Path(__file__).resolve().parents[2]


def _ingest(env: dict[str, str], path: Path, *args: str, kill_after: str = "") -> subprocess.CompletedProcess[str]:
    full = {**os.environ, **env, "NEWS_FAULT_KILL_AFTER": kill_after}
    return subprocess.run(
        [sys.executable, "-m", "ingest", str(path), "--json", *args],
        env=full,
        cwd=REPO,
        capture_output=True,
        text=True,
        timeout=900,
    )


def _edited(rows: list[dict[str, str]]) -> list[dict[str, str]]:
    """The file as a journalist's feed might change it: one article shortened, one retitled, one new."""
    out = [dict(r) for r in rows[:-1]]
    out[2]["Content"] = out[2]["Content"][:400]
    out[5]["Title"] = out[5]["Title"] + " (updated)"
    return [*out, rows[-1] | {"Content": rows[-1]["Content"] + " Update: the deal is done."}]


@pytest.fixture
def keyspaces(node_session: Any) -> Any:
    made: list[str] = []

    def make() -> str:
        made.append(new_keyspace("t_fault"))
        return made[-1]

    yield make
    for keyspace in made:
        node_session.execute(f"DROP KEYSPACE IF EXISTS {keyspace}", timeout=120)


def test_ingest_killed_at_random_points_then_rerun_on_an_edited_file_equals_one_clean_run(
    node_session, encoder, keyspaces, tmp_path
) -> None:
    rows = real_rows()[:10]
    v1, v2 = write_csv(tmp_path / "v1.csv", rows), write_csv(tmp_path / "v2.csv", _edited(rows))
    reference, faulted = keyspaces(), keyspaces()
    run_ingest(
        v2,
        Settings.from_env(env=base_env(NEWS_KEYSPACE=reference, NEWS_STATE_DIR=str(tmp_path / "r"))),
        encoder=encoder,
    )
    env = base_env(NEWS_KEYSPACE=faulted, NEWS_STATE_DIR=str(tmp_path / "f"), NEWS_READ_CHUNK_ROWS="3")
    rng = random.Random(20261206)
    kills = [f"write:{rng.randint(2, 40)}", f"article:{rng.randint(1, 3)}"]
    for point in kills:
        killed = _ingest(env, v1, kill_after=point)
        assert killed.returncode == -signal.SIGKILL, (point, killed.stderr[-1500:])
    final = _ingest(env, v2)
    assert final.returncode == 0, final.stderr[-2000:]
    summary = json.loads(final.stdout.strip().splitlines()[-1])
    assert summary["failed"] == 0 and summary["read"] == len(rows)
    assert snapshot(node_session, faulted).differences(snapshot(node_session, reference)) == []


def test_two_shard_workers_at_once_leave_the_index_of_one_run(node_session, encoder, keyspaces, tmp_path) -> None:
    path = write_csv(tmp_path / "in.csv", real_rows()[:16])
    reference, sharded = keyspaces(), keyspaces()
    run_ingest(
        path,
        Settings.from_env(env=base_env(NEWS_KEYSPACE=reference, NEWS_STATE_DIR=str(tmp_path / "r"))),
        encoder=encoder,
    )
    env = {**os.environ, **base_env(NEWS_KEYSPACE=sharded, NEWS_READ_CHUNK_ROWS="4")}
    workers = [
        subprocess.Popen(
            [sys.executable, "-m", "ingest", str(path), "--json", "--shard", f"{i}/2"],
            env={**env, "NEWS_STATE_DIR": str(tmp_path / f"s{i}")},  # two machines: two lock files
            cwd=REPO,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        for i in (0, 1)
    ]
    outputs = [w.communicate(timeout=900) for w in workers]
    for worker, (_out, err) in zip(workers, outputs, strict=True):
        assert worker.returncode == 0, err[-2000:]
    assert sum(json.loads(out.strip().splitlines()[-1])["new"] for out, _ in outputs) == 16
    assert snapshot(node_session, sharded).differences(snapshot(node_session, reference)) == []


def test_prune_and_sync_remove_articles_with_their_passages_and_statistics(
    node_session, encoder, keyspaces, tmp_path, monkeypatch
) -> None:
    rows = real_rows()  # every 10th real article, 2020-2023
    kept = [r for r in rows if not r["Date"].endswith("2020")]
    reference, pruned = keyspaces(), keyspaces()
    run_ingest(
        write_csv(tmp_path / "kept.csv", kept[:12]),
        Settings.from_env(env=base_env(NEWS_KEYSPACE=reference, NEWS_STATE_DIR=str(tmp_path / "r"))),
        encoder=encoder,
    )
    settings = Settings.from_env(env=base_env(NEWS_KEYSPACE=pruned, NEWS_STATE_DIR=str(tmp_path / "p")))
    old = [r for r in rows if r["Date"].endswith("2020")][:3]
    run_ingest(write_csv(tmp_path / "all.csv", kept[:14] + old), settings, encoder=encoder)
    for key, value in base_env(NEWS_KEYSPACE=pruned, NEWS_STATE_DIR=str(tmp_path / "p")).items():
        monkeypatch.setenv(key, value)
    result = CliRunner().invoke(prune, ["--before", "2021-01-01", "--json"])
    assert result.exit_code == 0, result.output
    assert json.loads(result.stdout.strip().splitlines()[-1])["removed"] == 3
    synced = run_ingest(write_csv(tmp_path / "kept12.csv", kept[:12]), settings, encoder=encoder, sync=True)
    assert synced.removed == 2 and synced.unchanged == 12
    assert snapshot(node_session, pruned).differences(snapshot(node_session, reference)) == []


def test_verify_finds_lost_rows_and_the_next_ingest_puts_them_back(
    node_session, encoder, keyspaces, tmp_path, monkeypatch
) -> None:
    path = write_csv(tmp_path / "in.csv", real_rows()[:6])
    reference, damaged = keyspaces(), keyspaces()
    run_ingest(
        path,
        Settings.from_env(env=base_env(NEWS_KEYSPACE=reference, NEWS_STATE_DIR=str(tmp_path / "r"))),
        encoder=encoder,
    )
    settings = Settings.from_env(env=base_env(NEWS_KEYSPACE=damaged, NEWS_STATE_DIR=str(tmp_path / "d")))
    run_ingest(path, settings, encoder=encoder)
    victims = [r.article_id for r in node_session.execute(f"SELECT article_id FROM {damaged}.articles LIMIT 2")]
    node_session.execute(f"DELETE FROM {damaged}.passages WHERE article_id = %s", (victims[0],))
    posting = node_session.execute(f"SELECT bucket, term, impact, article_id FROM {damaged}.postings LIMIT 1").one()
    node_session.execute(
        f"DELETE FROM {damaged}.postings WHERE bucket = %s AND term = %s AND impact = %s AND article_id = %s",
        tuple(posting),
    )
    for key, value in base_env(NEWS_KEYSPACE=damaged, NEWS_STATE_DIR=str(tmp_path / "d")).items():
        monkeypatch.setenv(key, value)
    checked = CliRunner().invoke(verify, ["--json"])
    assert checked.exit_code == 1
    problems = json.loads(checked.stdout.strip().splitlines()[-1])["problems"]
    assert set(problems) == {victims[0], posting.article_id}
    repaired = CliRunner().invoke(verify, ["--repair"])
    assert repaired.exit_code == 1 and "marked for the next ingest" in repaired.output
    again = run_ingest(path, settings, encoder=encoder)
    assert again.updated == 0 and again.new == 2 and again.unchanged == 4
    assert CliRunner().invoke(verify, []).exit_code == 0
    assert snapshot(node_session, damaged).differences(snapshot(node_session, reference)) == []


@pytest.fixture(scope="module")
def private(tmp_path_factory: pytest.TempPathFactory) -> Any:
    node = PrivateNode(tmp_path_factory.mktemp("private-node"))
    node.start()
    yield node
    node.stop()


def _count_committed(settings: Settings) -> int:
    try:
        session = connect(settings)
    except StoreUnavailable:  # a busy machine can time a connection out; the caller polls again
        return 0
    try:
        rows = session.execute(f"SELECT content_hash FROM {settings.keyspace}.articles", timeout=20)
        return sum(1 for r in rows if r.content_hash)
    except Exception:  # keyspace not created yet
        return 0
    finally:
        close(session)


@pytest.mark.parametrize("outage", ["longer than the wait", "shorter than the wait"])
def test_database_killed_mid_run(private, encoder, tmp_path, outage) -> None:
    """kill -9 of the node under a running ingest: the run stops cleanly (or rides it out), the rerun is exact."""
    path = write_csv(tmp_path / "in.csv", real_rows()[:24])
    env = {**private.env, "NEWS_MODEL": base_env()["NEWS_MODEL"]}
    reference = Settings.from_env(
        env={**env, "NEWS_KEYSPACE": new_keyspace("t_ref"), "NEWS_STATE_DIR": str(tmp_path / "r")}
    )
    run_ingest(path, reference, encoder=encoder)
    keyspace = new_keyspace("t_kill")
    target = Settings.from_env(env={**env, "NEWS_KEYSPACE": keyspace})
    wait = "8" if outage == "longer than the wait" else "600"
    run_env = {**env, "NEWS_KEYSPACE": keyspace, "NEWS_STATE_DIR": str(tmp_path / "k"), "NEWS_READ_CHUNK_ROWS": "3",
               "NEWS_DB_OUTAGE_WAIT_S": wait}  # fmt: skip
    proc = subprocess.Popen(
        [sys.executable, "-m", "ingest", str(path), "--json"],
        env={**os.environ, **run_env},
        cwd=REPO,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    deadline = time.monotonic() + 600
    while _count_committed(target) < 6 and proc.poll() is None and time.monotonic() < deadline:
        time.sleep(0.5)
    assert proc.poll() is None, "the run ended before the node could be killed"
    private.kill()
    if outage == "shorter than the wait":
        private.start()
    _out, err = proc.communicate(timeout=900)
    if outage == "longer than the wait":
        assert proc.returncode == 2, err[-2000:]
        last = err.strip().splitlines()[-1]
        assert "unreachable" in last and "the next run redoes" in last
        assert "Traceback" not in err
        private.start()
        rerun = _ingest(run_env, path)
        assert rerun.returncode == 0, rerun.stderr[-2000:]
    else:
        assert proc.returncode == 0, err[-2000:]
        assert "the database is back" in err
    assert err.count("write failed") <= 1  # a count in the summary, not a line per write
    session = connect(target)
    try:
        differences = snapshot(session, keyspace).differences(snapshot(session, reference.keyspace))
    finally:
        close(session)
    assert differences == []
