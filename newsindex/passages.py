"""Read one article's stored passages (text and vector), for the explanation page.

Plain CQL on the `passages` table (partition = article), independent of the search service's
internals, which may change.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from typing import Any

import numpy as np

from newsindex.settings import Settings

__all__ = ["StoredPassage", "article_passages", "passage_input"]


@dataclass(frozen=True)
class StoredPassage:
    article_id: str
    chunk_no: int
    title: str
    link: str
    published: dt.date | None
    body: str
    vector: np.ndarray


def article_passages(session: Any, settings: Settings, article_id: str) -> list[StoredPassage]:
    """The article's passages in order; empty when the article is not in the index."""
    statement = session.prepare(
        f"SELECT chunk_no, title, link, published, body, vector FROM {settings.keyspace}.{settings.passages_table}"
        " WHERE article_id = ?"
    )
    rows = session.execute(statement, (article_id,), timeout=settings.request_timeout_s)
    return [
        StoredPassage(
            article_id,
            int(r.chunk_no),
            r.title or "",
            r.link or "",
            _date(r.published),
            r.body or "",
            np.asarray(r.vector, dtype=np.float32),
        )
        for r in rows
    ]


def passage_input(title: str, body: str) -> str:
    """What the encoder saw for a passage (before the passage prefix): the title as context, then the text.
    The same composition as ingestion's `ingest.pipeline.passage_input`."""
    return f"{title}\n{body}"


def _date(value: Any) -> dt.date | None:
    if value is None or isinstance(value, dt.date):
        return value
    return value.date()  # type: ignore[no-any-return]
