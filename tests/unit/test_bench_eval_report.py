"""The evaluation's published document and report tables, on tiny hand-made runs (fictional example.org links)."""

from __future__ import annotations

from bench.eval_data import SAMPLE_QUERIES, TITLE_QUERIES, Query
from bench.eval_rankers import Hit, Run, top_hits
from bench.eval_report import PUBLISHED_MODES, by_type, provenance, published, render

A, B, C = (f"https://example.org/{x}" for x in "abc")
QUERIES = {
    SAMPLE_QUERIES: [Query("s1", "one", "event", {A: 2, B: 1}), Query("s2", "two", "topic", {C: 2})],
    TITLE_QUERIES: [Query("t1", "Title", "title", {B: 2})],
}
META = {"generated_at": "2030-01-01T00:00:00+00:00", "commit": "abc1234", "machine": "test", "corpus": "three links"}


def run(mode: str, ranked: dict[str, list[str]], model: str = "m") -> Run:
    return Run(mode, mode, model, {qid: [Hit(link, 1.0) for link in links] for qid, links in ranked.items()})


def test_published_document_has_one_run_per_published_mode_and_query_set() -> None:
    runs = [
        run("hybrid", {"s1": [A], "s2": [B, C], "t1": [B]}),
        run("bm25", {"s1": [B], "s2": [], "t1": [A, B]}, model="bm25s"),
        Run("a diagnostic row", "", "m"),  # not published
    ]
    doc = published(runs, QUERIES, META)
    assert {k: doc[k] for k in META} == META
    assert [(r["mode"], r["query_set"]) for r in doc["runs"]] == [
        ("hybrid", SAMPLE_QUERIES),
        ("bm25", SAMPLE_QUERIES),
        ("hybrid", TITLE_QUERIES),
        ("bm25", TITLE_QUERIES),
    ]
    hybrid_sample = doc["runs"][0]
    assert hybrid_sample["queries"] == 2
    assert set(hybrid_sample["metrics"]) == {"mrr@10", "recall@1", "recall@5", "recall@10", "ndcg@10"}
    assert hybrid_sample["metrics"]["mrr@10"] == 0.75  # s1 first hit relevant, s2 at rank 2
    assert hybrid_sample["by_type"]["event"] == {
        "queries": 1,
        "metrics": {"mrr@10": 1.0, "recall@1": 0.5, "recall@5": 0.5, "recall@10": 0.5, "ndcg@10": 0.7602},
    }
    assert doc["runs"][3]["by_type"]["title"]["metrics"]["mrr@10"] == 0.5
    assert all(r["mode"] in PUBLISHED_MODES for r in doc["runs"])


def test_queries_group_by_type_in_order_of_first_appearance() -> None:
    queries = [Query("1", "", "topic", {}), Query("2", "", "event", {}), Query("3", "", "topic", {})]
    assert {k: [q.qid for q in v] for k, v in by_type(queries).items()} == {"topic": ["1", "3"], "event": ["2"]}


def test_top_hits_drop_non_positive_scores_and_break_ties_by_link() -> None:
    assert [h.link for h in top_hits({C: 0.5, B: 0.5, A: 0.0}, k=10)] == [B, C]


def test_provenance_counts_which_side_ranked_the_relevant_hits() -> None:
    hybrid = Run(
        "hybrid",
        "hybrid",
        "m",
        {"s1": [Hit(A, 1.0, dense_rank=1), Hit(B, 0.9, lexical_rank=1), Hit(C, 0.8, dense_rank=2, lexical_rank=2)]},
    )
    p = provenance(hybrid, QUERIES[SAMPLE_QUERIES][:1])
    assert (p["hits"], p["dense"], p["lexical"]) == (3, 2, 2)
    assert (p["relevant"], p["rel_dense_only"], p["rel_lexical_only"]) == (2, 1, 1)


def test_report_renders_every_table_for_product_runs() -> None:
    product = run("semantic", {"s1": [A], "s2": [C], "t1": [B]})
    product.timings = {q: {"encode_ms": 1.0, "cql_ms": 2.0, "total_ms": 4.0} for q in ("s1", "s2", "t1")}
    text = render([product], QUERIES, ["# header"])
    for heading in ("Quality per system", "per query type", "per sample query", "Latency", "Which side"):
        assert heading in text
    assert "| semantic | 1.000 |" in text
