"""Reading and writing the index tables with prepared statements.

Writes go through `newsindex.writer.BoundedWriter` (re-exported here): asynchronous, bounded, retried.
We use the driver directly rather than cassio's `put` because cassio's table classes have a fixed
schema (no date column, no terms set, cosine index by default) and no bounded-concurrency bulk path;
its `put` is what the notebook baseline in bench/ uses.
"""

from __future__ import annotations

import datetime as dt
import logging
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from newsindex.postings import Version, as_date
from newsindex.settings import Settings
from newsindex.writer import BoundedWriter

__all__ = ["BoundedWriter", "IndexStore", "PassageHit", "StoredArticle"]

log = logging.getLogger(__name__)
# The columns `stored_from_row` reads: an article's committed version and its interrupted attempt.
ARTICLE_STATE = (
    "article_id, published, content_hash, passage_count, doc_len, term_freqs,"
    " pending_hash, pending_passages, pending_doc_len, pending_terms"
)


@dataclass(frozen=True)
class StoredArticle:
    """What the index holds for one article: the committed version, and an interrupted attempt if any."""

    article_id: str
    content_hash: str | None
    passage_count: int
    committed: Version | None
    pending: Version | None = None
    pending_passages: int = 0

    @property
    def terms(self) -> frozenset[str]:
        return frozenset(self.committed.term_freqs) if self.committed else frozenset()


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
        """Range delete of chunk_no >= n: removes what an earlier, longer version left, nothing more."""
        return self.prepare(
            f"DELETE FROM {self._ks}.{self.settings.passages_table} WHERE article_id = ? AND chunk_no >= ?"
        )

    def intent_stmt(self) -> Any:
        """Before an article's rows are written: what is about to be written (kept until the commit)."""
        return self.prepare(
            f"UPDATE {self._ks}.{self.settings.articles_table} SET pending_hash = ?, pending_passages = ?,"
            " pending_doc_len = ?, pending_terms = ? WHERE article_id = ?"
        )

    def commit_stmt(self) -> Any:
        """After every row of the article is acknowledged: the new version becomes the committed one."""
        return self.prepare(
            f"UPDATE {self._ks}.{self.settings.articles_table} SET link = ?, title = ?, published = ?,"
            " content_hash = ?, passage_count = ?, doc_len = ?, term_freqs = ?, ingested_at = ?,"
            " pending_hash = null, pending_passages = null, pending_doc_len = null, pending_terms = null"
            " WHERE article_id = ?"
        )

    def delete_article_stmt(self) -> Any:
        return self.prepare(f"DELETE FROM {self._ks}.{self.settings.articles_table} WHERE article_id = ?")

    def delete_passages_stmt(self) -> Any:
        return self.prepare(f"DELETE FROM {self._ks}.{self.settings.passages_table} WHERE article_id = ?")

    @staticmethod
    def vector_param(vector: np.ndarray) -> list[float]:
        return [float(x) for x in vector]

    # --- reads ----------------------------------------------------------------------------------
    def stored_articles(self, article_ids: Iterable[str]) -> dict[str, StoredArticle]:
        """The committed version and any interrupted attempt of each given id that has a row."""
        from cassandra.concurrent import execute_concurrent_with_args

        statement = self.prepare(
            f"SELECT {ARTICLE_STATE} FROM {self._ks}.{self.settings.articles_table} WHERE article_id = ?"
        )
        ids = list(dict.fromkeys(article_ids))
        results = execute_concurrent_with_args(
            self.session, statement, [(i,) for i in ids], concurrency=64, raise_on_first_error=True
        )
        found: dict[str, StoredArticle] = {}
        for _success, rows in results:
            row = rows.one() if hasattr(rows, "one") else (rows[0] if rows else None)
            if row is not None:
                found[row.article_id] = stored_from_row(row)
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
        """One ANN query; filters run inside it (SAI), the server computes the dot-product score."""
        return self.ann_async(
            query_vector, limit, date_from=date_from, date_to=date_to, must_terms=must_terms, with_vector=with_vector
        ).result()

    def ann_async(
        self,
        query_vector: np.ndarray,
        limit: int,
        *,
        date_from: dt.date | None = None,
        date_to: dt.date | None = None,
        must_terms: Sequence[str] = (),
        with_vector: bool = False,
    ) -> Rows:
        """`ann` sent now; `.result()` waits for it (no thread: the driver's own future).

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
        future = self.session.execute_async(
            bound, timeout=self.settings.request_timeout_s, execution_profile=ANN_PROFILE
        )
        return Rows(future, with_vector)

    def scored_passages_async(
        self, article_ids: Sequence[str], query_vector: np.ndarray, with_vector: bool = False
    ) -> Rows:
        """Every passage of the given articles with its dot product to the query, computed by the server.

        How a candidate found only by the lexical retriever gets its dense score and best passage.
        """
        extra = ", vector" if with_vector else ""
        statement = self.prepare(
            "SELECT article_id, chunk_no, title, link, published, body, "
            f"similarity_dot_product(vector, ?) AS score{extra} "
            f"FROM {self._ks}.{self.settings.passages_table} WHERE article_id IN ?"
        )
        bound = statement.bind((self.vector_param(query_vector), list(dict.fromkeys(article_ids))))
        bound.fetch_size = 5000
        bound.is_idempotent = True
        return Rows(self.session.execute_async(bound, timeout=self.settings.request_timeout_s), with_vector)

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
        return None if row is None else (row.title, row.link, as_date(row.published), row.body)

    def passages_of(self, article_id: str) -> list[tuple[int, np.ndarray]]:
        statement = self.prepare(
            f"SELECT chunk_no, vector FROM {self._ks}.{self.settings.passages_table} WHERE article_id = ?"
        )
        return [
            (r.chunk_no, np.asarray(r.vector, dtype=np.float32)) for r in self.session.execute(statement, (article_id,))
        ]


class Rows:
    """A pending passage query; `result()` gives its rows as PassageHits."""

    def __init__(self, future: Any, with_vector: bool) -> None:
        self._future = future
        self._with_vector = with_vector

    def result(self) -> list[PassageHit]:
        return [
            PassageHit(
                r.article_id,
                r.chunk_no,
                r.title,
                r.link,
                as_date(r.published),
                r.body,
                float(r.score),
                np.asarray(r.vector, dtype=np.float32) if self._with_vector else None,
            )
            for r in self._future.result()
        ]


def stored_from_row(row: Any) -> StoredArticle:
    """A StoredArticle from an `articles` row (committed columns and pending_* columns)."""
    published = as_date(row.published)
    committed = None
    if row.content_hash is not None:
        committed = Version(dict(row.term_freqs or {}), int(row.doc_len or 0), published)
    pending = None
    if row.pending_hash is not None:
        pending = Version(dict(row.pending_terms or {}), int(row.pending_doc_len or 0), published)
    return StoredArticle(
        row.article_id,
        row.content_hash,
        int(row.passage_count or 0),
        committed,
        pending,
        int(row.pending_passages or 0),
    )
