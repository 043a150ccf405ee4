"""The search page (home, `/`): arranges widgets and calls the search service.

State lives in the URL (`?q=...&k=...&from=...`, see `search_app.state`) so a search can be shared.
It is read into `st.session_state` when the page is entered (a new browser session, or a link from
another page); afterwards the widgets own it and every rerun writes it back to the URL. Coming back
from another page through the menu (no params) restores the last search of this session.

Each result says why it ranks where it does (meaning vs keyword scores) and links to its full
explanation; "Show more results" extends the list in steps of 10 up to 100.
"""

from __future__ import annotations

import logging

import streamlit as st

from newsindex.errors import NewsSearchError
from newsindex.explain import rank_line
from newsindex.search import MODES, SearchResponse, SearchService
from search_app import common
from search_app import state as ps
from search_app.pagestate import CompareState, ExplainState, compare_params, explain_params

log = logging.getLogger("search_app.search")

MODE_LABELS = {
    "hybrid": "Hybrid (meaning + keywords)",
    "semantic": "Semantic (meaning only)",
    "keyword": "Keywords (BM25)",
}
MODE_HOW = {
    "hybrid": "hybrid: meaning (vector similarity) fused 50/50 with keywords (BM25)",
    "semantic": "semantic: meaning (vector similarity) only",
    "keyword": "keywords: BM25 alone, from the postings kept in Cassandra",
}
SORT_LABELS = {"relevance": "Relevance", "date": "Newest first"}
MORE_STEP = 10
SNAPSHOT = "_search_snapshot"


# --- callbacks (run before the script, so they may set widget state) ----------------------------
def _submit() -> None:
    st.session_state["q"] = st.session_state.get("q_input", "").strip()
    st.session_state["like"] = None


def _use_query(text: str) -> None:
    st.session_state["q"] = st.session_state["q_input"] = text
    st.session_state["like"] = None


def _show_like(article_id: str, title: str) -> None:
    st.session_state["like"] = article_id
    st.session_state["like_title"] = title


def _clear_like() -> None:
    st.session_state["like"] = None


def _show_more() -> None:
    st.session_state["k"] = min(int(st.session_state.get("k") or 10) + MORE_STEP, ps.K_MAX)


def _set_filters(page: ps.PageState) -> None:
    for key in ("date_from", "date_to", "must", "mode", "sort", "k", "recency", "div"):
        st.session_state[key] = ps.to_session(page)[key]


# --- page parts --------------------------------------------------------------------------------
def _load_url(defaults: ps.PageState) -> None:
    """On entering the page: the URL's params, or (none given) this session's last search."""

    def load(params: dict[str, list[str]]) -> dict[str, object]:
        snapshot = st.session_state.get(SNAPSHOT)
        if params or snapshot is None:
            page, notes = ps.parse_params(params, defaults)
        else:
            page, notes = snapshot, []
        return {**ps.to_session(page), "_url_notes": notes, "_last": None}

    common.enter_page("search", load)


def _sidebar(defaults: ps.PageState) -> None:
    with st.sidebar:
        st.header("Filters")
        for label, key in (("Published from", "date_from"), ("Published until", "date_to")):
            st.date_input(
                label,
                key=key,
                min_value=ps.MIN_DATE,
                max_value=ps.MAX_DATE,
                format="YYYY-MM-DD",
                help="Optional; leave empty for no limit.",
            )
        st.number_input("Number of results", min_value=1, max_value=ps.K_MAX, step=1, key="k")
        st.radio("Sort by", ps.SORTS, format_func=SORT_LABELS.__getitem__, key="sort", horizontal=True)
        st.selectbox(
            "Mode",
            MODES,
            format_func=MODE_LABELS.__getitem__,
            key="mode",
            help="Hybrid fuses vector similarity with keyword (BM25) scores; Keywords ranks by BM25 alone, "
            "so only articles containing the query's words come back.",
        )
        st.text_input(
            "Must contain",
            key="must",
            placeholder="e.g. Lavia, loan",
            help="Words every result must contain, separated by commas or spaces.",
        )
        st.number_input(
            "Recency boost: half-life in days",
            min_value=0,
            max_value=ps.RECENCY_MAX_DAYS,
            step=30,
            key="recency",
            help="0 = off. Otherwise newer articles get a boost that halves every this many days.",
        )
        st.slider(
            "Diversity",
            min_value=0.0,
            max_value=1.0,
            step=0.05,
            key="div",
            help="0 = off. Higher values spread the results over different stories (MMR).",
        )
        reset = ps.PageState(mode=defaults.mode)
        st.button("Reset filters", key="reset_filters", on_click=_set_filters, args=(reset,))


def _search_form() -> None:
    with st.form("search", border=False):
        box, go = st.columns([5, 1], vertical_alignment="bottom")
        box.text_input(
            "Search the news",
            key="q_input",
            placeholder="e.g. which clubs are chasing a young Brazilian striker?",
            label_visibility="collapsed",
        )
        go.form_submit_button("Search", type="primary", on_click=_submit, width="stretch")


def _empty_state() -> None:
    st.markdown("#### Try a search")
    st.caption("Ask in plain words; hybrid mode also matches exact names. A few examples:")
    columns = st.columns(2)
    for i, example in enumerate(ps.EXAMPLE_QUERIES):
        columns[i % 2].button(example, key=f"example_{i}", on_click=_use_query, args=(example,), width="stretch")


def _run(service: SearchService, page: ps.PageState) -> SearchResponse:
    """Search, or reuse the last response when the page state is unchanged (reruns from buttons)."""
    last = st.session_state.get("_last")
    if last is not None and last[0] == page:
        return last[1]  # type: ignore[no-any-return]
    request = ps.to_request(page)
    with st.spinner("Searching…"):
        response = service.more_like_this(page.like, request) if page.like else service.search(request)
    st.session_state["_last"] = (page, response)
    return response


def _results(service: SearchService, page: ps.PageState, defaults: ps.PageState) -> None:
    if page.like:
        title = st.session_state.get("like_title")
        if title is None:  # opened from a shared link: look the source article up
            source = service.article(page.like)
            title = source.title if source else None
            st.session_state["like_title"] = title
        st.markdown(ps.heading_html("Articles similar to", title), unsafe_allow_html=True)
        st.caption("Ranked by meaning alone (the mean of the article's passage vectors); the date filters apply.")
        st.button("← Back to results" if page.query else "← Back", key="like_back", on_click=_clear_like)
    try:
        response = _run(service, page)
    except NewsSearchError as exc:
        st.warning(str(exc))
        return
    except Exception:
        log.exception("search failed for %r", page)
        st.error("Something went wrong while searching. Please try again; the server log has the details.")
        return
    main, split = ps.timing_lines(response.timings, len(response.results))
    st.markdown(f'<div class="ns-time">{main} <small>({split})</small></div>', unsafe_allow_html=True)
    for note in response.notes:
        st.caption(ps.md_escape(note))
    if not response.results:
        _no_results(page, defaults)
        return
    if not page.like:
        st.page_link(
            "views/compare.py",
            label="Compare this query across modes",
            icon=":material/compare_arrows:",
            query_params=compare_params(_compare_state(page)),
        )
    for rank, result in enumerate(response.results, 1):
        why = "" if page.like else rank_line(result, page.mode)
        with st.container(border=True):
            st.markdown(ps.card_html(result, rank, why), unsafe_allow_html=True)
            like, explain, _ = st.columns([1, 1, 2], gap="small", vertical_alignment="center")
            like.button(
                "Similar articles",
                key=f"like_{result.article_id}",
                icon=":material/join_inner:",
                type="tertiary",
                on_click=_show_like,
                args=(result.article_id, result.title),
            )
            if not page.like:
                explain.page_link(
                    "views/explain.py",
                    label="Why this result?",
                    icon=":material/manage_search:",
                    query_params=explain_params(ExplainState(page, result.article_id, result.chunk_no), defaults),
                )
    if len(response.results) == page.k and page.k < ps.K_MAX:
        st.button(f"Show {MORE_STEP} more results", key="show_more", icon=":material/expand_more:", on_click=_show_more)


def _compare_state(page: ps.PageState) -> CompareState:
    return CompareState(
        query=page.query, date_from=page.date_from, date_to=page.date_to, must=page.must, baseline="semantic"
    )


def _what_it_searches(service: SearchService, mode: str) -> None:
    """Name the index and the model this page searches, and how the mode ranks."""
    st.caption(f"Searching {common.describe_index(service)} · {MODE_HOW.get(mode, mode)}.")
    if service.notice:
        st.info(ps.md_escape(service.notice))


def _no_results(page: ps.PageState, defaults: ps.PageState) -> None:
    filters = page.narrowing_filters(defaults.mode)
    if not filters:
        st.info("No articles matched. Try other words or a broader question.")
        return
    described = "; ".join(ps.md_escape(f) for f in filters)
    st.info(f"No articles matched with these filters: {described}. Try removing some of them.")
    st.button(
        "Remove filters and search again",
        key="remove_filters",
        on_click=_set_filters,
        args=(page.without_filters(defaults.mode),),
    )


def main() -> None:
    st.set_page_config(page_title="Transfer news search", page_icon="⚽", layout="centered")
    st.title("Transfer news search")
    st.caption("Semantic and hybrid search over football-transfer news, served by Cassandra 5 vector search.")
    settings = common.settings_or_stop()
    defaults = ps.PageState(mode=settings.search_mode)
    _load_url(defaults)
    service = common.service_or_stop(settings)
    _sidebar(defaults)
    _search_form()
    for note in st.session_state.pop("_url_notes", []):
        st.warning(ps.md_escape(note))
    page = ps.from_session(st.session_state.to_dict(), defaults)
    st.session_state[SNAPSHOT] = page
    common.sync_url(ps.to_params(page, defaults), ps.PARAM_KEYS)
    _what_it_searches(service, page.mode)
    if page.active:
        _results(service, page, defaults)
    else:
        _empty_state()


main()
