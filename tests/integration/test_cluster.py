"""The product on a real 3-node Cassandra cluster: start in one command, a node killed (kill -9) under
searches and under ingestion, and two shard workers at once.

One cluster for the module: `news-search db start --nodes 3` on 127.0.0.1-3, from a temporary state
dir and free ports (the suite's main node is never touched). The product is pointed at it through its
settings: three contact points, datacenter dc1, NetworkTopologyStrategy dc1: 3. Every keyspace is
created here and dropped afterwards. Each fault is bounded (one kill, a fixed number of seconds) and
every killed node is started again before the next test.
"""

from __future__ import annotations

import json
import subprocess
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from localcassandra.cluster import LocalCluster
from newsindex.settings import Settings
from tests.integration import cluster_support as cs
from tests.integration.conftest import new_keyspace
from tests.integration.sample_corpus import real_rows, write_csv

pytestmark = [pytest.mark.integration, pytest.mark.cluster, pytest.mark.slow]

ARTICLES = 30  # real articles (every 10th of the sample): small, since RF 3 triples the work on 2 cores
QUERIES = [
    "young Brazilian striker wanted by Premier League clubs",
    "goalkeeper joins on loan",
    "manager sacked after a run of defeats",
    "club agrees record transfer fee",
    "midfielder signs a contract extension",
]
OUTAGE_AFTER_DOWN_S = 10.0  # keep searching this long after the survivors have marked the node down
OUTAGE_MAX_S = 120.0


@dataclass
class Cluster:
    env: dict[str, str]  # `news-search db` environment: state dir and ports
    local: LocalCluster
    tmp: Path

    def product_env(self, keyspace: str, **extra: str) -> dict[str, str]:
        return cs.product_env(self.env, keyspace, self.tmp / f"state-{keyspace}", **extra)

    def settings(self, keyspace: str, **extra: str) -> Settings:
        return cs.settings_of(self.product_env(keyspace, **extra))

    def restart(self) -> None:
        done = cs.db(self.env, "start", "--nodes", "3")
        assert done.returncode == 0, done.stderr[-3000:]


@pytest.fixture(scope="module")
def cluster(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Cluster]:
    tmp = tmp_path_factory.mktemp("cluster")
    env = cs.node_env(tmp / "nodes")
    started = cs.db(env, "start", "--nodes", "3")
    try:
        assert started.returncode == 0, started.stderr[-3000:]
        yield Cluster(env, LocalCluster(cs.settings_of(env), 3), tmp)
    finally:
        stopped = cs.db(env, "stop")
        if stopped.returncode != 0:  # never leave JVMs behind
            for node in LocalCluster(cs.settings_of(env), 3).nodes:
                node.kill()


@pytest.fixture(scope="module")
def corpus(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return write_csv(tmp_path_factory.mktemp("corpus") / "corpus.csv", real_rows()[:ARTICLES])


@pytest.fixture(scope="module")
def session(cluster: Cluster) -> Iterator[Any]:
    from newsindex.connect import close, connect

    s = connect(cluster.settings("system"))
    yield s
    close(s)


@pytest.fixture(scope="module")
def reference(cluster: Cluster, corpus: Path, encoder: Any, session: Any) -> Iterator[Settings]:
    """A clean ingest of the corpus with every node up: what every faulty run must end up equal to."""
    from ingest.cli import run_ingest

    settings = cluster.settings(new_keyspace("t_cl_ref"))
    summary = run_ingest(corpus, settings, encoder=encoder)
    assert (summary.new, summary.failed, summary.quarantined) == (ARTICLES, 0, 0), summary.failures
    yield settings
    session.execute(f"DROP KEYSPACE IF EXISTS {settings.keyspace}", timeout=120)


@pytest.fixture
def keyspace(session: Any) -> Iterator[str]:
    name = new_keyspace("t_cl")
    yield name
    session.execute(f"DROP KEYSPACE IF EXISTS {name}", timeout=120)


def test_db_start_nodes_3_runs_three_nodes_that_see_each_other(cluster: Cluster) -> None:
    done = cs.db(cluster.env, "status", "--json")
    assert done.returncode == 0, done.stderr
    status = json.loads(done.stdout)
    assert [n["address"].split(":")[0] for n in status["nodes"]] == list(cs.ADDRESSES)
    assert all(n["running"] and n["cql_up"] for n in status["nodes"])
    assert len({n["node_dir"] for n in status["nodes"]}) == 3
    assert sorted((e["address"], e["status"]) for e in status["ring"]) == [(a, "UN") for a in cs.ADDRESSES]
    logs = cs.db(cluster.env, "logs", "-n", "3")
    assert logs.returncode == 0 and [f"==> node{i} (127.0.0.{i})" in logs.stdout for i in (1, 2, 3)] == [True] * 3


def test_keyspace_is_replicated_three_times_across_the_datacenter(reference: Settings, session: Any) -> None:
    row = session.execute(
        "SELECT replication FROM system_schema.keyspaces WHERE keyspace_name = %s", (reference.keyspace,)
    ).one()
    assert row.replication["class"].endswith("NetworkTopologyStrategy") and row.replication["dc1"] == "3"


def _top(service: Any, query: str, mode: str) -> list[str]:
    from newsindex.search import SearchRequest

    return [hit.article_id for hit in service.search(SearchRequest(query, k=5, mode=mode)).results]


def _seen_down(cluster: Cluster, victim: str) -> bool:
    """Whether node 1 (a survivor) has marked `victim` down (nodetool status shows DN)."""
    try:
        return any(e.address == victim and not e.up for e in cluster.local.ring(cluster.local.node(1)))
    except Exception:
        return False


def test_searches_keep_answering_while_a_node_dies(cluster: Cluster, reference: Settings, encoder: Any) -> None:
    from newsindex.factory import build_service

    service = build_service(reference, encoder=encoder)
    try:
        expected = {(q, mode): _top(service, q, mode) for q in QUERIES for mode in ("semantic", "hybrid")}
        victim = cluster.local.node(2)
        down_at: list[float] = []

        def watch() -> None:  # how long the survivors take to notice, so the loop covers the whole window
            while not down_at and time.monotonic() - killed_at < OUTAGE_MAX_S:
                if _seen_down(cluster, victim.host):
                    down_at.append(time.monotonic())
                time.sleep(2)

        assert victim.kill() is not None
        killed_at = time.monotonic()
        watcher = threading.Thread(target=watch, daemon=True)
        watcher.start()
        errors, differing, searches = [], [], 0
        keys = list(expected)
        while time.monotonic() - killed_at < OUTAGE_MAX_S and not (
            down_at and time.monotonic() - down_at[0] > OUTAGE_AFTER_DOWN_S
        ):
            query, mode = keys[searches % len(keys)]
            searches += 1
            try:
                got = _top(service, query, mode)
            except Exception as exc:
                errors.append(f"{time.monotonic() - killed_at:.1f} s: {type(exc).__name__}: {exc}"[:300])
                continue
            if got != expected[(query, mode)]:
                differing.append((query, mode, got, expected[(query, mode)]))
        watcher.join(timeout=10)
    finally:
        service.store.session.cluster.shutdown()
        cluster.restart()
    assert down_at, f"node 1 never marked {victim.host} down within {OUTAGE_MAX_S:.0f} s"
    assert searches >= 20
    assert errors == [], f"{len(errors)} of {searches} searches failed during the outage"
    assert differing == []


def _articles_written(session: Any, keyspace: str, at_least: int) -> bool:
    try:
        rows = session.execute(f"SELECT article_id FROM {keyspace}.articles LIMIT {at_least}", timeout=30)
    except Exception:  # the keyspace or table does not exist yet, or a read timed out: ask again
        return False
    return len(list(rows)) >= at_least


def test_ingest_through_a_node_kill_and_restart_ends_with_an_exact_index(
    cluster: Cluster, corpus: Path, reference: Settings, keyspace: str, session: Any
) -> None:
    env = cluster.product_env(keyspace, NEWS_READ_CHUNK_ROWS="4", NEWS_ENCODE_BATCH_SIZE="8")
    run = subprocess.Popen(
        cs.ingest_command(corpus), env=env, cwd=cs.REPO, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True
    )
    victim = cluster.local.node(3)
    try:
        assert cs.wait_for(lambda: _articles_written(session, keyspace, 5), timeout_s=cs.COMMAND_TIMEOUT_S)
        assert victim.kill() is not None
        assert run.poll() is None, "the ingest finished before the node was killed: nothing was tested"
        time.sleep(15)  # writes go on against two replicas, hints pile up for the third
        cluster.restart()  # the node comes back while (or after) the run goes on
        out, err = run.communicate(timeout=cs.COMMAND_TIMEOUT_S)
    finally:
        if run.poll() is None:
            run.kill()
            run.wait()
    assert run.returncode == 0, err[-3000:]
    summary = json.loads(out.strip().splitlines()[-1])
    assert (summary["new"], summary["failed"], summary["quarantined"]) == (ARTICLES, 0, 0), summary
    repaired = cs.db(cluster.env, "repair", keyspace)  # hints need not have covered every write it missed
    assert repaired.returncode == 0, repaired.stderr[-3000:]
    settings = cluster.settings(keyspace)
    assert cs.snapshot(session, settings).differences(cs.snapshot(session, reference)) == []


def test_two_shard_workers_at_once_build_the_same_index(
    cluster: Cluster, corpus: Path, reference: Settings, keyspace: str, session: Any
) -> None:
    from newsindex.connect import close, connect
    from newsindex.encoder import load_encoder
    from newsindex.schema import ensure_schema

    # As on two machines: the schema is created once first (concurrent DDL from two coordinators can
    # create a table twice with different ids in Cassandra 5.0), then each worker ingests its shard.
    settings = cluster.settings(keyspace)
    owner = connect(settings)
    try:
        ensure_schema(owner, settings, load_encoder(settings).profile)
    finally:
        close(owner)
    workers = [
        subprocess.Popen(
            cs.ingest_command(corpus, "--shard", f"{i}/2"),
            env=cluster.product_env(keyspace, NEWS_STATE_DIR=str(cluster.tmp / f"machine-{i}")),
            cwd=cs.REPO,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        for i in range(2)
    ]
    outputs = []
    try:
        for worker in workers:
            outputs.append(worker.communicate(timeout=cs.COMMAND_TIMEOUT_S))
    finally:
        for worker in workers:
            if worker.poll() is None:
                worker.kill()
                worker.wait()
    for worker, (_out, err) in zip(workers, outputs, strict=True):
        assert worker.returncode == 0, err[-3000:]
    summaries = [json.loads(out.strip().splitlines()[-1]) for out, _err in outputs]
    assert sum(s["new"] for s in summaries) == ARTICLES and all(s["new"] > 0 for s in summaries)
    assert all(s["failed"] == 0 for s in summaries)
    assert cs.snapshot(session, settings).differences(cs.snapshot(session, reference)) == []
