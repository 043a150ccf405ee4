"""The lexical index in Cassandra: which postings to write, the statistics recount, the reads for top-N.

Write side (ingestion): an article's postings are derived from its term counts and length; what a
new version changes is a pure diff against the versions that may already be stored (the committed
one and an interrupted attempt recorded in the `pending_*` columns), and the changes of a whole
window go out as one single-partition UNLOGGED batch per bucket.

Statistics: document frequencies are *recounted* from the postings (per term for a few terms, one
GROUP BY scan for many), never incremented, so a repeated or killed run converges to the truth; each
recount is written `USING TIMESTAMP` of the moment it started reading, so when shard workers on
several machines recount at once, the count that saw the most wins whatever order the writes land in.
"""

from __future__ import annotations

import datetime as dt
import time
from collections import Counter
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from newsindex.lexical import STATS_KEY, CorpusStats, PageSource, Posting, bucket_of, impact

PAGE_SIZE = 256  # postings per page of a term's list
MAX_BATCH_ROWS = 128
# Recount cost model, measured on the local node: a per-term COUNT costs about 1 ms plus its rows; a
# GROUP BY scan costs about as much per posting as a counted row.
PER_TERM_OVERHEAD_ROWS = 400


@dataclass(frozen=True)
class PostingRow:
    bucket: int
    term: str
    impact: float
    article_id: str
    tf: int
    doc_len: int
    published: dt.date | None

    @property
    def key(self) -> tuple[int, str, float, str]:
        return (self.bucket, self.term, self.impact, self.article_id)


@dataclass(frozen=True)
class Version:
    """One stored (or about to be stored) version of an article's lexical data."""

    term_freqs: Mapping[str, int]
    doc_len: int
    published: dt.date | None = None


def postings_for(article_id: str, version: Version, buckets: int) -> list[PostingRow]:
    return [
        PostingRow(
            bucket_of(term, buckets),
            term,
            impact(tf, version.doc_len),
            article_id,
            tf,
            version.doc_len,
            version.published,
        )
        for term, tf in version.term_freqs.items()
        if tf > 0
    ]


def posting_changes(
    article_id: str, new: Version | None, committed: Version | None, pending: Version | None, buckets: int
) -> tuple[list[PostingRow], list[tuple[int, str, float, str]]]:
    """(rows to upsert, keys to delete) taking the stored versions to `new` (None: delete the article).

    Rows of the committed version that stay identical are not rewritten; every key of either stored
    version that the new version does not have is deleted, so no posting outlives its article.
    """
    wanted = postings_for(article_id, new, buckets) if new else []
    wanted_keys = {row.key for row in wanted}
    unchanged = set(postings_for(article_id, committed, buckets)) if committed else set()
    upserts = [row for row in wanted if row not in unchanged]
    stale: dict[tuple[int, str, float, str], None] = {}
    for version in (committed, pending):
        if version is not None:
            for row in postings_for(article_id, version, buckets):
                if row.key not in wanted_keys:
                    stale[row.key] = None
    return upserts, list(stale)


def by_bucket(
    upserts: Iterable[PostingRow], deletes: Iterable[tuple[int, str, float, str]], max_rows: int = MAX_BATCH_ROWS
) -> list[tuple[int, list[PostingRow | tuple[int, str, float, str]]]]:
    """Group changes into single-partition batches of at most `max_rows`, bucket by bucket."""
    groups: dict[int, list[PostingRow | tuple[int, str, float, str]]] = {}
    for key in deletes:
        groups.setdefault(key[0], []).append(key)
    for row in upserts:
        groups.setdefault(row.bucket, []).append(row)
    out = []
    for bucket in sorted(groups):
        ops = groups[bucket]
        out += [(bucket, ops[i : i + max_rows]) for i in range(0, len(ops), max_rows)]
    return out


def choose_recount(touched: Mapping[str, int], total_postings: int) -> str:
    """'terms' (COUNT each touched term) or 'scan' (one GROUP BY over all postings), whichever reads less."""
    per_term = sum(df + PER_TERM_OVERHEAD_ROWS for df in touched.values())
    return "terms" if per_term < total_postings else "scan"


def as_date(value: Any) -> dt.date | None:
    """The driver returns `cassandra.util.Date`; callers want `datetime.date`."""
    if value is None or isinstance(value, dt.date):
        return value
    return value.date()  # type: ignore[no-any-return]


def micros(moment: float) -> int:
    return int(moment * 1_000_000)


# --- I/O ------------------------------------------------------------------------------------------
class Postings:
    """Prepared statements and reads of the lexical tables of one keyspace (wraps an IndexStore)."""

    def __init__(self, store: Any, buckets: int) -> None:
        self.store = store
        self.session = store.session
        self.buckets = buckets
        s = store.settings
        self._table = f"{s.keyspace}.{s.postings_table}"
        self._df = f"{s.keyspace}.{s.postings_table}_df"
        self._articles = f"{s.keyspace}.{s.articles_table}"
        self._stats = f"{s.keyspace}.corpus_stats"

    # write side
    def batch(self, ops: Sequence[PostingRow | tuple[int, str, float, str]]) -> Any:
        """One UNLOGGED batch: every op targets the same bucket partition, so it applies as one mutation."""
        from cassandra.query import BatchStatement, BatchType

        insert = self.store.prepare(
            f"INSERT INTO {self._table} (bucket, term, impact, article_id, tf, doc_len, published)"
            " VALUES (?, ?, ?, ?, ?, ?, ?)"
        )
        delete = self.store.prepare(
            f"DELETE FROM {self._table} WHERE bucket = ? AND term = ? AND impact = ? AND article_id = ?"
        )
        batch = BatchStatement(batch_type=BatchType.UNLOGGED)
        for op in ops:
            if isinstance(op, PostingRow):
                batch.add(insert, (op.bucket, op.term, op.impact, op.article_id, op.tf, op.doc_len, op.published))
            else:
                batch.add(delete, op)
        return batch

    # read side
    def term_pages(self, terms: Sequence[str]) -> dict[str, PageSource]:
        """Page readers for each term's postings, best impact first; first pages are fetched concurrently."""
        statement = self.store.prepare(
            f"SELECT impact, article_id, tf, doc_len, published FROM {self._table} WHERE bucket = ? AND term = ?"
        )
        sources: dict[str, PageSource] = {}
        for term in dict.fromkeys(terms):
            bound = statement.bind((bucket_of(term, self.buckets), term))
            bound.fetch_size = PAGE_SIZE
            timeout = self.store.settings.request_timeout_s
            sources[term] = _Pager(self.session.execute_async(bound, timeout=timeout))
        return sources

    def complete(self, article_ids: Sequence[str], terms: Sequence[str]) -> dict[str, dict[str, int]]:
        """Term counts of `terms` in each article (the `top_n` completion step)."""
        return {aid: freqs for aid, (freqs, _len) in self.store.article_term_stats(article_ids, terms).items()}

    def read_dfs(self, terms: Sequence[str]) -> dict[str, int]:
        """Document frequencies, asked DF_CHUNK terms per request, the requests in flight together.

        One IN over every term an ingest window touched (thousands) made one coordinator gather
        thousands of partitions, and timed out on a loaded 3-node cluster.
        """
        unique = list(dict.fromkeys(terms))
        if not unique:
            return {}
        statement = self.store.prepare(f"SELECT term, df FROM {self._df} WHERE term IN ?")
        timeout = self.store.settings.request_timeout_s
        futures = [
            self.session.execute_async(statement, (unique[i : i + DF_CHUNK],), timeout=timeout)
            for i in range(0, len(unique), DF_CHUNK)
        ]
        return {row.term: int(row.df) for future in futures for row in future.result()}

    def read_corpus_stats(self) -> CorpusStats:
        row = self.session.execute(
            self.store.prepare(f"SELECT articles, total_len FROM {self._stats} WHERE key = ?"), (STATS_KEY,)
        ).one()
        return CorpusStats(int(row.articles), int(row.total_len)) if row else CorpusStats(0, 0)

    # statistics
    def refresh_statistics(self, touched_terms: Iterable[str], full: bool = False) -> dict[str, Any]:
        """Recount df of `touched_terms` (all of them if cheaper, or `full`) and the corpus totals; shard-safe."""
        started = time.time()
        terms = list(dict.fromkeys(touched_terms))
        stats = self._count_articles(started)
        known = self.read_dfs(terms)
        mode = "scan" if full else choose_recount({t: known.get(t, 0) for t in terms}, stats.articles * 160)
        if not terms and not full:
            mode = "none"
        elif mode == "terms":
            self._recount_terms(terms)
        else:
            self._recount_all()
        return {"mode": mode, "terms": len(terms), "seconds": round(time.time() - started, 3)}

    def _count_articles(self, started: float) -> CorpusStats:
        from cassandra.query import SimpleStatement

        # Paged and summed here: a server-side COUNT/SUM over the whole table is one request, which
        # timed out (10 s range timeout) at 78k articles; pages of 5,000 rows each get their own.
        query = SimpleStatement(f"SELECT doc_len FROM {self._articles}", fetch_size=5000)
        articles = total = 0
        for row in self.session.execute(query, timeout=self.store.settings.request_timeout_s):
            if row.doc_len is not None:
                articles += 1
                total += int(row.doc_len)
        stats = CorpusStats(articles, total)
        self.session.execute(
            self.store.prepare(
                f"INSERT INTO {self._stats} (key, articles, total_len, updated_at)"
                " VALUES (?, ?, ?, ?) USING TIMESTAMP ?"
            ),
            (STATS_KEY, stats.articles, stats.total_len, dt.datetime.now(dt.UTC), micros(started)),
        )
        return stats

    def _recount_terms(self, terms: list[str]) -> None:
        from cassandra.concurrent import execute_concurrent_with_args

        count = self.store.prepare(f"SELECT COUNT(*) FROM {self._table} WHERE bucket = ? AND term = ?")
        for start in range(0, len(terms), 2000):
            chunk = terms[start : start + 2000]
            began = time.time()
            results = execute_concurrent_with_args(
                self.session, count, [(bucket_of(t, self.buckets), t) for t in chunk], concurrency=32
            )
            counted = {}
            for term, (ok, rows) in zip(chunk, results, strict=True):
                if not ok:
                    raise rows
                counted[term] = int(rows.one()[0])
            self._write_dfs(counted, began)

    def _recount_all(self) -> None:
        """Every term's df, counted here from each bucket's postings (single-partition reads, paged).

        A server-side `GROUP BY bucket, term` over the whole table failed on the node at 78k
        articles (11.8 M postings); one paged read per bucket partition scales with the data.
        """
        from cassandra.query import SimpleStatement

        began = time.time()
        fresh: Counter[str] = Counter()
        read = self.store.prepare(f"SELECT term FROM {self._table} WHERE bucket = ?")
        for bucket in range(self.buckets):
            bound = read.bind((bucket,))
            bound.fetch_size = 5000
            for row in self.session.execute(bound, timeout=self.store.settings.request_timeout_s):
                fresh[row.term] += 1
        stored = {
            row.term: int(row.df)
            for row in self.session.execute(SimpleStatement(f"SELECT term, df FROM {self._df}", fetch_size=5000))
        }
        changed = {t: n for t, n in fresh.items() if stored.get(t) != n}
        changed.update({t: 0 for t in stored if t not in fresh})
        self._write_dfs(changed, began)

    def _write_dfs(self, dfs: Mapping[str, int], began: float) -> None:
        """Upsert positive dfs, delete zero ones, all stamped with the time the counting began."""
        from cassandra.concurrent import execute_concurrent_with_args

        stamp = micros(began)
        write = self.store.prepare(f"INSERT INTO {self._df} (term, df) VALUES (?, ?) USING TIMESTAMP ?")
        remove = self.store.prepare(f"DELETE FROM {self._df} USING TIMESTAMP ? WHERE term = ?")
        execute_concurrent_with_args(
            self.session, write, [(t, n, stamp) for t, n in dfs.items() if n], concurrency=64, raise_on_first_error=True
        )
        execute_concurrent_with_args(
            self.session,
            remove,
            [(stamp, t) for t, n in dfs.items() if not n],
            concurrency=64,
            raise_on_first_error=True,
        )


DF_CHUNK = 100


class _Pager:
    """Pages of one term's postings from a driver result (first page requested ahead, the rest on demand)."""

    def __init__(self, future: Any) -> None:
        self._future = future
        self._result: Any = None
        self._done = False

    def __call__(self) -> list[Posting] | None:
        if self._done:
            return None
        if self._result is None:
            self._result = self._future.result()
        elif self._result.has_more_pages:
            self._result.fetch_next_page()
        else:
            self._done = True
            return None
        rows = self._result.current_rows
        return [
            Posting(r.article_id, int(r.tf), int(r.doc_len), float(r.impact), as_date(r.published)) for r in rows
        ] or None
