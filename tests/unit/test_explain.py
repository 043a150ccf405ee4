"""Why-this-result logic: heatmap data, marked spans (escaped), ranking breakdown. No model."""

from __future__ import annotations

import datetime as dt

import numpy as np

from newsindex import explain
from newsindex.search import ArticleResult, SearchRequest

TEXT = "Chelsea agree fee for teenager Lavia\nThe <script>alert('x')</script> deal is done."


def result(**kw: object) -> ArticleResult:
    base: dict[str, object] = {
        "article_id": "a1",
        "title": "t",
        "date": dt.date(2023, 8, 1),
        "link": "https://example.org/x",
        "score": 0.9,
        "passage": "p",
        "snippet": "s",
        "snippet_html": "s",
        "chunk_no": 0,
    }
    return ArticleResult(**{**base, **kw})  # type: ignore[arg-type]


def offsets_of(text: str, words: list[str]) -> list[tuple[int, int]]:
    out, cursor = [], 0
    for word in words:
        start = text.index(word, cursor)
        out.append((start, start + len(word)))
        cursor = start + len(word)
    return out


def test_similarity_is_the_cosine_of_token_vectors() -> None:
    q = np.array([[1.0, 0.0], [0.0, 2.0]])
    p = np.array([[3.0, 0.0], [1.0, 1.0], [0.0, -1.0]])
    m = explain.similarity_matrix(q, p)
    assert m.shape == (2, 3)
    assert np.allclose(m, [[1.0, 2**-0.5, 0.0], [0.0, 2**-0.5, -1.0]], atol=1e-6)
    assert np.allclose(explain.token_scores(m), [1.0, 2**-0.5, 0.0], atol=1e-6)


def test_repeated_tokens_get_distinct_axis_labels() -> None:
    assert explain.token_labels(["fee", "of", "fee", "fee"]) == ["fee", "of", "fee (2)", "fee (3)"]


def test_heatmap_rows_cover_the_window_in_long_form() -> None:
    m = np.arange(12, dtype=np.float32).reshape(2, 6) / 10
    rows = explain.heatmap_rows(["a", "b"], ["p", "q", "r", "s", "t", "u"], m, start=2, width=3)
    assert len(rows) == 6
    assert {r["passage_token"] for r in rows} == {"r", "s", "t"}
    assert rows[0] == {"q": 0, "p": 2, "query_token": "a", "passage_token": "r", "cosine": 0.2}


def test_best_window_starts_at_the_strongest_stretch() -> None:
    scores = np.array([0.1, 0.1, 0.9, 0.8, 0.1, 0.1], dtype=np.float32)
    assert explain.best_window(scores, 2) == 2
    assert explain.best_window(scores, 10) == 0


def test_marked_spans_are_whole_words_and_merge_neighbours() -> None:
    text = "The teenager Lavia signs"
    words = ["the", "teen", "##ager", "lavia", "signs"]
    offsets = [(0, 3), (4, 8), (8, 12), (13, 18), (19, 24)]
    scores = np.array([0.1, 0.9, 0.2, 0.8, 0.1], dtype=np.float32)
    spans = explain.marked_spans(text, offsets[: len(words)], scores, top_share=0.4)
    assert [(text[s.start : s.end]) for s in spans] == ["teenager Lavia"]
    assert spans[0].strength == 1.0


def test_stop_words_and_punctuation_are_never_marked() -> None:
    text = "for , Lavia"
    offsets = [(0, 3), (4, 5), (6, 11)]
    spans = explain.marked_spans(text, offsets, np.array([0.9, 0.9, 0.8]), top_share=1.0, ignore={"for"})
    assert [text[s.start : s.end] for s in spans] == ["Lavia"]


def test_marked_passage_keeps_a_script_tag_as_text() -> None:
    start = TEXT.index("<script>")
    spans = [explain.Span(0, 7, 1.0), explain.Span(start, start + 8, 0.5)]
    out = explain.mark_html(TEXT, spans)
    assert "<script" not in out
    assert '">&lt;script&gt;</mark>alert(&#x27;x&#x27;)&lt;/script&gt; deal' in out
    assert out.startswith('<mark class="ns-why"') and "Chelsea</mark>" in out
    assert "<br>" in out  # the title line break


def test_rank_line_names_meaning_and_keyword_contributions() -> None:
    r = result(dense_score=0.8421, dense_rank=2, lexical_score=7.314, lexical_rank=1)
    assert explain.rank_line(r, "hybrid") == "meaning 0.842 (#2 by meaning) · keywords BM25 7.31 (#1 by keywords)"
    assert explain.rank_line(r, "semantic") == "meaning 0.842 (#2 by meaning)"
    none = result(dense_score=0.5, dense_rank=9, lexical_score=0.0, recency=0.5)
    assert explain.rank_line(none, "hybrid") == "meaning 0.500 (#9 by meaning) · no query word matched · recency ×0.50"


def test_breakdown_explains_each_part_for_the_mode() -> None:
    r = result(dense_score=0.84, dense_rank=2, lexical_score=7.3, lexical_rank=1)
    rows = explain.breakdown(r, SearchRequest("q", mode="hybrid"), 1, 57)
    parts = {part: (value, meaning) for part, value, meaning in rows}
    assert parts["Final rank"][0] == "#1 of 57 candidate articles"
    assert parts["Meaning (dense)"][0] == "0.8400, #2 by meaning"
    assert parts["Keywords (BM25)"][0] == "7.300, #1 by keywords"
    assert "0.5 × meaning + 0.5 × keywords" in parts["Fusion"][1]
    semantic = {p: v for p, v, _ in explain.breakdown(r, SearchRequest("q", mode="semantic"), None, 10)}
    assert semantic["Keywords (BM25)"] == "not used" and "Fusion" not in semantic
    assert semantic["Final rank"] == "not in the top 100 for this search"
    boosted = explain.breakdown(result(recency=0.25), SearchRequest("q", recency_half_life_days=90), 3, 9)
    assert boosted[-1][:2] == ("Recency", "×0.250")
