"""The write side of a run: a window of cleaned articles -> intent, passages + postings, commit.

The main thread classifies, chunks and encodes a window; while the encoder runs, the window's intents
are already on their way, and its data writes go out through the bounded writer from the driver's
I/O thread while the next window encodes. An article's commit is sent by the main thread once the
last of its writes is acknowledged (`finalise_ready`). Counting: every article ends as committed
(new/updated) or failed, exactly once.
"""

from __future__ import annotations

import datetime as dt
import logging
import queue
import threading
import time
from collections.abc import Callable, Sequence
from typing import Any

from ingest.chunk import split_passages
from ingest.faults import KillSwitch
from ingest.records import Article
from ingest.writeplan import (
    ArticleWrite,
    WriteOp,
    commit_params,
    intent_params,
    lexical_version,
    needs_write,
    passage_input,
    window_ops,
)
from newsindex.encoder import Embedder
from newsindex.postings import Postings
from newsindex.store import IndexStore, StoredArticle
from newsindex.writer import BoundedWriter

log = logging.getLogger(__name__)


class Latch:
    """Counts down acknowledgements; `wait` returns when all arrived."""

    def __init__(self, count: int) -> None:
        self._count = count
        self._cond = threading.Condition()

    def count_down(self) -> None:
        with self._cond:
            self._count -= 1
            if self._count <= 0:
                self._cond.notify_all()

    def wait(self, timeout_s: float | None = None) -> bool:
        with self._cond:
            return self._cond.wait_for(lambda: self._count <= 0, timeout=timeout_s)


class WindowWriter:
    """Writes windows of articles; reports each article's end through `on_committed` / `on_failed`."""

    def __init__(
        self,
        store: IndexStore,
        postings: Postings,
        writer: BoundedWriter,
        encoder: Embedder,
        count_tokens: Callable[[str], int],
        budget: Callable[[Article], int],
        overlap_tokens: int,
        on_committed: Callable[[ArticleWrite], None],
        on_failed: Callable[[Article, BaseException], None],
        faults: KillSwitch,
    ) -> None:
        self.store = store
        self.postings = postings
        self.writer = writer
        self.encoder = encoder
        self.count_tokens = count_tokens
        self.budget = budget
        self.overlap_tokens = overlap_tokens
        self.on_committed = on_committed
        self.on_failed = on_failed
        self.faults = faults
        self.encode_seconds = 0.0
        self.wait_seconds = 0.0
        self.touched_terms: set[str] = set()
        self.committed_ids: list[str] = []
        self._done: queue.SimpleQueue[ArticleWrite] = queue.SimpleQueue()
        self._lock = threading.Lock()

    # --- main thread -------------------------------------------------------------------------------
    def classify(self, articles: Sequence[Article]) -> tuple[list[tuple[Article, StoredArticle | None]], int]:
        """(articles that need writing with what is stored for them, count of unchanged articles)."""
        ids = [a.article_id for a in articles]
        stored = self.writer.call(lambda: self.store.stored_articles(ids))
        to_write = [(a, stored.get(a.article_id)) for a in articles if needs_write(a, stored.get(a.article_id))]
        return to_write, len(articles) - len(to_write)

    def write(self, to_write: Sequence[tuple[Article, StoredArticle | None]]) -> int:
        """Chunk, intent, encode, send; returns the passages encoded. Commits follow via `finalise_ready`."""
        self.finalise_ready()
        writes = [
            ArticleWrite(
                article,
                stored,
                lexical_version(article),
                split_passages(article, self.count_tokens, self.budget(article), self.overlap_tokens),
            )
            for article, stored in to_write
        ]
        intents = self._send_intents(writes)
        texts = [passage_input(w.article, p) for w in writes for p in w.passages]
        started = time.perf_counter()
        vectors = self.encoder.encode_passages(texts)
        self.encode_seconds += time.perf_counter() - started
        waited = time.perf_counter()
        intents.wait()
        self.wait_seconds += time.perf_counter() - waited
        ready = [w for w in writes if w.error is None]
        for w in writes:
            if w.error is not None:
                self.on_failed(w.article, w.error)
        params = [IndexStore.vector_param(v) for v in vectors]
        by_id = {id(w): w for w in ready}
        offset, kept = 0, []
        for w in writes:  # keep each ready article's vectors, in order
            if id(w) in by_id:
                kept += params[offset : offset + w.passage_count]
            offset += w.passage_count
        for op in window_ops(ready, kept, self.postings.buckets):
            self._send(op)
        for w in ready:
            with self._lock:
                self.touched_terms |= w.added_terms | w.removed_terms | set(w.version.term_freqs)
        return len(texts)

    def finalise_ready(self) -> None:
        """Commit every article whose writes are all acknowledged (or count it failed)."""
        commit = self.store.commit_stmt()
        while True:
            try:
                write = self._done.get_nowait()
            except queue.Empty:
                return
            if write.error is not None:
                self.on_failed(write.article, write.error)
                continue
            self.writer.submit(commit, commit_params(write, dt.datetime.now(dt.UTC)), write, self._on_commit)

    def drain(self) -> None:
        """Wait for every write, commits included."""
        started = time.perf_counter()
        for _ in range(3):  # data writes -> commits -> their acknowledgements
            self.writer.flush()
            self.finalise_ready()
        self.writer.flush()
        self.wait_seconds += time.perf_counter() - started

    # --- internals ---------------------------------------------------------------------------------
    def _send_intents(self, writes: Sequence[ArticleWrite]) -> Latch:
        latch = Latch(len(writes))
        intent = self.store.intent_stmt()

        def done(write: ArticleWrite, error: BaseException | None) -> None:
            if error is not None:
                write.error = error
            latch.count_down()

        for w in writes:
            self._timed_submit(intent, intent_params(w), w, done)
        return latch

    def _send(self, op: WriteOp) -> None:
        if op.kind == "passage":
            self._timed_submit(self.store.insert_passage_stmt(), op.params, op, self._on_op_done)
        elif op.kind == "tail":
            self._timed_submit(self.store.delete_passages_from_stmt(), op.params, op, self._on_op_done)
        else:
            self._timed_submit(self.postings.batch(op.params), None, op, self._on_op_done)

    def _timed_submit(self, statement: Any, params: Any, tag: Any, on_done: Any) -> None:
        started = time.perf_counter()
        self.writer.submit(statement, params, tag, on_done)
        self.wait_seconds += time.perf_counter() - started

    def _on_op_done(self, op: WriteOp, error: BaseException | None) -> None:
        """Driver I/O thread: count down; an article whose last write this was goes to the main thread."""
        self.faults.tick("write")
        finished = []
        with self._lock:
            for write in op.covers:
                if error is not None and write.error is None:
                    write.error = error
                write.remaining -= 1
                if write.remaining == 0:
                    finished.append(write)
        for write in finished:
            self._done.put(write)

    def _on_commit(self, write: ArticleWrite, error: BaseException | None) -> None:
        if error is not None:
            self.on_failed(write.article, error)
            return
        with self._lock:
            self.committed_ids.append(write.article.article_id)
        self.on_committed(write)
        self.faults.tick("article")
