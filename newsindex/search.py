"""The search service used by both the Streamlit page and the CLI.

A query is encoded once (with the profile's query prefix). Candidates come from one ANN query
(`ORDER BY vector ANN OF ? LIMIT n`, the server computing `similarity_dot_product`, date range and
`terms CONTAINS` filters inside the same query). In hybrid mode a second ANN query restricted to
the rarest query term runs concurrently, so an article naming a rare player is a candidate even when
the vectors blur the name; candidates are then scored with BM25 against corpus statistics kept in
Cassandra and fused with the dense ranking (reciprocal rank fusion). Passages are grouped by
article (an article scores by its best passage) before any ranking.
"""

from __future__ import annotations

import datetime as dt
import logging
import threading
import time
from collections.abc import Sequence
from dataclasses import dataclass, field, replace
from typing import Any, Literal

import numpy as np

from newsindex import ranking
from newsindex.encoder import Embedder
from newsindex.errors import NewsSearchError
from newsindex.lexical import CorpusStats, bm25, read_corpus_stats, read_dfs
from newsindex.schema import Manifest
from newsindex.snippet import plain_snippet, snippet_html
from newsindex.store import IndexStore, PassageHit
from newsindex.text import terms_of, tokens_of

log = logging.getLogger(__name__)

Mode = Literal["hybrid", "semantic", "keyword"]
Sort = Literal["relevance", "date"]
Fusion = Literal["rrf", "linear"]
MODES: tuple[str, ...] = ("hybrid", "semantic", "keyword")


@dataclass(frozen=True)
class SearchRequest:
    query: str
    k: int = 10
    date_from: dt.date | None = None
    date_to: dt.date | None = None
    sort: Sort = "relevance"
    mode: Mode = "hybrid"
    must_contain: tuple[str, ...] = ()
    recency_half_life_days: float = 0.0
    recency_weight: float = 0.3
    diversity: float = 0.0  # 0 = off; else MMR with lambda = 1 - diversity
    # Linear fusion of min-max normalised dense and BM25 scores measured best on the eval sets
    # (docs/EVALUATION.md): RRF flattens ranks and ties dense-#1/lexical-#2 with lexical-#1/dense-#2.
    fusion: Fusion = "linear"
    linear_alpha: float = 0.5

    def validate(self, require_query: bool = True) -> None:
        if require_query and not self.query.strip():
            raise NewsSearchError("type something to search for")
        if not 1 <= self.k <= 100:
            raise NewsSearchError("the number of results must be between 1 and 100")
        if self.date_from and self.date_to and self.date_from > self.date_to:
            raise NewsSearchError("the start date is after the end date")
        if self.mode not in MODES:
            raise NewsSearchError(f"mode must be one of {', '.join(MODES)}")


@dataclass(frozen=True)
class ArticleResult:
    article_id: str
    title: str
    date: dt.date | None
    link: str
    score: float
    passage: str
    snippet: str  # plain text
    snippet_html: str  # escaped, with <mark> around matched words
    chunk_no: int
    dense_rank: int | None = None
    lexical_rank: int | None = None
    # Why it ranks here: the parts `score` was made of (None when that part did not apply).
    dense_score: float | None = None  # dot product of the query and the best passage (server-computed)
    lexical_score: float | None = None  # BM25 of the article for the query's words
    recency: float | None = None  # recency factor in [0, 1], when a recency boost was asked for

    def as_json(self) -> dict[str, Any]:
        return {
            "article_id": self.article_id,
            "title": self.title,
            "date": self.date.isoformat() if self.date else None,
            "link": self.link,
            "score": round(self.score, 6),
            "snippet": self.snippet,
        }


@dataclass
class Timings:
    encode_ms: float = 0.0
    cql_ms: float = 0.0
    rest_ms: float = 0.0
    total_ms: float = 0.0


@dataclass
class SearchResponse:
    request: SearchRequest
    results: list[ArticleResult]
    timings: Timings
    candidates: int = 0
    required_terms: tuple[str, ...] = ()
    notes: list[str] = field(default_factory=list)


class SearchService:
    """Query -> ranked, grouped articles. Build once per process (model and session are heavy)."""

    STATS_TTL_S = 60.0

    def __init__(
        self,
        store: IndexStore,
        encoder: Embedder,
        candidates: int = 200,
        manifest: Manifest | None = None,
        notice: str | None = None,
    ) -> None:
        self.store = store
        self.encoder = encoder
        self.candidates = candidates
        self.manifest = manifest
        self.notice = notice  # e.g. "searching with the index's model": for the CLI and the page to show
        self._stats: tuple[float, CorpusStats] | None = None
        self._stats_lock = threading.Lock()

    # --- public API ----------------------------------------------------------------------------
    def search(self, request: SearchRequest) -> SearchResponse:
        request.validate()
        started = time.perf_counter()
        timings = Timings()
        t = time.perf_counter()
        vector = self.encoder.encode_query(request.query)
        timings.encode_ms = (time.perf_counter() - t) * 1000
        response = self._rank(request, vector, timings, exclude=None)
        timings.total_ms = (time.perf_counter() - started) * 1000
        timings.rest_ms = max(timings.total_ms - timings.encode_ms - timings.cql_ms, 0.0)
        return response

    def more_like_this(self, article_id: str, request: SearchRequest) -> SearchResponse:
        """Articles similar to a stored one: the mean of its passage vectors, itself excluded."""
        request.validate(require_query=False)
        started = time.perf_counter()
        timings = Timings()
        t = time.perf_counter()
        vectors = [v for _, v in self.store.passages_of(article_id)]
        timings.cql_ms += (time.perf_counter() - t) * 1000
        if not vectors:
            raise NewsSearchError(f"article {article_id} is not in the index")
        mean = np.mean(np.stack(vectors), axis=0)
        mean = mean / (np.linalg.norm(mean) or 1.0)
        semantic = replace(request, mode="semantic", must_contain=())
        response = self._rank(semantic, mean.astype(np.float32), timings, exclude=article_id)
        timings.total_ms = (time.perf_counter() - started) * 1000
        timings.rest_ms = max(timings.total_ms - timings.encode_ms - timings.cql_ms, 0.0)
        return response

    def article(self, article_id: str) -> ArticleResult | None:
        """A stored article by id (its first passage as the snippet), e.g. for a shared "similar to" link."""
        row = self.store.article(article_id)
        if row is None:
            return None
        title, link, published, body = row
        return ArticleResult(article_id, title, published, link, 0.0, body, body[:320], snippet_html(body[:320], ""), 0)

    # --- internals -----------------------------------------------------------------------------
    def _rank(
        self, request: SearchRequest, vector: np.ndarray, timings: Timings, exclude: str | None
    ) -> SearchResponse:
        query_terms = tokens_of(request.query)
        required = tuple(dict.fromkeys(t for word in request.must_contain for t in sorted(terms_of(word))))
        notes: list[str] = []
        use_mmr = request.diversity > 0
        dfs: dict[str, int] = {}
        stats = CorpusStats(0, 0)
        t = time.perf_counter()
        if request.mode in ("hybrid", "keyword") and query_terms:
            dfs = read_dfs(self.store, query_terms)
            stats = self._corpus_stats()
        if request.mode == "keyword" and not required:
            rarest = _rarest(query_terms, dfs)
            required = (rarest,) if rarest else ()
            if rarest:
                notes.append(f"keyword mode: required the query's rarest word, '{rarest}'")
        limit = self.candidates
        filters = {"date_from": request.date_from, "date_to": request.date_to, "with_vector": use_mmr}
        futures = [self._ann_async(vector, limit, must_terms=required, **filters)]
        if request.mode == "hybrid" and query_terms:
            for term in _rare_terms(query_terms, dfs, stats, required):
                futures.append(self._ann_async(vector, limit // 2, must_terms=(*required, term), **filters))
        hits: list[PassageHit] = []
        vectors: dict[tuple[str, int], np.ndarray] = {}
        for future in futures:
            for hit in future.result():
                hits.append(hit)
                if hit.vector is not None:
                    vectors[(hit.article_id, hit.chunk_no)] = hit.vector
        candidates = [c for c in ranking.group_by_article(hits, vectors) if c.article_id != exclude]
        if request.mode in ("hybrid", "keyword") and candidates and query_terms:
            lexical = self._bm25_scores(query_terms, [c.article_id for c in candidates], dfs, stats)
        else:
            lexical = {}
        timings.cql_ms += (time.perf_counter() - t) * 1000
        if request.mode == "hybrid" and lexical:
            candidates = _fuse(candidates, lexical, request)
        elif lexical:
            candidates = [replace(c, lexical_score=lexical.get(c.article_id, 0.0)) for c in candidates]
        if request.recency_half_life_days > 0:
            candidates = ranking.blend_recency(candidates, request.recency_half_life_days, request.recency_weight)
        if use_mmr:
            candidates = ranking.mmr(candidates, max(request.k, 1), 1 - request.diversity)
        if request.sort == "date":
            candidates = ranking.sort_by_date(candidates[: max(request.k * 3, 30)])
        results = [self._result(c, request) for c in candidates[: request.k]]
        return SearchResponse(request, results, timings, len(candidates), required, notes)

    def _ann_async(self, vector: np.ndarray, limit: int, **kwargs: Any) -> Any:
        return _Deferred(self.store.ann, vector, limit, **kwargs)

    def _corpus_stats(self) -> CorpusStats:
        with self._stats_lock:
            now = time.monotonic()
            if self._stats is None or now - self._stats[0] > self.STATS_TTL_S:
                self._stats = (now, read_corpus_stats(self.store))
            return self._stats[1]

    def _bm25_scores(
        self, query_terms: Sequence[str], article_ids: Sequence[str], dfs: dict[str, int], stats: CorpusStats
    ) -> dict[str, float]:
        docs = self.store.article_term_stats(article_ids, query_terms)
        return {aid: bm25(query_terms, freqs, length, dfs, stats) for aid, (freqs, length) in docs.items()}

    def _result(self, c: ranking.Candidate, request: SearchRequest) -> ArticleResult:
        extra = tuple(request.must_contain)
        return ArticleResult(
            c.article_id,
            c.title,
            c.published,
            c.link,
            c.score,
            c.best.body,
            plain_snippet(c.best.body, request.query),
            snippet_html(c.best.body, " ".join((request.query, *extra))),
            c.best.chunk_no,
            c.dense_rank,
            c.lexical_rank,
            c.dense_score,
            c.lexical_score if request.mode != "semantic" else None,
            c.recency,
        )


class _Deferred:
    """Run a blocking call on a thread so several ANN queries overlap; `.result()` joins it."""

    def __init__(self, fn: Any, *args: Any, **kwargs: Any) -> None:
        self._value: Any = None
        self._error: BaseException | None = None

        def target() -> None:
            try:
                self._value = fn(*args, **kwargs)
            except BaseException as exc:  # re-raised in result()
                self._error = exc

        self._thread = threading.Thread(target=target, daemon=True)
        self._thread.start()

    def result(self) -> Any:
        self._thread.join()
        if self._error is not None:
            raise self._error
        return self._value


def _rarest(terms: Sequence[str], dfs: dict[str, int]) -> str | None:
    known = [t for t in dict.fromkeys(terms) if dfs.get(t, 0) > 0]
    return min(known, key=lambda t: (dfs[t], t)) if known else None


def _rare_terms(
    terms: Sequence[str],
    dfs: dict[str, int],
    stats: CorpusStats,
    required: Sequence[str],
    max_terms: int = 2,
    max_share: float = 0.05,
) -> list[str]:
    """The rarest query terms worth a keyword-filtered ANN query: present, and in few articles."""
    cap = max(stats.articles * max_share, 1)
    known = [t for t in dict.fromkeys(terms) if 0 < dfs.get(t, 0) <= cap and t not in required]
    return sorted(known, key=lambda t: (dfs[t], t))[:max_terms]


def _fuse(
    candidates: list[ranking.Candidate], lexical: dict[str, float], request: SearchRequest
) -> list[ranking.Candidate]:
    dense = {c.article_id: c.dense_score for c in candidates}
    lexical_ranks = ranking.ranks(lexical)
    if request.fusion == "linear":
        fused = ranking.linear_fusion(dense, {k: v for k, v in lexical.items() if v > 0}, request.linear_alpha)
    else:
        fused = ranking.reciprocal_rank_fusion([ranking.ranks(dense), lexical_ranks])
    rescored = [
        replace(
            c,
            score=fused.get(c.article_id, 0.0),
            lexical_score=lexical.get(c.article_id, 0.0),
            lexical_rank=lexical_ranks.get(c.article_id),
        )
        for c in candidates
    ]
    return sorted(rescored, key=lambda c: (-c.score, c.article_id))
