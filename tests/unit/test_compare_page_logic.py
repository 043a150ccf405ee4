"""Comparison page logic: rank changes, escaped columns, the evaluation report (pure)."""

from __future__ import annotations

import datetime as dt
import json
from pathlib import Path

import pytest

from newsindex.search import ArticleResult
from search_app import compare as cmp

FIXTURE = Path(__file__).resolve().parents[1] / "data" / "evaluation_fixture.json"


def article(aid: str, title: str = "t", link: str = "https://example.org/a") -> ArticleResult:
    return ArticleResult(aid, title, dt.date(2023, 8, 1), link, 0.5, "", "", "", 0)


def test_rank_changes_against_the_baseline() -> None:
    changes = cmp.rank_changes(["a", "b", "c"], ["c", "b", "d", "a"])
    assert [(c.kind, c.label) for c in changes] == [("up", "▲2"), ("same", "="), ("new", "new"), ("down", "▼3")]
    assert changes[0].tooltip == "#3 in the baseline"
    assert [c.kind for c in cmp.rank_changes(["a"], ["a"], is_baseline=True)] == ["base"]


def test_column_escapes_titles_and_drops_unsafe_links() -> None:
    results = [article("a", "<script>alert(1)</script>", "javascript:alert(1)"), article("b", "Fee & more")]
    out = cmp.column_html(results, cmp.rank_changes(["b"], ["a", "b"]))
    assert "<script" not in out and "&lt;script&gt;" in out
    assert "javascript:" not in out
    assert 'href="https://example.org/a"' in out and "Fee &amp; more" in out
    assert 'data-change="new"' in out and 'data-change="down"' in out and "▼1" in out


def test_missing_evaluation_file_is_none(tmp_path: Path) -> None:
    assert cmp.load_evaluation(tmp_path / "nope.json") is None


@pytest.mark.parametrize("content", ["{not json", "[]", '{"runs": [{"model": "m"}]}', '{"runs": [{"metrics": {}}]}'])
def test_malformed_evaluation_file_is_an_error_naming_it(tmp_path: Path, content: str) -> None:
    path = tmp_path / "evaluation.json"
    path.write_text(content)
    with pytest.raises(cmp.EvaluationFileError, match=r"evaluation\.json"):
        cmp.load_evaluation(path)


def test_evaluation_table_and_chart_rows_come_from_the_report() -> None:
    report = cmp.load_evaluation(FIXTURE)
    assert report is not None and report.machine.startswith("FICTIONAL")
    table = cmp.eval_table(report)
    assert [(r["mode"], r["query set"], r["MRR@10"]) for r in table] == [
        ("hybrid", "sample_queries", 0.9),
        ("semantic", "sample_queries", 0.7),
        ("bm25", "title_queries", 0.55),
    ]
    assert table[0]["nDCG@10"] == 0.925 and table[0]["R@5"] == 1.0
    rows = cmp.chart_rows(report)
    assert len(rows) == 6
    assert {r["metric"] for r in rows} == {"MRR@10", "nDCG@10"}
    assert rows[0]["system"] == "hybrid · e5-small-v2"


def test_a_metric_the_run_did_not_measure_stays_empty(tmp_path: Path) -> None:
    path = tmp_path / "e.json"
    run = {"model": "m", "mode": "hybrid", "query_set": "s", "queries": 1, "metrics": {"mrr@10": 0.5}}
    path.write_text(json.dumps({"runs": [run]}))
    report = cmp.load_evaluation(path)
    assert report is not None
    assert cmp.eval_table(report)[0]["nDCG@10"] is None
    assert [r["metric"] for r in cmp.chart_rows(report)] == ["MRR@10"]
