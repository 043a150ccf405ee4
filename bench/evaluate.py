"""Search quality on the judged sample: product modes on the real node, baselines in memory.

    NEWS_MODEL=all-MiniLM-L6-v2 .venv/bin/python -m bench.evaluate

Reads the shared sample (`../shared`, or NEWS_SHARED_DIR) and never copies it into the repo: the
first 294 rows (the judged corpus) go to a temporary CSV, which is ingested into one keyspace per
passage budget (`eval_<model>_p<budget>`; re-runs find the articles unchanged and skip them). Then:

1. the product's modes through `SearchService.search` (semantic, hybrid RRF, keyword) with the
   service's own timings; hybrid linear at three alphas through the service on the sample queries,
   and over every query by the service's own `_fuse` on the candidates it recorded (see service_plan);
2. BM25 alone over title + content, with bm25s and with our own `bm25` + `tokens_of`, in memory;
3. the notebook approach: the whole text embedded once (truncated by the model), exact numpy search;
4. exact dense search over the stored passage vectors of each budget, and (default budget) over the
   same passages encoded without their title;
5. why hybrid ranks as it does: the service's own candidates and BM25 scores are recorded (by
   wrapping `newsindex.search._fuse`), then re-fused with other weights, or with BM25 over the whole
   corpus, using `newsindex.ranking`.

Prints markdown tables; writes everything (per query too) to bench/results/eval-<time>.json.
Metrics: bench.metrics (MRR@10, R@1/5/10, graded nDCG@10). docs/EVALUATION.md discusses the results.
"""

from __future__ import annotations

import argparse
import contextlib
import csv
import datetime as dt
import json
import os
import platform
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from importlib import metadata
from pathlib import Path
from typing import Any

import numpy as np

from bench.metrics import METRICS, mean_metrics, percentile, query_metrics

REPO = Path(__file__).resolve().parents[1]
SHARED = Path(os.environ.get("NEWS_SHARED_DIR") or REPO.parent / "shared")
RESULTS = REPO / "bench" / "results"
CORPUS_SIZE = 294
BUDGETS = (128, 200, 256)
OVERLAP = 32
# Sample queries that name no person at all (clubs, countries or nothing): where dense retrieval
# should matter most and the lexical side has no rare name to latch on to.
NAMES_NOBODY = frozenset({"s04", "s07", "s08", "s09"})
RRF_WEIGHTS = ((1.0, 1.0), (1.0, 1.5), (1.0, 2.0), (1.0, 3.0))
MODEL_SLUGS = {"all-MiniLM-L6-v2": "minilm", "intfloat/e5-small-v2": "e5small"}


def log(message: str) -> None:
    print(f"[evaluate] {message}", file=sys.stderr, flush=True)


# --- data ----------------------------------------------------------------------------------------
@dataclass(frozen=True)
class Query:
    qid: str
    text: str
    type: str
    grades: dict[str, int]  # canonical link -> grade


@dataclass
class Corpus:
    articles: list[Any]  # ingest.records.Article, in file order
    csv_path: Path

    @property
    def links(self) -> list[str]:
        return [a.link for a in self.articles]


def load_queries(path: Path) -> list[Query]:
    from ingest.clean import canonical_link

    queries = []
    for line in path.read_text(encoding="utf-8").splitlines():
        if line.strip():
            d = json.loads(line)
            grades = {canonical_link(link): int(g) for link, g in d["grades"].items()}
            queries.append(Query(d["id"], d["query"], d["type"], grades))
    return queries


def load_corpus(shared: Path, workdir: Path) -> Corpus:
    """The judged corpus: the sample's first 294 rows, checked against corpus_links.txt."""
    from ingest.clean import canonical_link, clean_row
    from ingest.read import read_rows
    from ingest.records import Article, RawRow

    links = [canonical_link(x) for x in (shared / "eval" / "corpus_links.txt").read_text().split() if x]
    rows = []
    for row in read_rows(shared / "data" / "news_sample.csv"):
        if not isinstance(row, RawRow):
            raise SystemExit(f"unexpected bad row in the sample at line {row.line}: {row.reason}")
        rows.append(row)
        if len(rows) == len(links):
            break
    articles = [clean_row(r) for r in rows]
    if not all(isinstance(a, Article) for a in articles) or [a.link for a in articles] != links:
        raise SystemExit("the sample's first rows do not match eval/corpus_links.txt; wrong shared dir?")
    path = workdir / "judged_corpus.csv"
    with path.open("w", encoding="utf-8", newline="") as f:
        writer = csv.writer(f)
        writer.writerow(["Title", "Date", "Link", "Content"])
        writer.writerows([r.title, r.date, r.link, r.content] for r in rows)
    return Corpus(articles, path)


# --- results bookkeeping -------------------------------------------------------------------------
@dataclass
class System:
    """One ranking system's results: ranked canonical links per query id."""

    name: str
    budget: int | None
    runs: dict[str, list[str]] = field(default_factory=dict)
    latency: dict[str, tuple[float, float, float]] = field(default_factory=dict)  # qid -> search, CQL, encode ms

    def per_query(self, queries: Sequence[Query]) -> dict[str, dict[str, float]]:
        return {q.qid: query_metrics(self.runs[q.qid], q.grades) for q in queries if q.qid in self.runs}

    def mean(self, queries: Sequence[Query]) -> dict[str, float]:
        return mean_metrics(self.per_query(queries).values())


def ranked_links(scores: Mapping[str, float], links: Mapping[str, str], k: int = 10) -> list[str]:
    """Top-k links by descending score (ties: article id), positive scores only."""
    ordered = sorted((a for a, s in scores.items() if s > 0), key=lambda a: (-scores[a], a))
    return [links[a] for a in ordered[:k]]


# --- the product index ---------------------------------------------------------------------------
def keyspace_for(model: str, budget: int) -> str:
    slug = MODEL_SLUGS.get(model) or "".join(ch for ch in model.lower() if ch.isalnum())[-20:]
    return f"eval_{slug}_p{budget}"


def ensure_index(settings: Any, corpus: Corpus, encoder: Any, workdir: Path) -> dict[str, Any]:
    """Ingest the judged corpus into settings.keyspace; exactly those articles, every one complete."""
    from ingest.cli import run_ingest
    from newsindex.connect import close, connect
    from newsindex.store import IndexStore

    wanted = {a.article_id for a in corpus.articles}
    runs: list[dict[str, Any]] = []
    recreate = False
    for _attempt in range(4):
        summary = run_ingest(
            corpus.csv_path, settings, encoder=encoder, recreate=recreate, quarantine=workdir / "quarantine.jsonl"
        ).as_dict()
        runs.append({k: summary[k] for k in ("new", "updated", "unchanged", "failed", "passages", "seconds")})
        session = connect(settings)
        try:
            store = IndexStore(session, settings)
            present = set(store.stored_articles(wanted))
            total = store.count(settings.articles_table)
            passages = store.count(settings.passages_table)
        finally:
            close(session)
        if present == wanted and total == len(wanted):
            return {"keyspace": settings.keyspace, "runs": runs, "articles": total, "passages": passages}
        recreate = total > len(present)  # articles outside the judged corpus: rebuild from scratch
        log(f"{settings.keyspace}: {len(present)}/{len(wanted)} articles complete, {total} in table; again")
    raise SystemExit(f"could not ingest the judged corpus into {settings.keyspace} (see {runs})")


class MemoEncoder:
    """The real encoder, with query vectors memoised: the modes share one encoding per query."""

    def __init__(self, encoder: Any) -> None:
        self.encoder = encoder
        self.profile = encoder.profile
        self._queries: dict[str, np.ndarray] = {}

    def encode_query(self, text: str) -> np.ndarray:
        if text not in self._queries:
            self._queries[text] = self.encoder.encode_query(text)
        return self._queries[text]

    def encode_passages(self, texts: Sequence[str]) -> np.ndarray:
        return self.encoder.encode_passages(texts)

    def count_tokens(self, text: str) -> int:
        return int(self.encoder.count_tokens(text))


@contextlib.contextmanager
def recording_fusion(slot: dict[str, Any]) -> Iterator[None]:
    """Record the candidates and BM25 scores the service hands to its fusion step."""
    from newsindex import search as search_module

    original = search_module._fuse

    def recording(candidates: Any, lexical: Any, request: Any) -> Any:
        slot["candidates"], slot["lexical"] = list(candidates), dict(lexical)
        return original(candidates, lexical, request)

    search_module._fuse = recording
    try:
        yield
    finally:
        search_module._fuse = original


LINEAR_ALPHAS = (0.3, 0.5, 0.7)
WARM_UP = ("warm-up transfer rumours", "striker loan deal agreed", "goalkeeper contract talks", "defender fee")


def service_plan(default: bool) -> list[tuple[str, dict[str, Any], bool]]:
    """(name, request fields, over every query?) of the service runs for one budget.

    Runs over all 306 queries are what the tables report. The linear fusions issue exactly the CQL
    of hybrid RRF and differ only in `_fuse`, so over all queries they are computed by applying the
    service's `_fuse` to the candidates it recorded (`linear_systems`); the service runs them on the
    12 sample queries to prove the two identical and to time them. Off the default budget the dense
    side is exact numpy search over the stored vectors; the service's semantic mode on the sample
    queries checks that the ANN index returns the same.
    """
    if not default:
        return [("hybrid rrf", {"mode": "hybrid"}, True), ("semantic", {"mode": "semantic"}, False)]
    plan = [
        ("semantic", {"mode": "semantic"}, True),
        ("hybrid rrf", {"mode": "hybrid", "fusion": "rrf"}, True),
        ("keyword", {"mode": "keyword"}, True),
    ]
    plan += [
        (f"hybrid linear a={a}", {"mode": "hybrid", "fusion": "linear", "linear_alpha": a}, False)
        for a in LINEAR_ALPHAS
    ]
    return plan


def run_service(
    service: Any,
    sample: Sequence[Query],
    titles: Sequence[Query],
    budget: int,
    default: bool,
    encode_ms: dict[str, float],
) -> tuple[list[System], dict[str, dict[str, Any]]]:
    """The service's modes (see service_plan); returns the systems and the recorded hybrid candidates."""
    from newsindex.search import SearchRequest

    for text in WARM_UP:  # prepared statements, statistics cache, encoder kernels; not eval queries
        service.search(SearchRequest(text, mode="hybrid"))
    systems, captured = [], {}
    for name, kwargs, everywhere in service_plan(default):
        queries = [*sample, *titles] if everywhere else list(sample)
        system = System(f"{name} (service)" if everywhere else f"{name} (service, S only)", budget)
        started = time.perf_counter()
        for q in queries:
            slot: dict[str, Any] = {}
            with recording_fusion(slot):
                response = service.search(SearchRequest(q.text, k=10, **kwargs))
            system.runs[q.qid] = [r.link for r in response.results]
            t = response.timings
            encode_ms.setdefault(q.qid, t.encode_ms)  # the first pass encodes; later ones hit the memo
            system.latency[q.qid] = (t.total_ms - t.encode_ms + encode_ms[q.qid], t.cql_ms, encode_ms[q.qid])
            if name == "hybrid rrf":
                captured[q.qid] = slot
        log(f"p{budget} {name}: {len(queries)} queries in {time.perf_counter() - started:.0f}s")
        systems.append(system)
    return systems, captured


def linear_systems(
    captured: Mapping[str, Mapping[str, Any]], queries: Sequence[Query], budget: int, rrf_runs: Mapping[str, list[str]]
) -> list[System]:
    """Hybrid linear fusion: the service's own `_fuse` applied to the candidates it recorded."""
    from newsindex.search import SearchRequest, _fuse

    systems = []
    for alpha in LINEAR_ALPHAS:
        system = System(f"hybrid linear a={alpha}", budget)
        for q in queries:
            slot = captured[q.qid]
            if not slot:  # no lexical scores: the service returns the dense order whatever the fusion
                system.runs[q.qid] = rrf_runs[q.qid]
                continue
            request = SearchRequest(q.text, fusion="linear", linear_alpha=alpha)
            system.runs[q.qid] = [c.link for c in _fuse(slot["candidates"], slot["lexical"], request)[:10]]
        systems.append(system)
    return systems


def same_runs(a: System, b: System) -> str:
    """How many of a's queries b ranks identically, as 'n/m'."""
    return f"{sum(b.runs.get(qid) == run for qid, run in a.runs.items())}/{len(a.runs)}"


def stored_passages(service: Any) -> tuple[list[str], list[str], np.ndarray]:
    """(article ids, bodies, vectors) of every stored passage, in one scan."""
    settings = service.store.settings
    rows = list(
        service.store.session.execute(
            f"SELECT article_id, chunk_no, body, vector FROM {settings.keyspace}.{settings.passages_table}",
            timeout=120,
        )
    )
    rows.sort(key=lambda r: (r.article_id, r.chunk_no))
    vectors = np.asarray([r.vector for r in rows], dtype=np.float32)
    return [r.article_id for r in rows], [r.body for r in rows], vectors


# --- in-memory rankers ---------------------------------------------------------------------------
def max_passage_scores(owners: Sequence[str], matrix: np.ndarray, query: np.ndarray) -> dict[str, float]:
    """Exact dot product per passage, an article scored by its best passage (as the service does)."""
    best: dict[str, float] = {}
    for owner, score in zip(owners, (matrix @ query).tolist(), strict=True):
        if score > best.get(owner, -np.inf):
            best[owner] = score
    # Shifted to (1 + dot) / 2 so every score is positive for ranked_links, as the server reports it.
    return {a: (1 + s) / 2 for a, s in best.items()}


def dense_system(
    name: str,
    budget: int | None,
    owners: Sequence[str],
    matrix: np.ndarray,
    queries: Sequence[Query],
    vectors: Mapping[str, np.ndarray],
    links: Mapping[str, str],
) -> System:
    system = System(name, budget)
    for q in queries:
        system.runs[q.qid] = ranked_links(max_passage_scores(owners, matrix, vectors[q.qid]), links)
    return system


class OurBM25:
    """Our `bm25` and `tokens_of`, over the whole corpus in memory (articles = title + content)."""

    def __init__(self, articles: Sequence[Any]) -> None:
        from newsindex.lexical import CorpusStats
        from newsindex.text import term_counts

        self.freqs = {a.article_id: dict(term_counts(a.title + "\n" + a.content)) for a in articles}
        self.lengths = {a: sum(f.values()) for a, f in self.freqs.items()}
        self.dfs: dict[str, int] = {}
        for f in self.freqs.values():
            for term in f:
                self.dfs[term] = self.dfs.get(term, 0) + 1
        self.stats = CorpusStats(len(articles), sum(self.lengths.values()))

    def scores(self, query: str) -> dict[str, float]:
        from newsindex.lexical import bm25
        from newsindex.text import tokens_of

        terms = tokens_of(query)
        return {a: bm25(terms, f, self.lengths[a], self.dfs, self.stats) for a, f in self.freqs.items()}


def bm25s_scores(articles: Sequence[Any], queries: Sequence[Query], ours: bool) -> dict[str, dict[str, float]]:
    """bm25s over title + content: its own tokeniser and defaults, or our tokens with k1 = 1.2."""
    import bm25s

    from newsindex.lexical import BM25_B, BM25_K1
    from newsindex.text import tokens_of

    texts = [a.title + "\n" + a.content for a in articles]
    ids = [a.article_id for a in articles]
    if ours:
        retriever = bm25s.BM25(k1=BM25_K1, b=BM25_B)
        retriever.index([tokens_of(t) for t in texts], show_progress=False)
        tokenised = [tokens_of(q.text) for q in queries]
    else:
        retriever = bm25s.BM25()  # k1 = 1.5, b = 0.75, Lucene idf
        retriever.index(bm25s.tokenize(texts, stopwords="en", show_progress=False), show_progress=False)
        tokenised = bm25s.tokenize([q.text for q in queries], stopwords="en", return_ids=False, show_progress=False)
    out = {}
    for q, tokens in zip(queries, tokenised, strict=True):
        known = [t for t in tokens if t in retriever.vocab_dict]
        scores = retriever.get_scores(known) if known else np.zeros(len(ids))
        out[q.qid] = dict(zip(ids, (float(s) for s in scores), strict=True))
    return out


def encode_raw(encoder: Any, texts: Sequence[str]) -> np.ndarray:
    """Encode without any model prefix (what a notebook does); MiniLM's profile has none anyway."""
    return np.asarray(encoder._encode(list(texts)), dtype=np.float32)


# --- fusion variants on the service's own candidates -----------------------------------------------
@dataclass(frozen=True)
class Fusion:
    """An RRF variant: weights (dense, lexical), k, what breaks exact ties, BM25 over which articles."""

    name: str
    weights: tuple[float, float] = (1.0, 1.0)
    k: int = 60
    tiebreak: str = "id"  # "id" as the service does, or "lexical" / "dense" score first
    whole_corpus: bool = False


FUSIONS = (
    *(Fusion(f"rrf dense {wd:g} / lexical {wl:g}", (wd, wl)) for wd, wl in RRF_WEIGHTS),
    Fusion("rrf, exact ties broken by BM25 score", tiebreak="lexical"),
    Fusion("rrf, exact ties broken by dense score", tiebreak="dense"),
    Fusion("rrf k=20", k=20),
    Fusion("rrf k=20, lexical 2", (1.0, 2.0), k=20),
    Fusion("rrf, BM25 over all articles", whole_corpus=True),
    Fusion("rrf lexical 2, BM25 over all articles", (1.0, 2.0), whole_corpus=True),
)


def rrf_scores(slot: Mapping[str, Any], fusion: Fusion) -> tuple[dict[str, float], dict[str, float], dict[str, float]]:
    """(fused, dense, lexical) scores by article id for one query's recorded candidates."""
    from newsindex import ranking

    dense = {c.article_id: c.dense_score for c in slot.get("candidates") or []}
    lexical = dict(slot.get("lexical") or {})
    rankings = [ranking.ranks(dense), ranking.ranks(lexical)]
    return ranking.reciprocal_rank_fusion(rankings, k=fusion.k, weights=fusion.weights), dense, lexical


def fused_links(slot: Mapping[str, Any], links: Mapping[str, str], fusion: Fusion, k: int = 10) -> list[str]:
    fused, dense, lexical = rrf_scores(slot, fusion)
    first, second = (lexical, dense) if fusion.tiebreak == "lexical" else (dense, lexical)
    if fusion.tiebreak == "id":
        first = second = {}
    ordered = sorted(
        (a for a, v in fused.items() if v > 0),
        key=lambda a: (-fused[a], -first.get(a, 0.0), -second.get(a, 0.0), a),
    )
    return [links[a] for a in ordered[:k]]


def fusion_variants(
    captured: Mapping[str, Mapping[str, Any]],
    queries: Sequence[Query],
    budget: int,
    links: Mapping[str, str],
    full_bm25: Mapping[str, Mapping[str, float]],
) -> list[System]:
    """Re-fuse the recorded candidates: other RRF weights, k and tie-breaks, and BM25 over all articles."""
    systems = []
    for fusion in FUSIONS:
        system = System(fusion.name, budget)
        for q in queries:
            slot = dict(captured[q.qid])
            if fusion.whole_corpus:
                slot["lexical"] = full_bm25[q.qid]
            system.runs[q.qid] = fused_links(slot, links, fusion)
        systems.append(system)
    return systems


def candidate_diagnostics(
    captured: Mapping[str, Mapping[str, Any]],
    queries: Sequence[Query],
    full_bm25: Mapping[str, Mapping[str, float]],
    link_to_id: Mapping[str, str],
) -> dict[str, Any]:
    """Does the candidate set hold BM25's top hits and the relevant articles; do the BM25 scores agree?"""
    top_in, rel_in, sizes, diffs, ties = [], [], [], [], 0
    for q in queries:
        slot = captured[q.qid]
        top2 = sorted(rrf_scores(slot, FUSIONS[0])[0].values(), reverse=True)[:2]
        ties += len(top2) == 2 and top2[0] == top2[1]
        ids = {c.article_id for c in slot.get("candidates") or []}
        sizes.append(len(ids))
        scores = full_bm25[q.qid]
        top = [a for a in sorted(scores, key=lambda a: (-scores[a], a)) if scores[a] > 0][:10]
        top_in.append(len(ids.intersection(top)) / len(top) if top else 1.0)
        relevant = {link_to_id[link] for link in q.grades}
        rel_in.append(len(ids & relevant) / len(relevant))
        diffs += [abs(v - scores.get(a, 0.0)) for a, v in (slot.get("lexical") or {}).items()]
    return {
        "candidates_mean": float(np.mean(sizes)),
        "bm25_top10_in_candidates": float(np.mean(top_in)),
        "relevant_in_candidates": float(np.mean(rel_in)),
        "bm25_max_abs_diff_cassandra_vs_memory": float(max(diffs, default=0.0)),
        "rrf_first_place_tied": ties / len(queries),
    }


# --- reporting -----------------------------------------------------------------------------------
def metric_row(name: str, sample: Mapping[str, float], title: Mapping[str, float]) -> str:
    cells = [f"{sample[m]:.3f}" for m in METRICS] + [f"{title[m]:.3f}" for m in METRICS]
    return f"| {name} | " + " | ".join(cells) + " |"


def quality_table(systems: Sequence[System], sample: Sequence[Query], titles: Sequence[Query]) -> str:
    head = " | ".join([f"S {m}" for m in METRICS] + [f"T {m}" for m in METRICS])
    lines = [f"| system | {head} |", "|---|" + "---:|" * (2 * len(METRICS))]
    lines += [metric_row(s.name, s.mean(sample), s.mean(titles)) for s in systems]
    return "\n".join(lines)


def split_table(systems: Sequence[System], sample: Sequence[Query]) -> str:
    splits = {t: [q for q in sample if q.type == t] for t in sorted({q.type for q in sample})}
    splits["names nobody"] = [q for q in sample if q.qid in NAMES_NOBODY]
    splits["names someone"] = [q for q in sample if q.qid not in NAMES_NOBODY]
    head = " | ".join(f"{n} ({len(qs)}) MRR / nDCG" for n, qs in splits.items())
    lines = [f"| system | {head} |", "|---|" + "---:|" * len(splits)]
    for s in systems:
        cells = []
        for qs in splits.values():
            m = s.mean(qs)
            cells.append(f"{m['MRR@10']:.3f} / {m['nDCG@10']:.3f}")
        lines.append(f"| {s.name} | " + " | ".join(cells) + " |")
    return "\n".join(lines)


def per_query_table(systems: Sequence[System], sample: Sequence[Query]) -> str:
    lines = ["| query | type | " + " | ".join(s.name for s in systems) + " |", "|---|---|" + "---:|" * len(systems)]
    for q in sample:
        cells = [f"{query_metrics(s.runs[q.qid], q.grades)['nDCG@10']:.2f}" for s in systems]
        lines.append(f"| {q.qid} {q.text[:48]} | {q.type} | " + " | ".join(cells) + " |")
    return "\n".join(lines)


def latency_summary(latency: Mapping[str, tuple[float, float, float]], qids: Sequence[str]) -> dict[str, Any]:
    rows = [latency[q] for q in qids if q in latency]
    out: dict[str, Any] = {"queries": len(rows)}
    for i, key in enumerate(("search_ms", "cql_ms", "encode_ms")):
        values = [r[i] for r in rows]
        out[key] = {"p50": percentile(values, 50), "p95": percentile(values, 95)}
    return out


def latency_table(systems: Sequence[System], sample: Sequence[Query], titles: Sequence[Query]) -> str:
    """p50 / p95 over all 306 queries, and over the 12 sample queries alone (every mode has those)."""
    lines = [
        "| mode | all: search p50 / p95 ms | all: CQL p50 / p95 | S only: search p50 / p95 | S only: CQL p50 / p95 |",
        "|---|---:|---:|---:|---:|",
    ]
    for s in systems:
        cells = []
        for qids in ([q.qid for q in [*sample, *titles]], [q.qid for q in sample]):
            summary = latency_summary(s.latency, qids)
            if summary["queries"] < len(qids):
                cells += ["-", "-"]
                continue
            cells += [f"{summary[k]['p50']:.0f} / {summary[k]['p95']:.0f}" for k in ("search_ms", "cql_ms")]
        lines.append(f"| {s.name} | " + " | ".join(cells) + " |")
    encode = latency_summary(systems[0].latency, [q.qid for q in [*sample, *titles]])["encode_ms"]
    lines.append(f"\nQuery encoding (in every search above): p50 {encode['p50']:.0f} ms, p95 {encode['p95']:.0f} ms.")
    return "\n".join(lines)


def environment(settings: Any, encoder: Any) -> dict[str, Any]:
    def version(name: str) -> str:
        try:
            return metadata.version(name)
        except metadata.PackageNotFoundError:
            return "-"

    cpu = "unknown"
    with contextlib.suppress(OSError, subprocess.SubprocessError):
        out = subprocess.run(["lscpu"], capture_output=True, text=True, check=False).stdout
        cpu = next((line.split(":", 1)[1].strip() for line in out.splitlines() if line.startswith("Model name")), cpu)
    commit = subprocess.run(
        ["git", "-C", str(REPO), "rev-parse", "--short", "HEAD"], capture_output=True, text=True, check=False
    ).stdout.strip()
    return {
        "cpu": cpu,
        "cores": os.cpu_count(),
        "python": platform.python_version(),
        "packages": {n: version(n) for n in ("torch", "sentence-transformers", "cassandra-driver", "bm25s", "numpy")},
        "model": encoder.profile.name,
        "precision": encoder.precision.dtype,
        "git": commit,
        "search_candidates": settings.search_candidates,
    }


def cassandra_version(service: Any) -> str:
    row = service.store.session.execute("SELECT release_version FROM system.local").one()
    return str(row.release_version)


# --- main ----------------------------------------------------------------------------------------
def evaluate_budget(
    budget: int,
    default: bool,
    corpus: Corpus,
    memo: MemoEncoder,
    sample: Sequence[Query],
    titles: Sequence[Query],
    full_bm25: Mapping[str, Mapping[str, float]],
    encode_ms: dict[str, float],
    workdir: Path,
) -> tuple[list[System], dict[str, Any]]:
    """Index the corpus at one passage budget, run the service on it, derive the in-memory variants."""
    from newsindex.factory import build_service
    from newsindex.settings import Settings

    encoder, queries = memo.encoder, [*sample, *titles]
    links = {a.article_id: a.link for a in corpus.articles}
    settings = Settings.from_env(
        keyspace=keyspace_for(encoder.profile.name, budget), passage_max_tokens=budget, passage_overlap_tokens=OVERLAP
    )
    index = ensure_index(settings, corpus, encoder, workdir)
    log(f"{settings.keyspace}: {index['articles']} articles, {index['passages']} passages")
    service = build_service(settings, memo)
    try:
        index["cassandra"] = cassandra_version(service)
        product, captured = run_service(service, sample, titles, budget, default, encode_ms)
        owners, bodies, matrix = stored_passages(service)
    finally:
        service.store.session.cluster.shutdown()
    vectors = {q.qid: memo.encode_query(q.text) for q in queries}
    by_name = {s.name: s for s in product}
    rrf_service = by_name["hybrid rrf (service)"]
    exact = dense_system("dense exact, stored title+passage vectors", budget, owners, matrix, queries, vectors, links)
    systems = [*product, exact, *linear_systems(captured, queries, budget, rrf_service.runs)]
    if default:
        t = time.perf_counter()
        no_title = encoder.encode_passages(bodies)
        log(f"p{budget}: {len(bodies)} passages encoded without their title in {time.perf_counter() - t:.0f}s")
        systems.append(
            dense_system("dense exact, same passages without title", budget, owners, no_title, queries, vectors, links)
        )
    variants = fusion_variants(captured, queries, budget, links, full_bm25)
    systems += variants
    link_to_id = {v: k for k, v in links.items()}
    checks = {"offline RRF == service hybrid rrf": same_runs(rrf_service, variants[0])}
    for s in systems:
        if s.name.endswith("(service, S only)"):
            twin = "dense exact, stored title+passage vectors" if s.name.startswith("semantic") else s.name[:-18]
            checks[f"{s.name} == {twin}"] = same_runs(s, next(x for x in systems if x.name == twin))
    if default:
        checks["semantic (service) == dense exact"] = same_runs(by_name["semantic (service)"], exact)
    index["checks"] = checks
    index["candidates"] = {
        "S": candidate_diagnostics(captured, sample, full_bm25, link_to_id),
        "T": candidate_diagnostics(captured, titles, full_bm25, link_to_id),
    }
    return systems, index


def baselines(corpus: Corpus, memo: MemoEncoder, queries: Sequence[Query], full_bm25: Any) -> list[System]:
    """BM25 alone (three ways) and the notebook's whole-article embeddings, all in memory."""
    links = {a.article_id: a.link for a in corpus.articles}
    systems = [
        System(name, None, {qid: ranked_links(s, links) for qid, s in scores.items()})
        for name, scores in [
            ("BM25 ours (tokens_of + bm25), in memory", full_bm25),
            ("BM25 bm25s, our tokens, k1=1.2", bm25s_scores(corpus.articles, queries, ours=True)),
            ("BM25 bm25s, own tokeniser, defaults", bm25s_scores(corpus.articles, queries, ours=False)),
        ]
    ]
    vectors = {q.qid: memo.encode_query(q.text) for q in queries}
    ids = [a.article_id for a in corpus.articles]
    t = time.perf_counter()
    for name, texts in [
        ("notebook: whole content, truncated", [a.content for a in corpus.articles]),
        ("notebook: title + content, truncated", [a.title + "\n" + a.content for a in corpus.articles]),
    ]:
        systems.append(dense_system(name, None, ids, encode_raw(memo.encoder, texts), queries, vectors, links))
    log(f"notebook baselines encoded in {time.perf_counter() - t:.0f}s")
    return systems


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.evaluate", description=__doc__.split("\n\n")[0])
    parser.add_argument("--budgets", default=",".join(map(str, BUDGETS)), help="passage token budgets, e.g. 128,256")
    parser.add_argument("--default-budget", type=int, default=256, help="the budget that gets every mode")
    parser.add_argument("--out", type=Path, default=RESULTS, help="folder for the JSON results")
    args = parser.parse_args(argv)
    budgets = sorted({int(b) for b in args.budgets.split(",") if b} | {args.default_budget})
    budgets.sort(key=lambda b: b != args.default_budget)  # the default first: its first pass times encoding
    if not (SHARED / "data" / "news_sample.csv").is_file() or not (SHARED / "eval").is_dir():
        print(f"skipped: the shared sample and eval files are not under {SHARED} (set NEWS_SHARED_DIR)")
        return 0
    os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")
    from newsindex.errors import NewsSearchError

    try:
        report, systems, sample, titles = evaluate(budgets, args.default_budget)
    except NewsSearchError as exc:
        print(f"Error: {exc}", file=sys.stderr)
        return 2
    print(render(report, systems, sample, titles))
    write_json(args.out, report, systems, sample, titles)
    return 0


def evaluate(
    budgets: Sequence[int], default_budget: int
) -> tuple[dict[str, Any], list[System], list[Query], list[Query]]:
    """Everything the report shows; the default budget first (its first pass times the encoder)."""
    from newsindex.encoder import load_encoder
    from newsindex.settings import Settings

    started = time.perf_counter()
    report: dict[str, Any] = {
        "started": dt.datetime.now(dt.UTC).isoformat(timespec="seconds"),
        "load_average_start": os.getloadavg(),
        "budgets": {},
        "default_budget": default_budget,
    }
    sample = load_queries(SHARED / "eval" / "sample_queries.jsonl")
    titles = load_queries(SHARED / "eval" / "title_queries.jsonl")
    base = Settings.from_env()
    memo = MemoEncoder(load_encoder(base))
    systems: list[System] = []
    encode_ms: dict[str, float] = {}
    with tempfile.TemporaryDirectory(prefix="news-eval-") as tmp:
        corpus = load_corpus(SHARED, Path(tmp))
        ours = OurBM25(corpus.articles)
        full_bm25 = {q.qid: ours.scores(q.text) for q in [*sample, *titles]}
        for budget in budgets:
            found, index = evaluate_budget(
                budget, budget == default_budget, corpus, memo, sample, titles, full_bm25, encode_ms, Path(tmp)
            )
            systems += found
            report["budgets"][budget] = index
        found = baselines(corpus, memo, [*sample, *titles], full_bm25)
        systems += found
        report["checks"] = {"BM25 ours == bm25s on our tokens": same_runs(found[0], found[1])}
    report["environment"] = environment(base, memo.encoder)
    report["load_average_end"] = os.getloadavg()
    report["seconds"] = round(time.perf_counter() - started, 1)
    return report, systems, sample, titles


MAIN_ROWS = (
    "semantic (service)",
    "hybrid rrf (service)",
    *(f"hybrid linear a={a}" for a in LINEAR_ALPHAS),
    "keyword (service)",
    "BM25 ours (tokens_of + bm25), in memory",
    "BM25 bm25s, our tokens, k1=1.2",
    "BM25 bm25s, own tokeniser, defaults",
    "dense exact, stored title+passage vectors",
    "dense exact, same passages without title",
    "notebook: whole content, truncated",
    "notebook: title + content, truncated",
)
SPLIT_ROWS = (
    "semantic (service)",
    "hybrid rrf (service)",
    "hybrid linear a=0.5",
    "keyword (service)",
    "BM25 ours (tokens_of + bm25), in memory",
    "rrf dense 1 / lexical 2",
    "dense exact, same passages without title",
    "notebook: title + content, truncated",
)
PER_QUERY_ROWS = (
    "semantic (service)",
    "hybrid rrf (service)",
    "hybrid linear a=0.5",
    "BM25 ours (tokens_of + bm25), in memory",
)
BUDGET_ROWS = ("dense exact, stored title+passage vectors", "hybrid rrf (service)", "hybrid linear a=0.5")


def render(report: dict[str, Any], systems: Sequence[System], sample: Sequence[Query], titles: Sequence[Query]) -> str:
    """The markdown report (docs/EVALUATION.md quotes it)."""
    env, default = report["environment"], report["default_budget"]
    main = {s.name: s for s in systems if s.budget in (default, None)}

    def pick(names: Sequence[str]) -> list[System]:
        return [main[n] for n in names if n in main]

    info = report["budgets"][default]
    out = [
        f"# Evaluation, {report['started']} ({report['seconds']:.0f}s)\n",
        f"{env['cpu']}, {env['cores']} cores (load average {report['load_average_start'][0]:.1f} at start, "
        f"{report['load_average_end'][0]:.1f} at end); Cassandra {info['cassandra']}; {env['model']} "
        f"({env['precision']}); Python {env['python']}; "
        + ", ".join(f"{k} {v}" for k, v in env["packages"].items())
        + f"; git {env['git']}\n",
        "S = sample_queries (12, graded 2/1), T = title_queries (294, known item); corpus = the 294 judged "
        f"articles. Passage budget {default} tokens, overlap {OVERLAP}, keyspace {info['keyspace']}.\n",
        "## Product modes and baselines\n",
        quality_table(pick(MAIN_ROWS), sample, titles) + "\n",
        "## Hybrid: other fusions of the service's own candidates\n",
        quality_table([s for s in systems if s.budget == default and s.name.startswith("rrf")], sample, titles) + "\n",
        "Candidates per query and checks: "
        + "; ".join(f"{k}: {v}" for k, v in report["checks"].items())
        + "; "
        + "; ".join(
            f"{k} {info['candidates']['S'][k]:.3f} (S) / {info['candidates']['T'][k]:.3f} (T)"
            for k in info["candidates"]["S"]
        )
        + "; "
        + "; ".join(f"{k}: {v}" for k, v in info["checks"].items())
        + "\n",
        "## Passage budgets\n",
        budget_table(systems, report, sample, titles) + "\n",
        f"## Latency (budget {default}; the service's timings; search = encode + CQL + ranking)\n",
        latency_table([s for s in systems if s.budget == default and s.latency], sample, titles) + "\n",
        "## Sample queries by kind (MRR@10 / nDCG@10)\n",
        split_table(pick(SPLIT_ROWS), sample) + "\n",
        "## nDCG@10 per sample query\n",
        per_query_table(pick(PER_QUERY_ROWS), sample),
    ]
    return "\n".join(out)


def budget_table(
    systems: Sequence[System], report: dict[str, Any], sample: Sequence[Query], titles: Sequence[Query]
) -> str:
    lines = [
        "| budget | passages | system | S MRR@10 | S nDCG@10 | S R@10 | T MRR@10 | T R@1 | T nDCG@10 |",
        "|---:|---:|---|---:|---:|---:|---:|---:|---:|",
    ]
    for budget in sorted(report["budgets"]):
        for s in systems:
            if s.budget == budget and s.name in BUDGET_ROWS:
                a, b = s.mean(sample), s.mean(titles)
                lines.append(
                    f"| {budget} | {report['budgets'][budget]['passages']} | {s.name} | {a['MRR@10']:.3f} | "
                    f"{a['nDCG@10']:.3f} | {a['R@10']:.3f} | {b['MRR@10']:.3f} | {b['R@1']:.3f} | {b['nDCG@10']:.3f} |"
                )
    return "\n".join(lines)


def write_json(
    folder: Path, report: dict[str, Any], systems: Sequence[System], sample: Sequence[Query], titles: Sequence[Query]
) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    report["systems"] = [
        {
            "name": s.name,
            "budget": s.budget,
            "sample": s.mean(sample),
            "title": s.mean(titles),
            "latency_ms": latency_summary(s.latency, list(s.latency)) if s.latency else None,
            "per_query": {**s.per_query(sample), **s.per_query(titles)},
            "runs_sample": {q.qid: s.runs[q.qid] for q in sample},
        }
        for s in systems
    ]
    path = folder / f"eval-{time.strftime('%Y%m%d-%H%M%S')}.json"
    path.write_text(json.dumps(report, indent=1, default=str), encoding="utf-8")
    log(f"wrote {path}")
    return path


if __name__ == "__main__":
    raise SystemExit(main())
