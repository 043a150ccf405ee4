"""Lexical normalisation shared by ingestion (the SAI `terms` set, BM25 statistics) and queries.

One function, `terms_of`, so that a word is normalised identically on both sides: lowercased,
accents folded (Paquetá -> paqueta), possessive and simple plural forms reduced (Chelsea's ->
chelsea, clubs -> club), stop words and one-letter tokens dropped. It is deliberately simple and
predictable: Apache Cassandra 5.0 SAI matches exact values only, so the query side must produce
exactly the strings the ingest side stored.
"""

from __future__ import annotations

import re
import unicodedata
from collections import Counter
from functools import lru_cache

STOP_WORDS = frozenset(
    [
        "a",
        "about",
        "above",
        "after",
        "again",
        "against",
        "all",
        "also",
        "am",
        "an",
        "and",
        "any",
        "are",
        "as",
        "at",
        "be",
        "because",
        "been",
        "before",
        "being",
        "below",
        "between",
        "both",
        "but",
        "by",
        "can",
        "could",
        "did",
        "do",
        "does",
        "doing",
        "down",
        "during",
        "each",
        "few",
        "for",
        "from",
        "further",
        "had",
        "has",
        "have",
        "having",
        "he",
        "her",
        "here",
        "hers",
        "herself",
        "him",
        "himself",
        "his",
        "how",
        "i",
        "if",
        "in",
        "into",
        "is",
        "it",
        "its",
        "itself",
        "just",
        "me",
        "more",
        "most",
        "my",
        "myself",
        "no",
        "nor",
        "not",
        "now",
        "of",
        "off",
        "on",
        "once",
        "only",
        "or",
        "other",
        "our",
        "ours",
        "ourselves",
        "out",
        "over",
        "own",
        "same",
        "she",
        "should",
        "so",
        "some",
        "such",
        "than",
        "that",
        "the",
        "their",
        "theirs",
        "them",
        "themselves",
        "then",
        "there",
        "these",
        "they",
        "this",
        "those",
        "through",
        "to",
        "too",
        "under",
        "until",
        "up",
        "very",
        "was",
        "we",
        "were",
        "what",
        "when",
        "where",
        "which",
        "while",
        "who",
        "whom",
        "why",
        "will",
        "with",
        "would",
        "you",
        "your",
        "yours",
        "yourself",
        "yourselves",
        "s",
        "t",
        "don",
        "ll",
        "ve",
        "re",
        "d",
        "m",
        "o",
        "y",
        "said",
        "says",
        "say",
        "one",
        "two",
        "new",
        "also",
        "per",
        "via",
    ]
)
_TOKEN = re.compile(r"[^\W_]+(?:['’][^\W_]+)?")
# Letters that NFKD does not decompose, folded the way a reader would type them (Ødegaard -> odegaard).
_UNDECOMPOSED = str.maketrans({"ø": "o", "æ": "ae", "œ": "oe", "ß": "ss", "ł": "l", "đ": "d", "ı": "i", "þ": "th"})
# Words whose trailing "s" is not a plural; keeps names and common nouns stable.
_KEEP_S = frozenset(
    {
        "news",
        "us",
        "bus",
        "plus",
        "gas",
        "series",
        "bonus",
        "status",
        "always",
        "his",
        "its",
        "this",
        "has",
        "was",
        "is",
        "as",
        "less",
        "boss",
        "loss",
    }
)


def fold(text: str) -> str:
    """Lowercase and strip accents (NFKD, drop combining marks)."""
    lowered = text.lower().translate(_UNDECOMPOSED)
    if lowered.isascii():  # nothing to decompose: the common case, and 5x cheaper
        return lowered
    decomposed = unicodedata.normalize("NFKD", lowered)
    return "".join(ch for ch in decomposed if not unicodedata.combining(ch))


@lru_cache(maxsize=65536)
def normalise_word(word: str) -> str:
    """Reduce one folded token: possessive and simple plural forms."""
    for apostrophe in ("'", "’"):
        if apostrophe in word:
            word = word.split(apostrophe, 1)[0]
    if len(word) > 4 and word.endswith("ies"):
        return word[:-3] + "y"
    if len(word) > 3 and word.endswith("s") and not word.endswith(("ss", "us", "is")) and word not in _KEEP_S:
        return word[:-1]
    return word


def tokens_of(text: str) -> list[str]:
    """Normalised tokens in order, repeats kept (term frequencies for BM25)."""
    out = []
    for raw in _TOKEN.findall(fold(text)):
        word = normalise_word(raw)
        if 1 < len(word) <= 64 and word not in STOP_WORDS:
            out.append(word)
    return out


def terms_of(text: str) -> set[str]:
    """The distinct normalised terms of `text`: what the passages' SAI `terms` set holds."""
    return set(tokens_of(text))


def term_counts(text: str) -> Counter[str]:
    return Counter(tokens_of(text))
