"""Removing articles from the index: by date (retention) or because the source file no longer has them.

An article is removed the way it was written, in reverse: its postings (every key of its committed
version and of any interrupted attempt) and its passages first, its `articles` row last, once the
rest is acknowledged. A removal killed halfway leaves the row, so running it again finishes it; the
BM25 statistics are recounted afterwards for every term the removed articles had.
"""

from __future__ import annotations

import datetime as dt
import logging
import time
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from functools import partial

from newsindex.postings import Postings, by_bucket, posting_changes
from newsindex.store import IndexStore, StoredArticle
from newsindex.writer import BoundedWriter

log = logging.getLogger(__name__)
WINDOW = 64


@dataclass
class PruneSummary:
    removed: int = 0
    failed: int = 0
    seconds: float = 0.0
    stats_mode: str = ""


def articles_published_before(store: IndexStore, before: dt.date) -> list[str]:
    """Ids of articles published before `before` (one scan of the articles table: id and date only)."""
    from cassandra.query import SimpleStatement

    table = f"{store.settings.keyspace}.{store.settings.articles_table}"
    query = SimpleStatement(f"SELECT article_id, published FROM {table}", fetch_size=5000)
    out = []
    for row in store.session.execute(query, timeout=600):
        published = row.published.date() if hasattr(row.published, "date") else row.published
        if published is not None and published < before:
            out.append(row.article_id)
    return out


def all_article_ids(store: IndexStore) -> set[str]:
    from cassandra.query import SimpleStatement

    table = f"{store.settings.keyspace}.{store.settings.articles_table}"
    return {
        r.article_id for r in store.session.execute(SimpleStatement(f"SELECT article_id FROM {table}"), timeout=600)
    }


def remove_articles(
    store: IndexStore, postings: Postings, writer: BoundedWriter, article_ids: Iterable[str]
) -> tuple[PruneSummary, set[str]]:
    """Remove the articles; returns the counts and the terms whose statistics must be recounted."""
    started = time.perf_counter()
    summary = PruneSummary()
    touched: set[str] = set()
    ids = list(dict.fromkeys(article_ids))
    for start in range(0, len(ids), WINDOW):
        chunk = ids[start : start + WINDOW]
        stored = writer.call(partial(store.stored_articles, chunk))
        done, failed = _remove_window(store, postings, writer, list(stored.values()), touched)
        summary.removed += done
        summary.failed += failed
    summary.seconds = time.perf_counter() - started
    return summary, touched


def _remove_window(
    store: IndexStore, postings: Postings, writer: BoundedWriter, articles: Sequence[StoredArticle], touched: set[str]
) -> tuple[int, int]:
    errors: dict[str, BaseException] = {}

    def note(article_ids: Sequence[str], error: BaseException | None) -> None:
        if error is not None:
            for aid in article_ids:
                errors.setdefault(aid, error)

    deletes = []
    for article in articles:
        _upserts, stale = posting_changes(
            article.article_id, None, article.committed, article.pending, postings.buckets
        )
        deletes += stale
        for version in (article.committed, article.pending):
            if version is not None:
                touched.update(version.term_freqs)
        writer.submit(store.delete_passages_stmt(), (article.article_id,), [article.article_id], note)
    for _bucket, batch in by_bucket([], deletes):
        owners = list(dict.fromkeys(key[3] for key in batch))  # type: ignore[index]
        writer.submit(postings.batch(batch), None, owners, note)
    writer.flush()
    removable = [a.article_id for a in articles if a.article_id not in errors]
    for aid in removable:
        writer.submit(store.delete_article_stmt(), (aid,), [aid], note)
    writer.flush()
    for aid, error in errors.items():
        log.warning("could not remove article %s: %s: %s", aid, type(error).__name__, error)
    return len([a for a in removable if a not in errors]), len(errors)
