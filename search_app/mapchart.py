"""The corpus map's chart: the points to draw (date filter, colour group, selection) and the Altair
spec (hover tooltip, click and drag selections, a ring layer for selected articles). Pure: pandas and
Altair only, no Streamlit, so the page, the tests and the benchmark build the same chart.
"""

from __future__ import annotations

import datetime as dt
import html
from collections.abc import Iterable
from dataclasses import replace
from typing import Any, cast

import altair as alt
import pandas as pd

from search_app.pagestate import MAX_SELECTED, MapState
from search_app.state import format_date, safe_url

__all__ = [
    "MENTIONS",
    "OTHER",
    "apply_event",
    "chart",
    "has_selection",
    "selected_ids",
    "selection_html",
    "view_frame",
]

SVG_MAX_POINTS = 2000  # SVG (inspectable, crisp) up to here; Streamlit switches to canvas above
MENTIONS, OTHER = "mentions the word", "other articles"


def view_frame(frame: pd.DataFrame, state: MapState, term_ids: set[str] | None) -> pd.DataFrame:
    """The points to draw: the date filter applied, each with its colour group and selection flag."""
    data = frame
    if state.date_from:
        data = data[[d is not None and d >= state.date_from for d in data["date"]]]
    if state.date_to:
        data = data[[d is not None and d <= state.date_to for d in data["date"]]]
    data = data[["article_id", "title", "date", "month", "x", "y"]].copy()
    data["date"] = pd.to_datetime(data["date"])
    if term_ids is not None:
        data["group"] = [MENTIONS if a in term_ids else OTHER for a in data["article_id"]]
        data = data.sort_values("group", key=lambda g: g == MENTIONS, kind="stable")  # mentions drawn on top
    data["selected"] = data["article_id"].isin(selected_ids(data, state))
    return data.reset_index(drop=True)


def selected_ids(data: pd.DataFrame, state: MapState) -> list[str]:
    ids = list(state.selected)
    if state.box:
        x0, x1, y0, y1 = state.box
        inside = data[(data["x"] >= x0) & (data["x"] <= x1) & (data["y"] >= y0) & (data["y"] <= y1)]
        ids += [a for a in inside["article_id"] if a not in ids]
    present = set(data["article_id"])
    return [a for a in ids if a in present]


def chart(data: pd.DataFrame, term: str | None) -> alt.LayerChart:
    pick = alt.selection_point(name="pick", fields=["article_id"], on="click", toggle="event.shiftKey")
    box = alt.selection_interval(name="box", encodings=["x", "y"])
    if term is not None:
        color = alt.Color(
            "group:N",
            scale=alt.Scale(domain=[MENTIONS, OTHER], range=["#dc2626", "#cbd5e1"]),
            legend=alt.Legend(title=f"“{term}”", orient="top"),
        )
    else:
        color = alt.Color(
            "date:T", timeUnit="yearmonth", scale=alt.Scale(scheme="viridis"), legend=alt.Legend(title="month")
        )
    axis = alt.Axis(title=None, labels=False, ticks=False, grid=False, domain=False)
    base = alt.Chart(data).encode(
        x=alt.X("x:Q", axis=axis, scale=alt.Scale(zero=False)),
        y=alt.Y("y:Q", axis=axis, scale=alt.Scale(zero=False)),
    )
    points = (
        base.mark_circle(size=38, opacity=0.8)
        .encode(
            color=color,
            tooltip=[alt.Tooltip("title:N", title="title"), alt.Tooltip("date:T", title="date", format="%d %b %Y")],
        )
        .add_params(pick, box)
    )
    chosen = (
        base.transform_filter(alt.datum.selected)
        .mark_circle(size=140, fill=None, stroke="#111827", strokeWidth=2)
        .encode(tooltip=[alt.Tooltip("title:N", title="title")])
    )
    meta = {"embedOptions": {"renderer": "svg"}} if len(data) <= SVG_MAX_POINTS else {}
    return cast(alt.LayerChart, alt.layer(points, chosen).properties(height=560, usermeta=meta))


def apply_event(event: Any, state: MapState) -> MapState:
    """Fold a new chart selection event into the page state (clicks and a dragged box)."""
    selection = dict(getattr(event, "selection", None) or (event or {}).get("selection", {}) or {})
    picked = tuple(str(p["article_id"]) for p in selection.get("pick") or [] if "article_id" in p)[:MAX_SELECTED]
    box = selection.get("box") or {}
    rect = None
    if box.get("x") and box.get("y"):
        (x0, x1), (y0, y1) = box["x"], box["y"]
        rect = (min(x0, x1), max(x0, x1), min(y0, y1), max(y0, y1))
    return replace(state, selected=picked, box=rect, similar=None)


def has_selection(event: Any) -> bool:
    selection = dict(getattr(event, "selection", None) or {})
    return bool(selection.get("pick") or selection.get("box"))


def selection_html(
    ids: Iterable[str], titles: Iterable[str], dates: Iterable[dt.date | None], links: Iterable[str]
) -> str:
    """The selected articles as an escaped, scrollable list (titles linked when the link is http(s))."""
    items = []
    for aid, title, date, link in zip(ids, titles, dates, links, strict=True):
        text = html.escape(title or "(untitled)")
        url = safe_url(link)
        if url:
            text = f'<a href="{html.escape(url, quote=True)}" target="_blank" rel="noopener noreferrer">{text}</a>'
        key = html.escape(aid, quote=True)
        items.append(f'<li data-article="{key}">{text} <small>{format_date(date)}</small></li>')
    return f'<ol class="ns-selected">{"".join(items)}</ol>'
