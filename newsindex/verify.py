"""Prove what the index holds: every committed article has all its passages and postings.

An ingest run that ends with no error has only acknowledged writes behind it, but an acknowledged
write can still be lost (a node killed inside its commit-log sync window, a replica that missed it).
`verify` reads back, per article: the interrupted attempt left in `pending_*`, the passages 0..n-1,
and every posting key its committed version implies (one multi-key read per bucket). `invalidate`
turns a broken article into an interrupted attempt, which the next ingest of its row redoes.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field

from newsindex.postings import Postings, postings_for
from newsindex.store import ARTICLE_STATE, IndexStore, StoredArticle, stored_from_row

log = logging.getLogger(__name__)
CHUNK = 100


@dataclass
class VerifyReport:
    checked: int = 0
    problems: dict[str, str] = field(default_factory=dict)  # article id -> what is wrong

    @property
    def ok(self) -> bool:
        return not self.problems


def verify(store: IndexStore, postings: Postings, article_ids: Iterable[str] | None = None) -> VerifyReport:
    """Check the given articles (default: every article in the keyspace)."""
    stored = _all_articles(store) if article_ids is None else store.stored_articles(article_ids)
    report = VerifyReport(checked=len(stored))
    committed = {}
    for aid, article in stored.items():
        if article.pending is not None:
            report.problems[aid] = "an interrupted write attempt (pending_*) was never committed"
        elif article.committed is not None:
            committed[aid] = article
    for aid, found in _passage_numbers(store, list(committed)).items():
        expected = list(range(committed[aid].passage_count))
        if found != expected:
            report.problems[aid] = f"passages {found[:8]} instead of 0..{len(expected) - 1}"
    missing = _missing_postings(postings, committed.values())
    for aid, count in missing.items():
        report.problems.setdefault(aid, f"{count} postings missing")
    return report


def invalidate(store: IndexStore, article_ids: Sequence[str]) -> int:
    """Make the next ingest of these articles redo them: the committed version becomes the pending one."""
    statement = store.prepare(
        f"UPDATE {store.settings.keyspace}.{store.settings.articles_table} SET content_hash = null,"
        " pending_hash = ?, pending_passages = ?, pending_doc_len = ?, pending_terms = ? WHERE article_id = ?"
    )
    count = 0
    for aid, article in store.stored_articles(article_ids).items():
        if article.pending is not None or article.committed is None:
            continue  # already an interrupted attempt: the next run redoes it anyway
        version = article.committed
        store.session.execute(
            statement, ("invalid", article.passage_count, version.doc_len, dict(version.term_freqs), aid)
        )
        count += 1
    return count


def _all_articles(store: IndexStore) -> dict[str, StoredArticle]:
    from cassandra.query import SimpleStatement

    table = f"{store.settings.keyspace}.{store.settings.articles_table}"
    query = SimpleStatement(f"SELECT {ARTICLE_STATE} FROM {table}", fetch_size=1000)
    return {row.article_id: stored_from_row(row) for row in store.session.execute(query, timeout=600)}


def _passage_numbers(store: IndexStore, article_ids: Sequence[str]) -> dict[str, list[int]]:
    statement = store.prepare(
        f"SELECT article_id, chunk_no FROM {store.settings.keyspace}.{store.settings.passages_table}"
        " WHERE article_id IN ?"
    )
    found: dict[str, list[int]] = {aid: [] for aid in article_ids}
    for start in range(0, len(article_ids), CHUNK):
        for row in store.session.execute(statement, (list(article_ids[start : start + CHUNK]),)):
            found[row.article_id].append(int(row.chunk_no))
    return {aid: sorted(numbers) for aid, numbers in found.items()}


def _missing_postings(postings: Postings, articles: Iterable[StoredArticle]) -> dict[str, int]:
    """Per article, how many of its committed postings keys are absent (one IN read per bucket chunk)."""
    expected: dict[int, list[tuple[str, float, str]]] = {}
    for article in articles:
        if article.committed is None:
            continue
        for row in postings_for(article.article_id, article.committed, postings.buckets):
            expected.setdefault(row.bucket, []).append((row.term, row.impact, row.article_id))
    statement = postings.store.prepare(
        f"SELECT term, impact, article_id FROM {postings._table} WHERE bucket = ? AND (term, impact, article_id) IN ?"
    )
    from cassandra.concurrent import execute_concurrent_with_args

    chunks = [
        (bucket, keys[start : start + CHUNK])
        for bucket, keys in expected.items()
        for start in range(0, len(keys), CHUNK)
    ]
    results = execute_concurrent_with_args(
        postings.session, statement, chunks, concurrency=32, raise_on_first_error=True
    )
    missing: dict[str, int] = {}
    for (_bucket, chunk), (_ok, rows) in zip(chunks, results, strict=True):
        present = {(r.term, float(r.impact), r.article_id) for r in rows}
        for key in chunk:
            if key not in present:
                missing[key[2]] = missing.get(key[2], 0) + 1
    return missing
