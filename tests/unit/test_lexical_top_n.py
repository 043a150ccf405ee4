"""BM25 top-N over impact-ordered postings equals brute-force BM25, however the lists are paged or cut."""

from __future__ import annotations

import datetime as dt

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from newsindex.lexical import CorpusStats, Posting, bm25, idf, impact, tf_part, top_n, unseen_bound


def _corpus(docs: list[dict[str, int]]) -> dict[str, dict[str, int]]:
    return {f"a{i:03d}": tf for i, tf in enumerate(docs)}


def _lengths(corpus: dict[str, dict[str, int]]) -> dict[str, int]:
    return {aid: sum(tf.values()) + 3 for aid, tf in corpus.items()}  # +3: terms the query never asks for


def _pages(corpus, lengths, term, page_size, dates=None):
    postings = [
        Posting(aid, tf[term], lengths[aid], impact(tf[term], lengths[aid]), (dates or {}).get(aid))
        for aid, tf in corpus.items()
        if tf.get(term)
    ]
    postings.sort(key=lambda p: (-p.impact, p.article_id))
    pages = [postings[i : i + page_size] for i in range(0, len(postings), page_size)]
    calls = iter(pages)
    return lambda: next(calls, None)


def _run(corpus, query, n, page_size, max_postings=10**9, accept=lambda _p: True, dates=None):
    lengths = _lengths(corpus)
    stats = CorpusStats(len(corpus), sum(lengths.values()))
    dfs = {t: sum(1 for tf in corpus.values() if tf.get(t)) for t in query}
    idfs = {t: idf(dfs[t], stats.articles) for t in query if dfs[t]}
    asked: list[tuple[tuple[str, ...], tuple[str, ...]]] = []

    def complete(ids, terms):
        asked.append((tuple(ids), tuple(terms)))
        return {aid: {t: corpus[aid][t] for t in terms if corpus[aid].get(t)} for aid in ids}

    pages = {t: _pages(corpus, lengths, t, page_size, dates) for t in idfs}
    result = top_n(pages, idfs, stats.avg_len, n, complete, accept=accept, max_postings=max_postings)
    brute = {
        aid: bm25(query, tf, lengths[aid], dfs, stats) for aid, tf in corpus.items() if any(tf.get(t) for t in query)
    }
    return result, brute, asked


def _top_scores(scores: dict[str, float], n: int) -> list[float]:
    return sorted(scores.values(), reverse=True)[:n]


docs = st.lists(
    st.dictionaries(st.sampled_from("abcdefgh"), st.integers(1, 6), min_size=1, max_size=6), min_size=1, max_size=40
)


@settings(max_examples=200, deadline=None)
@given(docs, st.lists(st.sampled_from("abcdefghz"), min_size=1, max_size=4), st.integers(1, 8), st.integers(1, 5))
def test_top_n_equals_brute_force_bm25(docs, query, n, page_size) -> None:
    result, brute, _ = _run(_corpus(docs), query, n, page_size)
    assert result.exhaustive
    assert _top_scores(result.scores, n) == pytest.approx(_top_scores(brute, n))
    for aid, score in result.scores.items():
        assert score == pytest.approx(brute[aid])


def test_a_rare_term_is_read_through_while_a_common_one_stops_early() -> None:
    docs = [{"common": 1} for _ in range(200)] + [{"common": 1, "rare": 3} for _ in range(3)]
    result, brute, _ = _run(_corpus(docs), ["rare", "common"], 3, page_size=10)
    assert set(result.scores) == {aid for aid, tf in _corpus(docs).items() if "rare" in tf}
    assert result.postings_read < 60  # not the 203 postings of "common"
    assert _top_scores(result.scores, 3) == pytest.approx(_top_scores(brute, 3))


def test_articles_a_list_did_not_reach_are_completed_exactly() -> None:
    docs = [{"x": 5, "y": 1}, {"x": 4}, {"x": 1, "y": 6}] + [{"y": 1} for _ in range(50)]
    result, brute, asked = _run(_corpus(docs), ["x", "y"], 2, page_size=1)
    assert asked, "some top article was missing a term its list had not reached"
    for aid, score in result.scores.items():
        assert score == pytest.approx(brute[aid])


def test_the_read_cap_returns_what_it_has_and_says_it_is_not_exhaustive() -> None:
    docs = [{"a": 1 + i % 3} for i in range(100)]
    result, _, _ = _run(_corpus(docs), ["a"], 50, page_size=10, max_postings=30)
    assert not result.exhaustive and result.postings_read == 30


def test_a_date_filter_drops_postings_but_keeps_the_rest_exact() -> None:
    corpus = _corpus([{"a": 1 + i % 4} for i in range(30)])
    dates = {aid: dt.date(2020 + i % 3, 1, 1) for i, aid in enumerate(corpus)}
    keep = dt.date(2021, 1, 1)
    result, brute, _ = _run(corpus, ["a"], 5, 4, accept=lambda p: p.published == keep, dates=dates)
    in_range = {aid: s for aid, s in brute.items() if dates[aid] == keep}
    assert all(dates[aid] == keep for aid in result.scores)
    assert _top_scores(result.scores, 5) == pytest.approx(_top_scores(in_range, 5))


@pytest.mark.parametrize("avg_len", [50.0, 200.0, 800.0])
def test_unseen_bound_is_an_upper_bound_whatever_the_true_average(avg_len: float) -> None:
    for tf in range(1, 20):
        for doc_len in (1, 10, 100, 1000, 5000):
            assert tf_part(tf, doc_len, avg_len) <= unseen_bound(impact(tf, doc_len), avg_len)


def test_impact_is_stable_to_the_bit_for_deletes() -> None:
    assert impact(3, 181) == impact(3, 181)
    assert isinstance(impact(3, 181), float)


many_docs = st.lists(
    st.dictionaries(st.sampled_from("abcd"), st.integers(1, 9), min_size=1, max_size=4), min_size=60, max_size=250
)


@settings(max_examples=60, deadline=None)
@given(many_docs, st.lists(st.sampled_from("abcd"), min_size=2, max_size=4), st.integers(1, 4), st.integers(1, 4))
def test_completion_in_batches_stays_exact_when_many_articles_are_partial(docs, query, n, page_size) -> None:
    result, brute, asked = _run(_corpus(docs), query, n, page_size)
    assert _top_scores(result.scores, n) == pytest.approx(_top_scores(brute, n))
    for aid, score in result.scores.items():
        assert score == pytest.approx(brute[aid])
    assert all(len(ids) <= max(2 * n, 32) for ids, _ in asked)  # one bounded batch per round trip
