"""Reading and writing the index tables with prepared statements.

Writes go through `BoundedWriter`: asynchronous, at most N in flight, retried with exponential
backoff on timeouts and unavailability (every write is an idempotent upsert or delete, so a retry is
safe). We use the driver directly rather than cassio's `put` because cassio's table classes have a
fixed schema (no date column, no terms set, cosine index by default) and no bounded-concurrency bulk
path; its `put` is what the notebook baseline in bench/ uses.
"""

from __future__ import annotations

import datetime as dt
import logging
import random
import threading
import time
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from newsindex.settings import Settings

log = logging.getLogger(__name__)

# WriteFailure included: Cassandra 5.0.9 can fail a vector insert under concurrency (CASSANDRA-21644);
# every write here is an idempotent upsert or delete, so retrying it is safe.
_RETRYABLE = (
    "WriteTimeout",
    "WriteFailure",
    "ReadTimeout",
    "OperationTimedOut",
    "Unavailable",
    "NoHostAvailable",
    "ConnectionException",
    "OverloadedErrorMessage",
    "ConnectionShutdown",
)


@dataclass(frozen=True)
class StoredArticle:
    article_id: str
    content_hash: str
    passage_count: int
    terms: frozenset[str]


@dataclass(frozen=True)
class PassageHit:
    """One row of an ANN query: a passage, its article's fields and the server-computed score."""

    article_id: str
    chunk_no: int
    title: str
    link: str
    published: dt.date | None
    body: str
    score: float
    vector: np.ndarray | None = field(default=None, compare=False, repr=False)


def ann_cql(settings: Settings, *, date_from: bool, date_to: bool, n_terms: int, with_vector: bool = False) -> str:
    """The ANN query text for a shape of filters; values are bound by the prepared statement."""
    where = []
    if date_from:
        where.append("published >= ?")
    if date_to:
        where.append("published <= ?")
    where += ["terms CONTAINS ?"] * n_terms
    clause = f" WHERE {' AND '.join(where)}" if where else ""
    extra = ", vector" if with_vector else ""
    return (
        "SELECT article_id, chunk_no, title, link, published, body, "
        f"similarity_dot_product(vector, ?) AS score{extra} "
        f"FROM {settings.keyspace}.{settings.passages_table}{clause} "
        "ORDER BY vector ANN OF ? LIMIT ?"
    )


class BoundedWriter:
    """Asynchronous writes with a cap on requests in flight and retries with backoff."""

    def __init__(self, session: Any, max_in_flight: int, retries: int = 5, base_delay_s: float = 0.2) -> None:
        self.session = session
        self.retries = retries
        self.base_delay_s = base_delay_s
        self._slots = threading.BoundedSemaphore(max_in_flight)
        self._lock = threading.Lock()
        self._idle = threading.Condition(self._lock)
        self._pending = 0
        self.written = 0
        self.retried = 0
        self.failed: list[tuple[Any, BaseException]] = []
        self.busy_seconds = 0.0  # wall time with at least one write in flight
        self._busy_since: float | None = None

    def submit(
        self,
        statement: Any,
        params: Sequence[Any],
        tag: Any = None,
        on_done: Callable[[Any, BaseException | None], None] | None = None,
    ) -> None:
        """Queue one write; blocks only while `max_in_flight` writes are outstanding."""
        self._slots.acquire()
        with self._lock:
            if self._pending == 0:
                self._busy_since = time.perf_counter()
            self._pending += 1
        self._send(statement, params, tag, on_done, attempt=0)

    def _send(
        self,
        statement: Any,
        params: Sequence[Any],
        tag: Any,
        on_done: Callable[[Any, BaseException | None], None] | None,
        attempt: int,
    ) -> None:
        try:
            future = self.session.execute_async(statement, params)
        except Exception as exc:  # session shut down, no host...
            self._on_error(exc, statement, params, tag, on_done, attempt)
            return
        future.add_callbacks(
            callback=lambda _rows: self._finish(tag, on_done, None),
            errback=lambda exc: self._on_error(exc, statement, params, tag, on_done, attempt),
        )

    def _on_error(
        self,
        exc: BaseException,
        statement: Any,
        params: Sequence[Any],
        tag: Any,
        on_done: Callable[[Any, BaseException | None], None] | None,
        attempt: int,
    ) -> None:
        if attempt < self.retries and type(exc).__name__ in _RETRYABLE:
            delay = self.base_delay_s * (2**attempt) * (1 + random.random())
            with self._lock:
                self.retried += 1
            timer = threading.Timer(delay, self._send, args=(statement, params, tag, on_done, attempt + 1))
            timer.daemon = True
            timer.start()
            return
        log.warning("write failed after %d attempts: %s: %s", attempt + 1, type(exc).__name__, exc)
        self._finish(tag, on_done, exc)

    def _finish(
        self,
        tag: Any,
        on_done: Callable[[Any, BaseException | None], None] | None,
        error: BaseException | None,
    ) -> None:
        try:
            if on_done is not None:
                on_done(tag, error)
        finally:
            with self._lock:
                if error is None:
                    self.written += 1
                else:
                    self.failed.append((tag, error))
                self._pending -= 1
                if self._pending == 0 and self._busy_since is not None:
                    self.busy_seconds += time.perf_counter() - self._busy_since
                    self._busy_since = None
                    self._idle.notify_all()
            self._slots.release()

    def flush(self, timeout_s: float | None = None) -> None:
        """Wait until every submitted write has finished (successfully or not)."""
        with self._idle:
            self._idle.wait_for(lambda: self._pending == 0, timeout=timeout_s)


class IndexStore:
    """Prepared statements over the index tables of one keyspace."""

    def __init__(self, session: Any, settings: Settings) -> None:
        self.session = session
        self.settings = settings
        self._prepared: dict[str, Any] = {}

    def prepare(self, cql: str) -> Any:
        statement = self._prepared.get(cql)
        if statement is None:
            statement = self.session.prepare(cql)
            self._prepared[cql] = statement
        return statement

    @property
    def _ks(self) -> str:
        return self.settings.keyspace

    # --- writes ---------------------------------------------------------------------------------
    def insert_passage_stmt(self) -> Any:
        return self.prepare(
            f"INSERT INTO {self._ks}.{self.settings.passages_table} "
            "(article_id, chunk_no, title, link, published, body, terms, vector) VALUES (?, ?, ?, ?, ?, ?, ?, ?)"
        )

    def delete_passages_from_stmt(self) -> Any:
        """Range delete of chunk_no >= n: removes what an update left over, nothing more."""
        return self.prepare(
            f"DELETE FROM {self._ks}.{self.settings.passages_table} WHERE article_id = ? AND chunk_no >= ?"
        )

    def insert_article_stmt(self) -> Any:
        return self.prepare(
            f"INSERT INTO {self._ks}.{self.settings.articles_table} (article_id, link, title, published, "
            "content_hash, passage_count, doc_len, term_freqs, ingested_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)"
        )

    def insert_posting_stmt(self) -> Any:
        return self.prepare(f"INSERT INTO {self._ks}.{self.settings.terms_table} (term, article_id) VALUES (?, ?)")

    def delete_posting_stmt(self) -> Any:
        return self.prepare(f"DELETE FROM {self._ks}.{self.settings.terms_table} WHERE term = ? AND article_id = ?")

    @staticmethod
    def vector_param(vector: np.ndarray) -> list[float]:
        return [float(x) for x in vector]

    # --- reads ----------------------------------------------------------------------------------
    def stored_articles(self, article_ids: Iterable[str]) -> dict[str, StoredArticle]:
        """Content hash, passage count and terms of the given ids that are fully ingested."""
        statement = self.prepare(
            f"SELECT article_id, content_hash, passage_count, term_freqs FROM {self._ks}.{self.settings.articles_table}"
            " WHERE article_id = ?"
        )
        from cassandra.concurrent import execute_concurrent_with_args

        ids = list(dict.fromkeys(article_ids))
        results = execute_concurrent_with_args(
            self.session, statement, [(i,) for i in ids], concurrency=64, raise_on_first_error=True
        )
        found: dict[str, StoredArticle] = {}
        for _success, rows in results:
            row = rows.one() if hasattr(rows, "one") else (rows[0] if rows else None)
            if row is not None:
                found[row.article_id] = StoredArticle(
                    row.article_id,
                    row.content_hash,
                    row.passage_count or 0,
                    frozenset((row.term_freqs or {}).keys()),
                )
        return found

    def count(self, table: str) -> int:
        row = self.session.execute(f"SELECT COUNT(*) FROM {self._ks}.{table}", timeout=120).one()
        return int(row[0])

    def ann(
        self,
        query_vector: np.ndarray,
        limit: int,
        *,
        date_from: dt.date | None = None,
        date_to: dt.date | None = None,
        must_terms: Sequence[str] = (),
        with_vector: bool = False,
    ) -> list[PassageHit]:
        """One ANN query; filters run inside it (SAI), the server computes the dot-product score.

        Runs in the ANN execution profile (NEWS_ANN_CONSISTENCY, speculative retries on other nodes:
        newsindex.failover); a read is idempotent, which is what lets the driver speculate.
        """
        from newsindex.failover import ANN_PROFILE

        cql = ann_cql(
            self.settings,
            date_from=date_from is not None,
            date_to=date_to is not None,
            n_terms=len(must_terms),
            with_vector=with_vector,
        )
        statement = self.prepare(cql)
        vector = self.vector_param(query_vector)
        params: list[Any] = [vector]
        if date_from is not None:
            params.append(date_from)
        if date_to is not None:
            params.append(date_to)
        params += list(must_terms)
        params += [vector, limit]
        bound = statement.bind(params)
        bound.is_idempotent = True
        bound.fetch_size = max(limit + 1, 5000)
        rows = self.session.execute(bound, timeout=self.settings.request_timeout_s, execution_profile=ANN_PROFILE)
        return [
            PassageHit(
                r.article_id,
                r.chunk_no,
                r.title,
                r.link,
                _as_date(r.published),
                r.body,
                float(r.score),
                np.asarray(r.vector, dtype=np.float32) if with_vector else None,
            )
            for r in rows
        ]

    def article_term_stats(
        self, article_ids: Sequence[str], terms: Sequence[str]
    ) -> dict[str, tuple[dict[str, int], int]]:
        """For BM25: each article's frequencies of `terms` and its length.

        Reads only the query terms' map entries (`term_freqs[?]`), in one `IN` query per 100 articles:
        about half the time of fetching whole maps with concurrent key reads (measured on the eval set).
        """
        wanted = list(dict.fromkeys(terms))[:32]
        selectors = ", ".join(f"term_freqs[?] AS t{i}" for i in range(len(wanted)))
        statement = self.prepare(
            f"SELECT article_id, doc_len{', ' if wanted else ''}{selectors} "
            f"FROM {self._ks}.{self.settings.articles_table} WHERE article_id IN ?"
        )
        out: dict[str, tuple[dict[str, int], int]] = {}
        ids = list(dict.fromkeys(article_ids))
        for start in range(0, len(ids), 100):
            for row in self.session.execute(statement, (*wanted, ids[start : start + 100])):
                freqs = {term: int(row[2 + i]) for i, term in enumerate(wanted) if row[2 + i]}
                out[row.article_id] = (freqs, int(row.doc_len or 0))
        return out

    def article(self, article_id: str) -> tuple[str, str, dt.date | None, str] | None:
        """Title, link, date and first passage of one article, or None."""
        statement = self.prepare(
            f"SELECT title, link, published, body FROM {self._ks}.{self.settings.passages_table}"
            " WHERE article_id = ? LIMIT 1"
        )
        row = self.session.execute(statement, (article_id,)).one()
        return None if row is None else (row.title, row.link, _as_date(row.published), row.body)

    def passages_of(self, article_id: str) -> list[tuple[int, np.ndarray]]:
        statement = self.prepare(
            f"SELECT chunk_no, vector FROM {self._ks}.{self.settings.passages_table} WHERE article_id = ?"
        )
        return [
            (r.chunk_no, np.asarray(r.vector, dtype=np.float32)) for r in self.session.execute(statement, (article_id,))
        ]


def _as_date(value: Any) -> dt.date | None:
    """The driver returns `cassandra.util.Date`; callers want `datetime.date`."""
    if value is None or isinstance(value, dt.date):
        return value
    return value.date()  # type: ignore[no-any-return]
