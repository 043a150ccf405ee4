"""Why this result (`/explain?q=...&id=...`): what matched between a query and one article.

- the ranking breakdown: final rank, meaning (dense) score and rank, keyword (BM25) score and rank,
  fusion, recency, as the search service computed them for this query and these filters;
- the passage with its most query-similar spans marked;
- a heatmap of query tokens x passage tokens: the cosine of the model's contextual token vectors.

Opened from a result card's "Why this result?" link; the URL carries the search (q, mode, filters),
the article (`id`) and the passage (`chunk`), so an explanation can be shared like a search.
"""

from __future__ import annotations

import html
import logging
from dataclasses import replace
from typing import Any

import altair as alt
import pandas as pd
import streamlit as st

from newsindex import explain
from newsindex.errors import NewsSearchError
from newsindex.passages import StoredPassage, article_passages, passage_input
from newsindex.search import ArticleResult, SearchService
from newsindex.text import STOP_WORDS
from newsindex.tokenvectors import TokenVectors, token_vectors
from search_app import common
from search_app import state as ps
from search_app.pagestate import EXPLAIN_KEYS, ExplainState, explain_params, parse_explain

log = logging.getLogger("search_app.explain")

STATE = "ex_state"
WINDOW = 40  # passage tokens shown in the heatmap at once
RANK_DEPTH = 100  # how deep the search looks for the article's rank


@st.cache_data(max_entries=64, show_spinner=False)
def _tokens(_encoder: Any, model: str, prefix: str, text: str) -> TokenVectors:
    """Token vectors, cached per (model, prefix, text); `_encoder` is not hashed."""
    return token_vectors(_encoder, text, prefix)


def _load(defaults: ps.PageState) -> None:
    def load(params: dict[str, list[str]]) -> dict[str, object]:
        state, notes = parse_explain(params, defaults)
        return {STATE: state, "ex_q_input": state.search.query, "_ex_notes": notes}

    common.enter_page("explain", load)


def _pick(article_id: str) -> None:
    state: ExplainState = st.session_state[STATE]
    st.session_state[STATE] = replace(state, article_id=article_id, chunk=None)


def _submit() -> None:
    state: ExplainState = st.session_state[STATE]
    query = str(st.session_state.get("ex_q_input") or "").strip()
    st.session_state[STATE] = ExplainState(replace(state.search, query=query), None, None)


def _ranked(service: SearchService, state: ExplainState) -> tuple[list[ArticleResult], int]:
    """The search as the card's page ran it, RANK_DEPTH deep (cached in the session per search)."""
    key = replace(state.search, k=RANK_DEPTH, like=None)
    cached = st.session_state.get("_ex_ranked")
    if cached is not None and cached[0] == key:
        return cached[1], cached[2]  # type: ignore[no-any-return]
    with st.spinner("Searching…"):
        response = service.search(ps.to_request(key))
    st.session_state["_ex_ranked"] = (key, response.results, response.candidates)
    return response.results, response.candidates


def _choose_result(results: list[ArticleResult]) -> None:
    st.markdown("#### Which result should be explained?")
    for rank, result in enumerate(results[:10], 1):
        st.button(
            f"{rank}. {result.title}",
            key=f"ex_pick_{result.article_id}",
            on_click=_pick,
            args=(result.article_id,),
            type="tertiary",
        )


def _breakdown(result: ArticleResult, state: ExplainState, rank: int | None, candidates: int) -> None:
    rows = explain.breakdown(result, ps.to_request(state.search), rank, candidates)
    st.markdown("#### Ranking breakdown")
    st.table(pd.DataFrame(rows, columns=["part", "value", "what it means"]).set_index("part"))


def _heatmap(query: TokenVectors, passage: TokenVectors, matrix: Any, scores: Any) -> None:
    n = len(passage.tokens)
    st.markdown("#### Query tokens × passage tokens")
    st.caption(
        "Cosine of the model's contextual token vectors (the transformer's output for each token, before "
        "pooling), with the query and passage prefixes applied as at search time. Brighter = more similar."
    )
    start = explain.best_window(scores, WINDOW)
    if n > WINDOW:
        start, end = st.slider(
            "Passage tokens shown",
            min_value=0,
            max_value=n,
            value=(start, min(start + WINDOW, n)),
            key="ex_window",
            help="Starts at the stretch of the passage that matches the query best.",
        )
        start, end = min(start, n - 1), max(end, start + 1)
    else:
        end = n
    rows = explain.heatmap_rows(query.tokens, passage.tokens, matrix, start, end - start)
    data = pd.DataFrame(rows)
    chart = (
        alt.Chart(data)
        .mark_rect()
        .encode(
            x=alt.X(
                "passage_token:O",
                sort=alt.SortField("p"),
                title="passage tokens",
                axis=alt.Axis(labelAngle=-60, labelOverlap=False, labelLimit=120),
            ),
            y=alt.Y("query_token:O", sort=alt.SortField("q"), title="query tokens", axis=alt.Axis(labelOverlap=False)),
            color=alt.Color("cosine:Q", scale=alt.Scale(scheme="viridis"), title="cosine"),
            tooltip=["query_token", "passage_token", alt.Tooltip("cosine:Q", format=".3f")],
        )
        .properties(height=alt.Step(26), usermeta={"embedOptions": {"renderer": "svg"}})
    )
    st.altair_chart(chart, width="stretch", key="ex_heatmap")
    if passage.truncated:
        st.caption("The passage is longer than the model's window; its tail has no tokens here.")


def _explain(service: SearchService, state: ExplainState) -> None:
    query = state.search.query
    results, candidates = _ranked(service, state)
    if not state.article_id:
        if not results:
            st.info("No articles matched this search, so there is nothing to explain. Try other words.")
            return
        _choose_result(results)
        return
    ranks = {r.article_id: (i, r) for i, r in enumerate(results, 1)}
    passages = article_passages(service.store.session, service.store.settings, state.article_id)
    if not passages:
        st.warning(f"Article {state.article_id} is not in the index (it may have been removed).")
        return
    rank, result = ranks.get(state.article_id, (None, None))
    if result is None:
        result = _unranked(service, query, passages)
    chunk = state.chunk if state.chunk is not None else result.chunk_no
    by_chunk = {p.chunk_no: p for p in passages}
    passage = by_chunk.get(chunk, by_chunk.get(result.chunk_no, passages[0]))
    _header(passage, query, rank, state)
    if len(passages) > 1:
        chosen = st.selectbox(
            "Passage",
            [p.chunk_no for p in passages],
            index=[p.chunk_no for p in passages].index(passage.chunk_no),
            format_func=lambda c: (
                f"passage {c + 1} of {len(passages)}"
                + (" (the one the search matched)" if c == result.chunk_no else "")
            ),
            key=f"ex_chunk_{state.article_id}",
        )
        if chosen != passage.chunk_no:
            st.session_state[STATE] = replace(state, chunk=chosen)
            st.rerun()
    manifest = service.manifest
    model = manifest.model if manifest else service.encoder.profile.name
    profile = service.encoder.profile
    text = passage_input(passage.title, passage.body)
    with st.spinner("Computing token similarities…"):
        q_tokens = _tokens(service.encoder, model, profile.query_prefix, query)
        p_tokens = _tokens(service.encoder, model, profile.passage_prefix, text)
    matrix = explain.similarity_matrix(q_tokens.vectors, p_tokens.vectors)
    scores = explain.token_scores(matrix)
    spans = explain.marked_spans(text, p_tokens.offsets, scores, ignore=STOP_WORDS)
    left, right = st.columns([3, 2], gap="large")
    with left:
        st.markdown("#### The passage, most query-similar words marked")
        st.markdown(f'<div class="ns-passage">{explain.mark_html(text, spans)}</div>', unsafe_allow_html=True)
    with right:
        _breakdown(result, state, rank, candidates)
    _heatmap(q_tokens, p_tokens, matrix, scores)


def _unranked(service: SearchService, query: str, passages: list[StoredPassage]) -> ArticleResult:
    """The article is beyond the ranked depth: its best passage by the query vector's dot product."""
    vector = service.encoder.encode_query(query)
    best = max(passages, key=lambda p: float(p.vector @ vector))
    score = float(best.vector @ vector)
    return ArticleResult(
        best.article_id, best.title, best.published, best.link, score, best.body, "", "", best.chunk_no,
        dense_score=score,
    )  # fmt: skip


def _header(passage: StoredPassage, query: str, rank: int | None, state: ExplainState) -> None:
    title = html.escape(passage.title or "(untitled)")
    link = ps.safe_url(passage.link)
    if link:
        title = f'<a href="{html.escape(link, quote=True)}" target="_blank" rel="noopener noreferrer">{title}</a>'
    where = f"#{rank}" if rank else f"not in the top {RANK_DEPTH}"
    st.markdown(
        f'<div class="ns-like-heading">{title}</div>'
        f'<div class="ns-time"><small>{ps.format_date(passage.published)} · {where} for '
        f"“{html.escape(query)}” in {html.escape(state.search.mode)} mode</small></div>",
        unsafe_allow_html=True,
    )
    back = replace(state.search, like=None)
    st.page_link("views/search.py", label="Back to the results", icon=":material/arrow_back:",
                 query_params=ps.to_params(back))  # fmt: skip


def _query_form() -> None:
    with st.form("ex_search", border=False):
        box, go = st.columns([5, 1], vertical_alignment="bottom")
        box.text_input("Query", key="ex_q_input", placeholder="the search to explain", label_visibility="collapsed")
        go.form_submit_button("Explain", type="primary", on_click=_submit, width="stretch")


def main() -> None:
    st.set_page_config(page_title="Why this result · Transfer news search", page_icon="⚽", layout="wide")
    st.title("Why this result?")
    settings = common.settings_or_stop()
    defaults = ps.PageState(mode=settings.search_mode)
    _load(defaults)
    service = common.service_or_stop(settings)
    st.caption(f"Explaining results from {common.describe_index(service)}.")
    _query_form()
    for note in st.session_state.pop("_ex_notes", []):
        st.warning(ps.md_escape(note))
    state: ExplainState = st.session_state[STATE]
    common.sync_url(explain_params(state, defaults), EXPLAIN_KEYS)
    if not state.search.query.strip():
        st.info("Open an explanation from a search result (**Why this result?** under each card), or type a query.")
        st.page_link("views/search.py", label="Go to search", icon=":material/search:")
        return
    try:
        _explain(service, state)
    except NewsSearchError as exc:
        st.warning(str(exc))
    except Exception:
        log.exception("explaining %r failed", state)
        st.error("Something went wrong while explaining this result. The server log has the details.")


main()
