"""Pure helpers behind the comparison page: rank changes between two result lists, the escaped HTML
of one column, and the evaluation report (docs/evaluation.json) shaped as a table and chart rows.

The evaluation file is written by the retrieval benchmark (bench/evaluate.py):
`{"generated_at", "commit", "machine", "corpus", "runs": [{"model", "mode", "query_set", "queries",
"metrics": {"mrr@10", "recall@1", "recall@5", "recall@10", "ndcg@10"}, "by_type": {...}}]}`.
Nothing here invents a number: a missing file is None, a malformed one an error naming the problem.
"""

from __future__ import annotations

import html
import json
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from search_app.state import format_date, safe_url

__all__ = [
    "Change",
    "EvalReport",
    "EvaluationFileError",
    "chart_rows",
    "column_html",
    "eval_table",
    "load_evaluation",
    "rank_changes",
]

METRICS = (
    ("mrr@10", "MRR@10"),
    ("ndcg@10", "nDCG@10"),
    ("recall@1", "R@1"),
    ("recall@5", "R@5"),
    ("recall@10", "R@10"),
)
CHART_METRICS = ("mrr@10", "ndcg@10")


@dataclass(frozen=True)
class Change:
    kind: str  # "up" | "down" | "same" | "new" | "base" (the baseline column itself)
    before: int | None  # rank in the baseline list (1-based), None when absent
    delta: int  # positions gained (> 0) or lost (< 0)

    @property
    def label(self) -> str:
        if self.kind == "up":
            return f"▲{self.delta}"
        if self.kind == "down":
            return f"▼{-self.delta}"
        if self.kind == "new":
            return "new"
        if self.kind == "same":
            return "="
        return ""

    @property
    def tooltip(self) -> str:
        if self.kind == "new":
            return "not in the baseline's results"
        if self.kind == "base":
            return "baseline"
        return f"#{self.before} in the baseline"


def rank_changes(baseline: Sequence[str], ids: Sequence[str], is_baseline: bool = False) -> list[Change]:
    """For each id in `ids` (a ranked list), how its rank moved against `baseline` (another ranked list)."""
    before = {aid: i for i, aid in enumerate(baseline, 1)}
    out = []
    for rank, aid in enumerate(ids, 1):
        was = before.get(aid)
        if is_baseline:
            out.append(Change("base", was, 0))
        elif was is None:
            out.append(Change("new", None, 0))
        elif was == rank:
            out.append(Change("same", was, 0))
        else:
            out.append(Change("up" if was > rank else "down", was, was - rank))
    return out


def column_html(results: Sequence[Any], changes: Sequence[Change]) -> str:
    """One comparison column: rank, escaped title (linked when the link is http(s)), date, change badge."""
    items = []
    for rank, (result, change) in enumerate(zip(results, changes, strict=True), 1):
        title = html.escape(result.title or "(untitled)")
        link = safe_url(result.link)
        if link:
            title = f'<a href="{html.escape(link, quote=True)}" target="_blank" rel="noopener noreferrer">{title}</a>'
        badge = (
            f'<span class="ns-change ns-{change.kind}" title="{html.escape(change.tooltip, quote=True)}">'
            f"{html.escape(change.label)}</span>"
            if change.label
            else ""
        )
        items.append(
            f'<div class="ns-item" data-article="{html.escape(result.article_id, quote=True)}" '
            f'data-change="{change.kind}"><span class="ns-rank">{rank}.</span> {title}{badge}'
            f"<br><small>{format_date(result.date)} · score {result.score:.3f}</small></div>"
        )
    return '<div class="ns-col">' + "".join(items) + "</div>"


# --- evaluation report -------------------------------------------------------------------------
class EvaluationFileError(ValueError):
    """The evaluation file exists but is not the benchmark's JSON."""


@dataclass(frozen=True)
class EvalReport:
    generated_at: str
    commit: str
    machine: str
    corpus: str
    runs: list[dict[str, Any]]


def load_evaluation(path: Path) -> EvalReport | None:
    """The evaluation report at `path`; None when there is none, EvaluationFileError when malformed."""
    try:
        raw = json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        return None
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise EvaluationFileError(f"{path} is not readable JSON: {exc}") from exc
    if not isinstance(raw, dict) or not isinstance(raw.get("runs"), list):
        raise EvaluationFileError(f"{path} has no list of runs; regenerate it with the evaluation benchmark")
    runs = []
    for i, run in enumerate(raw["runs"]):
        if not isinstance(run, dict) or not isinstance(run.get("metrics"), dict):
            raise EvaluationFileError(f"{path}: run {i} has no metrics")
        if not all(isinstance(run.get(key), str) for key in ("model", "mode", "query_set")):
            raise EvaluationFileError(f"{path}: run {i} lacks its model, mode or query_set")
        runs.append(run)
    return EvalReport(
        str(raw.get("generated_at", "")),
        str(raw.get("commit", "")),
        str(raw.get("machine", "")),
        str(raw.get("corpus", "")),
        runs,
    )


def eval_table(report: EvalReport) -> list[dict[str, Any]]:
    """One row per run: model, mode, query set, queries, then the metrics (None when not measured)."""
    rows = []
    for run in report.runs:
        row: dict[str, Any] = {
            "model": run["model"],
            "mode": run["mode"],
            "query set": run["query_set"],
            "queries": run.get("queries"),
        }
        for key, label in METRICS:
            value = run["metrics"].get(key)
            row[label] = round(float(value), 4) if isinstance(value, int | float) else None
        rows.append(row)
    return sorted(rows, key=lambda r: (r["query set"], -(r["MRR@10"] or 0.0)))


def chart_rows(report: EvalReport) -> list[dict[str, Any]]:
    """Long-form rows (model, mode, query set, metric, value) of MRR@10 and nDCG@10 for a bar chart."""
    labels = dict(METRICS)
    rows = []
    for run in report.runs:
        for key in CHART_METRICS:
            value = run["metrics"].get(key)
            if isinstance(value, int | float):
                rows.append(
                    {
                        "model": run["model"].split("/")[-1],
                        "mode": run["mode"],
                        "system": f"{run['mode']} · {run['model'].split('/')[-1]}",
                        "query set": run["query_set"],
                        "metric": labels[key],
                        "value": round(float(value), 4),
                    }
                )
    return rows
