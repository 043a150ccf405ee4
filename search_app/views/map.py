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

import pandas as pd
import streamlit as st

from newsindex import corpusmap
from newsindex.search import SearchRequest, SearchService
from search_app import common, mapchart
from search_app import state as ps
from search_app.pagestate import MAP_KEYS, MapState, map_params, parse_map

log = logging.getLogger("search_app.map")

STATE = "map_state"
RECHECK_S = 30.0  # how long a page trusts the index version it last read


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


def _selection(service: SearchService, frame: pd.DataFrame, ids: list[str], state: MapState) -> MapState:
    """The selected articles, and the articles similar to one of them; returns the state with that one."""
    rows = frame.set_index("article_id").loc[ids]
    st.markdown(f"#### {len(ids)} selected article{'s' if len(ids) != 1 else ''}")
    st.markdown(mapchart.selection_html(rows.index, rows["title"], rows["date"], rows["link"]), unsafe_allow_html=True)
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
    data = mapchart.view_frame(frame, state, term_ids)
    if term_ids is not None:
        st.caption(
            f"{int((data['group'] == mapchart.MENTIONS).sum()):,} of {len(data):,} shown articles contain “{term}”."
        )
    event = st.altair_chart(
        mapchart.chart(data, term if term_ids is not None else None),
        width="stretch",
        on_select="rerun",
        selection_mode=["pick", "box"],
        key="map_chart",
    )
    if event != st.session_state.get("_map_event"):
        if st.session_state.get("_map_event") is not None or mapchart.has_selection(event):
            state = mapchart.apply_event(event, state)
        st.session_state["_map_event"] = event
    ids = mapchart.selected_ids(data, state)
    if ids:
        state = _selection(service, frame, ids, state)
    else:
        st.caption("Click a point (shift-click for more) or drag a rectangle to open articles.")
    st.session_state[STATE] = state
    common.sync_url(map_params(state), MAP_KEYS)


main()
