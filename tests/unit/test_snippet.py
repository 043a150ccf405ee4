from __future__ import annotations

from newsindex.snippet import best_window, highlight, snippet_html

TEXT = (
    "The club confirmed the news on Monday. Chelsea have agreed a £58m fee for Lavia. "
    "He had a medical on Tuesday. The manager was delighted with the deal."
)


def test_snippet_centres_on_the_sentence_with_query_words() -> None:
    window = best_window(TEXT, {"lavia", "fee"}, max_chars=50)
    assert "Lavia" in window and window.startswith("…")


def test_query_words_are_highlighted_in_any_form() -> None:
    assert highlight("Chelsea's fees rose", {"chelsea", "fee"}) == "<mark>Chelsea's</mark> <mark>fees</mark> rose"


def test_article_html_is_escaped_so_it_cannot_run() -> None:
    html = snippet_html("Striker news <script>alert('x')</script> and <b>bold</b> claims.", "striker script")
    assert "<script" not in html and "<b>" not in html
    assert "&lt;<mark>script</mark>&gt;" in html and "&lt;b&gt;bold&lt;/b&gt;" in html


def test_short_text_is_returned_whole() -> None:
    assert best_window("One sentence only.", {"x"}) == "One sentence only."
