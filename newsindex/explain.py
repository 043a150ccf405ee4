"""Why a result came up: token-similarity heatmap data, the passage's best-matching spans, and the
ranking breakdown. Pure functions on numpy arrays and `ArticleResult`s; the token vectors come from
`newsindex.tokenvectors` (the model), the results from the search service.

The heatmap is the cosine of the model's contextual token vectors (query tokens x passage tokens),
as in the seed notebook's "output token similarity heatmap". A passage token's match strength is
its best cosine to any query token; the strongest tokens, widened to whole words and merged with
neighbouring strong words, are the marked spans. All text is escaped: only our `<mark>` is markup.
"""

from __future__ import annotations

import html
from collections.abc import Collection, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

__all__ = [
    "Span",
    "best_window",
    "breakdown",
    "heatmap_rows",
    "mark_html",
    "marked_spans",
    "rank_line",
    "similarity_matrix",
    "token_labels",
    "token_scores",
]


@dataclass(frozen=True)
class Span:
    start: int
    end: int
    strength: float  # 0..1, relative to the passage's weakest and strongest token


def similarity_matrix(query: np.ndarray, passage: np.ndarray) -> np.ndarray:
    """Cosine of every query token vector (rows) with every passage token vector (columns)."""
    q = _unit(np.asarray(query, dtype=np.float32))
    p = _unit(np.asarray(passage, dtype=np.float32))
    if not len(q) or not len(p):
        return np.zeros((len(q), len(p)), dtype=np.float32)
    return (q @ p.T).astype(np.float32)


def token_scores(matrix: np.ndarray) -> np.ndarray:
    """Each passage token's best cosine to any query token."""
    if matrix.size == 0:
        return np.zeros(matrix.shape[1] if matrix.ndim == 2 else 0, dtype=np.float32)
    return matrix.max(axis=0)


def token_labels(tokens: Sequence[str]) -> list[str]:
    """Unique axis labels: a repeated token gets its occurrence number ('fee', 'fee (2)')."""
    seen: dict[str, int] = {}
    out = []
    for token in tokens:
        seen[token] = seen.get(token, 0) + 1
        out.append(token if seen[token] == 1 else f"{token} ({seen[token]})")
    return out


def best_window(scores: np.ndarray, width: int) -> int:
    """Start of the `width`-token window with the highest total match (0 when the passage is shorter)."""
    n = len(scores)
    if n <= width or width <= 0:
        return 0
    sums = np.convolve(scores, np.ones(width, dtype=np.float32), mode="valid")
    return int(np.argmax(sums))


def heatmap_rows(
    query_tokens: Sequence[str], passage_tokens: Sequence[str], matrix: np.ndarray, start: int = 0, width: int = 0
) -> list[dict[str, Any]]:
    """Long-form rows for an Altair heatmap, for passage tokens [start, start + width) (all if width=0)."""
    end = len(passage_tokens) if width <= 0 else min(len(passage_tokens), start + width)
    q_labels, p_labels = token_labels(query_tokens), token_labels(passage_tokens)
    return [
        {
            "q": i,
            "p": j,
            "query_token": q_labels[i],
            "passage_token": p_labels[j],
            "cosine": round(float(matrix[i, j]), 4),
        }
        for i in range(len(query_tokens))
        for j in range(start, end)
    ]


def marked_spans(
    text: str,
    offsets: Sequence[tuple[int, int]],
    scores: np.ndarray,
    top_share: float = 0.12,
    max_gap: int = 2,
    ignore: Collection[str] = (),
) -> list[Span]:
    """The passage's most query-similar spans: its top `top_share` tokens, widened to whole words and
    merged across gaps of at most `max_gap` characters (a space, a comma and a space). Words in
    `ignore` (lower case, e.g. stop words) and tokens without a letter or digit are never marked."""
    n = min(len(offsets), len(scores))
    if n == 0:
        return []
    values = np.asarray(scores[:n], dtype=np.float32)
    threshold = float(np.quantile(values, 1 - top_share)) if n > 1 else float(values[0])
    low, high = float(values.min()), float(values.max())
    scale = high - low or 1.0
    chosen: list[Span] = []
    for (start, end), value in zip(offsets[:n], values, strict=True):
        if value < threshold or end <= start:
            continue
        start, end = _word_bounds(text, start, end)
        word = text[start:end]
        if not any(c.isalnum() for c in word) or word.lower() in ignore:
            continue
        strength = (float(value) - low) / scale
        if chosen and start - chosen[-1].end <= max_gap and _only_separators(text[chosen[-1].end : start]):
            last = chosen[-1]
            chosen[-1] = Span(last.start, max(end, last.end), max(strength, last.strength))
        else:
            chosen.append(Span(start, end, strength))
    return chosen


def mark_html(text: str, spans: Sequence[Span]) -> str:
    """`text` escaped, with each span in a `<mark>` whose opacity follows its strength."""
    out, cursor = [], 0
    for span in sorted(spans, key=lambda s: s.start):
        if span.start < cursor:
            continue
        out.append(html.escape(text[cursor : span.start]))
        alpha = 0.25 + 0.65 * min(max(span.strength, 0.0), 1.0)
        out.append(
            f'<mark class="ns-why" style="background: rgba(250, 204, 21, {alpha:.2f})" '
            f'title="match {span.strength:.2f}">{html.escape(text[span.start : span.end])}</mark>'
        )
        cursor = span.end
    out.append(html.escape(text[cursor:]))
    return "".join(out).replace("\n", "<br>")


# --- ranking -----------------------------------------------------------------------------------
def rank_line(result: Any, mode: str) -> str:
    """One line for a result card: what its score is made of (plain text, escape before use)."""
    parts = []
    if result.dense_score is not None:
        rank = f" (#{result.dense_rank} by meaning)" if result.dense_rank else ""
        parts.append(f"meaning {result.dense_score:.3f}{rank}")
    if mode != "semantic":
        if result.lexical_score:
            rank = f" (#{result.lexical_rank} by keywords)" if result.lexical_rank else ""
            parts.append(f"keywords BM25 {result.lexical_score:.2f}{rank}")
        elif result.lexical_score is not None:
            parts.append("no query word matched")
    if result.recency is not None:
        parts.append(f"recency ×{result.recency:.2f}")
    return " · ".join(parts)


def breakdown(result: Any, request: Any, rank: int | None, candidates: int) -> list[tuple[str, str, str]]:
    """(part, value, what it means) rows for the explanation page's ranking table."""
    rows: list[tuple[str, str, str]] = []
    where = f"#{rank} of {candidates} candidate articles" if rank else "not in the top 100 for this search"
    rows.append(("Final rank", where, f"score {result.score:.4f}; results are ordered by it"))
    dense = "-" if result.dense_score is None else f"{result.dense_score:.4f}"
    dense_rank = f", #{result.dense_rank} by meaning" if result.dense_rank else ""
    rows.append(
        (
            "Meaning (dense)",
            dense + dense_rank,
            "dot product of the query vector and the passage vector (both unit length)",
        )
    )
    if request.mode == "semantic":
        rows.append(("Keywords (BM25)", "not used", "semantic mode ranks by meaning only"))
    else:
        lexical = "-" if result.lexical_score is None else f"{result.lexical_score:.3f}"
        lexical_rank = f", #{result.lexical_rank} by keywords" if result.lexical_rank else ""
        rows.append(("Keywords (BM25)", lexical + lexical_rank, "BM25 of the article for the query's words"))
    if request.mode == "hybrid":
        if getattr(request, "fusion", "linear") == "linear":
            a = getattr(request, "linear_alpha", 0.5)
            how = f"{a:g} × meaning + {1 - a:g} × keywords, each scaled to 0-1 across the candidates"
        else:
            how = "reciprocal rank fusion of the meaning and keyword ranks"
        rows.append(("Fusion", f"{result.score:.4f}" if result.recency is None else "see recency", how))
    elif request.mode == "keyword":
        rows.append(("Keyword filter", "required", "only articles containing the required words were ranked"))
    if result.recency is not None:
        days = getattr(request, "recency_half_life_days", 0)
        weight = getattr(request, "recency_weight", 0.3)
        rows.append(
            (
                "Recency",
                f"×{result.recency:.3f}",
                f"half-life {days:g} days; final = {1 - weight:g} × relevance + {weight:g} × recency",
            )
        )
    if getattr(request, "diversity", 0) > 0:
        rows.append(("Diversity (MMR)", f"{request.diversity:g}", "results too similar to higher ones moved down"))
    if getattr(request, "sort", "relevance") == "date":
        rows.append(("Sort", "newest first", "the top relevant results, re-ordered by date"))
    return rows


# --- internals ---------------------------------------------------------------------------------
def _unit(x: np.ndarray) -> np.ndarray:
    if x.ndim != 2 or not len(x):
        return x.reshape(len(x), -1) if x.ndim else x
    norms = np.linalg.norm(x, axis=1, keepdims=True)
    return x / np.where(norms > 0, norms, 1.0)


def _word_bounds(text: str, start: int, end: int) -> tuple[int, int]:
    """Widen [start, end) to the whole word around it (letters, digits, apostrophes, hyphens)."""
    while start > 0 and _is_word(text[start - 1]):
        start -= 1
    while end < len(text) and _is_word(text[end]):
        end += 1
    return start, end


def _is_word(ch: str) -> bool:
    return ch.isalnum() or ch in "'’-"


def _only_separators(gap: str) -> bool:
    return all(not c.isalnum() for c in gap)
