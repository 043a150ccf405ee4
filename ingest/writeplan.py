"""What one window of articles writes, in which order, and which article each write belongs to. Pure.

Per article, in order (the pipeline enforces it):
1. the intent (`pending_*` columns: the new version's hash, passage count, length and term counts),
   acknowledged before anything else of the article is sent, so a run killed at any later point has
   left a record of every row it may have written;
2. its passages, the range delete of any passage past the new count (an older, longer version or an
   interrupted attempt), and its postings changes (upserts of the new version, deletes of every key
   of the committed and the interrupted version that the new one does not have), the postings of the
   whole window grouped into one single-partition batch per bucket;
3. the commit (the committed columns, `pending_*` cleared), once every write of step 2 is acknowledged.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

from ingest.records import Article, Passage
from newsindex.postings import PostingRow, Version, by_bucket, posting_changes
from newsindex.store import StoredArticle
from newsindex.text import term_counts, terms_of


@dataclass
class ArticleWrite:
    """One article being written; `remaining` counts its step-2 writes still unacknowledged."""

    article: Article
    stored: StoredArticle | None
    version: Version
    passages: list[Passage]
    remaining: int = 0
    error: BaseException | None = None
    added_terms: frozenset[str] = frozenset()
    removed_terms: frozenset[str] = frozenset()

    @property
    def passage_count(self) -> int:
        return len(self.passages)


@dataclass
class WriteOp:
    """One statement of step 2: `kind` names the prepared statement, `covers` the articles it serves."""

    kind: str  # "passage", "tail", "postings"
    params: Any
    covers: list[ArticleWrite] = field(default_factory=list)


def passage_input(article: Article, passage: Passage) -> str:
    """What the encoder sees for a passage (before the model's passage prefix): title as context."""
    return f"{article.title}\n{passage.text}"


def lexical_version(article: Article) -> Version:
    """Term counts and length of title + content: what BM25 scores and the postings hold."""
    freqs = dict(term_counts(article.title + "\n" + article.content))
    return Version(freqs, sum(freqs.values()), article.published)


def needs_write(article: Article, stored: StoredArticle | None) -> bool:
    """Unchanged means: committed with this content hash, and no interrupted attempt to clean up."""
    return stored is None or stored.content_hash != article.content_hash or stored.pending is not None


def intent_params(write: ArticleWrite) -> tuple[Any, ...]:
    a, v = write.article, write.version
    return (a.content_hash, write.passage_count, v.doc_len, dict(v.term_freqs), a.article_id)


def commit_params(write: ArticleWrite, ingested_at: Any) -> tuple[Any, ...]:
    a, v = write.article, write.version
    return (
        a.link,
        a.title,
        a.published,
        a.content_hash,
        write.passage_count,
        v.doc_len,
        dict(v.term_freqs),
        ingested_at,
        a.article_id,
    )


def passage_params(article: Article, passage: Passage, vector: Any) -> tuple[Any, ...]:
    return (
        article.article_id,
        passage.chunk_no,
        article.title,
        article.link,
        article.published,
        passage.text,
        terms_of(article.title) | terms_of(passage.text),
        vector,
    )


def window_ops(writes: Sequence[ArticleWrite], vectors: Sequence[Any], buckets: int) -> list[WriteOp]:
    """Every step-2 write of a window, with `remaining` of each article set to the writes it waits for.

    `vectors` are the passage vectors in the order of the articles' passages, already converted to
    the driver's parameter form.
    """
    ops: list[WriteOp] = []
    index = 0
    upserts: list[PostingRow] = []
    deletes: list[tuple[int, str, float, str]] = []
    owner: dict[str, ArticleWrite] = {}
    for write in writes:
        a = write.article
        owner[a.article_id] = write
        for passage in write.passages:
            ops.append(WriteOp("passage", passage_params(a, passage, vectors[index]), [write]))
            index += 1
        ops.append(WriteOp("tail", (a.article_id, write.passage_count), [write]))
        stored = write.stored
        new_rows, stale = posting_changes(
            a.article_id,
            write.version,
            stored.committed if stored else None,
            stored.pending if stored else None,
            buckets,
        )
        upserts += new_rows
        deletes += stale
        old_terms = set(stored.committed.term_freqs) if stored and stored.committed else set()
        old_terms |= set(stored.pending.term_freqs) if stored and stored.pending else set()
        write.added_terms = frozenset(set(write.version.term_freqs) - old_terms)
        write.removed_terms = frozenset(old_terms - set(write.version.term_freqs))
    for _bucket, batch in by_bucket(upserts, deletes):
        covered = {_article_of(op): None for op in batch}
        ops.append(WriteOp("postings", batch, [owner[aid] for aid in covered]))
    for op in ops:
        for write in op.covers:
            write.remaining += 1
    return ops


def _article_of(op: PostingRow | tuple[int, str, float, str]) -> str:
    return op.article_id if isinstance(op, PostingRow) else op[3]
