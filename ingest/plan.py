"""Pass one over the file: which line wins for each article id, and which ids belong to this shard.

Duplicates (the same canonical link twice in a file) are merged by keeping the *last* occurrence,
the newest copy in an append-only scrape. Only ids and line numbers are kept, so memory stays small
even for files far larger than the sample (8 bytes per row plus the id).
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

from ingest.clean import article_id, canonical_link
from ingest.records import Quarantined, RawRow


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


@dataclass
class Plan:
    winners: dict[str, int]  # article id -> line of the copy to ingest
    duplicates: int  # rows of this shard merged into a later copy


def plan_rows(rows: Iterable[RawRow | Quarantined], shard: Shard, limit: int | None = None) -> Plan:
    """Pick the winning line per article id in `shard`; `limit` caps the number of distinct articles."""
    winners: dict[str, int] = {}
    duplicates = 0
    for row in rows:
        if isinstance(row, Quarantined) or not row.link.strip():
            continue
        ident = article_id(canonical_link(row.link))
        if not shard.owns(ident):
            continue
        if ident in winners:
            duplicates += 1
        elif limit is not None and len(winners) >= limit:
            continue
        winners[ident] = row.line
    return Plan(winners, duplicates)
