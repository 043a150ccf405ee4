"""Helpers of the cluster tests: a local 3-node cluster on free ports, and exact snapshots of an index.

The cluster runs from its own temporary state dir on ports no other test uses (every node shares the
port numbers on its own address 127.0.0.1-3), so the suite's main node on 9042 is never touched.
"""

from __future__ import annotations

import hashlib
import os
import socket
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from newsindex.settings import Settings
from tests.conftest import TEST_MODEL

REPO = Path(__file__).resolve().parents[2]
NODES = 3
ADDRESSES = tuple(f"127.0.0.{i}" for i in range(1, NODES + 1))
HEAP = "768M"  # 3 nodes of ~1.3 GB RSS each: what this shared 24 GiB machine can spare
COMMAND_TIMEOUT_S = 600


def _free_everywhere(port: int) -> bool:
    for host in ADDRESSES:
        with socket.socket() as s:
            try:
                s.bind((host, port))
            except OSError:
                return False
    return True


def free_port(count: int = 1) -> int:
    """The first of `count` consecutive ports free on 127.0.0.1-3 (kernel-picked, then checked)."""
    for _ in range(200):
        with socket.socket() as s:
            s.bind(("127.0.0.1", 0))
            first = int(s.getsockname()[1])
        if first + count < 65536 and all(_free_everywhere(first + i) for i in range(count)):
            return first
    raise RuntimeError("no free ports on 127.0.0.1-3")


def node_env(state_dir: Path) -> dict[str, str]:
    """The environment of `news-search db ...` for a cluster of our own: own dir, own ports."""
    clean = {k: v for k, v in os.environ.items() if not k.startswith("NEWS_")}
    cql = free_port()
    storage = free_port()
    while storage == cql:
        storage = free_port()
    return {
        **clean,
        "NEWS_LOCAL_NODE_DIR": str(state_dir),
        "NEWS_CASSANDRA_PORT": str(cql),
        "NEWS_LOCAL_STORAGE_PORT": str(storage),
        "NEWS_LOCAL_JMX_PORT": str(free_port(NODES)),
        "NEWS_LOCAL_HEAP": HEAP,
        "NEWS_START_TIMEOUT_S": "420",
    }


def product_env(node: dict[str, str], keyspace: str, state_dir: Path, **extra: str) -> dict[str, str]:
    """The product pointed at the cluster through its settings, as the README tells users to."""
    return {
        **node,
        "NEWS_CASSANDRA_HOSTS": ",".join(ADDRESSES),
        "NEWS_CASSANDRA_LOCAL_DC": "dc1",
        "NEWS_REPLICATION": f"{{'class': 'NetworkTopologyStrategy', 'dc1': {NODES}}}",
        "NEWS_KEYSPACE": keyspace,
        "NEWS_STATE_DIR": str(state_dir),
        "NEWS_MODEL": TEST_MODEL,
        "HF_HUB_OFFLINE": "1",
        "TOKENIZERS_PARALLELISM": "false",
        **extra,
    }


def settings_of(env: dict[str, str]) -> Settings:
    return Settings.from_env(env={k: v for k, v in env.items() if k.startswith("NEWS_")})


def db(env: dict[str, str], *args: str) -> subprocess.CompletedProcess[str]:
    """`news-search db ARGS` in a subprocess (what a user types)."""
    return subprocess.run(
        [sys.executable, "-m", "news_search", "db", *args],
        env=env,
        cwd=REPO,
        capture_output=True,
        text=True,
        timeout=COMMAND_TIMEOUT_S,
    )


def ingest_command(path: Path, *args: str) -> list[str]:
    return [sys.executable, "-m", "ingest", str(path), "--json", *args]


# --- exact snapshots of an index -----------------------------------------------------------------


@dataclass(frozen=True)
class IndexSnapshot:
    """What must be identical between two ingests of the same CSV: rows, passages and statistics."""

    articles: dict[str, tuple[str, str, int, int]]  # id -> (link, content hash, passage count, doc length)
    passages: dict[tuple[str, int], str]  # (article id, chunk no) -> digest of title, link, date, body, terms
    vectors: dict[tuple[str, int], np.ndarray]
    corpus: tuple[int, int]  # articles, total length (corpus_stats)
    dfs: dict[str, int]  # document frequency of every term any article has

    def differences(self, other: IndexSnapshot, min_cosine: float = 0.999) -> list[str]:
        """Everything must be equal, except that vectors may differ by the encoder's numerical noise: runs that
        batch passages differently (other windows, bf16 autocast) give cosines of 0.9999 and more, not bits."""
        out = []
        for name in ("articles", "passages", "corpus", "dfs"):
            mine, theirs = getattr(self, name), getattr(other, name)
            if mine != theirs:
                out.append(f"{name}: {_diff(mine, theirs)}")
        for key, vector in self.vectors.items():
            other_vector = other.vectors.get(key)
            cosine = float(vector @ other_vector) if other_vector is not None else 0.0
            if cosine < min_cosine:
                out.append(f"vector of passage {key}: cosine {cosine:.5f} to the other run's")
                break
        return out


def _diff(mine: Any, theirs: Any) -> str:
    if isinstance(mine, dict):
        missing = sorted(set(mine) - set(theirs))[:5]
        extra = sorted(set(theirs) - set(mine))[:5]
        changed = sorted(k for k in set(mine) & set(theirs) if mine[k] != theirs[k])[:5]
        return f"missing {missing}, extra {extra}, changed {[(k, mine[k], theirs[k]) for k in changed]}"
    return f"{mine} != {theirs}"


def snapshot(session: Any, settings: Settings) -> IndexSnapshot:
    """Read the whole index at consistency ALL: every replica must answer, and they are reconciled."""
    from cassandra import ConsistencyLevel
    from cassandra.query import SimpleStatement

    from newsindex.postings import Postings
    from newsindex.store import IndexStore

    ks = settings.keyspace

    def rows(cql: str) -> Any:
        return session.execute(
            SimpleStatement(cql, consistency_level=ConsistencyLevel.ALL, fetch_size=500), timeout=120
        )

    articles = {}
    terms: set[str] = set()
    for r in rows(f"SELECT article_id, link, content_hash, passage_count, doc_len, term_freqs FROM {ks}.articles"):
        articles[r.article_id] = (r.link, r.content_hash, r.passage_count, r.doc_len)
        terms.update((r.term_freqs or {}).keys())
    passages, vectors = {}, {}
    for r in rows(f"SELECT article_id, chunk_no, title, link, published, body, terms, vector FROM {ks}.passages"):
        text = "\x1f".join([r.title, r.link, str(r.published), r.body, *sorted(r.terms or ())])
        passages[(r.article_id, r.chunk_no)] = hashlib.sha256(text.encode()).hexdigest()
        vectors[(r.article_id, r.chunk_no)] = np.asarray(r.vector, dtype=np.float32)
    store = IndexStore(session, settings)
    postings = Postings(store, settings.lexical_buckets)
    stats = postings.read_corpus_stats()
    ordered, dfs = sorted(terms), {}
    for start in range(0, len(ordered), 500):
        dfs.update(postings.read_dfs(ordered[start : start + 500]))
    return IndexSnapshot(articles, passages, vectors, (stats.articles, stats.total_len), dfs)


def wait_for(predicate: Any, timeout_s: float, poll_s: float = 0.5) -> bool:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if predicate():
            return True
        time.sleep(poll_s)
    return False
