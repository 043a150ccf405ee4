"""Pure ranking functions: group passages into articles, fuse rankings, recency, diversity.

No driver, model or clock in here: every function takes plain values and is unit-tested alone.
"""

from __future__ import annotations

import datetime as dt
import math
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field, replace

import numpy as np

from newsindex.store import PassageHit

RRF_K = 60


@dataclass(frozen=True)
class Candidate:
    """An article with its best passage; `score` is what the final order uses."""

    article_id: str
    title: str
    link: str
    published: dt.date | None
    best: PassageHit
    dense_score: float
    score: float
    lexical_score: float = 0.0
    dense_rank: int | None = None
    lexical_rank: int | None = None
    recency: float | None = None  # the recency factor blended in, when a recency boost was asked for
    vector: np.ndarray | None = field(default=None, compare=False, repr=False)


def group_by_article(
    hits: Iterable[PassageHit], vectors: Mapping[tuple[str, int], np.ndarray] | None = None
) -> list[Candidate]:
    """One candidate per article, scored by its best passage (max-passage), best first."""
    best: dict[str, PassageHit] = {}
    for hit in hits:
        current = best.get(hit.article_id)
        if current is None or hit.score > current.score:
            best[hit.article_id] = hit
    ordered = sorted(best.values(), key=lambda h: (-h.score, h.article_id))
    return [
        Candidate(
            h.article_id,
            h.title,
            h.link,
            h.published,
            h,
            h.score,
            h.score,
            dense_rank=i + 1,
            vector=(vectors or {}).get((h.article_id, h.chunk_no)),
        )
        for i, h in enumerate(ordered)
    ]


def ranks(scores: Mapping[str, float]) -> dict[str, int]:
    """1-based ranks by descending score; zero or negative scores get no rank."""
    ordered = sorted((k for k, v in scores.items() if v > 0), key=lambda k: (-scores[k], k))
    return {key: i + 1 for i, key in enumerate(ordered)}


def reciprocal_rank_fusion(
    rankings: Sequence[Mapping[str, int]], k: int = RRF_K, weights: Sequence[float] | None = None
) -> dict[str, float]:
    """RRF: sum of weight / (k + rank) over the rankings an item appears in."""
    fused: dict[str, float] = {}
    for i, ranking in enumerate(rankings):
        weight = weights[i] if weights else 1.0
        for key, rank in ranking.items():
            fused[key] = fused.get(key, 0.0) + weight / (k + rank)
    return fused


def min_max(scores: Mapping[str, float]) -> dict[str, float]:
    if not scores:
        return {}
    low, high = min(scores.values()), max(scores.values())
    span = high - low
    return {k: (v - low) / span if span else 1.0 for k, v in scores.items()}


def linear_fusion(dense: Mapping[str, float], lexical: Mapping[str, float], alpha: float) -> dict[str, float]:
    """alpha * normalised dense + (1 - alpha) * normalised lexical, over the union of keys."""
    d, lx = min_max(dense), min_max(lexical)
    return {key: alpha * d.get(key, 0.0) + (1 - alpha) * lx.get(key, 0.0) for key in set(dense) | set(lexical)}


def recency_factor(published: dt.date | None, reference: dt.date, half_life_days: float) -> float:
    """1 for a story from the reference day, halving every `half_life_days` before it."""
    if published is None or half_life_days <= 0:
        return 0.0
    age = max((reference - published).days, 0)
    return math.pow(0.5, age / half_life_days)


def blend_recency(
    candidates: Sequence[Candidate], half_life_days: float, weight: float, reference: dt.date | None = None
) -> list[Candidate]:
    """(1 - weight) * relevance / best relevance + weight * recency; reference = newest candidate's date.

    Relative to the newest matching story rather than today, so an archive (this dataset ends in
    2023) still gets a meaningful boost; on a live feed the two coincide.
    """
    if not candidates or half_life_days <= 0 or weight <= 0:
        return list(candidates)
    dates = [c.published for c in candidates if c.published is not None]
    ref = reference or (max(dates) if dates else dt.date.today())
    top = max(c.score for c in candidates) or 1.0
    blended = []
    for c in candidates:
        factor = recency_factor(c.published, ref, half_life_days)
        blended.append(replace(c, score=(1 - weight) * c.score / top + weight * factor, recency=factor))
    return sorted(blended, key=lambda c: (-c.score, c.article_id))


def sort_by_date(candidates: Sequence[Candidate]) -> list[Candidate]:
    return sorted(candidates, key=lambda c: (c.published or dt.date.min, c.score), reverse=True)


def mmr(candidates: Sequence[Candidate], k: int, lambda_: float = 0.7) -> list[Candidate]:
    """Maximal marginal relevance over the candidates' best-passage vectors.

    Picks, k times, the candidate maximising lambda * relevance - (1 - lambda) * max similarity to
    the ones already picked; candidates without a vector keep their relevance order.
    """
    pool = [c for c in candidates if c.vector is not None]
    if len(pool) < 2 or lambda_ >= 1:
        return list(candidates[:k])
    relevance = min_max({c.article_id: c.score for c in pool})
    matrix = np.stack([c.vector for c in pool])  # type: ignore[misc]
    similarity = matrix @ matrix.T
    chosen: list[int] = []
    remaining = list(range(len(pool)))
    while remaining and len(chosen) < k:

        def gain(i: int) -> float:
            redundancy = max((float(similarity[i, j]) for j in chosen), default=0.0)
            return lambda_ * relevance[pool[i].article_id] - (1 - lambda_) * redundancy

        best = max(remaining, key=gain)
        chosen.append(best)
        remaining.remove(best)
    return [pool[i] for i in chosen]
