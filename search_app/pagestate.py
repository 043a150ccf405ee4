"""URL state of the map, explanation and comparison pages: query params <-> small frozen dataclasses.
Pure: no Streamlit, unit-tested alone. Like the search page (`search_app.state`), values equal to
the defaults stay out of the URL and malformed values are dropped with a note.

- map:      `color=month|term, term, from, to, sel=id,id,..., box=x0,x1,y0,y1, sim=id`
- explain:  the search page's keys (`q, k, from, to, sort, mode, must, recency, div`) plus `id`, `chunk`
- compare:  `q, k, from, to, must, base=semantic|hybrid|keyword, b=keyspace, bmode`
"""

from __future__ import annotations

import datetime as dt
import math
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field, replace
from typing import Any

from newsindex.search import MODES
from search_app import state as ps

__all__ = [
    "COMPARE_KEYS",
    "EXPLAIN_KEYS",
    "MAP_KEYS",
    "CompareState",
    "ExplainState",
    "MapState",
    "compare_params",
    "explain_params",
    "map_params",
    "parse_compare",
    "parse_explain",
    "parse_map",
]

MAP_KEYS = ("color", "term", "from", "to", "sel", "box", "sim")
EXPLAIN_KEYS = (*[k for k in ps.PARAM_KEYS if k != "like"], "id", "chunk")
COMPARE_KEYS = ("q", "k", "from", "to", "must", "base", "b", "bmode")
COLORS = ("month", "term")
MAX_SELECTED = 50
COMPARE_K_MAX = 30
_ID = re.compile(r"^[A-Za-z0-9_-]{1,64}$")
_KEYSPACE = re.compile(r"^[A-Za-z][A-Za-z0-9_]{0,47}$")

Params = Mapping[str, str | Sequence[str]]


def _first(params: Params, key: str) -> str | None:
    value = params.get(key)
    if value is None:
        return None
    if not isinstance(value, str):
        value = value[-1] if value else ""
    return value.strip() or None


def _date(params: Params, key: str, notes: list[str]) -> dt.date | None:
    raw = _first(params, key)
    if raw is None:
        return None
    try:
        return dt.date.fromisoformat(raw)
    except ValueError:
        notes.append(f"ignored {key}={raw!r} in the address: expected a date like 2023-08-15")
        return None


# --- map ---------------------------------------------------------------------------------------
@dataclass(frozen=True)
class MapState:
    color: str = "month"
    term: str = ""
    date_from: dt.date | None = None
    date_to: dt.date | None = None
    selected: tuple[str, ...] = ()  # clicked points
    box: tuple[float, float, float, float] | None = None  # dragged rectangle: x0, x1, y0, y1
    similar: str | None = None  # the article whose similar articles are listed


def parse_map(params: Params) -> tuple[MapState, list[str]]:
    notes: list[str] = []
    changes: dict[str, Any] = {}
    if (color := _first(params, "color")) is not None:
        if color in COLORS:
            changes["color"] = color
        else:
            notes.append(f"ignored color={color!r} in the address: expected month or term")
    if (term := _first(params, "term")) is not None:
        changes["term"] = term[:100]
    for key, attr in (("from", "date_from"), ("to", "date_to")):
        if (value := _date(params, key, notes)) is not None:
            changes[attr] = value
    if (raw := _first(params, "sel")) is not None:
        ids = tuple(dict.fromkeys(i for i in raw.split(",") if _ID.match(i)))
        if len(ids) > MAX_SELECTED:
            notes.append(f"kept the first {MAX_SELECTED} of {len(ids)} selected articles")
        changes["selected"] = ids[:MAX_SELECTED]
    if (raw := _first(params, "box")) is not None:
        try:
            x0, x1, y0, y1 = (float(v) for v in raw.split(","))
            if not all(math.isfinite(v) for v in (x0, x1, y0, y1)):
                raise ValueError(raw)
            changes["box"] = (min(x0, x1), max(x0, x1), min(y0, y1), max(y0, y1))
        except ValueError:
            notes.append(f"ignored box={raw!r} in the address: expected four numbers x0,x1,y0,y1")
    if (raw := _first(params, "sim")) is not None:
        if _ID.match(raw):
            changes["similar"] = raw
        else:
            notes.append(f"ignored sim={raw!r} in the address: not an article id")
    return replace(MapState(), **changes), notes


def map_params(state: MapState) -> dict[str, str]:
    out: dict[str, str] = {}
    if state.color != "month":
        out["color"] = state.color
    if state.term.strip():
        out["term"] = state.term.strip()
    if state.date_from:
        out["from"] = state.date_from.isoformat()
    if state.date_to:
        out["to"] = state.date_to.isoformat()
    if state.selected:
        out["sel"] = ",".join(state.selected[:MAX_SELECTED])
    if state.box:
        out["box"] = ",".join(f"{v:.4f}" for v in state.box)
    if state.similar:
        out["sim"] = state.similar
    return out


# --- explain -----------------------------------------------------------------------------------
@dataclass(frozen=True)
class ExplainState:
    search: ps.PageState = field(default_factory=ps.PageState)
    article_id: str | None = None
    chunk: int | None = None  # the passage to explain; None = the one the search matched


def parse_explain(params: Params, defaults: ps.PageState | None = None) -> tuple[ExplainState, list[str]]:
    search, notes = ps.parse_params({k: v for k, v in params.items() if k != "like"}, defaults)
    changes: dict[str, Any] = {"search": search}
    if (raw := _first(params, "id")) is not None:
        if _ID.match(raw):
            changes["article_id"] = raw
        else:
            notes.append(f"ignored id={raw!r} in the address: not an article id")
    if (raw := _first(params, "chunk")) is not None:
        if raw.isdigit() and int(raw) < 10_000:
            changes["chunk"] = int(raw)
        else:
            notes.append(f"ignored chunk={raw!r} in the address: expected a passage number")
    return ExplainState(**changes), notes


def explain_params(state: ExplainState, defaults: ps.PageState | None = None) -> dict[str, str]:
    out = ps.to_params(replace(state.search, like=None), defaults)
    if state.article_id:
        out["id"] = state.article_id
    if state.chunk is not None:
        out["chunk"] = str(state.chunk)
    return out


# --- compare -----------------------------------------------------------------------------------
@dataclass(frozen=True)
class CompareState:
    query: str = ""
    k: int = 10
    date_from: dt.date | None = None
    date_to: dt.date | None = None
    must: tuple[str, ...] = ()
    baseline: str = "semantic"
    other_keyspace: str | None = None  # a second index (another model) to compare with
    other_mode: str = "hybrid"


def parse_compare(params: Params) -> tuple[CompareState, list[str]]:
    notes: list[str] = []
    changes: dict[str, Any] = {}
    if (q := _first(params, "q")) is not None:
        changes["query"] = q
    if (raw := _first(params, "k")) is not None:
        try:
            changes["k"] = min(max(int(raw), 1), COMPARE_K_MAX)
        except ValueError:
            notes.append(f"ignored k={raw!r} in the address: expected a whole number from 1 to {COMPARE_K_MAX}")
    for key, attr in (("from", "date_from"), ("to", "date_to")):
        if (value := _date(params, key, notes)) is not None:
            changes[attr] = value
    if params.get("must"):
        changes["must"] = ps.parse_words(params["must"])
    for key, attr in (("base", "baseline"), ("bmode", "other_mode")):
        if (raw := _first(params, key)) is not None:
            if raw in MODES:
                changes[attr] = raw
            else:
                notes.append(f"ignored {key}={raw!r} in the address: expected one of {', '.join(MODES)}")
    if (raw := _first(params, "b")) is not None:
        if _KEYSPACE.match(raw):
            changes["other_keyspace"] = raw
        else:
            notes.append(f"ignored b={raw!r} in the address: not a keyspace name")
    return replace(CompareState(), **changes), notes


def compare_params(state: CompareState) -> dict[str, str]:
    out: dict[str, str] = {}
    if state.query.strip():
        out["q"] = state.query.strip()
    if state.k != 10:
        out["k"] = str(state.k)
    if state.date_from:
        out["from"] = state.date_from.isoformat()
    if state.date_to:
        out["to"] = state.date_to.isoformat()
    if state.must:
        out["must"] = ",".join(state.must)
    if state.baseline != "semantic":
        out["base"] = state.baseline
    if state.other_keyspace:
        out["b"] = state.other_keyspace
    if state.other_mode != "hybrid":
        out["bmode"] = state.other_mode
    return out
