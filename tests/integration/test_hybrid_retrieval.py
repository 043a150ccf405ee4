"""Two retrievers, then fusion: BM25 from postings in Cassandra, independent of the ANN query; many users at once."""

from __future__ import annotations

import datetime as dt
import threading
from collections import Counter
from typing import Any

import pytest

from newsindex.factory import build_service
from newsindex.lexical import bm25
from newsindex.retrieval import LexicalQuery, lexical_top
from newsindex.search import SearchRequest, SearchService, Tuning
from newsindex.text import tokens_of
from tests.integration import sample_corpus


@pytest.fixture(scope="module")
def service(sample_index, encoder):
    svc = build_service(sample_index, encoder)
    yield svc
    svc.close()


def _brute_force_bm25(service: SearchService, terms: tuple[str, ...]) -> dict[str, float]:
    s = service.store.settings
    rows = service.store.session.execute(f"SELECT article_id, doc_len, term_freqs FROM {s.keyspace}.articles")
    dfs = service.postings.read_dfs(list(terms))
    stats = service.postings.read_corpus_stats()
    scores = {r.article_id: bm25(terms, r.term_freqs or {}, r.doc_len, dfs, stats) for r in rows}
    return {aid: score for aid, score in scores.items() if score > 0}


@pytest.mark.parametrize(
    "query",
    ["Chelsea agree fee with Brighton", "goalkeeper loan", "Kane Bayern fee", "Saudi offer rejected by the striker"],
)
def test_keyword_ranking_from_cassandra_equals_brute_force_bm25_over_every_article(service, query) -> None:
    terms = tuple(dict.fromkeys(tokens_of(query)))
    dfs = service.postings.read_dfs(list(terms))
    result = lexical_top(service.postings, LexicalQuery(terms), 10, dfs, service.postings.read_corpus_stats(), 20_000)
    brute = _brute_force_bm25(service, terms)
    expected = sorted(brute.values(), reverse=True)[:10]
    assert result.exhaustive
    assert sorted(result.scores.values(), reverse=True) == pytest.approx(expected)
    for aid, score in result.scores.items():
        assert score == pytest.approx(brute[aid])


def test_hybrid_finds_an_article_the_dense_retriever_missed(service, sample_index) -> None:
    narrow = SearchService(service.store, service.encoder, Tuning(dense=3, lexical=20), manifest=service.manifest)
    try:
        query = "Harbour Kane Bayern Munich bid"  # the meaning is Kane's move; only one article says "Harbour"
        dense_only = {h.article_id for h in service.store.ann(narrow.queries.encode_query(query), 3)}
        target = sample_corpus.article_id_of(sample_corpus.SCRIPT_LINK)
        assert target not in dense_only, "precondition: the ANN candidates must miss the article"
        results = narrow.search(SearchRequest(query, k=10, mode="hybrid")).results
        found = next(r for r in results if r.article_id == target)
        assert found.lexical_score and found.lexical_score > 0 and found.lexical_rank is not None
        assert found.dense_score is not None  # filled in from its passages: fusion saw both scores
        assert found.dense_rank is not None
    finally:
        narrow.queries.close()


def test_keyword_mode_ranks_by_bm25_within_exact_date_and_must_filters(service) -> None:
    start, end = dt.date(2022, 1, 1), dt.date(2022, 12, 31)
    request = SearchRequest(
        "transfer fee", k=10, mode="keyword", date_from=start, date_to=end, must_contain=("Chelsea",)
    )
    response = service.search(request)
    assert response.results
    for r in response.results:
        assert start <= r.date <= end
        assert r.lexical_score and r.lexical_score > 0
    scores = [r.score for r in response.results]
    assert scores == sorted(scores, reverse=True)
    store = service.store
    ids = [r.article_id for r in response.results]
    stats = store.article_term_stats(ids, ["chelsea"])
    assert all(stats[aid][0].get("chelsea") for aid in ids)


def test_hybrid_is_never_worse_than_its_parts_on_a_known_item(service) -> None:
    case = sample_corpus.queries()[0]
    for mode in ("hybrid", "semantic"):
        top = service.search(SearchRequest(case["query"], k=5, mode=mode)).results
        assert case["expected_link"] in {r.link for r in top}, mode


def ranked(response: Any) -> list[tuple[str, float]]:
    return [(r.article_id, r.score) for r in response.results]


def same_up_to_ties(a: list[tuple[str, float]], b: list[tuple[str, float]], tol: float = 2e-3) -> bool:
    """The same ranking, except that articles whose scores differ by less than `tol` may swap.

    A query encoded in a batch with others gets a vector equal to its lone encoding only to float
    rounding (padding changes the kernels' shapes), which can reorder exact near-ties, nothing more.
    """
    if [i for i, _ in a] == [i for i, _ in b]:
        return True
    if len(a) != len(b) or any(abs(x - y) > tol for (_, x), (_, y) in zip(a, b, strict=True)):
        return False
    score_a, score_b = dict(a), dict(b)
    if any(abs(score_a[i] - score_b[i]) > tol for i in score_a.keys() & score_b.keys()):
        return False
    edge = min(a[-1][1], b[-1][1]) + tol  # an article may leave or enter only at the bottom tie
    return all(score_a[i] <= edge for i in score_a.keys() - score_b.keys()) and all(
        score_b[i] <= edge for i in score_b.keys() - score_a.keys()
    )


def test_sixteen_concurrent_searches_match_one_at_a_time_and_share_encoder_batches(service) -> None:
    queries = [*[q["query"] for q in sample_corpus.queries()][:8], "goalkeeper loan", "Kane Bayern fee"]
    expected = {q: ranked(service.search(SearchRequest(q, k=5))) for q in queries}
    batches_before, encoded_before = service.queries.batches, service.queries.encoded
    errors: list[BaseException] = []
    got: Counter[str] = Counter()
    lock = threading.Lock()

    def worker(offset: int) -> None:
        for i in range(3):
            q = queries[(offset + i) % len(queries)]
            try:
                found = ranked(service.search(SearchRequest(q, k=5)))
                with lock:
                    same = same_up_to_ties(found, expected[q])
                    got["same" if same else f"differs: {q}: {found} vs {expected[q]}"] += 1
            except BaseException as exc:  # the test reports every failure
                with lock:
                    errors.append(exc)

    threads = [threading.Thread(target=worker, args=(n,)) for n in range(16)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=600)
    assert not errors, errors[:3]
    assert got == Counter({"same": 48})
    assert service.queries.encoded - encoded_before == 48
    assert service.queries.batches - batches_before < 48  # concurrent queries were encoded together


def test_hybrid_with_a_date_range_keeps_both_retrievers_inside_it(service) -> None:
    start, end = dt.date(2022, 1, 1), dt.date(2022, 12, 31)
    response = service.search(SearchRequest("Chelsea transfer fee", k=10, date_from=start, date_to=end))
    assert response.results and all(start <= r.date <= end for r in response.results)
    assert any(r.lexical_rank is not None for r in response.results)
