"""Plain records passed between the ingestion stages (read → clean → chunk).

Frozen and behaviour-free on purpose: every stage is a pure function from one of these to the next,
so a stage can be tested, swapped or re-run on its own.
"""

from __future__ import annotations

import datetime
from dataclasses import dataclass

__all__ = ["Article", "Passage", "Quarantined", "RawRow"]


@dataclass(frozen=True)
class RawRow:
    """One CSV record as read, before any cleaning; `line` is where it starts (1-based, header = 1)."""

    line: int
    title: str
    date: str
    link: str
    content: str


@dataclass(frozen=True)
class Article:
    """A cleaned article; `article_id` comes from the canonical link so re-ingestion is idempotent."""

    article_id: str
    link: str
    title: str
    published: datetime.date
    content: str
    content_hash: str
    source_line: int


@dataclass(frozen=True)
class Passage:
    """A piece of one article's cleaned content, sized for the encoder.

    `text` is `content[char_start:char_end]`, without any model prefix or title; the encoder adds those.
    """

    article_id: str
    chunk_no: int
    text: str
    token_count: int
    char_start: int
    char_end: int


@dataclass(frozen=True)
class Quarantined:
    """A record set aside with a short machine-friendly reason (`kind: detail`), kept for inspection."""

    line: int
    reason: str
    raw: str
