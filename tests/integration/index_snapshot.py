"""Everything an index holds, in a form two indexes can be compared with (fault tests: "equal to a clean run")."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any


@dataclass(frozen=True)
class Snapshot:
    articles: dict[str, tuple[Any, ...]]  # id -> (hash, passages, doc_len, term counts, pending hash)
    passages: dict[tuple[str, int], tuple[str, bool]]  # (id, chunk) -> (body, has a vector)
    postings: frozenset[tuple[Any, ...]]
    dfs: dict[str, int]
    corpus: tuple[int, int]

    def differences(self, other: Snapshot) -> list[str]:
        out = []
        for name in ("articles", "passages", "postings", "dfs", "corpus"):
            mine, theirs = getattr(self, name), getattr(other, name)
            if mine != theirs:
                if isinstance(mine, dict):
                    keys = {k for k in set(mine) | set(theirs) if mine.get(k) != theirs.get(k)}
                    out.append(f"{name}: {len(keys)} differ, e.g. {sorted(keys, key=str)[:3]}")
                elif isinstance(mine, frozenset):
                    out.append(f"{name}: {len(mine - theirs)} extra, {len(theirs - mine)} missing")
                else:
                    out.append(f"{name}: {mine} != {theirs}")
        return out


def snapshot(session: Any, keyspace: str) -> Snapshot:
    def rows(cql: str) -> Any:
        from cassandra.query import SimpleStatement

        return session.execute(SimpleStatement(cql, fetch_size=5000), timeout=120)

    articles = {
        r.article_id: (
            r.content_hash,
            r.passage_count,
            r.doc_len,
            tuple(sorted((r.term_freqs or {}).items())),
            r.pending_hash,
        )
        for r in rows(
            "SELECT article_id, content_hash, passage_count, doc_len, term_freqs, pending_hash"
            f" FROM {keyspace}.articles"
        )
    }
    passages = {
        (r.article_id, r.chunk_no): (r.body, r.vector is not None)
        for r in rows(f"SELECT article_id, chunk_no, body, vector FROM {keyspace}.passages")
    }
    postings = frozenset(
        (r.bucket, r.term, r.impact, r.article_id, r.tf, r.doc_len, r.published)
        for r in rows(f"SELECT bucket, term, impact, article_id, tf, doc_len, published FROM {keyspace}.postings")
    )
    dfs = {r.term: r.df for r in rows(f"SELECT term, df FROM {keyspace}.postings_df")}
    stats = list(rows(f"SELECT articles, total_len FROM {keyspace}.corpus_stats"))
    corpus = (stats[0].articles, stats[0].total_len) if stats else (0, 0)
    return Snapshot(articles, passages, postings, dfs, corpus)
