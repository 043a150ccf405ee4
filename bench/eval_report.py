"""Scores and reports of the judged evaluation: pure functions from runs and judgments to tables and JSON.

- `published(...)`: the numbers docs/evaluation.json publishes (the Streamlit compare page reads it):
  {"generated_at", "commit", "machine", "corpus", "runs": [{"model", "mode", "query_set", "queries",
  "metrics": {"mrr@10", "recall@1", "recall@5", "recall@10", "ndcg@10"}, "by_type": {type: {"queries",
  "metrics"}}}]}, one run per published mode (hybrid, semantic, keyword, bm25, notebook) and query set;
- `render(...)`: the Markdown tables docs/EVALUATION.md quotes;
- `raw(...)`: every query's top 10 with its metrics, for bench/results/.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from typing import Any

from bench.eval_data import SAMPLE_QUERIES, TITLE_QUERIES, Query
from bench.eval_rankers import Run
from bench.metrics import METRICS, mean_metrics, percentile, query_metrics

# bench.metrics names -> the published JSON keys.
JSON_KEYS = {"MRR@10": "mrr@10", "R@1": "recall@1", "R@5": "recall@5", "R@10": "recall@10", "nDCG@10": "ndcg@10"}
PUBLISHED_MODES = ("hybrid", "semantic", "keyword", "bm25", "notebook")
SET_LABELS = {SAMPLE_QUERIES: "S", TITLE_QUERIES: "T"}


def per_query(run: Run, queries: Sequence[Query]) -> dict[str, dict[str, float]]:
    return {q.qid: query_metrics(run.ranked(q.qid), q.grades) for q in queries}


def mean(run: Run, queries: Sequence[Query]) -> dict[str, float]:
    return mean_metrics(per_query(run, queries).values())


def by_type(queries: Sequence[Query]) -> dict[str, list[Query]]:
    """Queries grouped by their `type`, types in order of first appearance."""
    groups: dict[str, list[Query]] = {}
    for q in queries:
        groups.setdefault(q.type, []).append(q)
    return groups


def json_metrics(values: Mapping[str, float]) -> dict[str, float]:
    return {JSON_KEYS[name]: round(values[name], 4) for name in METRICS}


# --- docs/evaluation.json ------------------------------------------------------------------------
def published_run(run: Run, query_set: str, queries: Sequence[Query]) -> dict[str, Any]:
    return {
        "model": run.model,
        "mode": run.mode,
        "query_set": query_set,
        "queries": len(queries),
        "metrics": json_metrics(mean(run, queries)),
        "by_type": {
            kind: {"queries": len(group), "metrics": json_metrics(mean(run, group))}
            for kind, group in by_type(queries).items()
        },
    }


def published(runs: Sequence[Run], queries: Mapping[str, Sequence[Query]], meta: Mapping[str, str]) -> dict[str, Any]:
    """The published document: `meta` gives generated_at, commit, machine and corpus."""
    chosen = sorted((r for r in runs if r.mode in PUBLISHED_MODES), key=lambda r: PUBLISHED_MODES.index(r.mode))
    return {
        **{key: meta[key] for key in ("generated_at", "commit", "machine", "corpus")},
        "runs": [published_run(r, name, items) for name, items in queries.items() for r in chosen],
    }


# --- bench/results -------------------------------------------------------------------------------
def raw(runs: Sequence[Run], queries: Mapping[str, Sequence[Query]]) -> dict[str, Any]:
    """Per run and query: the top 10 (with the product's score parts), the metrics and the timings."""
    out: dict[str, Any] = {}
    for run in runs:
        rows = {}
        for items in queries.values():
            for q in items:
                rows[q.qid] = {
                    "metrics": query_metrics(run.ranked(q.qid), q.grades),
                    "hits": [{**vars(h), "grade": q.grades.get(h.link, 0)} for h in run.hits.get(q.qid, [])],
                    **({"timings_ms": run.timings[q.qid]} if q.qid in run.timings else {}),
                }
        out[run.name] = {"mode": run.mode, "model": run.model, "queries": rows}
    return out


# --- Markdown ------------------------------------------------------------------------------------
def _table(headers: Sequence[str], rows: Iterable[Sequence[str]]) -> str:
    lines = ["| " + " | ".join(headers) + " |", "|---|" + "---:|" * (len(headers) - 1)]
    lines += ["| " + " | ".join(row) + " |" for row in rows]
    return "\n".join(lines)


def quality_table(runs: Sequence[Run], queries: Mapping[str, Sequence[Query]]) -> str:
    headers = ["system"] + [f"{SET_LABELS.get(n, n)} {m}" for n in queries for m in METRICS]
    rows = []
    for run in runs:
        cells = [run.name]
        for items in queries.values():
            values = mean(run, items)
            cells += [f"{values[m]:.3f}" for m in METRICS]
        rows.append(cells)
    return _table(headers, rows)


def type_table(runs: Sequence[Run], queries: Mapping[str, Sequence[Query]]) -> str:
    """MRR@10 / nDCG@10 per query type (the title set is its own type)."""
    groups: dict[str, list[Query]] = {}
    for items in queries.values():
        for kind, group in by_type(items).items():
            groups.setdefault(kind, []).extend(group)
    headers = ["system"] + [f"{kind} ({len(group)}) MRR / nDCG" for kind, group in groups.items()]
    rows = []
    for run in runs:
        cells = [run.name]
        for group in groups.values():
            values = mean(run, group)
            cells.append(f"{values['MRR@10']:.3f} / {values['nDCG@10']:.3f}")
        rows.append(cells)
    return _table(headers, rows)


def per_query_table(runs: Sequence[Run], queries: Sequence[Query]) -> str:
    headers = ["query", "type", *(r.name for r in runs)]
    rows = [
        [f"{q.qid} {q.text[:48]}", q.type, *(f"{per_query(r, [q])[q.qid]['nDCG@10']:.2f}" for r in runs)]
        for q in queries
    ]
    return _table(headers, rows)


def latency_table(runs: Sequence[Run]) -> str:
    """p50 / p95 of the service's own timings per mode, over every query it answered."""
    rows = []
    for run in runs:
        if not run.timings:
            continue
        cells = [run.name, str(len(run.timings))]
        for key in ("total_ms", "encode_ms", "cql_ms"):
            values = [t[key] for t in run.timings.values()]
            cells.append(f"{percentile(values, 50):.0f} / {percentile(values, 95):.0f}")
        rows.append(cells)
    return _table(["mode", "queries", "search p50 / p95 ms", "encode p50 / p95", "CQL p50 / p95"], rows)


def provenance(run: Run, queries: Sequence[Query]) -> dict[str, float]:
    """Which side of the product ranked its top 10, from the results' dense_rank / lexical_rank.

    Means per query: hits in the top 10 the dense side ranked, the lexical side ranked or scored
    (a lexical rank, or a positive lexical score: keyword mode scores without ranking), and of the
    judged relevant hits in the top 10, how many each side had, and how many only one side had.
    """
    counts = {"hits": 0.0, "dense": 0.0, "lexical": 0.0, "relevant": 0.0, "rel_dense": 0.0, "rel_lexical": 0.0}
    counts |= {"rel_dense_only": 0.0, "rel_lexical_only": 0.0}
    for q in queries:
        for hit in run.hits.get(q.qid, []):
            dense = hit.dense_rank is not None
            lexical = hit.lexical_rank is not None or (hit.lexical_score or 0.0) > 0
            counts["hits"] += 1
            counts["dense"] += dense
            counts["lexical"] += lexical
            if q.grades.get(hit.link, 0) > 0:
                counts["relevant"] += 1
                counts["rel_dense"] += dense
                counts["rel_lexical"] += lexical
                counts["rel_dense_only"] += dense and not lexical
                counts["rel_lexical_only"] += lexical and not dense
    return {key: value / max(len(queries), 1) for key, value in counts.items()}


def provenance_table(runs: Sequence[Run], queries: Mapping[str, Sequence[Query]]) -> str:
    headers = [
        "mode, set",
        "top-10 hits",
        "dense-ranked",
        "lexical-ranked or scored",
        "relevant in top 10",
        "of which dense",
        "lexical",
        "dense only",
        "lexical only",
    ]
    keys = ("hits", "dense", "lexical", "relevant", "rel_dense", "rel_lexical", "rel_dense_only", "rel_lexical_only")
    rows = []
    for run in runs:
        for name, items in queries.items():
            p = provenance(run, items)
            rows.append([f"{run.name}, {SET_LABELS.get(name, name)}", *(f"{p[k]:.2f}" for k in keys)])
    return _table(headers, rows)


def same_rankings(a: Run, b: Run, queries: Iterable[Query]) -> str:
    """How many queries the two runs rank identically (top 10), as 'n/m'."""
    items = list(queries)
    return f"{sum(a.ranked(q.qid) == b.ranked(q.qid) for q in items)}/{len(items)}"


def render(runs: Sequence[Run], queries: Mapping[str, Sequence[Query]], header: Sequence[str]) -> str:
    """The whole Markdown report: `header` lines first, then every table."""
    product = [r for r in runs if r.timings]
    sample = queries.get(SAMPLE_QUERIES, [])
    out = [*header, "", "## Quality per system (S = sample_queries, graded; T = title_queries, known item)", ""]
    out += [quality_table(runs, queries), "", "## MRR@10 / nDCG@10 per query type", "", type_table(runs, queries)]
    if sample:
        out += ["", "## nDCG@10 per sample query", "", per_query_table(runs, sample)]
    if product:
        out += ["", "## Latency (the service's own timings, ms)", "", latency_table(product)]
        out += ["", "## Which side ranked the product's top 10 (means per query)", ""]
        out += [provenance_table(product, queries)]
    return "\n".join(out) + "\n"
