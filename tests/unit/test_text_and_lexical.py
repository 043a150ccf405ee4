from __future__ import annotations

import math

import pytest

from newsindex.lexical import CorpusStats, bm25, idf
from newsindex.text import terms_of, tokens_of


@pytest.mark.parametrize(
    ("word", "term"),
    [
        ("Paquetá", "paqueta"),
        ("Chelsea's", "chelsea"),
        ("clubs", "club"),
        ("CLUBS", "club"),
        ("strikers", "striker"),
        ("Lavia", "lavia"),
        ("Hilal", "hilal"),
        ("rumours", "rumour"),
        ("Ødegaard", "odegaard"),
        ("Mbappé’s", "mbappe"),
        ("boss", "boss"),
        ("parties", "party"),
    ],
)
def test_query_and_ingest_normalise_words_identically(word: str, term: str) -> None:
    assert terms_of(word) == {term}
    assert terms_of(f"The {word} story") >= {term}


def test_stop_words_and_single_letters_are_dropped() -> None:
    assert terms_of("The deal is a done one") == {"deal", "done"}


def test_tokens_keep_repeats_for_term_frequency() -> None:
    assert tokens_of("Fee agreed, fee paid") == ["fee", "agreed", "fee", "paid"]


def test_bm25_matches_a_worked_example() -> None:
    # Corpus of 3 docs, average length 4; doc has tf(ajax)=2, length 4; df(ajax)=1.
    stats = CorpusStats(articles=3, total_len=12)
    expected_idf = math.log(1 + (3 - 1 + 0.5) / (1 + 0.5))
    assert idf(1, 3) == pytest.approx(expected_idf)
    # norm = k1 * (1 - b + b * 4/4) = 1.2; score = idf * 2 * 2.2 / (2 + 1.2)
    assert bm25(["ajax"], {"ajax": 2}, 4, {"ajax": 1}, stats) == pytest.approx(expected_idf * 4.4 / 3.2)


def test_bm25_counts_repeated_query_terms_once_and_ignores_missing_terms() -> None:
    stats = CorpusStats(10, 100)
    once = bm25(["ajax"], {"ajax": 1}, 10, {"ajax": 2}, stats)
    assert bm25(["ajax", "ajax", "zzz"], {"ajax": 1}, 10, {"ajax": 2}, stats) == pytest.approx(once)
    assert bm25(["ajax"], {}, 10, {"ajax": 2}, CorpusStats(0, 0)) == 0.0


def test_rarer_terms_weigh_more() -> None:
    assert idf(1, 100) > idf(50, 100) > 0
