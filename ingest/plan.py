"""Pass one over the file: which line wins for each article id, and which ids belong to this shard.

Duplicates (the same canonical link twice in a file) are merged by keeping the *last* occurrence,
the newest copy in an append-only scrape. The pass keeps two integers per row of this shard (the
id's 64 bits and the line) in flat arrays, 16 bytes a row, and the plan it returns keeps only the
winning line numbers, 8 bytes an article: a million-row file plans in tens of megabytes.
A row whose link is not a URL has no id; it is no one's duplicate, and the pipeline quarantines it.
"""

from __future__ import annotations

from array import array
from bisect import bisect_left
from collections.abc import Iterable
from dataclasses import dataclass, replace

import numpy as np

from ingest.clean import article_id
from ingest.records import Quarantined, RawRow

__all__ = ["Plan", "Shard", "link_id", "plan_rows"]


@dataclass(frozen=True)
class Shard:
    index: int = 0
    count: int = 1

    @classmethod
    def parse(cls, text: str) -> Shard:
        """`i/N` with 0 <= i < N, e.g. `0/4`."""
        try:
            left, right = text.split("/")
            shard = cls(int(left), int(right))
        except ValueError:
            raise ValueError(f"--shard must look like i/N (e.g. 0/4), not {text!r}") from None
        if not (shard.count >= 1 and 0 <= shard.index < shard.count):
            raise ValueError(f"--shard {text}: need 0 <= i < N")
        return shard

    def owns(self, article_id: str) -> bool:
        """Stable assignment by id, so a link always lands in the same shard whatever its line."""
        return self.count == 1 or int(article_id, 16) % self.count == self.index

    @property
    def reports_unidentified(self) -> bool:
        """Rows with no id (unreadable, or a link that is not a URL) are counted by shard 0 only."""
        return self.index == 0


@dataclass(frozen=True)
class Plan:
    """The lines to ingest, sorted, and what the other rows of this shard are."""

    lines: array[int]  # array("q"): the winning line of each article, ascending
    duplicates: int  # rows merged into a later copy of the same link
    over_limit: int  # rows of articles beyond --limit
    last_line: int = 0  # where the last record seen starts: rows appended after the plan wait for the next run

    @property
    def articles(self) -> int:
        return len(self.lines)

    def wins(self, line: int) -> bool:
        """Whether the row starting at `line` is the copy to ingest of its article."""
        i = bisect_left(self.lines, line)
        return i < len(self.lines) and self.lines[i] == line


def link_id(link: str) -> str | None:
    """The article id of `link`, or None when it is not an absolute http(s) URL."""
    try:
        return article_id(link)
    except ValueError:
        return None


def plan_rows(rows: Iterable[RawRow | Quarantined], shard: Shard, limit: int | None = None) -> Plan:
    """Pick the winning line per article id in `shard`; `limit` caps the number of distinct articles
    (the first `limit` links to appear, each at its last copy)."""
    ids = array("Q")
    lines = array("q")
    last_line = 0
    for row in rows:
        last_line = row.line
        if isinstance(row, Quarantined):
            continue
        ident = link_id(row.link)
        if ident is None or not shard.owns(ident):
            continue
        ids.append(int(ident, 16))
        lines.append(row.line)
    plan = _resolve(np.frombuffer(ids, dtype=np.uint64), np.frombuffer(lines, dtype=np.int64), limit)
    return replace(plan, last_line=last_line)


def _resolve(ids: np.ndarray, lines: np.ndarray, limit: int | None) -> Plan:
    """Group rows by id (a stable sort keeps file order within a group): last line wins, first decides --limit."""
    if len(ids) == 0:
        return Plan(array("q"), 0, 0)
    order = np.argsort(ids, kind="stable")
    grouped = ids[order]
    starts = np.flatnonzero(np.concatenate(([True], grouped[1:] != grouped[:-1])))
    ends = np.concatenate((starts[1:], [len(grouped)]))
    sizes = ends - starts
    keep = np.arange(len(starts))
    if limit is not None and len(starts) > limit:
        first_seen = order[starts]  # row index of each article's first copy
        keep = np.sort(np.argsort(first_seen, kind="stable")[:limit])
    winners = np.sort(lines[order[ends[keep] - 1]])
    kept_rows = int(sizes[keep].sum())
    return Plan(array("q", winners.tobytes()), kept_rows - len(keep), len(ids) - kept_rows)
