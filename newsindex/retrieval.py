"""The two retrievers of hybrid search and the fill-in that lets fusion see both scores of every candidate.

- Dense: one ANN query on the passages (date range and must-contain words inside it, as SAI clauses).
- Lexical: BM25 top-N over the impact-ordered postings (newsindex.lexical.top_n), independent of the
  ANN query, so an article that contains the query's words but whose vectors are far away is still a
  candidate. The date range filters postings exactly; must-contain words restrict the candidates to
  the articles holding the rarest of them (its whole posting list), the others checked per article.
- Fill-in: a dense-only candidate gets its exact BM25 from its stored term counts, a lexical-only one
  its exact dense score (best passage, dot product computed by the server), before fusion.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence
from dataclasses import dataclass, field

from newsindex.lexical import CorpusStats, LexicalResult, Posting, bm25, idf, top_n
from newsindex.postings import Postings


@dataclass(frozen=True)
class LexicalQuery:
    terms: tuple[str, ...]
    required: tuple[str, ...] = ()
    date_from: dt.date | None = None
    date_to: dt.date | None = None
    exclude: frozenset[str] = field(default_factory=frozenset)

    def accepts(self, posting: Posting) -> bool:
        if posting.article_id in self.exclude:
            return False
        published = posting.published
        if self.date_from is None and self.date_to is None:
            return True
        if not isinstance(published, dt.date):
            return False
        return (self.date_from is None or published >= self.date_from) and (
            self.date_to is None or published <= self.date_to
        )


def lexical_top(
    postings: Postings,
    query: LexicalQuery,
    n: int,
    dfs: dict[str, int],
    stats: CorpusStats,
    max_postings: int,
) -> LexicalResult:
    """The BM25 top n for `query`: exact, unless `max_postings` cut the reading short (then it says so)."""
    if stats.articles == 0:
        return LexicalResult({}, terms=query.terms)
    if query.required:
        return _within_required(postings, query, n, dfs, stats, max_postings)
    idfs = {t: idf(dfs[t], stats.articles) for t in query.terms if dfs.get(t)}
    if not idfs:
        return LexicalResult({}, terms=query.terms)
    result = top_n(
        postings.term_pages(list(idfs)),
        idfs,
        stats.avg_len,
        n,
        postings.complete,
        accept=query.accepts,
        max_postings=max_postings,
    )
    if not result.exhaustive:
        result.notes.append(
            f"keyword ranking read its first {result.postings_read:,} postings (NEWS_LEXICAL_MAX_POSTINGS)"
        )
    return result


def _within_required(
    postings: Postings, query: LexicalQuery, n: int, dfs: dict[str, int], stats: CorpusStats, max_postings: int
) -> LexicalResult:
    """Every article holding the rarest required word (and the date range), then the others checked."""
    rarest = min(query.required, key=lambda t: (dfs.get(t, 0), t))
    if not dfs.get(rarest):
        return LexicalResult({}, terms=query.terms)
    pages = postings.term_pages([rarest])[rarest]
    universe: dict[str, int] = {}
    read, exhaustive = 0, True
    while (page := pages()) is not None:
        for p in page:
            read += 1
            if query.accepts(p):
                universe[p.article_id] = p.doc_len
        if read >= max_postings:
            exhaustive = False
            break
    wanted = list(dict.fromkeys((*query.terms, *query.required)))
    stored = postings.store.article_term_stats(list(universe), wanted)
    scores = {}
    for article_id, (freqs, doc_len) in stored.items():
        if all(freqs.get(t) for t in query.required):
            scores[article_id] = bm25(query.terms, freqs, doc_len, dfs, stats) if query.terms else 0.0
    best = dict(sorted(scores.items(), key=lambda kv: (-kv[1], kv[0]))[:n])
    result = LexicalResult(best, read, exhaustive, query.terms)
    if not exhaustive:
        result.notes.append(f"only the first {read:,} articles holding '{rarest}' were considered")
    return result


def bm25_of(
    postings: Postings, article_ids: Sequence[str], terms: Sequence[str], dfs: dict[str, int], stats: CorpusStats
) -> dict[str, float]:
    """Exact BM25 of the given articles (the dense-only candidates), from their stored term counts."""
    if not article_ids or not terms or not stats.articles:
        return {}
    found = postings.store.article_term_stats(list(article_ids), list(terms))
    return {aid: bm25(terms, freqs, length, dfs, stats) for aid, (freqs, length) in found.items()}
