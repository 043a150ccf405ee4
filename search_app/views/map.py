"""Corpus map (`/map`): every article as a point of a 2D projection of its vector (the mean of its
passage vectors; PCA then t-SNE), coloured by month or by a word the user types, filtered by date.

Hovering a point shows its title and date. Clicking points (shift-click for several) or dragging a
rectangle selects articles; the selection is listed with links, and the articles similar to one of
them are shown beside it. The map is built once per index version and stored (newsindex.corpusmap);
a page view only reads it. The URL holds the colouring, the dates and the selection.
"""

from __future__ import annotations

import logging
import time
from dataclasses import replace
from typing import Any

import altair as alt
import pandas as pd
import streamlit as st

from newsindex import corpusmap
from newsindex.search import SearchRequest, SearchService
from search_app import common
from search_app import state as ps
from search_app.pagestate import MAP_KEYS, MAX_SELECTED, MapState, map_params, parse_map

log = logging.getLogger("search_app.map")

STATE = "map_state"
RECHECK_S = 30.0  # how long a page trusts the index version it last read
SVG_MAX_POINTS = 2000  # SVG (inspectable, crisp) up to here; Streamlit's canvas above
MENTIONS, OTHER = "mentions the word", "other articles"


def _load() -> None:
    def load(params: dict[str, list[str]]) -> dict[str, object]:
        state, notes = parse_map(params)
        return {
            STATE: state,
            "map_color": state.color,
            "map_term": state.term,
            "map_from": state.date_from,
            "map_to": state.date_to,
            "_map_notes": notes,
            "_map_event": None,
        }

    common.enter_page("map", load)


def _current_map(service: SearchService) -> tuple[corpusmap.CorpusMap, bool]:
    """The stored map of the index's current version (re-checked every RECHECK_S), building if needed."""
    cached = st.session_state.get("_map")
    settings = service.store.settings
    if cached is not None and cached[0] == settings.keyspace and time.monotonic() - cached[2] < RECHECK_S:
        return cached[1], False
    assert service.manifest is not None
    with st.spinner("Building the corpus map for this index version (once; later views read it)…"):
        corpus_map, built = corpusmap.ensure_map(service.store.session, settings, service.manifest)
    st.session_state["_map"] = (settings.keyspace, corpus_map, time.monotonic())
    return corpus_map, built


def _term_ids(service: SearchService, fingerprint: str, term: str) -> set[str]:
    key = (fingerprint, term.lower())
    cache: dict[tuple[str, str], set[str]] = st.session_state.setdefault("_map_terms", {})
    if key not in cache:
        cache[key] = corpusmap.articles_with_term(service.store.session, service.store.settings, term)
    return cache[key]


def _controls(frame: pd.DataFrame) -> None:
    dates = [d for d in frame["date"] if d is not None]
    low, high = (min(dates), max(dates)) if dates else (ps.MIN_DATE, ps.MAX_DATE)
    color, term, start, end = st.columns([1.2, 1.6, 1, 1], vertical_alignment="bottom")
    color.radio(
        "Colour by",
        ("month", "term"),
        format_func={"month": "Month", "term": "A word"}.__getitem__,
        key="map_color",
        horizontal=True,
    )
    term.text_input(
        "Word to colour by",
        key="map_term",
        placeholder="e.g. Lavia, loan, Arsenal",
        disabled=st.session_state.get("map_color") != "term",
    )
    for key in ("map_from", "map_to"):  # a date from the URL outside the corpus: clamp it into range
        value = st.session_state.get(key)
        if value is not None:
            st.session_state[key] = min(max(value, low), high)
    kwargs: dict[str, Any] = {"min_value": low, "max_value": high, "format": "YYYY-MM-DD"}
    start.date_input("Published from", key="map_from", **kwargs)
    end.date_input("Published until", key="map_to", **kwargs)


def _view(frame: pd.DataFrame, state: MapState, term_ids: set[str] | None) -> pd.DataFrame:
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
    data["selected"] = data["article_id"].isin(_selected_ids(data, state))
    return data.reset_index(drop=True)


def _selected_ids(data: pd.DataFrame, state: MapState) -> list[str]:
    ids = list(state.selected)
    if state.box:
        x0, x1, y0, y1 = state.box
        inside = data[(data["x"] >= x0) & (data["x"] <= x1) & (data["y"] >= y0) & (data["y"] <= y1)]
        ids += [a for a in inside["article_id"] if a not in ids]
    present = set(data["article_id"])
    return [a for a in ids if a in present]


def _chart(data: pd.DataFrame, term: str | None) -> alt.TopLevelMixin:
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
    return alt.layer(points, chosen).properties(height=560, usermeta=meta)


def _apply_event(event: Any, state: MapState) -> MapState:
    """Fold a new chart selection event into the page state (clicks and a dragged box)."""
    selection = dict(getattr(event, "selection", None) or (event or {}).get("selection", {}) or {})
    picked = tuple(str(p["article_id"]) for p in selection.get("pick") or [] if "article_id" in p)[:MAX_SELECTED]
    box = selection.get("box") or {}
    rect = None
    if box.get("x") and box.get("y"):
        (x0, x1), (y0, y1) = box["x"], box["y"]
        rect = (min(x0, x1), max(x0, x1), min(y0, y1), max(y0, y1))
    return replace(state, selected=picked, box=rect, similar=None)


def _selection(service: SearchService, frame: pd.DataFrame, ids: list[str], state: MapState) -> MapState:
    """The selected articles, and the articles similar to one of them; returns the state with that one."""
    rows = frame.set_index("article_id").loc[ids]
    st.markdown(f"#### {len(ids)} selected article{'s' if len(ids) != 1 else ''}")
    table = pd.DataFrame(
        {
            "title": rows["title"].to_list(),
            "date": [ps.format_date(d) for d in rows["date"]],
            "link": [ps.safe_url(u) for u in rows["link"]],
        }
    )
    st.dataframe(
        table,
        hide_index=True,
        width="stretch",
        height=min(38 + 35 * len(table), 320),
        column_config={"link": st.column_config.LinkColumn("link", display_text="open")},
        key="map_table",
    )
    titles = dict(zip(rows.index, rows["title"], strict=True))
    source = state.similar if state.similar in titles else ids[0]
    chosen = st.selectbox(
        "Articles similar to",
        list(titles),
        index=list(titles).index(source),
        format_func=lambda a: titles[a],
        key=f"map_sim_{len(ids)}_{ids[0]}",
    )
    response = service.more_like_this(chosen, SearchRequest(query="", k=5, mode="semantic"))
    for rank, result in enumerate(response.results, 1):
        st.markdown(ps.card_html(result, rank), unsafe_allow_html=True)
    st.page_link(
        "views/search.py",
        label="Open these similar articles in search",
        icon=":material/join_inner:",
        query_params={"like": chosen},
    )
    return replace(state, similar=None if chosen == ids[0] else chosen)


def main() -> None:
    st.set_page_config(page_title="Corpus map · Transfer news search", page_icon="⚽", layout="wide")
    st.title("Corpus map")
    settings = common.settings_or_stop()
    _load()
    service = common.service_or_stop(settings)
    for note in st.session_state.pop("_map_notes", []):
        st.warning(ps.md_escape(note))
    try:
        corpus_map, built = _current_map(service)
    except Exception:
        log.exception("building the corpus map failed")
        st.error("**The corpus map could not be built.** The server log has the details; try again later.")
        st.button("Retry", key="map_retry")
        return
    frame = corpus_map.frame
    built_at = corpus_map.built_at.replace("T", " ").replace("+00:00", " UTC")
    how = {"tsne": "t-SNE", "tsne-sample+knn": "t-SNE of a sample, the rest placed by nearest neighbours", "pca": "PCA"}
    st.caption(
        f"{corpus_map.articles:,} articles of {common.describe_index(service)}, laid out by "
        f"{how.get(corpus_map.method, corpus_map.method)} of their mean passage vectors · "
        f"map built {built_at} in {corpus_map.build_seconds:.1f} s"
        + (f", {corpus_map.placed:,} added since without a re-fit" if corpus_map.placed else "")
        + ". Nearby points are articles about similar things."
    )
    if built:
        st.toast(f"Built the map for this index version in {corpus_map.build_seconds:.1f} s")
    if not corpus_map.articles:
        st.info("The index has no articles yet, so there is nothing to map. Ingest some news first.")
        return
    _controls(frame)
    state: MapState = st.session_state[STATE]
    term = str(st.session_state.get("map_term") or "").strip()
    color = str(st.session_state.get("map_color") or "month")
    state = replace(
        state,
        color=color,
        term=term,
        date_from=st.session_state.get("map_from") or None,
        date_to=st.session_state.get("map_to") or None,
    )
    term_ids = _term_ids(service, corpus_map.fingerprint, term) if color == "term" and term else None
    if color == "term" and not term:
        st.caption("Type a word to colour the articles that contain it.")
    data = _view(frame, state, term_ids)
    if term_ids is not None:
        st.caption(f"{int((data['group'] == MENTIONS).sum()):,} of {len(data):,} shown articles contain “{term}”.")
    event = st.altair_chart(
        _chart(data, term if term_ids is not None else None),
        width="stretch",
        on_select="rerun",
        selection_mode=["pick", "box"],
        key="map_chart",
    )
    if event != st.session_state.get("_map_event"):
        if st.session_state.get("_map_event") is not None or _has_selection(event):
            state = _apply_event(event, state)
        st.session_state["_map_event"] = event
    ids = _selected_ids(data, state)
    if ids:
        state = _selection(service, frame, ids, state)
    else:
        st.caption("Click a point (shift-click for more) or drag a rectangle to open articles.")
    st.session_state[STATE] = state
    common.sync_url(map_params(state), MAP_KEYS)


def _has_selection(event: Any) -> bool:
    selection = dict(getattr(event, "selection", None) or {})
    return bool(selection.get("pick") or selection.get("box"))


main()
