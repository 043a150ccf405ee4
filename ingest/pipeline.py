"""Wire the stages: read -> clean -> classify -> chunk -> encode -> write, with honest counts.

Write order per article makes every run resumable: passages (upserts, deterministic keys) and
postings first, the leftover tail of an updated article deleted, and the article row - holding the
content hash - last, once everything before it is acknowledged. A run killed at any point leaves
articles either complete or without a current hash, and the next run redoes exactly those.

Encoding and writing overlap: the driver sends a window's writes from its own I/O thread while this
thread reads, cleans and encodes the next window; `BoundedWriter` caps what is in flight.
"""

from __future__ import annotations

import datetime as dt
import logging
import queue
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from ingest.chunk import TokenCounter, split_passages
from ingest.clean import clean_row
from ingest.faults import KillSwitch
from ingest.plan import Plan, Shard, link_id, plan_rows
from ingest.read import read_rows, write_quarantine
from ingest.records import Article, Passage, Quarantined
from newsindex.encoder import Embedder
from newsindex.lexical import refresh_statistics
from newsindex.settings import Settings
from newsindex.store import BoundedWriter, IndexStore, StoredArticle
from newsindex.text import term_counts, terms_of

log = logging.getLogger(__name__)


@dataclass
class Summary:
    """The run's counts; `read = new + updated + unchanged + quarantined + failed` always holds."""

    rows: int = 0
    read: int = 0
    new: int = 0
    updated: int = 0
    unchanged: int = 0
    duplicates: int = 0
    quarantined: int = 0
    failed: int = 0
    other_shard: int = 0
    over_limit: int = 0
    passages: int = 0
    seconds: float = 0.0
    encode_seconds: float = 0.0
    write_seconds: float = 0.0
    write_wait_seconds: float = 0.0
    stats_seconds: float = 0.0
    write_retries: int = 0
    articles_per_s: float = 0.0
    passages_per_s: float = 0.0
    quarantine_file: str | None = None
    precision: str = ""
    failures: list[str] = field(default_factory=list)

    def reconciles(self) -> bool:
        return self.read == self.new + self.updated + self.unchanged + self.quarantined + self.failed

    def as_dict(self) -> dict[str, Any]:
        data = asdict(self)
        data["failures"] = self.failures[:20]
        for key in (
            "seconds",
            "encode_seconds",
            "write_seconds",
            "write_wait_seconds",
            "stats_seconds",
            "articles_per_s",
            "passages_per_s",
        ):
            data[key] = round(data[key], 3)
        return data


@dataclass
class _Pending:
    """An article whose passage writes are in flight."""

    article: Article
    stored: StoredArticle | None
    passage_count: int
    term_freqs: dict[str, int]
    remaining: int
    error: BaseException | None = None


@dataclass
class Progress:
    """Called with the rows processed so far; the CLI maps it to tqdm or plain log lines."""

    total: int | None = None
    update: Callable[[int], None] = lambda n: None
    close: Callable[[], None] = lambda: None


class IngestRun:
    """One ingestion run over one CSV file (one shard of it)."""

    def __init__(
        self,
        settings: Settings,
        encoder: Embedder,
        store: IndexStore,
        *,
        shard: Shard | None = None,
        limit: int | None = None,
        quarantine_path: Path | None = None,
        progress: Progress | None = None,
    ) -> None:
        self.settings = settings
        self.encoder = encoder
        self.store = store
        self.shard = shard or Shard()
        self.limit = limit
        self.quarantine_path = quarantine_path
        self.progress = progress or Progress()
        self.summary = Summary()
        self.writer = BoundedWriter(store.session, settings.write_concurrency, settings.write_retries)
        self._done: queue.SimpleQueue[_Pending] = queue.SimpleQueue()
        self._lock = threading.Lock()
        self._touched_terms: set[str] = set()
        self._faults = KillSwitch(settings.fault_kill_after)
        profile = encoder.profile
        tokenizer = getattr(encoder, "tokenizer", None)
        self._count_tokens = TokenCounter(tokenizer) if tokenizer is not None else encoder.count_tokens
        max_tokens = settings.passage_max_tokens or profile.max_tokens
        self._budget_base = (
            min(max_tokens, profile.max_tokens)
            - _special_tokens(encoder)
            - encoder.count_tokens(profile.passage_prefix)
        )

    # --- the run --------------------------------------------------------------------------------
    def run(self, path: Path) -> Summary:
        started = time.perf_counter()
        plan = plan_rows(
            read_rows(path, self.settings.read_chunk_rows, self.settings.max_article_chars),
            self.shard,
            self.limit,
        )
        self.summary.duplicates = plan.duplicates
        self.summary.over_limit = plan.over_limit
        self.progress.total = plan.articles
        window: list[Article] = []
        for item in self._articles(path, plan):
            window.append(item)
            if len(window) >= self.settings.read_chunk_rows:
                self._process_window(window)
                window = []
        if window:
            self._process_window(window)
        wait_started = time.perf_counter()
        self.writer.flush()
        self._finalise_ready()
        self.writer.flush()
        self._finalise_ready()
        self.summary.write_wait_seconds += time.perf_counter() - wait_started
        stats_started = time.perf_counter()
        if self._touched_terms or self.summary.new or self.summary.updated:
            refresh_statistics(self.store, sorted(self._touched_terms))
        self.summary.stats_seconds = time.perf_counter() - stats_started
        self.progress.close()
        s = self.summary
        s.write_seconds = self.writer.busy_seconds
        s.write_retries = self.writer.retried
        s.seconds = time.perf_counter() - started
        s.articles_per_s = (s.new + s.updated) / s.seconds if s.seconds else 0.0
        s.passages_per_s = s.passages / s.seconds if s.seconds else 0.0
        return s

    def _articles(self, path: Path, plan: Plan) -> Iterator[Article]:
        """Pass two: cleaned articles of this shard, winners only; everything else is counted."""
        s = self.summary
        quarantined: list[Quarantined] = []
        for row in read_rows(path, self.settings.read_chunk_rows, self.settings.max_article_chars):
            if row.line > plan.last_line:
                break  # appended since the plan was made: the next run takes it
            s.rows += 1
            if isinstance(row, Quarantined):
                if self.shard.reports_unidentified:  # unreadable rows have no id; shard 0 reports them
                    s.read += 1
                    s.quarantined += 1
                    quarantined.append(row)
                else:
                    s.other_shard += 1
                continue
            ident = link_id(row.link)  # None: not a URL, quarantined below as bad_link (by shard 0)
            if (ident is None and not self.shard.reports_unidentified) or (
                ident is not None and not self.shard.owns(ident)
            ):
                s.other_shard += 1
                continue
            if ident is not None and not plan.wins(row.line):
                continue  # a duplicate merged into its later copy, or over --limit: counted by the plan
            s.read += 1
            cleaned = clean_row(row, self.settings.max_article_chars)
            if isinstance(cleaned, Quarantined):
                s.quarantined += 1
                quarantined.append(cleaned)
                self.progress.update(1)
                continue
            yield cleaned
            if len(quarantined) >= 100:
                self._quarantine(quarantined)
                quarantined = []
        self._quarantine(quarantined)

    def _quarantine(self, items: list[Quarantined]) -> None:
        if not items:
            return
        if self.quarantine_path is None:
            for item in items:
                log.warning("quarantined line %d: %s", item.line, item.reason)
            return
        write_quarantine(self.quarantine_path, items)
        self.summary.quarantine_file = str(self.quarantine_path)

    def _process_window(self, articles: list[Article]) -> None:
        """Classify a window, encode its new and changed articles in one call, queue their writes."""
        self._finalise_ready()
        stored = self.store.stored_articles(a.article_id for a in articles)
        to_write: list[tuple[Article, StoredArticle | None]] = []
        for article in articles:
            previous = stored.get(article.article_id)
            if previous is not None and previous.content_hash == article.content_hash:
                self.summary.unchanged += 1
            else:
                to_write.append((article, previous))
        unchanged = len(articles) - len(to_write)
        if unchanged:
            self.progress.update(unchanged)
        if not to_write:
            return
        passages: list[tuple[Article, Passage]] = []
        for article, _ in to_write:
            budget = self._budget_base - self._count_tokens(article.title + "\n")
            for passage in split_passages(article, self._count_tokens, budget, self.settings.passage_overlap_tokens):
                passages.append((article, passage))
        encode_started = time.perf_counter()
        vectors = self.encoder.encode_passages([passage_input(a, p) for a, p in passages])
        self.summary.encode_seconds += time.perf_counter() - encode_started
        self._submit(to_write, passages, vectors)

    def _submit(
        self,
        to_write: list[tuple[Article, StoredArticle | None]],
        passages: list[tuple[Article, Passage]],
        vectors: Any,
    ) -> None:
        by_article: dict[str, list[int]] = {}
        for index, (article, _passage) in enumerate(passages):
            by_article.setdefault(article.article_id, []).append(index)
        insert_passage = self.store.insert_passage_stmt()
        insert_posting = self.store.insert_posting_stmt()
        delete_posting = self.store.delete_posting_stmt()
        delete_tail = self.store.delete_passages_from_stmt()
        for article, previous in to_write:
            indexes = by_article.get(article.article_id, [])
            freqs = dict(term_counts(article.title + "\n" + article.content))
            old_terms = previous.terms if previous else frozenset()
            added = [t for t in freqs if t not in old_terms]
            removed = [t for t in old_terms if t not in freqs]
            with self._lock:
                self._touched_terms.update(added)
                self._touched_terms.update(removed)
            pending = _Pending(
                article,
                previous,
                len(indexes),
                freqs,
                remaining=len(indexes) + len(added) + len(removed) + (1 if previous else 0),
            )
            if pending.remaining == 0:
                self._done.put(pending)
                continue
            title_terms = terms_of(article.title)
            for index in indexes:
                _, passage = passages[index]
                params = (
                    article.article_id,
                    passage.chunk_no,
                    article.title,
                    article.link,
                    article.published,
                    passage.text,
                    title_terms | terms_of(passage.text),
                    IndexStore.vector_param(vectors[index]),
                )
                self._send(insert_passage, params, pending)
            for term in added:
                self._send(insert_posting, (term, article.article_id), pending)
            for term in removed:
                self._send(delete_posting, (term, article.article_id), pending)
            if previous is not None:
                self._send(delete_tail, (article.article_id, len(indexes)), pending)

    def _send(self, statement: Any, params: tuple[Any, ...], pending: _Pending) -> None:
        wait_started = time.perf_counter()
        self.writer.submit(statement, params, pending, self._on_write_done)
        self.summary.write_wait_seconds += time.perf_counter() - wait_started

    def _on_write_done(self, pending: _Pending, error: BaseException | None) -> None:
        """Driver I/O thread: count down; the last write of an article hands it back to the main thread."""
        self._faults.tick("write")
        with self._lock:
            if error is not None and pending.error is None:
                pending.error = error
            pending.remaining -= 1
            last = pending.remaining == 0
        if last:
            self._done.put(pending)

    def _finalise_ready(self) -> None:
        """Main thread: write the article row of every article whose passages are all acknowledged."""
        insert_article = self.store.insert_article_stmt()
        while True:
            try:
                pending = self._done.get_nowait()
            except queue.Empty:
                return
            article = pending.article
            if pending.error is not None:
                self._count_failed(article, pending.error)
                continue
            params = (
                article.article_id,
                article.link,
                article.title,
                article.published,
                article.content_hash,
                pending.passage_count,
                sum(pending.term_freqs.values()),
                pending.term_freqs,
                dt.datetime.now(dt.UTC),
            )
            self.writer.submit(insert_article, params, pending, self._on_article_written)

    def _on_article_written(self, pending: _Pending, error: BaseException | None) -> None:
        if error is not None:
            self._count_failed(pending.article, error)
            return
        with self._lock:
            if pending.stored is None:
                self.summary.new += 1
            else:
                self.summary.updated += 1
            self.summary.passages += pending.passage_count
        self.progress.update(1)
        self._faults.tick("article")

    def _count_failed(self, article: Article, error: BaseException) -> None:
        with self._lock:
            self.summary.failed += 1
            self.summary.failures.append(
                f"line {article.source_line} ({article.link}): {type(error).__name__}: {error}"
            )
        self.progress.update(1)


def passage_input(article: Article, passage: Passage) -> str:
    """What the encoder sees for a passage (before the model's passage prefix): title as context."""
    return f"{article.title}\n{passage.text}"


def _special_tokens(encoder: Embedder) -> int:
    return int(getattr(encoder, "special_tokens", 2))
