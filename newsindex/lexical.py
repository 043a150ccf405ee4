"""BM25 over postings kept in Cassandra: the scoring maths and the top-N retrieval algorithm (pure).

Apache Cassandra 5.0 has no BM25, so the index keeps what BM25 needs (newsindex.postings does the I/O):
- postings: one clustering row per (term, article), in `postings ((bucket), term, impact, article_id)`.
  Partitions are hash buckets of terms, so ingestion writes a window's postings as one single-partition
  batch per bucket (a few requests per article instead of one per term); within a partition a term's
  postings are a contiguous slice in descending *impact* order, so a query reads the best postings of
  each term first and stops early.
- `impact` is BM25's term-frequency part with a fixed reference document length (recorded in the
  manifest), so it never changes once written; scores use the true average length, and the bound
  for postings not yet read accounts for the difference (`unseen_bound`), which keeps top-N exact.
- document frequencies and corpus totals are recounted from the postings (newsindex.postings).
Documents are articles (title + content), the unit the eval judges and that BM25 scored best on.
"""

from __future__ import annotations

import hashlib
import heapq
import math
import struct
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field

BM25_K1 = 1.2
BM25_B = 0.75
# Terms per article (title + content, stop words out): 203 on average over data/news_sample.csv.
REFERENCE_AVG_LEN = 200.0
STATS_KEY = "articles"


@dataclass(frozen=True)
class CorpusStats:
    articles: int
    total_len: int

    @property
    def avg_len(self) -> float:
        return self.total_len / self.articles if self.articles else 0.0


def idf(df: int, n_docs: int) -> float:
    """BM25's idf with the +1 inside the log (Lucene's form), never negative."""
    return math.log(1 + (n_docs - df + 0.5) / (df + 0.5))


def tf_part(tf: int, doc_len: int, avg_len: float, k1: float = BM25_K1, b: float = BM25_B) -> float:
    """BM25's saturating term-frequency factor, in [0, k1 + 1)."""
    if tf <= 0:
        return 0.0
    return tf * (k1 + 1) / (tf + k1 * (1 - b + b * doc_len / (avg_len or 1.0)))


def bm25(
    query_terms: Sequence[str],
    term_freqs: Mapping[str, int],
    doc_len: int,
    dfs: Mapping[str, int],
    stats: CorpusStats,
) -> float:
    """Okapi BM25 of one document; repeated query terms count once."""
    if stats.articles == 0:
        return 0.0
    return sum(
        idf(dfs.get(term, 0), stats.articles) * tf_part(term_freqs.get(term, 0), doc_len, stats.avg_len)
        for term in dict.fromkeys(query_terms)
    )


def impact(tf: int, doc_len: int) -> float:
    """The stored ordering key of a posting: tf_part at the reference length, rounded to float32.

    Rounded here, not by the driver, so that the value written, the value a later run recomputes to
    delete the row, and the value read back are bit for bit the same.
    """
    value = tf_part(tf, doc_len, REFERENCE_AVG_LEN)
    return float(struct.unpack("<f", struct.pack("<f", value))[0])


def unseen_bound(last_impact: float, avg_len: float, k1: float = BM25_K1) -> float:
    """Upper bound of tf_part(true avg_len) for any posting at or below `last_impact` in its list.

    tf_part(avg) / tf_part(ref) = norm(ref) / norm(avg) <= max(1, avg / ref), with norm = 1 - b + b*len/avg.
    """
    ratio = max(1.0, avg_len / REFERENCE_AVG_LEN) if avg_len else 1.0
    return min(k1 + 1, last_impact * ratio * (1 + 1e-6))


def bucket_of(term: str, buckets: int) -> int:
    """A term's partition: a stable hash (not Python's salted `hash`) modulo the bucket count."""
    digest = hashlib.blake2b(term.encode("utf-8"), digest_size=4).digest()
    return int.from_bytes(digest, "big") % buckets


# --- top-N retrieval over impact-ordered postings --------------------------------------------------
@dataclass(frozen=True)
class Posting:
    article_id: str
    tf: int
    doc_len: int
    impact: float
    published: object = None  # datetime.date; only compared with the query's date range


PageSource = Callable[[], Sequence[Posting] | None]
"""Returns the next page of one term's postings in descending impact order, or None when exhausted."""

Complete = Callable[[Sequence[str], Sequence[str]], dict[str, dict[str, int]]]
"""(article ids, terms) -> {article id: {term: tf}} for the terms each article has: fills in what the
lists did not reach. `{}` for an id means the article has none of the terms (or no longer exists)."""


@dataclass
class LexicalResult:
    scores: dict[str, float]  # article id -> exact BM25, the top N (fewer when fewer articles match)
    postings_read: int = 0
    exhaustive: bool = True  # False when the read cap stopped the search before its bound was reached
    terms: tuple[str, ...] = ()
    notes: list[str] = field(default_factory=list)


@dataclass
class _TermList:
    term: str
    weight: float  # idf
    pages: PageSource
    last_impact: float = float("inf")
    done: bool = False


def top_n(
    term_pages: Mapping[str, PageSource],
    idfs: Mapping[str, float],
    avg_len: float,
    n: int,
    complete: Complete,
    *,
    accept: Callable[[Posting], bool] = lambda _p: True,
    max_postings: int = 20_000,
) -> LexicalResult:
    """The n articles with the highest BM25 for the terms of `term_pages` (a threshold algorithm).

    Reads each term's postings best-impact first, a page at a time, adding every posting's exact
    contribution. It stops when no article it has not seen could reach the n-th best score found
    (the sum of the terms' `unseen_bound`s is at most that score), then completes the partial scores
    of articles that could still make the top n by asking `complete` for the terms their lists did
    not reach. `accept` filters postings (a date range). Exact unless `max_postings` stops it first.
    """
    lists = [_TermList(t, idfs.get(t, 0.0), pages) for t, pages in term_pages.items() if idfs.get(t, 0.0) > 0]
    scores: dict[str, float] = {}
    seen: dict[str, set[str]] = {}
    doc_lens: dict[str, int] = {}
    read = 0
    exhaustive = True
    while True:
        active = [tl for tl in lists if not tl.done]
        if not active:
            break
        # Stop when no unseen article can make the top n. Completing the partial ones costs one
        # random read per article; another page of a list is one sequential read that lowers every
        # bound at once, so read on while more than one completion batch would be needed.
        if (
            len(scores) >= n
            and _unseen_total(lists, avg_len) <= _nth_best(scores, n)
            and _to_complete(scores, seen, lists, avg_len, n) <= _completion_batch(n)
        ):
            break
        if read >= max_postings:
            exhaustive = False
            break
        # The list that could still add the most: rare terms are read deep, common ones barely.
        tl = max(active, key=lambda x: x.weight * unseen_bound(x.last_impact, avg_len))
        page = tl.pages()
        if not page:
            tl.done = True
            continue
        for p in page:
            read += 1
            tl.last_impact = p.impact
            if not accept(p):
                continue
            doc_lens[p.article_id] = p.doc_len
            scores[p.article_id] = scores.get(p.article_id, 0.0) + tl.weight * tf_part(p.tf, p.doc_len, avg_len)
            seen.setdefault(p.article_id, set()).add(tl.term)
    _complete_partial(scores, seen, doc_lens, lists, avg_len, n, complete)
    best = heapq.nlargest(n, scores.items(), key=lambda kv: (kv[1], kv[0]))
    return LexicalResult(dict(best), read, exhaustive, tuple(tl.term for tl in lists))


def _completion_batch(n: int) -> int:
    return max(2 * n, 32)


def _to_complete(
    scores: Mapping[str, float], seen: Mapping[str, set[str]], lists: Sequence[_TermList], avg_len: float, n: int
) -> int:
    """How many partially scored articles could still make the top n (each would need a read)."""
    bound = {tl.term: tl.weight * unseen_bound(tl.last_impact, avg_len) for tl in lists if not tl.done}
    threshold = _nth_best(scores, n)
    count = 0
    for article_id, terms in seen.items():
        absent = [t for t in bound if t not in terms]
        if absent and scores[article_id] + sum(bound[t] for t in absent) >= threshold:
            count += 1
    return count


def _nth_best(scores: Mapping[str, float], n: int) -> float:
    if len(scores) < n:
        return 0.0
    return heapq.nlargest(n, scores.values())[-1]


def _unseen_total(lists: Iterable[_TermList], avg_len: float) -> float:
    return sum(tl.weight * unseen_bound(tl.last_impact, avg_len) for tl in lists if not tl.done)


def _complete_partial(
    scores: dict[str, float],
    seen: dict[str, set[str]],
    doc_lens: Mapping[str, int],
    lists: Sequence[_TermList],
    avg_len: float,
    n: int,
    complete: Complete,
) -> None:
    """Add the contributions the lists did not reach, for every article that could still make the top n."""
    bound = {tl.term: (0.0 if tl.done else tl.weight * unseen_bound(tl.last_impact, avg_len)) for tl in lists}
    upper: dict[str, float] = {}
    missing: dict[str, list[str]] = {}
    for article_id, terms in seen.items():
        absent = [tl.term for tl in lists if tl.term not in terms and not tl.done]
        if absent:
            missing[article_id] = absent
            upper[article_id] = scores[article_id] + sum(bound[t] for t in absent)
    weights = {tl.term: tl.weight for tl in lists}
    # Best upper bound first, a batch at a time: partial scores only grow, so the n-th best score so
    # far is a floor of the final one, and once an article's upper bound is below it, so is every
    # later article's. Usually the first batch decides; the rest is never read.
    order = sorted(missing, key=lambda a: (-upper[a], a))
    batch = _completion_batch(n)
    for start in range(0, len(order), batch):
        threshold = _nth_best(scores, n)
        chunk = [a for a in order[start : start + batch] if upper[a] >= threshold]
        if not chunk:
            return
        wanted = sorted({t for a in chunk for t in missing[a]})
        found = complete(chunk, wanted)
        for article_id in chunk:
            freqs = found.get(article_id, {})
            for term in missing[article_id]:
                tf = freqs.get(term, 0)
                if tf:
                    scores[article_id] += weights[term] * tf_part(tf, doc_lens[article_id], avg_len)
