"""The evaluation metrics, checked against values worked out by hand."""

from __future__ import annotations

import math

import numpy as np
import pytest

from bench.metrics import mean_metrics, mrr_at_k, ndcg_at_k, percentile, query_metrics, recall_at_k

GRADES = {"a": 2, "b": 1, "c": 1}


@pytest.mark.parametrize(
    ("ranked", "expected"),
    [
        (["a", "x"], 1.0),
        (["x", "y", "b"], 1 / 3),
        (["x", "y"], 0.0),
        ([], 0.0),
    ],
)
def test_mrr_is_reciprocal_rank_of_first_relevant(ranked: list[str], expected: float) -> None:
    assert mrr_at_k(ranked, GRADES) == pytest.approx(expected)


def test_mrr_ignores_relevant_items_past_the_cutoff() -> None:
    ranked = [f"x{i}" for i in range(10)] + ["a"]
    assert mrr_at_k(ranked, GRADES, 10) == 0.0
    assert mrr_at_k(ranked, GRADES, 11) == pytest.approx(1 / 11)


def test_recall_counts_every_grade_as_relevant() -> None:
    ranked = ["b", "x", "a", "y", "z", "c"]
    assert recall_at_k(ranked, GRADES, 1) == pytest.approx(1 / 3)
    assert recall_at_k(ranked, GRADES, 5) == pytest.approx(2 / 3)
    assert recall_at_k(ranked, GRADES, 10) == pytest.approx(1.0)


def test_recall_of_a_query_without_judgments_is_zero() -> None:
    assert recall_at_k(["a"], {}, 5) == 0.0


def test_repeated_result_counts_once() -> None:
    assert recall_at_k(["b", "b", "b"], GRADES, 3) == pytest.approx(1 / 3)
    assert ndcg_at_k(["a", "a"], {"a": 2}) == pytest.approx(1.0)


def test_ndcg_uses_grades_as_gains() -> None:
    # ranked: c (1), x (0), a (2); ideal: a (2), b (1), c (1)
    dcg = 1 / math.log2(2) + 2 / math.log2(4)
    idcg = 2 / math.log2(2) + 1 / math.log2(3) + 1 / math.log2(4)
    assert ndcg_at_k(["c", "x", "a"], GRADES) == pytest.approx(dcg / idcg)


def test_ndcg_of_the_ideal_order_is_one_and_of_nothing_relevant_zero() -> None:
    assert ndcg_at_k(["a", "b", "c"], GRADES) == pytest.approx(1.0)
    assert ndcg_at_k(["a", "c", "b"], GRADES) == pytest.approx(1.0)  # equal grades may swap
    assert ndcg_at_k(["x", "y"], GRADES) == 0.0


def test_ndcg_ideal_is_cut_at_k() -> None:
    grades = {f"r{i}": 1 for i in range(20)}
    assert ndcg_at_k([f"r{i}" for i in range(10)], grades, 10) == pytest.approx(1.0)


def test_cutoff_must_be_positive() -> None:
    with pytest.raises(ValueError):
        recall_at_k(["a"], GRADES, 0)


def test_query_metrics_and_mean_agree_with_the_single_functions() -> None:
    per_query = [query_metrics(["a"], {"a": 2}), query_metrics(["x", "a"], {"a": 2})]
    means = mean_metrics(per_query)
    assert means["MRR@10"] == pytest.approx(0.75)
    assert means["R@1"] == pytest.approx(0.5)
    assert means["R@5"] == pytest.approx(1.0)
    assert means["nDCG@10"] == pytest.approx((1 + 1 / math.log2(3)) / 2)


def test_mean_of_no_queries_is_zero() -> None:
    assert set(mean_metrics([]).values()) == {0.0}


@pytest.mark.parametrize("q", [0, 10, 50, 95, 100])
def test_percentile_matches_numpy(q: float) -> None:
    values = [5.0, 1.0, 9.0, 3.0, 7.5, 2.0]
    assert percentile(values, q) == pytest.approx(float(np.percentile(values, q)))


def test_percentile_of_nothing_is_zero() -> None:
    assert percentile([], 50) == 0.0
