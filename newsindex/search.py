"""The search service used by both the Streamlit page and the CLI.

A query is encoded once (with the profile's query prefix) by the process's shared query encoder.
Then, per mode:
- semantic: one ANN query (`ORDER BY vector ANN OF ? LIMIT n`, the server computing
  `similarity_dot_product`, date range and `terms CONTAINS` filters inside the same query);
- keyword: BM25 top-k from the postings kept in Cassandra (newsindex.retrieval.lexical_top);
- hybrid: both retrievers at once, each candidate completed with the score the other retriever did
  not give it (newsindex.retrieval), then fused (linear blend of min-max normalised scores).
Passages are grouped by article (an article scores by its best passage) before any ranking; each
result carries the parts of its score (dense, keyword, recency) so the page can say why it ranks.
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
from newsindex.lexical import CorpusStats
from newsindex.postings import Postings
from newsindex.query_encoder import QueryEncoder
from newsindex.retrieval import LexicalQuery, bm25_of, lexical_top
from newsindex.schema import Manifest
from newsindex.snippet import snippet_html, snippets
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


@dataclass(frozen=True)
class Tuning:
    """How many candidates each retriever returns, and the cap on postings one keyword ranking reads."""

    dense: int = 200
    lexical: int = 50
    max_postings: int = 20_000


class SearchService:
    """Query -> ranked, grouped articles. Build once per process (model and session are heavy); thread-safe."""

    STATS_TTL_S = 60.0

    def __init__(
        self,
        store: IndexStore,
        encoder: Embedder,
        candidates: int | Tuning = 200,
        manifest: Manifest | None = None,
        notice: str | None = None,
        query_threads: int = 0,
    ) -> None:
        self.store = store
        self.encoder = encoder
        self.tuning = candidates if isinstance(candidates, Tuning) else Tuning(dense=candidates)
        self.manifest = manifest
        self.notice = notice  # e.g. "searching with the index's model": for the CLI and the page to show
        buckets = manifest.lexical_buckets if manifest and manifest.lexical_buckets else store.settings.lexical_buckets
        self.postings = Postings(store, buckets)
        self.queries = QueryEncoder(encoder, torch_threads=query_threads)
        self._stats: tuple[float, CorpusStats] | None = None
        self._dfs: dict[str, tuple[float, int]] = {}  # term -> (read at, document frequency)
        self._stats_lock = threading.Lock()

    @property
    def candidates(self) -> int:
        return self.tuning.dense

    def close(self) -> None:
        """Stop the query encoder and close the driver session."""
        from newsindex.connect import close

        self.queries.close()
        close(self.store.session)

    # --- public API ----------------------------------------------------------------------------
    def search(self, request: SearchRequest) -> SearchResponse:
        request.validate()
        started = time.perf_counter()
        timings = Timings()
        t = time.perf_counter()
        vector = self.queries.encode_query(request.query)
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
        query_terms = tuple(dict.fromkeys(tokens_of(request.query)))
        required = tuple(dict.fromkeys(t for word in request.must_contain for t in sorted(terms_of(word))))
        use_mmr = request.diversity > 0
        notes: list[str] = []
        t = time.perf_counter()
        dense_rows = None
        if request.mode != "keyword":
            dense_rows = self.store.ann_async(
                vector,
                self.tuning.dense,
                date_from=request.date_from,
                date_to=request.date_to,
                must_terms=required,
                with_vector=use_mmr,
            )
        dfs: dict[str, int] = {}
        stats = CorpusStats(0, 0)
        lexical: dict[str, float] = {}
        if request.mode != "semantic" and (query_terms or required):
            dfs = self._document_frequencies([*query_terms, *required])
            stats = self._corpus_stats()
            query = LexicalQuery(
                query_terms, required, request.date_from, request.date_to, frozenset([exclude] if exclude else [])
            )
            found = lexical_top(self.postings, query, self._lexical_n(request), dfs, stats, self.tuning.max_postings)
            lexical, notes = found.scores, found.notes
        hits = dense_rows.result() if dense_rows is not None else []
        dense = ranking.group_by_article([h for h in hits if h.article_id != exclude], _vectors(hits))
        lexical_only = [aid for aid in lexical if aid not in {c.article_id for c in dense}]
        extra_rows = (
            self.store.scored_passages_async(lexical_only, vector, with_vector=use_mmr) if lexical_only else None
        )
        if request.mode == "hybrid" and query_terms:
            # Read while the lexical-only passages are on their way. Only the dense head can reach
            # the top of the fusion; completing the whole tail (up to `dense` passages' articles)
            # tripled the read for no measured change in ranking.
            head = dense[: max(self.tuning.lexical, request.k * 3)]
            missing = [c.article_id for c in head if c.article_id not in lexical]
            lexical.update(bm25_of(self.postings, missing, query_terms, dfs, stats))
        if extra_rows is not None:
            extra = extra_rows.result()
            dense = ranking.group_by_article([*_best_hits(dense), *extra], _vectors([*hits, *extra]))
        timings.cql_ms += (time.perf_counter() - t) * 1000
        candidates = _score(dense, lexical, request)
        if request.recency_half_life_days > 0:
            candidates = ranking.blend_recency(candidates, request.recency_half_life_days, request.recency_weight)
        if use_mmr:
            candidates = ranking.mmr(candidates, max(request.k, 1), 1 - request.diversity)
        if request.sort == "date":
            candidates = ranking.sort_by_date(candidates[: max(request.k * 3, 30)])
        results = [self._result(c, request) for c in candidates[: request.k]]
        return SearchResponse(request, results, timings, len(candidates), required, notes)

    def _lexical_n(self, request: SearchRequest) -> int:
        """Keyword mode ranks by BM25 alone, so the exact top k (more when re-sorting) is all it needs."""
        wanted = request.k * 3 if request.sort == "date" or request.diversity > 0 else request.k
        return wanted if request.mode == "keyword" else self.tuning.lexical

    def _document_frequencies(self, terms: list[str]) -> dict[str, int]:
        """Document frequencies, each kept for STATS_TTL_S like the corpus statistics (they change
        only when an ingest run recounts them): a search then reads only the terms it has not seen."""
        now = time.monotonic()
        with self._stats_lock:
            fresh = {t: v[1] for t in terms if (v := self._dfs.get(t)) is not None and now - v[0] <= self.STATS_TTL_S}
        unknown = [t for t in dict.fromkeys(terms) if t not in fresh]
        if unknown:
            read = self.postings.read_dfs(unknown)
            with self._stats_lock:
                if len(self._dfs) > 100_000:  # bounded: drop everything, the next searches refill it
                    self._dfs.clear()
                for term in unknown:
                    self._dfs[term] = (now, read.get(term, 0))
            fresh.update({t: read.get(t, 0) for t in unknown})
        return {t: df for t, df in fresh.items() if df > 0}

    def _corpus_stats(self) -> CorpusStats:
        with self._stats_lock:
            now = time.monotonic()
            if self._stats is None or now - self._stats[0] > self.STATS_TTL_S:
                self._stats = (now, self.postings.read_corpus_stats())
            return self._stats[1]

    def _result(self, c: ranking.Candidate, request: SearchRequest) -> ArticleResult:
        extra = tuple(request.must_contain)
        plain, marked = snippets(c.best.body, " ".join((request.query, *extra)))
        return ArticleResult(
            c.article_id,
            c.title,
            c.published,
            c.link,
            c.score,
            c.best.body,
            plain,
            marked,
            c.best.chunk_no,
            c.dense_rank,
            c.lexical_rank,
            c.dense_score,
            c.lexical_score if request.mode != "semantic" else None,
            c.recency,
        )


def _vectors(hits: Sequence[PassageHit]) -> dict[tuple[str, int], np.ndarray]:
    return {(h.article_id, h.chunk_no): h.vector for h in hits if h.vector is not None}


def _best_hits(candidates: Sequence[ranking.Candidate]) -> list[PassageHit]:
    return [c.best for c in candidates]


def _score(
    candidates: list[ranking.Candidate], lexical: dict[str, float], request: SearchRequest
) -> list[ranking.Candidate]:
    """The final order per mode: dense score, BM25, or their fusion; every part kept for explanations."""
    lexical_ranks = ranking.ranks(lexical)
    dense = {c.article_id: c.dense_score for c in candidates}
    if request.mode == "semantic" or not lexical:
        fused = dense if request.mode != "keyword" else {}
    elif request.mode == "keyword":
        fused = dict(lexical)
    elif request.fusion == "linear":
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
        if c.article_id in fused
    ]
    return sorted(rescored, key=lambda c: (-c.score, c.article_id))
