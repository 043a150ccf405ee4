"""Snippets: the matched passage trimmed around its best sentence, query words highlighted.

The output is HTML in which *only* our `<mark>` tags are markup: the article text is escaped first,
so a scraped `<script>` in an article renders as text and can never run in the page.
"""

from __future__ import annotations

import html
import re
from collections.abc import Collection
from functools import lru_cache

from newsindex.text import normalise_word, terms_of

_SENTENCE_END = re.compile(r"(?<=[.!?])[\"'”’)]?\s+(?=[A-Z0-9“\"'‘(£€$])")
_WORD = re.compile(r"[^\W_]+(?:['’][^\W_]+)?", re.UNICODE)


def sentences(text: str) -> list[str]:
    return [s.strip() for s in _SENTENCE_END.split(text) if s.strip()]


@lru_cache(maxsize=65536)
def _word_terms(word: str) -> str:
    folded = next(iter(terms_of(word)), "")
    return folded or normalise_word(word.lower())


def best_window(text: str, query_terms: Collection[str], max_chars: int = 320) -> str:
    """The run of consecutive sentences, at most `max_chars`, with the most query-term hits."""
    text = " ".join(text.split())  # paragraph breaks read as spaces in a one-paragraph snippet
    parts = sentences(text)
    if not parts:
        return text[:max_chars]
    hits = [len(terms_of(s) & set(query_terms)) for s in parts]
    best_start, best_score = 0, -1
    for start in range(len(parts)):
        length, score, end = 0, 0, start
        while end < len(parts) and (length == 0 or length + len(parts[end]) + 1 <= max_chars):
            length += len(parts[end]) + 1
            score += hits[end]
            end += 1
        if score > best_score:
            best_start, best_score = start, score
    window: list[str] = []
    length = 0
    for sentence in parts[best_start:]:
        if window and length + len(sentence) + 1 > max_chars:
            break
        window.append(sentence)
        length += len(sentence) + 1
    snippet = " ".join(window)
    if len(snippet) > max_chars:
        snippet = snippet[:max_chars].rsplit(" ", 1)[0] + " …"
    prefix = "… " if best_start > 0 else ""
    suffix = " …" if best_start + len(window) < len(parts) and not snippet.endswith("…") else ""
    return prefix + snippet + suffix


def highlight(text: str, query_terms: Collection[str]) -> str:
    """Escape `text`, then wrap words whose normalised form is a query term in `<mark>`."""
    terms = set(query_terms)
    out, last = [], 0
    for match in _WORD.finditer(text):
        if _word_terms(match.group()) in terms:
            out.append(html.escape(text[last : match.start()]))
            out.append(f"<mark>{html.escape(match.group(), quote=False)}</mark>")
            last = match.end()
    out.append(html.escape(text[last:], quote=False))
    return "".join(out)


def snippet_html(passage: str, query: str, extra_terms: Collection[str] = (), max_chars: int = 320) -> str:
    terms = terms_of(query) | set(extra_terms)
    return highlight(best_window(passage, terms, max_chars), terms)


def plain_snippet(passage: str, query: str, max_chars: int = 320) -> str:
    return best_window(passage, terms_of(query), max_chars)


def snippets(passage: str, query: str, extra_terms: Collection[str] = (), max_chars: int = 320) -> tuple[str, str]:
    """(plain, highlighted HTML) of the same best window: one sentence scan per result, not two."""
    terms = terms_of(query) | set(extra_terms)
    window = best_window(passage, terms, max_chars)
    return window, highlight(window, terms)
