"""Wire the stages: read -> clean -> classify -> chunk -> encode -> write -> verify, with honest counts.

Write order per article makes every run resumable and exact (see ingest/writeplan.py): an intent
record first, then passages and postings, then the commit; a run killed at any point leaves articles
either committed or carrying an intent, and the next run redoes exactly those and removes whatever
stale rows they may have left. At the end, the run reads back what it committed (newsindex.verify)
and redoes any article whose rows are not all there; then it recounts the BM25 statistics.

Encoding and writing overlap: the driver sends a window's writes from its own I/O thread while this
thread reads, cleans and encodes the next window; `BoundedWriter` caps what is in flight, and stops
the run with exit code 2 when the database stays away longer than NEWS_DB_OUTAGE_WAIT_S.
"""

from __future__ import annotations

import datetime as dt
import logging
import time
from collections.abc import Callable, Iterator
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from ingest.chunk import TokenCounter
from ingest.clean import clean_row
from ingest.faults import KillSwitch
from ingest.plan import Plan, Shard, link_id, plan_rows
from ingest.prune import all_article_ids, articles_published_before, remove_articles
from ingest.read import read_rows, write_quarantine
from ingest.records import Article, Quarantined
from ingest.windows import WindowWriter
from ingest.writeplan import ArticleWrite, passage_input
from newsindex.encoder import Embedder
from newsindex.errors import StoreUnavailable
from newsindex.postings import Postings
from newsindex.settings import Settings
from newsindex.store import IndexStore
from newsindex.verify import invalidate, verify
from newsindex.writer import BoundedWriter

__all__ = ["IngestRun", "Progress", "Summary", "passage_input"]

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
    expired: int = 0  # older than NEWS_RETENTION_DAYS: not ingested (and removed if they were)
    removed: int = 0  # articles taken out of the index: expired, or gone from the file with --sync
    passages: int = 0
    seconds: float = 0.0
    encode_seconds: float = 0.0
    write_seconds: float = 0.0
    write_wait_seconds: float = 0.0
    stats_seconds: float = 0.0
    write_retries: int = 0
    failed_writes: int = 0
    write_requests: int = 0  # statements sent (a postings batch counts once), retries not included
    outage_seconds: float = 0.0
    verify_seconds: float = 0.0
    repaired: int = 0
    stats_mode: str = ""
    articles_per_s: float = 0.0
    passages_per_s: float = 0.0
    quarantine_file: str | None = None
    precision: str = ""
    failures: list[str] = field(default_factory=list)

    def reconciles(self) -> bool:
        return self.read == self.new + self.updated + self.unchanged + self.quarantined + self.failed + self.expired

    def as_dict(self) -> dict[str, Any]:
        data = asdict(self)
        data["failures"] = self.failures[:20]
        for key in (
            "seconds",
            "encode_seconds",
            "write_seconds",
            "write_wait_seconds",
            "stats_seconds",
            "verify_seconds",
            "outage_seconds",
            "articles_per_s",
            "passages_per_s",
        ):
            data[key] = round(data[key], 3)
        return data


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
        sync: bool = False,
    ) -> None:
        self.settings = settings
        self.encoder = encoder
        self.store = store
        self.shard = shard or Shard()
        self.limit = limit
        self.quarantine_path = quarantine_path
        self.progress = progress or Progress()
        self.sync = sync
        self.cutoff = (
            dt.date.today() - dt.timedelta(days=settings.retention_days) if settings.retention_days > 0 else None
        )
        self.summary = Summary()
        self.writer = BoundedWriter(
            store.session, settings.write_concurrency, settings.write_retries, outage_wait_s=settings.db_outage_wait_s
        )
        self.postings = Postings(store, settings.lexical_buckets)
        profile = encoder.profile
        tokenizer = getattr(encoder, "tokenizer", None)
        count_tokens = TokenCounter(tokenizer) if tokenizer is not None else encoder.count_tokens
        max_tokens = settings.passage_max_tokens or profile.max_tokens
        budget_base = (
            min(max_tokens, profile.max_tokens)
            - _special_tokens(encoder)
            - encoder.count_tokens(profile.passage_prefix)
        )
        self.windows = WindowWriter(
            store,
            self.postings,
            self.writer,
            encoder,
            count_tokens,
            lambda article: budget_base - count_tokens(article.title + "\n"),
            settings.passage_overlap_tokens,
            self._on_committed,
            self._on_failed,
            KillSwitch(settings.fault_kill_after),
        )
        self._counted: dict[str, str] = {}  # article id -> "new" / "updated", as first counted
        self._unreadable = 0
        self._file_ids: set[str] = set()  # every article id in the file (only for --sync)
        self._only: set[str] | None = None  # the articles a repair pass redoes

    # --- the run --------------------------------------------------------------------------------
    def run(self, path: Path) -> Summary:
        try:
            return self._run(path)
        except StoreUnavailable as exc:
            s = self.summary
            raise StoreUnavailable(
                f"{exc}. This run committed {s.new + s.updated} articles ({s.new} new, {s.updated} updated) "
                f"and left {s.unchanged} unchanged; the next run redoes every other article of the file."
            ) from None

    def _run(self, path: Path) -> Summary:
        started = time.perf_counter()
        plan = plan_rows(
            read_rows(path, self.settings.read_chunk_rows, self.settings.max_article_chars),
            self.shard,
            self.limit,
        )
        self.summary.duplicates = plan.duplicates
        self.summary.over_limit = plan.over_limit
        self.progress.total = plan.articles
        self._write_all(self._articles(path, plan))
        self.windows.drain()
        if self.writer.aborted is not None:
            raise self.writer.aborted
        if self.settings.verify_after_ingest:
            self.writer.call(lambda: self._verify_and_repair(path, plan))
        self._remove_stale(plan)
        stats_started = time.perf_counter()
        if self.windows.touched_terms or self.summary.new or self.summary.updated:
            touched = sorted(self.windows.touched_terms)
            refreshed = self.writer.call(lambda: self.postings.refresh_statistics(touched))
            self.summary.stats_mode = str(refreshed["mode"])
        self.summary.stats_seconds = time.perf_counter() - stats_started
        self.progress.close()
        s = self.summary
        s.encode_seconds = self.windows.encode_seconds
        s.write_wait_seconds = self.windows.wait_seconds
        s.write_seconds = self.writer.busy_seconds
        s.write_retries = self.writer.retried
        s.failed_writes = len(self.writer.failed)
        s.write_requests = self.writer.written + len(self.writer.failed)
        s.outage_seconds = sum(self.writer.outages)
        s.seconds = time.perf_counter() - started
        s.articles_per_s = (s.new + s.updated) / s.seconds if s.seconds else 0.0
        s.passages_per_s = s.passages / s.seconds if s.seconds else 0.0
        return s

    def _write_all(self, articles: Iterator[Article]) -> None:
        window: list[Article] = []
        for item in articles:
            window.append(item)
            if len(window) >= self.settings.read_chunk_rows:
                self._process_window(window)
                window = []
        if window:
            self._process_window(window)

    def _remove_stale(self, plan: Plan) -> None:
        """Retention (articles older than the cutoff) and --sync (articles the file no longer has)."""
        doomed: set[str] = set()
        cutoff = self.cutoff
        if cutoff is not None:
            doomed |= set(self.writer.call(lambda: articles_published_before(self.store, cutoff)))
        if self.sync:
            if self.shard.count > 1 or self.limit is not None:
                log.warning("--sync ignored: it needs the whole file (no --shard, no --limit)")
            elif self._unreadable:
                log.warning("--sync skipped: %d unreadable rows may hold articles still in the file", self._unreadable)
            else:
                doomed |= self.writer.call(lambda: all_article_ids(self.store)) - self._file_ids
        if doomed:
            removed, touched = remove_articles(self.store, self.postings, self.writer, sorted(doomed))
            self.summary.removed = removed.removed
            self.windows.touched_terms |= touched

    def _verify_and_repair(self, path: Path, plan: Plan) -> None:
        """Read back what this run committed; redo (once) every article whose rows are not all there."""
        started = time.perf_counter()
        report = verify(self.store, self.postings, list(self.windows.committed_ids))
        if not report.ok:
            for aid, problem in list(report.problems.items())[:10]:
                log.warning("verify: article %s: %s; redoing it", aid, problem)
            invalidate(self.store, list(report.problems))
            self._only = set(report.problems)
            self._write_all(self._articles(path, plan, count=False))
            self.windows.drain()
            again = verify(self.store, self.postings, list(report.problems))
            for aid, problem in again.problems.items():
                self._move_to_failed(aid, f"still incomplete after a repair: {problem}")
        self.summary.verify_seconds = time.perf_counter() - started

    def _articles(self, path: Path, plan: Plan, count: bool = True) -> Iterator[Article]:
        """Pass two: cleaned articles of this shard, winners only; everything else is counted."""
        if not count:  # a repair pass: the rows were counted by the first pass
            yield from self._repair_articles(path, plan)
            return
        s = self.summary
        quarantined: list[Quarantined] = []
        for row in read_rows(path, self.settings.read_chunk_rows, self.settings.max_article_chars):
            if row.line > plan.last_line:
                break  # appended since the plan was made: the next run takes it
            s.rows += 1
            if isinstance(row, Quarantined):
                self._unreadable += 1
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
            if ident is not None and self.sync:
                self._file_ids.add(ident)
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

    def _repair_articles(self, path: Path, plan: Plan) -> Iterator[Article]:
        for row in read_rows(path, self.settings.read_chunk_rows, self.settings.max_article_chars):
            if isinstance(row, Quarantined):
                continue
            ident = link_id(row.link)
            if ident is not None and self._only and ident in self._only and plan.wins(row.line):
                cleaned = clean_row(row, self.settings.max_article_chars)
                if isinstance(cleaned, Article):
                    yield cleaned

    def _process_window(self, articles: list[Article]) -> None:
        """Classify a window; write its new and changed articles (encoded in one call)."""
        if self.cutoff is not None:
            fresh = [a for a in articles if a.published >= self.cutoff]
            if self._only is None:
                self.summary.expired += len(articles) - len(fresh)
                self.progress.update(len(articles) - len(fresh))
            articles = fresh
        to_write, unchanged = self.windows.classify(articles)
        if self._only is None:
            self.summary.unchanged += unchanged
            if unchanged:
                self.progress.update(unchanged)
        if to_write:
            self.windows.write(to_write)

    def _on_committed(self, write: ArticleWrite) -> None:
        aid = write.article.article_id
        if self._only is not None:  # a repair: counted already
            self.summary.repaired += 1
            return
        kind = "new" if write.stored is None or write.stored.committed is None else "updated"
        self._counted[aid] = kind
        if kind == "new":
            self.summary.new += 1
        else:
            self.summary.updated += 1
        self.summary.passages += write.passage_count
        self.progress.update(1)

    def _on_failed(self, article: Article, error: BaseException) -> None:
        if self._only is not None:
            self._move_to_failed(article.article_id, f"{type(error).__name__}: {error}")
            return
        self.summary.failed += 1
        self.summary.failures.append(f"line {article.source_line} ({article.link}): {type(error).__name__}: {error}")
        self.progress.update(1)

    def _move_to_failed(self, aid: str, reason: str) -> None:
        kind = self._counted.pop(aid, None)
        if kind == "new":
            self.summary.new -= 1
        elif kind == "updated":
            self.summary.updated -= 1
        else:
            return
        self.summary.failed += 1
        self.summary.failures.append(f"article {aid}: {reason}")


def _special_tokens(encoder: Embedder) -> int:
    return int(getattr(encoder, "special_tokens", 2))
