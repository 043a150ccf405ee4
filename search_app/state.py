"""Pure helpers behind the search page: URL query params <-> page state <-> search request, and the
HTML of one result card. No Streamlit import, no clock: everything here is unit-tested alone.

The URL keys are `q, k, from, to, sort, mode, must, recency, div, like`; values equal to the defaults
are left out so a shared link stays short. Unknown or malformed values are dropped with a note.
"""

from __future__ import annotations

import datetime as dt
import html
import math
import re
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, replace
from typing import Any
from urllib.parse import urlsplit

from newsindex.search import MODES, ArticleResult, SearchRequest, Timings

__all__ = [
    "EXAMPLE_QUERIES",
    "PARAM_KEYS",
    "PageState",
    "card_html",
    "format_date",
    "format_words",
    "from_session",
    "heading_html",
    "md_escape",
    "parse_params",
    "parse_words",
    "safe_url",
    "timing_lines",
    "to_params",
    "to_request",
    "to_session",
]

PARAM_KEYS = ("q", "k", "from", "to", "sort", "mode", "must", "recency", "div", "like")
SORTS = ("relevance", "date")
K_MAX = 100
RECENCY_MAX_DAYS = 3650
MIN_DATE = dt.date(1900, 1, 1)
MAX_DATE = dt.date(2100, 12, 31)
_ARTICLE_ID = re.compile(r"^[A-Za-z0-9_-]{1,64}$")
_WORD_SPLIT = re.compile(r"[,;\s]+")
_MD_SPECIAL = re.compile(r"[\\`*_{}\[\]()#+\-.!<>|~$&:]")

EXAMPLE_QUERIES = (
    "young Brazilian striker wanted by European giants",
    "goalkeeper signed on loan after an injury",
    "club-record fee for a midfielder",
    "player leaves on a free transfer",
)


@dataclass(frozen=True)
class PageState:
    """What the page shows: the submitted query, its filters, and an optional more-like-this source."""

    query: str = ""
    k: int = 10
    date_from: dt.date | None = None
    date_to: dt.date | None = None
    sort: str = "relevance"
    mode: str = "hybrid"
    must: tuple[str, ...] = ()
    recency_days: int = 0
    diversity: float = 0.0
    like: str | None = None

    @property
    def active(self) -> bool:
        """True when there is something to search: a query or a more-like-this source."""
        return bool(self.query.strip() or self.like)

    def narrowing_filters(self, default_mode: str = "hybrid") -> list[str]:
        """Human descriptions of the filters that can hide articles (for the no-result state)."""
        out = []
        if self.date_from:
            out.append(f"published from {self.date_from.isoformat()}")
        if self.date_to:
            out.append(f"published until {self.date_to.isoformat()}")
        if self.must:
            out.append("must contain " + ", ".join(self.must))
        if self.mode == "keyword" and self.mode != default_mode:
            out.append("keyword (BM25) mode")
        return out

    def without_filters(self, default_mode: str = "hybrid") -> PageState:
        mode = default_mode if self.mode == "keyword" else self.mode
        return replace(self, date_from=None, date_to=None, must=(), mode=mode)


# --- words and numbers -------------------------------------------------------------------------
def parse_words(text: str | Iterable[str]) -> tuple[str, ...]:
    """'Lavia, Chelsea  fee' -> ('Lavia', 'Chelsea', 'fee'); repeats dropped, order kept."""
    parts = [text] if isinstance(text, str) else list(text)
    words = (w for part in parts for w in _WORD_SPLIT.split(part) if w)
    return tuple(dict.fromkeys(words))


def format_words(words: Sequence[str]) -> str:
    return ", ".join(words)


def _format_number(value: float) -> str:
    return str(int(value)) if float(value).is_integer() else f"{value:g}"


def _clamp(value: float, low: float, high: float) -> float:
    return min(max(value, low), high)


# --- URL query params --------------------------------------------------------------------------
def parse_params(
    params: Mapping[str, str | Sequence[str]], defaults: PageState | None = None
) -> tuple[PageState, list[str]]:
    """Page state from URL query params; each malformed value is ignored and reported in the notes."""
    base = defaults or PageState()
    notes: list[str] = []

    def first(key: str) -> str | None:
        value = params.get(key)
        if value is None:
            return None
        if not isinstance(value, str):
            value = value[-1] if value else ""
        value = value.strip()
        return value or None

    def bad(key: str, raw: str, why: str) -> None:
        notes.append(f"ignored {key}={raw!r} in the address: {why}")

    changes: dict[str, Any] = {}
    if (q := first("q")) is not None:
        changes["query"] = q
    if (raw := first("k")) is not None:
        try:
            changes["k"] = int(_clamp(int(raw), 1, K_MAX))
        except ValueError:
            bad("k", raw, f"expected a whole number from 1 to {K_MAX}")
    for key, attr in (("from", "date_from"), ("to", "date_to")):
        if (raw := first(key)) is not None:
            try:
                changes[attr] = min(max(dt.date.fromisoformat(raw), MIN_DATE), MAX_DATE)
            except ValueError:
                bad(key, raw, "expected a date like 2023-08-15")
    if (raw := first("sort")) is not None:
        if raw in SORTS:
            changes["sort"] = raw
        else:
            bad("sort", raw, "expected relevance or date")
    if (raw := first("mode")) is not None:
        if raw in MODES:
            changes["mode"] = raw
        else:
            bad("mode", raw, f"expected one of {', '.join(MODES)}")
    must = params.get("must")
    if must:
        changes["must"] = parse_words(must)
    if (raw := first("recency")) is not None:
        try:
            days = float(raw)
            if not math.isfinite(days):
                raise ValueError(raw)
            changes["recency_days"] = round(_clamp(days, 0, RECENCY_MAX_DAYS))
        except ValueError:
            bad("recency", raw, "expected a half-life in days (0 = off)")
    if (raw := first("div")) is not None:
        try:
            div = float(raw)
            if not math.isfinite(div):
                raise ValueError(raw)
            changes["diversity"] = round(_clamp(div, 0.0, 1.0) * 20) / 20
        except ValueError:
            bad("div", raw, "expected a number from 0 to 1")
    if (raw := first("like")) is not None:
        if _ARTICLE_ID.match(raw):
            changes["like"] = raw
        else:
            bad("like", raw, "not an article id")
    return replace(base, **changes), notes


def to_params(state: PageState, defaults: PageState | None = None) -> dict[str, str]:
    """URL query params for `state`, leaving out what equals the defaults (so links stay short)."""
    base = defaults or PageState()
    out: dict[str, str] = {}
    if state.query.strip():
        out["q"] = state.query.strip()
    if state.k != base.k:
        out["k"] = str(state.k)
    if state.date_from:
        out["from"] = state.date_from.isoformat()
    if state.date_to:
        out["to"] = state.date_to.isoformat()
    if state.sort != base.sort:
        out["sort"] = state.sort
    if state.mode != base.mode:
        out["mode"] = state.mode
    if state.must:
        out["must"] = ",".join(state.must)
    if state.recency_days:
        out["recency"] = _format_number(state.recency_days)
    if state.diversity:
        out["div"] = _format_number(state.diversity)
    if state.like:
        out["like"] = state.like
    return out


# --- session state (widget keys) ---------------------------------------------------------------
# Keys of st.session_state: "q" is the submitted query, "q_input" the text box, "like" the
# more-like-this source; the others are the sidebar widgets' keys.
def to_session(state: PageState) -> dict[str, Any]:
    return {
        "q": state.query,
        "q_input": state.query,
        "k": state.k,
        "date_from": state.date_from,
        "date_to": state.date_to,
        "sort": state.sort,
        "mode": state.mode,
        "must": format_words(state.must),
        "recency": state.recency_days,
        "div": state.diversity,
        "like": state.like,
    }


def from_session(values: Mapping[str, Any], defaults: PageState | None = None) -> PageState:
    """Page state from session-state values; missing keys take the defaults."""
    base = defaults or PageState()
    get = values.get
    return PageState(
        query=str(get("q") or "").strip(),
        k=int(get("k") or base.k),
        date_from=get("date_from") or None,
        date_to=get("date_to") or None,
        sort=str(get("sort") or base.sort),
        mode=str(get("mode") or base.mode),
        must=parse_words(str(get("must") or "")),
        recency_days=int(get("recency") or 0),
        diversity=float(get("div") or 0.0),
        like=get("like") or None,
    )


def to_request(state: PageState) -> SearchRequest:
    return SearchRequest(
        query=state.query.strip(),
        k=state.k,
        date_from=state.date_from,
        date_to=state.date_to,
        sort=state.sort,  # type: ignore[arg-type]
        mode=state.mode,  # type: ignore[arg-type]
        must_contain=state.must,
        recency_half_life_days=float(state.recency_days),
        diversity=state.diversity,
    )


# --- rendering ---------------------------------------------------------------------------------
def safe_url(url: str) -> str | None:
    """`url` if it is an absolute http(s) link, else None (no javascript:, data:, relative...)."""
    url = (url or "").strip()
    try:
        parts = urlsplit(url)
    except ValueError:
        return None
    if parts.scheme.lower() not in ("http", "https") or not parts.netloc:
        return None
    if any(c in url for c in "\r\n\t\x00") or " " in url:
        return None
    return url


def md_escape(text: str) -> str:
    """Backslash-escape Markdown punctuation so user text shows literally in st.info / st.caption."""
    return _MD_SPECIAL.sub(r"\\\g<0>", text)


def format_date(date: dt.date | None) -> str:
    return f"{date.day} {date:%b %Y}" if date else "undated"


def card_html(result: ArticleResult, rank: int, why: str = "") -> str:
    """One result card as a single-line HTML block; the title, link and `why` line are escaped here,
    the snippet arrives escaped (only `<mark>` is markup)."""
    title = html.escape(result.title or "(untitled)")
    link = safe_url(result.link)
    heading = (
        f'<a href="{html.escape(link, quote=True)}" target="_blank" rel="noopener noreferrer">{title}</a>'
        if link
        else title
    )
    snippet = result.snippet_html.replace("\n", " ").replace("\r", " ")
    return (
        '<div class="ns-card">'
        f'<div class="ns-title"><span class="ns-rank">{rank}.</span> {heading}</div>'
        f'<div class="ns-meta">{format_date(result.date)} · score {result.score:.4f}</div>'
        f'<div class="ns-snippet">{snippet}</div>'
        + (f'<div class="ns-why-line">Why here: {html.escape(why)}</div>' if why else "")
        + "</div>"
    )


def heading_html(text: str, source_title: str | None) -> str:
    """A heading naming an article, escaped."""
    name = f"“{html.escape(source_title)}”" if source_title else "the selected article"
    return f'<div class="ns-like-heading">{html.escape(text)} {name}</div>'


def timing_lines(timings: Timings, count: int) -> tuple[str, str]:
    """('5 articles in 312 ms', 'encode 20 ms · CQL 280 ms · ranking 12 ms')."""
    noun = "article" if count == 1 else "articles"
    main = f"{count} {noun} in {timings.total_ms:,.0f} ms"
    split = f"encode {timings.encode_ms:,.0f} ms · CQL {timings.cql_ms:,.0f} ms · ranking {timings.rest_ms:,.0f} ms"
    return main, split
