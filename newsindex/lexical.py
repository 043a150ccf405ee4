"""Corpus statistics for BM25, kept in Cassandra, and the BM25 score itself.

Apache Cassandra 5.0 has no BM25, so we keep what BM25 needs ourselves:
- `term_postings (term, article_id)`: one row per term and article, written and deleted by ingestion
  as plain upserts/deletes, so replaying them is harmless (no counters, which are not idempotent);
- `term_postings_df (term, df)`: the document frequency, *recounted* from the postings for every
  term a run touched, so a killed or repeated run converges to the true value;
- `corpus_stats`: the number of articles and their total length (for the average document length).
Documents are articles (title + content), the unit the eval judges and that BM25 scored best on.
"""

from __future__ import annotations

import datetime as dt
import math
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

BM25_K1 = 1.2
BM25_B = 0.75
STATS_KEY = "articles"


@dataclass(frozen=True)
class CorpusStats:
    articles: int
    total_len: int

    @property
    def avg_len(self) -> float:
        return self.total_len / self.articles if self.articles else 0.0


def idf(df: int, n_docs: int) -> float:
    """BM25's idf with the +1 inside the log (Lucene's form), never negative."""
    return math.log(1 + (n_docs - df + 0.5) / (df + 0.5))


def bm25(
    query_terms: Sequence[str],
    term_freqs: Mapping[str, int],
    doc_len: int,
    dfs: Mapping[str, int],
    stats: CorpusStats,
    k1: float = BM25_K1,
    b: float = BM25_B,
) -> float:
    """Okapi BM25 of one document; repeated query terms count once."""
    if stats.articles == 0:
        return 0.0
    norm = k1 * (1 - b + b * doc_len / (stats.avg_len or 1.0))
    score = 0.0
    for term in dict.fromkeys(query_terms):
        tf = term_freqs.get(term, 0)
        if tf:
            score += idf(dfs.get(term, 0), stats.articles) * tf * (k1 + 1) / (tf + norm)
    return score


# --- Cassandra side ----------------------------------------------------------------------------
# Measured on the eval keyspace (294 articles, 43,665 postings, 5,725 terms): one COUNT per term
# costs ~1.7 ms, a GROUP BY scan of all postings ~7 us per row. Recount term by term when a run
# touched few terms (a daily incremental run), scan everything when it touched many (a first load).
_COUNT_COST_ROWS = 250
_POSTINGS_PER_ARTICLE = 150


def refresh_statistics(store: Any, touched_terms: Iterable[str]) -> None:
    """Bring df of `touched_terms` and the corpus totals up to date from the postings. Idempotent."""
    terms = list(dict.fromkeys(touched_terms))
    articles, total = _article_totals(store)
    if len(terms) * _COUNT_COST_ROWS > articles * _POSTINGS_PER_ARTICLE:
        _recount_all(store)
    else:
        _recount_terms(store, terms)
    store.session.execute(
        f"INSERT INTO {store.settings.keyspace}.corpus_stats (key, articles, total_len, updated_at)"
        " VALUES (%s, %s, %s, %s)",
        (STATS_KEY, articles, total, dt.datetime.now(dt.UTC)),
    )


def _article_totals(store: Any) -> tuple[int, int]:
    from cassandra.query import SimpleStatement

    settings = store.settings
    articles = total = 0
    query = SimpleStatement(f"SELECT doc_len FROM {settings.keyspace}.{settings.articles_table}", fetch_size=5000)
    for row in store.session.execute(query, timeout=300):
        articles += 1
        total += row.doc_len or 0
    return articles, total


def _recount_terms(store: Any, terms: list[str]) -> None:
    from cassandra.concurrent import execute_concurrent_with_args

    ks, postings = store.settings.keyspace, store.settings.terms_table
    count = store.prepare(f"SELECT COUNT(*) FROM {ks}.{postings} WHERE term = ?")
    for start in range(0, len(terms), 2000):
        batch = terms[start : start + 2000]
        results = execute_concurrent_with_args(store.session, count, [(t,) for t in batch], concurrency=64)
        counted = {}
        for term, (ok, rows) in zip(batch, results, strict=True):
            if not ok:
                raise rows
            counted[term] = int(rows.one()[0])
        _write_dfs(store, counted)


def _recount_all(store: Any) -> None:
    """One GROUP BY scan of the postings; only df rows that differ are written or deleted."""
    from cassandra.query import SimpleStatement

    ks, postings = store.settings.keyspace, store.settings.terms_table
    fresh = {
        row.term: int(row.n)
        for row in store.session.execute(
            SimpleStatement(f"SELECT term, COUNT(*) AS n FROM {ks}.{postings} GROUP BY term", fetch_size=5000),
            timeout=600,
        )
    }
    stored = {
        row.term: int(row.df)
        for row in store.session.execute(
            SimpleStatement(f"SELECT term, df FROM {ks}.{postings}_df", fetch_size=5000), timeout=600
        )
    }
    changed = {t: n for t, n in fresh.items() if stored.get(t) != n}
    changed.update({t: 0 for t in stored if t not in fresh})
    _write_dfs(store, changed)


def _write_dfs(store: Any, dfs: dict[str, int]) -> None:
    """Upsert positive dfs, delete zero ones (a term no article has any more)."""
    from cassandra.concurrent import execute_concurrent_with_args

    ks, postings = store.settings.keyspace, store.settings.terms_table
    write = store.prepare(f"INSERT INTO {ks}.{postings}_df (term, df) VALUES (?, ?)")
    remove = store.prepare(f"DELETE FROM {ks}.{postings}_df WHERE term = ?")
    execute_concurrent_with_args(
        store.session, write, [(t, n) for t, n in dfs.items() if n], concurrency=64, raise_on_first_error=True
    )
    execute_concurrent_with_args(
        store.session, remove, [(t,) for t, n in dfs.items() if not n], concurrency=64, raise_on_first_error=True
    )


def read_corpus_stats(store: Any) -> CorpusStats:
    row = store.session.execute(
        f"SELECT articles, total_len FROM {store.settings.keyspace}.corpus_stats WHERE key = %s", (STATS_KEY,)
    ).one()
    return CorpusStats(int(row.articles), int(row.total_len)) if row else CorpusStats(0, 0)


def read_dfs(store: Any, terms: Sequence[str]) -> dict[str, int]:
    """Document frequencies of the query terms, one prepared `IN` read."""
    if not terms:
        return {}
    settings = store.settings
    statement = store.prepare(f"SELECT term, df FROM {settings.keyspace}.{settings.terms_table}_df WHERE term IN ?")
    return {row.term: int(row.df) for row in store.session.execute(statement, (list(dict.fromkeys(terms)),))}
