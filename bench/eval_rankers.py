"""The ranking systems the evaluation compares, each giving the top 10 links per query.

- the product: `SearchService.search(SearchRequest(query, k=10, mode=...))` on the real node, its
  `ArticleResult` fields (score, dense/lexical score and rank) and the response's timings kept;
- BM25 alone, in memory over the judged corpus (title + content): bm25s with its own tokeniser and
  defaults, and our `newsindex.lexical.bm25` on `newsindex.text.tokens_of`;
- the seed notebook's approach: each article's whole content embedded once (the model truncates it
  at its max length), queries embedded with the same model, exact dot product in numpy.

Only public product APIs: the search service and its result fields, the encoder's `encode_query` /
`encode_passages`, `bm25` and `tokens_of`. Nothing here reaches into the service's internals, so a
change of how search works inside is measured, never broken.
"""

from __future__ import annotations

import time
from collections import Counter
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from bench.eval_data import Doc, Query

TOP_K = 10
WARM_UP = ("warm-up transfer rumours", "striker loan deal agreed", "goalkeeper contract talks", "defender fee")


@dataclass(frozen=True)
class Hit:
    """One ranked article: its link and, for the product, why it ranks there."""

    link: str
    score: float
    dense_score: float | None = None
    lexical_score: float | None = None
    dense_rank: int | None = None
    lexical_rank: int | None = None


@dataclass
class Run:
    """One system over some queries: the top-k hits per query id, and timings where measured."""

    name: str  # the row label in the report
    mode: str  # hybrid | semantic | keyword | bm25 | notebook, or "" for a row that is not published
    model: str
    hits: dict[str, list[Hit]] = field(default_factory=dict)
    timings: dict[str, dict[str, float]] = field(default_factory=dict)  # qid -> encode/cql/total ms

    def ranked(self, qid: str) -> list[str]:
        return [h.link for h in self.hits.get(qid, [])]


def top_hits(scores: Mapping[str, float], k: int = TOP_K) -> list[Hit]:
    """The k best links by descending score (ties by link), positive scores only."""
    ordered = sorted((link for link, s in scores.items() if s > 0), key=lambda link: (-scores[link], link))
    return [Hit(link, float(scores[link])) for link in ordered[:k]]


# --- the product ---------------------------------------------------------------------------------
def service_runs(service: Any, queries: Sequence[Query], modes: Sequence[str], model: str) -> dict[str, Run]:
    """Every query through every mode, the modes' order rotating per query so load hits them alike."""
    from newsindex.search import SearchRequest

    for text in WARM_UP:  # prepared statements, statistics caches, encoder kernels; not eval queries
        for mode in modes:
            service.search(SearchRequest(text, k=TOP_K, mode=mode))  # type: ignore[arg-type]
    runs = {mode: Run(mode, mode, model) for mode in modes}
    for number, q in enumerate(queries):
        shift = number % len(modes)
        for mode in [*modes[shift:], *modes[:shift]]:
            response = service.search(SearchRequest(q.text, k=TOP_K, mode=mode))  # type: ignore[arg-type]
            runs[mode].hits[q.qid] = [
                Hit(r.link, r.score, r.dense_score, r.lexical_score, r.dense_rank, r.lexical_rank)
                for r in response.results
            ]
            t = response.timings
            runs[mode].timings[q.qid] = {"encode_ms": t.encode_ms, "cql_ms": t.cql_ms, "total_ms": t.total_ms}
    return runs


# --- BM25 alone ----------------------------------------------------------------------------------
class OurBM25:
    """`newsindex.lexical.bm25` over `tokens_of(title + content)` of every judged article, in memory."""

    def __init__(self, docs: Sequence[Doc]) -> None:
        from newsindex.lexical import CorpusStats
        from newsindex.text import tokens_of

        self.freqs = {d.link: Counter(tokens_of(d.text)) for d in docs}
        self.lengths = {link: sum(f.values()) for link, f in self.freqs.items()}
        self.dfs: Counter[str] = Counter()
        for f in self.freqs.values():
            self.dfs.update(f.keys())
        self.stats = CorpusStats(len(docs), sum(self.lengths.values()))

    def scores(self, query: str) -> dict[str, float]:
        from newsindex.lexical import bm25
        from newsindex.text import tokens_of

        terms = tokens_of(query)
        return {link: bm25(terms, f, self.lengths[link], self.dfs, self.stats) for link, f in self.freqs.items()}


def bm25_ours_run(docs: Sequence[Doc], queries: Sequence[Query]) -> Run:
    index = OurBM25(docs)
    return Run("BM25: newsindex bm25 + tokens_of", "", "none", {q.qid: top_hits(index.scores(q.text)) for q in queries})


def bm25s_run(docs: Sequence[Doc], queries: Sequence[Query], our_tokens: bool = False) -> Run:
    """bm25s over title + content: its own tokeniser (English stop words) and defaults, or our tokens."""
    import bm25s

    from newsindex.lexical import BM25_B, BM25_K1
    from newsindex.text import tokens_of

    texts = [d.text for d in docs]
    links = [d.link for d in docs]
    if our_tokens:
        retriever = bm25s.BM25(k1=BM25_K1, b=BM25_B)
        retriever.index([tokens_of(t) for t in texts], show_progress=False)
        tokenised = [tokens_of(q.text) for q in queries]
        name, mode = "BM25: bm25s on tokens_of, k1 1.2", ""
    else:
        retriever = bm25s.BM25()  # k1 1.5, b 0.75, Lucene idf
        retriever.index(bm25s.tokenize(texts, stopwords="en", show_progress=False), show_progress=False)
        tokenised = bm25s.tokenize([q.text for q in queries], stopwords="en", return_ids=False, show_progress=False)
        name, mode = "BM25: bm25s, own tokeniser, defaults", "bm25"
    run = Run(name, mode, "bm25s")
    for q, tokens in zip(queries, tokenised, strict=True):
        known = [t for t in tokens if t in retriever.vocab_dict]
        scores = retriever.get_scores(known) if known else np.zeros(len(links))
        run.hits[q.qid] = top_hits(dict(zip(links, (float(s) for s in scores), strict=True)))
    return run


# --- the seed notebook ---------------------------------------------------------------------------
def notebook_run(encoder: Any, docs: Sequence[Doc], queries: Sequence[Query], model: str) -> tuple[Run, float]:
    """Whole content per article, one vector each (truncated by the model), exact search; returns the encode seconds.

    The seed notebook encoded `Content` alone; with e5 the model's own prefixes come with
    `encode_passages` / `encode_query`, since e5 is trained with them.
    """
    started = time.perf_counter()
    matrix = np.asarray(encoder.encode_passages([d.content for d in docs]), dtype=np.float32)
    seconds = time.perf_counter() - started
    links = [d.link for d in docs]
    run = Run("notebook: whole content, truncated, exact", "notebook", model)
    for q in queries:
        scores = matrix @ np.asarray(encoder.encode_query(q.text), dtype=np.float32)
        # (1 + cosine) / 2 keeps every score positive for top_hits, as the server reports similarity.
        run.hits[q.qid] = top_hits({link: (1 + float(s)) / 2 for link, s in zip(links, scores, strict=True)})
    return run, seconds
