"""`Article` → `Passage`s that fit the encoder's token budget. Pure, given a token-counting callable.

Why token-aware: the encoder silently truncates what exceeds its window, so text past the budget
would be stored but never searchable. Passages end at sentence boundaries where possible, overlap
by a few trailing sentences so a fact split across a boundary is still found, and a sentence
longer than the budget is cut between words (between characters only for a giant "word", e.g. a
URL). Every non-space character of the content lands in at least one passage.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from itertools import pairwise
from pathlib import Path
from typing import Any

from ingest.records import Article, Passage

__all__ = ["Span", "TokenCounter", "pack_spans", "split_passages", "split_sentences"]

CountTokens = Callable[[str], int]

# A sentence ends at . ! ? or … (plus closing quotes/brackets) followed by space and a capital,
# digit, currency sign or opening quote; "£58m. The" splits, "£58.5m" and "v. Spurs" do not.
_SENTENCE_END = re.compile(r"""[.!?…]+["'”’)\]]*(?=\s+["'“‘(\[]?[A-Z0-9£€$])""")
_WORD_BEFORE = re.compile(r"([A-Za-z][A-Za-z.]*)$")
_TITLES = frozenset(
    {
        "mr",
        "mrs",
        "ms",
        "dr",
        "st",
        "jr",
        "sr",
        "prof",
        "rev",
        "gen",
        "capt",
        "vs",
        "v",
        "e.g",
        "i.e",
        "cf",
        "approx",
    }
)
_BEFORE_NUMBER = frozenset(
    {"no", "nos", "jan", "feb", "mar", "apr", "jun", "jul", "aug", "sep", "sept", "oct", "nov", "dec"}
)
_PARAGRAPH = re.compile(r"[^\n]+")
_WORD = re.compile(r"\S+")


@dataclass(frozen=True)
class Span:
    """`text[start:end]`, counted at `tokens`."""

    start: int
    end: int
    tokens: int


def split_passages(
    article: Article, count_tokens: CountTokens, budget_tokens: int, overlap_tokens: int = 0
) -> list[Passage]:
    """Passages of `article.content`, each at most `budget_tokens` by `count_tokens`.

    `budget_tokens` is what is left for the passage text once the caller has taken off the model
    prefix, the title and the special tokens; `overlap_tokens` of trailing sentences are repeated
    at the start of the next passage.
    """
    spans = pack_spans(article.content, count_tokens, budget_tokens, overlap_tokens)
    return [
        Passage(
            article_id=article.article_id,
            chunk_no=number,
            text=article.content[span.start : span.end],
            token_count=span.tokens,
            char_start=span.start,
            char_end=span.end,
        )
        for number, span in enumerate(spans)
    ]


def split_sentences(text: str) -> list[tuple[int, int]]:
    """`(start, end)` of each sentence, without surrounding spaces; a line break always ends one."""
    spans: list[tuple[int, int]] = []
    for paragraph in _PARAGRAPH.finditer(text):
        start, stop = paragraph.span()
        for match in _SENTENCE_END.finditer(text, start, stop):
            if not _is_abbreviation(text, match, start):
                spans.append((start, match.end()))
                start = match.end()
        spans.append((start, stop))
    return [stripped for a, b in spans if (stripped := _strip(text, a, b))[0] < stripped[1]]


def pack_spans(text: str, count_tokens: CountTokens, budget_tokens: int, overlap_tokens: int = 0) -> list[Span]:
    """Greedy packing of sentence units into spans of at most `budget_tokens` (see module doc)."""
    if budget_tokens < 1:
        raise ValueError(f"budget_tokens must be at least 1, not {budget_tokens}")
    if not 0 <= overlap_tokens < budget_tokens:
        raise ValueError(f"overlap_tokens must be in [0, {budget_tokens}), not {overlap_tokens}")
    units = _units(text, count_tokens, budget_tokens)
    additive = getattr(count_tokens, "additive_over_whitespace", False) is True
    spans: list[Span] = []
    first, fresh = 0, 0  # first unit of the passage, first unit not yet in any passage
    while fresh < len(units):
        end, total = first, 0
        while end < len(units) and total + units[end].tokens <= budget_tokens:
            total += units[end].tokens
            end += 1
        end = max(end, fresh + 1)
        tokens = _measure(text, units[first:end], count_tokens, additive)
        while tokens > budget_tokens:  # counts are not always additive: drop the overlap, then the tail
            if first < fresh:
                first += 1
            else:
                end -= 1
            tokens = _measure(text, units[first:end], count_tokens, additive)
        spans.append(Span(units[first].start, units[end - 1].end, tokens))
        first, fresh = _overlap_start(units, first, end, overlap_tokens, budget_tokens), end
    return spans


class TokenCounter:
    """Counts tokens as a fast (Rust) tokenizer does, without special tokens.

    Callable like `count_tokens`; `count_many` tokenizes a batch in one call, and counts are cached
    per text because packing asks for the same sentences again. Takes a `tokenizers.Tokenizer` or a
    Hugging Face fast tokenizer (its Rust core is used), and works on a private copy with truncation
    and padding off: tokenizer.json files often ship with both on (MiniLM's truncates at 128), which
    would make every long text count as 128.

    `additive_over_whitespace` is True for BERT-style word-piece tokenizers (MiniLM, e5, bge): they
    split on whitespace before anything else, so the count of sentences joined by spaces is the sum
    of their counts and the splitter need not tokenize each passage again (half the chunking time).
    """

    def __init__(self, tokenizer: Any, cache_size: int = 100_000) -> None:
        backend = getattr(tokenizer, "backend_tokenizer", tokenizer)
        if not callable(getattr(backend, "encode_batch", None)):
            raise TypeError("TokenCounter needs a fast tokenizer (tokenizers.Tokenizer or a *TokenizerFast)")
        if callable(getattr(backend, "to_str", None)):
            backend = type(backend).from_str(backend.to_str())
            backend.no_truncation()
            backend.no_padding()
        self._tokenizer = backend
        self.additive_over_whitespace = _splits_on_whitespace_first(backend)
        self._cache: dict[str, int] = {}
        self._cache_size = cache_size

    @classmethod
    def from_pretrained(cls, name_or_path: str | Path) -> TokenCounter:
        """From a model directory's tokenizer.json (no transformers import), else via AutoTokenizer."""
        path = Path(name_or_path) / "tokenizer.json"
        if path.is_file():
            from tokenizers import Tokenizer

            return cls(Tokenizer.from_file(str(path)))
        from transformers import AutoTokenizer

        return cls(AutoTokenizer.from_pretrained(str(name_or_path)))

    def __call__(self, text: str) -> int:
        cached = self._cache.get(text)
        return cached if cached is not None else self.count_many([text])[0]

    def count_many(self, texts: Sequence[str]) -> list[int]:
        missing = list(dict.fromkeys(t for t in texts if t not in self._cache))
        if len(self._cache) + len(missing) > self._cache_size:
            self._cache.clear()
            missing = list(dict.fromkeys(texts))
        if missing:
            encodings = self._tokenizer.encode_batch(missing, add_special_tokens=False)
            self._cache.update(zip(missing, (len(e.ids) for e in encodings), strict=True))
        return [self._cache[t] for t in texts]


# --- internals -----------------------------------------------------------------------------------


def _units(text: str, count: CountTokens, budget: int) -> list[Span]:
    """Sentences, with any sentence over the budget replaced by its words (or word pieces)."""
    sentences = split_sentences(text)
    counts = _count_all(count, [text[a:b] for a, b in sentences])
    units: list[Span] = []
    for (start, end), tokens in zip(sentences, counts, strict=True):
        if tokens <= budget:
            units.append(Span(start, end, tokens))
            continue
        words = [m.span() for m in _WORD.finditer(text, start, end)]
        for (a, b), n in zip(words, _count_all(count, [text[a:b] for a, b in words]), strict=True):
            units.extend([Span(a, b, n)] if n <= budget else _pieces(text, a, b, count, budget))
    return units


def _pieces(text: str, start: int, end: int, count: CountTokens, budget: int) -> list[Span]:
    """Cut one over-budget word into the longest prefixes that fit (binary search on length)."""
    pieces: list[Span] = []
    while start < end:
        low, high, best = 1, end - start, 0
        while low <= high:
            mid = (low + high) // 2
            if count(text[start : start + mid]) <= budget:
                best, low = mid, mid + 1
            else:
                high = mid - 1
        if best == 0:
            raise ValueError(f"budget of {budget} tokens cannot hold the character {text[start]!r}")
        pieces.append(Span(start, start + best, count(text[start : start + best])))
        start += best
    return pieces


def _overlap_start(units: list[Span], first: int, end: int, overlap: int, budget: int) -> int:
    """First unit of the next passage: trailing units worth up to `overlap` tokens, leaving room."""
    if end >= len(units):
        return end
    start, carried = end, 0
    while start - 1 > first and carried + units[start - 1].tokens <= overlap:
        start -= 1
        carried += units[start].tokens
    while start < end and carried + units[end].tokens > budget:
        carried -= units[start].tokens
        start += 1
    return start


def _measure(text: str, units: list[Span], count: CountTokens, additive: bool) -> int:
    """Tokens of the text from the first unit to the last; summed when that is known to be exact."""
    if additive and all(_plain_gap(text, a, b) for a, b in pairwise(units)):
        return sum(unit.tokens for unit in units)
    return count(text[units[0].start : units[-1].end])


def _plain_gap(text: str, before: Span, after: Span) -> bool:
    """Units separated by ordinary spaces or line breaks, which every tokenizer splits on."""
    return before.end < after.start and not text[before.end : after.start].strip(" \t\n\r")


def _splits_on_whitespace_first(backend: Any) -> bool:
    try:
        from tokenizers import pre_tokenizers
    except ImportError:  # pragma: no cover - tokenizers comes with sentence-transformers
        return False
    kinds = (pre_tokenizers.BertPreTokenizer, pre_tokenizers.Whitespace, pre_tokenizers.WhitespaceSplit)
    return isinstance(getattr(backend, "pre_tokenizer", None), kinds)


def _count_all(count: CountTokens, texts: list[str]) -> list[int]:
    count_many = getattr(count, "count_many", None)
    if callable(count_many):
        return list(count_many(texts))
    return [count(t) for t in texts]


def _is_abbreviation(text: str, match: re.Match[str], floor: int) -> bool:
    """True when a single `.` closes a title (`Mr.`), an initial (`J.`) or `No.`/`Aug.` before a number."""
    if match.group() != ".":
        return False
    word = _WORD_BEFORE.search(text, max(floor, match.start() - 12), match.start())
    if word is None or word.end() != match.start():
        return False
    token = word.group(1)
    if len(token) == 1 and token.isupper():
        return True
    key = token.lower().rstrip(".")
    if key in _TITLES:
        return True
    following = text[match.end() : match.end() + 8].lstrip()
    return key in _BEFORE_NUMBER and following[:1].isdigit()


def _strip(text: str, start: int, end: int) -> tuple[int, int]:
    while start < end and text[start].isspace():
        start += 1
    while end > start and text[end - 1].isspace():
        end -= 1
    return start, end
