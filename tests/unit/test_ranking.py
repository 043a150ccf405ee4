from __future__ import annotations

import datetime as dt

import numpy as np
import pytest

from newsindex import ranking
from newsindex.store import PassageHit


def hit(article: str, chunk: int, score: float, day: int = 1) -> PassageHit:
    return PassageHit(article, chunk, f"T {article}", f"https://x/{article}", dt.date(2023, 1, day), "body", score)


def test_articles_are_scored_by_their_best_passage() -> None:
    grouped = ranking.group_by_article([hit("a", 0, 0.5), hit("b", 0, 0.7), hit("a", 3, 0.9), hit("b", 1, 0.6)])
    assert [(c.article_id, c.best.chunk_no, c.score) for c in grouped] == [("a", 3, 0.9), ("b", 0, 0.7)]
    assert [c.dense_rank for c in grouped] == [1, 2]


def test_reciprocal_rank_fusion_rewards_agreement() -> None:
    fused = ranking.reciprocal_rank_fusion([{"a": 1, "b": 2, "c": 3}, {"c": 1, "a": 2}])
    assert fused["a"] == pytest.approx(1 / 61 + 1 / 62)
    assert sorted(fused, key=lambda k: -fused[k]) == ["a", "c", "b"]


def test_ranks_skip_zero_scores() -> None:
    assert ranking.ranks({"a": 0.0, "b": 2.0, "c": 1.0}) == {"b": 1, "c": 2}


def test_linear_fusion_normalises_both_sides() -> None:
    fused = ranking.linear_fusion({"a": 0.9, "b": 0.8}, {"b": 10.0, "c": 5.0}, alpha=0.5)
    assert fused == {"a": 0.5, "b": 0.5, "c": 0.0}


def test_recency_halves_every_half_life() -> None:
    ref = dt.date(2023, 8, 15)
    assert ranking.recency_factor(ref, ref, 30) == 1.0
    assert ranking.recency_factor(ref - dt.timedelta(days=30), ref, 30) == pytest.approx(0.5)
    assert ranking.recency_factor(None, ref, 30) == 0.0


def test_recency_blend_lifts_a_newer_story_of_similar_relevance() -> None:
    old = ranking.group_by_article([hit("old", 0, 0.80, day=1)])[0]
    new = ranking.group_by_article([hit("new", 0, 0.79, day=28)])[0]
    blended = ranking.blend_recency([old, new], half_life_days=7, weight=0.5)
    assert [c.article_id for c in blended] == ["new", "old"]
    assert ranking.blend_recency([old, new], 0, 0.5) == [old, new]


def test_mmr_skips_a_near_duplicate() -> None:
    v1, v2 = np.array([1.0, 0.0]), np.array([0.0, 1.0])
    dup = np.array([0.999, 0.045]) / np.linalg.norm([0.999, 0.045])
    cands = ranking.group_by_article(
        [hit("a", 0, 0.9), hit("a_copy", 0, 0.89), hit("b", 0, 0.7)],
        {("a", 0): v1, ("a_copy", 0): dup, ("b", 0): v2},
    )
    assert [c.article_id for c in ranking.mmr(cands, 2, lambda_=0.5)] == ["a", "b"]
    assert [c.article_id for c in ranking.mmr(cands, 2, lambda_=1.0)] == ["a", "a_copy"]


def test_sort_by_date_newest_first() -> None:
    cands = ranking.group_by_article([hit("a", 0, 0.9, day=2), hit("b", 0, 0.5, day=9)])
    assert [c.article_id for c in ranking.sort_by_date(cands)] == ["b", "a"]
