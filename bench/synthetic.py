"""Synthetic passages for the scale runs, written through the product's own write path.

Two kinds, both seeded:
- `random_rows`: random unit vectors (384-d float32) with small placeholder text fields: the pure
  index part (load rate, size on disk, ANN latency and recall). Random high-dimensional vectors
  have no cluster structure, the hard case for an HNSW-style graph.
- `recombined_rows`: copies of real sample articles (their passages' text, terms, dates and real
  model vectors) with Gaussian noise on each copy's vectors, renormalised: a corpus of realistic
  rows and realistic vector geometry at any size, for end-to-end search latency.

Rows go in with `BoundedWriter` and the prepared passage INSERT from `IndexStore`, into the product
schema (`ensure_schema`: the passages table with its dot_product vector index and the date/terms
SAI indexes), exactly as ingestion writes them.
"""

from __future__ import annotations

import datetime as dt
import time
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import numpy as np

from bench.common import DIMENSION

Row = tuple[str, int, str, str, dt.date, str, set[str], np.ndarray]
_EPOCH = dt.date(2020, 5, 31)
_DAYS = 1172  # the sample's date range, 2020-05-31 .. 2023-08-15


def random_unit_vectors(n: int, seed: int, dim: int = DIMENSION) -> np.ndarray:
    """`n` float32 unit vectors, uniform on the sphere, the same for the same seed."""
    rng = np.random.default_rng(seed)
    out = np.empty((n, dim), dtype=np.float32)
    for start in range(0, n, 65536):
        block = rng.standard_normal((min(65536, n - start), dim), dtype=np.float32)
        out[start : start + len(block)] = block / np.linalg.norm(block, axis=1, keepdims=True)
    return out


def perturb(vectors: np.ndarray, target_cosine: float, seed: int) -> np.ndarray:
    """Unit vectors at about `target_cosine` from each of `vectors` (isotropic Gaussian noise)."""
    rng = np.random.default_rng(seed)
    dim = vectors.shape[1]
    # |noise| = tan(angle) for a unit vector; sigma per component so that |noise| ~ sigma * sqrt(dim)
    sigma = float(np.tan(np.arccos(target_cosine)) / np.sqrt(dim))
    noisy = vectors + rng.standard_normal(vectors.shape, dtype=np.float32) * sigma
    return (noisy / np.linalg.norm(noisy, axis=1, keepdims=True)).astype(np.float32)


def random_rows(vectors: np.ndarray, seed: int) -> Iterator[Row]:
    """One passage row per vector: id `r0000042`, chunk 0, a date in the sample's range, one term."""
    rng = np.random.default_rng(seed + 1)
    days = rng.integers(0, _DAYS, len(vectors))
    for i, vector in enumerate(vectors):
        yield (
            f"r{i:07d}",
            0,
            f"synthetic passage {i}",
            f"https://example.invalid/r{i}",
            _EPOCH + dt.timedelta(days=int(days[i])),
            "",
            {f"w{i % 997}"},
            vector,
        )


def row_key(article_id: str, chunk_no: int) -> int:
    """Index of a `random_rows` row in its vector array."""
    return int(article_id[1:]) if chunk_no == 0 else -1


@dataclass(frozen=True)
class SourcePassage:
    article_id: str
    chunk_no: int
    title: str
    link: str
    published: dt.date
    body: str
    terms: frozenset[str]
    vector: np.ndarray


def read_source_passages(session: Any, keyspace: str, table: str = "passages") -> list[SourcePassage]:
    """Every passage of an ingested keyspace, vectors included (the recombination's source)."""
    rows = session.execute(
        f"SELECT article_id, chunk_no, title, link, published, body, terms, vector FROM {keyspace}.{table}",
        timeout=120,
    )
    out = [
        SourcePassage(
            r.article_id,
            r.chunk_no,
            r.title,
            r.link,
            r.published.date() if hasattr(r.published, "date") else r.published,
            r.body,
            frozenset(r.terms or ()),
            np.asarray(r.vector, dtype=np.float32),
        )
        for r in rows
    ]
    return sorted(out, key=lambda p: (p.article_id, p.chunk_no))


def recombined_rows(sources: list[SourcePassage], n_rows: int, seed: int, target_cosine: float = 0.85) -> Iterator[Row]:
    """`n_rows` passages: whole source articles copied over and over, each copy's vectors noised.

    Copy `c` of article `a` becomes article `a-c` with the same passages (text, terms, date) and
    vectors at about `target_cosine` from the originals, so grouping by article behaves as on
    real data while no two copies share a vector.
    """
    by_article: dict[str, list[SourcePassage]] = {}
    for passage in sources:
        by_article.setdefault(passage.article_id, []).append(passage)
    articles = list(by_article.values())
    if not articles:
        raise ValueError("no source passages to recombine")
    rng = np.random.default_rng(seed)
    written, copy = 0, 0
    while written < n_rows:
        order = rng.permutation(len(articles))
        for index in order:
            passages = articles[index][: n_rows - written]
            vectors = perturb(np.stack([p.vector for p in passages]), target_cosine, seed + copy * 7919 + int(index))
            for passage, vector in zip(passages, vectors, strict=True):
                yield (
                    f"{passage.article_id}-{copy}",
                    passage.chunk_no,
                    passage.title,
                    passage.link,
                    passage.published,
                    passage.body,
                    set(passage.terms),
                    vector,
                )
            written += len(passages)
            if written >= n_rows:
                return
        copy += 1


@dataclass
class LoadResult:
    rows: int
    seconds: float
    failed: int  # still failed after the synchronous second pass
    retried: int  # retries inside BoundedWriter (timeouts, unavailability)
    failed_first_pass: int = 0
    first_error: str = ""

    @property
    def rows_per_s(self) -> float:
        return self.rows / self.seconds if self.seconds else 0.0


def load_rows(store: Any, rows: Iterator[Row], concurrency: int, retries: int = 5) -> LoadResult:
    """Write `rows` with the product's BoundedWriter and prepared passage INSERT; wait for the acks."""
    from newsindex.store import BoundedWriter, IndexStore

    writer = BoundedWriter(store.session, concurrency, retries)
    statement = store.insert_passage_stmt()
    count = 0
    started = time.perf_counter()
    for article_id, chunk_no, title, link, published, body, terms, vector in rows:
        params = (article_id, chunk_no, title, link, published, body, terms, IndexStore.vector_param(vector))
        writer.submit(statement, params, tag=params)
        count += 1
    writer.flush()
    # A write that failed for good (e.g. a WriteFailure the writer does not retry) is an idempotent
    # upsert: send it once more, alone, so one transient server error does not void a long load.
    still_failed = 0
    for params, _error in writer.failed:
        try:
            store.session.execute(statement, params, timeout=60)
        except Exception:
            still_failed += 1
    seconds = time.perf_counter() - started
    first = f"{type(writer.failed[0][1]).__name__}: {writer.failed[0][1]}"[:300] if writer.failed else ""
    return LoadResult(count, seconds, still_failed, writer.retried, len(writer.failed), first)
