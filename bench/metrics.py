"""Ranking metrics for the judged evaluation: pure functions over ranked ids and judgments.

`ranked` is a system's result list, best first (ids or canonical links); `grades` maps every judged
relevant id to its grade (2 = about exactly what is asked, 1 = discusses it substantially). Ids
absent from `grades` are not relevant. A repeated id in `ranked` counts at its first position only.
Gains for nDCG are the grades themselves (2 and 1), with the usual log2(rank + 1) discount.
"""

from __future__ import annotations

import math
import statistics
from collections.abc import Iterable, Mapping, Sequence

__all__ = ["METRICS", "mean_metrics", "mrr_at_k", "ndcg_at_k", "percentile", "query_metrics", "recall_at_k"]

# The metrics we report, in table order.
METRICS = ("MRR@10", "R@1", "R@5", "R@10", "nDCG@10")


def _top(ranked: Sequence[str], k: int) -> list[str]:
    """The first `k` distinct ids of `ranked`."""
    if k < 1:
        raise ValueError(f"k must be at least 1, not {k}")
    return list(dict.fromkeys(ranked))[:k]


def mrr_at_k(ranked: Sequence[str], grades: Mapping[str, int], k: int = 10) -> float:
    """1 / rank of the first relevant id within the top `k`; 0 when there is none."""
    for rank, item in enumerate(_top(ranked, k), start=1):
        if grades.get(item, 0) > 0:
            return 1.0 / rank
    return 0.0


def recall_at_k(ranked: Sequence[str], grades: Mapping[str, int], k: int) -> float:
    """Share of the relevant ids (any grade) found in the top `k`; 0 for a query with none judged."""
    relevant = {item for item, grade in grades.items() if grade > 0}
    if not relevant:
        return 0.0
    return len(relevant.intersection(_top(ranked, k))) / len(relevant)


def ndcg_at_k(ranked: Sequence[str], grades: Mapping[str, int], k: int = 10) -> float:
    """Graded nDCG@k: gain = grade, discount log2(rank + 1), ideal = the grades sorted descending."""
    dcg = sum(grades.get(item, 0) / math.log2(rank + 1) for rank, item in enumerate(_top(ranked, k), start=1))
    ideal_gains = sorted((g for g in grades.values() if g > 0), reverse=True)[:k]
    idcg = sum(g / math.log2(rank + 1) for rank, g in enumerate(ideal_gains, start=1))
    return dcg / idcg if idcg else 0.0


def query_metrics(ranked: Sequence[str], grades: Mapping[str, int]) -> dict[str, float]:
    """Every reported metric for one query."""
    return {
        "MRR@10": mrr_at_k(ranked, grades, 10),
        "R@1": recall_at_k(ranked, grades, 1),
        "R@5": recall_at_k(ranked, grades, 5),
        "R@10": recall_at_k(ranked, grades, 10),
        "nDCG@10": ndcg_at_k(ranked, grades, 10),
    }


def mean_metrics(per_query: Iterable[Mapping[str, float]]) -> dict[str, float]:
    """Arithmetic mean of each metric over queries (macro average); empty input gives zeros."""
    rows = list(per_query)
    if not rows:
        return dict.fromkeys(METRICS, 0.0)
    return {name: statistics.fmean(row[name] for row in rows) for name in METRICS}


def percentile(values: Sequence[float], q: float) -> float:
    """The q-th percentile (0..100) with linear interpolation between closest ranks (numpy's default)."""
    if not values:
        return 0.0
    if not 0 <= q <= 100:
        raise ValueError(f"q must be within 0..100, not {q}")
    ordered = sorted(values)
    position = (len(ordered) - 1) * q / 100
    low = math.floor(position)
    high = min(low + 1, len(ordered) - 1)
    return ordered[low] + (ordered[high] - ordered[low]) * (position - low)
