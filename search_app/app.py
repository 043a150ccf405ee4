"""The Streamlit search page (`news-search app`): arranges widgets and calls the search service.

State lives in the URL (`?q=...&k=...&from=...`, see `search_app.state`) so a search can be shared.
It is read into `st.session_state` once per browser session; afterwards the widgets own it and every
rerun writes it back to the URL. The model and the Cassandra session are built once per process.
"""

from __future__ import annotations

import logging

import streamlit as st

from newsindex.connect import close
from newsindex.errors import NewsSearchError, SchemaMismatch, StoreUnavailable
from newsindex.factory import build_service
from newsindex.search import MODES, SearchResponse, SearchService
from newsindex.settings import Settings
from search_app import state as ps

log = logging.getLogger("search_app.app")

MODE_LABELS = {
    "hybrid": "Hybrid (meaning + keywords)",
    "semantic": "Semantic (meaning only)",
    "keyword": "Keyword-filtered",
}
SORT_LABELS = {"relevance": "Relevance", "date": "Newest first"}
CSS = """<style>
.ns-card .ns-title { font-size: 1.08rem; font-weight: 600; line-height: 1.35; }
.ns-card .ns-title a { text-decoration: none; }
.ns-card .ns-title a:hover { text-decoration: underline; }
.ns-card .ns-rank { color: #8a8f98; font-weight: 400; }
.ns-card .ns-meta { color: #6b7280; font-size: 0.85rem; margin: 0.1rem 0 0.45rem; }
.ns-card .ns-snippet { line-height: 1.55; }
.ns-card mark { background: #fde68a; color: #111; padding: 0 0.12em; border-radius: 2px; }
.ns-time { margin: 0.2rem 0 0.6rem; }
.ns-time small { color: #6b7280; }
.ns-like-heading { font-size: 1.3rem; font-weight: 600; margin-top: 0.4rem; }
</style>"""


def _release(service: SearchService) -> None:
    close(service.store.session)


@st.cache_resource(show_spinner="Loading the model and connecting to Cassandra…", on_release=_release)
def get_service(settings: Settings) -> SearchService:
    """One service per process and settings; failures are not cached, so a retry tries again."""
    return build_service(settings)


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


def _set_filters(page: ps.PageState) -> None:
    for key in ("date_from", "date_to", "must", "mode", "sort", "k", "recency", "div"):
        st.session_state[key] = ps.to_session(page)[key]


# --- page parts --------------------------------------------------------------------------------
def _load_url_once(defaults: ps.PageState) -> None:
    """Copy the URL's query params into session state, once per browser session."""
    if st.session_state.get("_loaded"):
        return
    params = {key: st.query_params.get_all(key) for key in st.query_params}
    page, notes = ps.parse_params(params, defaults)
    for key, value in ps.to_session(page).items():
        st.session_state[key] = value
    st.session_state["_url_notes"] = notes
    st.session_state["_loaded"] = True


def _sync_url(page: ps.PageState, defaults: ps.PageState) -> None:
    """Write the page state to the address bar (only the keys that changed)."""
    wanted = ps.to_params(page, defaults)
    for key in ps.PARAM_KEYS:
        if key in wanted:
            if st.query_params.get_all(key) != [wanted[key]]:
                st.query_params[key] = wanted[key]
        elif key in st.query_params:
            del st.query_params[key]


def _service_or_stop(settings: Settings) -> SearchService:
    try:
        return get_service(settings)
    except SchemaMismatch as exc:
        log.warning("search refused: the index does not match the model", exc_info=True)
        st.error(f"**Search is disabled: this index does not match the configured model.**\n\n{exc}")
    except StoreUnavailable as exc:
        log.warning("Cassandra unavailable", exc_info=True)
        hint = "" if "db start" in str(exc) else "\n\nFor the local node, start it with `news-search db start`."
        st.error(f"**The news index is not reachable.**\n\n{exc}{hint}")
    except NewsSearchError as exc:
        log.warning("search service unavailable", exc_info=True)
        st.error(f"**Search is unavailable.**\n\n{exc}")
    except Exception:
        log.exception("building the search service failed")
        st.error("**Search is unavailable:** the search service could not start. The server log has the details.")
    st.session_state["_loaded"] = False  # re-read the URL once it works
    st.button("Retry", key="retry_service")
    st.stop()
    raise AssertionError("unreachable")  # st.stop() raises


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
            help="Hybrid fuses vector similarity with keyword (BM25) scores; keyword-filtered only keeps "
            "articles containing the query's rarest word.",
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
    for rank, result in enumerate(response.results, 1):
        with st.container(border=True):
            st.markdown(ps.card_html(result, rank), unsafe_allow_html=True)
            st.button(
                "Similar articles",
                key=f"like_{result.article_id}",
                icon=":material/join_inner:",
                type="tertiary",
                on_click=_show_like,
                args=(result.article_id, result.title),
            )


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
    st.markdown(CSS, unsafe_allow_html=True)
    st.title("Transfer news search")
    st.caption("Semantic and hybrid search over football-transfer news, served by Cassandra 5 vector search.")
    try:
        settings = Settings.from_env()
    except NewsSearchError as exc:
        log.warning("bad settings", exc_info=True)
        st.error(f"**The configuration is invalid.**\n\n{exc}")
        st.stop()
    defaults = ps.PageState(mode=settings.search_mode)
    _load_url_once(defaults)
    service = _service_or_stop(settings)
    _sidebar(defaults)
    _search_form()
    for note in st.session_state.pop("_url_notes", []):
        st.warning(ps.md_escape(note))
    page = ps.from_session(st.session_state.to_dict(), defaults)
    _sync_url(page, defaults)
    if page.active:
        _results(service, page, defaults)
    else:
        _empty_state()


main()
