"""Compare (`/compare?q=...`): one query side by side under each mode, and under a second model.

- Modes: semantic, hybrid and keyword, each column marking how every article moved against the
  baseline mode (▲ up, ▼ down, new = not in the baseline's results).
- Models: where NEWS_COMPARE_KEYSPACES names keyspaces with indexes built with other models, the
  same query on this index and on one of those (each searched with its own model).
- Evaluation: the retrieval benchmark's table and an MRR@10 / nDCG@10 chart per mode and model, read
  from NEWS_EVALUATION_FILE with the date, commit and machine it was measured on. No file, no numbers.
"""

from __future__ import annotations

import logging
from dataclasses import replace

import altair as alt
import pandas as pd
import streamlit as st

from newsindex.errors import NewsSearchError
from newsindex.schema import read_manifest
from newsindex.search import MODES, SearchRequest, SearchResponse, SearchService
from newsindex.settings import Settings
from search_app import common
from search_app import compare as cmp
from search_app import state as ps
from search_app.pagestate import COMPARE_K_MAX, COMPARE_KEYS, CompareState, compare_params, parse_compare

log = logging.getLogger("search_app.compare")

STATE = "cmp_state"
MODE_NAMES = {"semantic": "Semantic", "hybrid": "Hybrid", "keyword": "Keywords (BM25)"}


def _load() -> None:
    def load(params: dict[str, list[str]]) -> dict[str, object]:
        state, notes = parse_compare(params)
        return {
            STATE: state,
            "cmp_q_input": state.query,
            "cmp_k": state.k,
            "cmp_base": state.baseline,
            "cmp_b": state.other_keyspace,
            "cmp_bmode": state.other_mode,
            "_cmp_notes": notes,
        }

    common.enter_page("compare", load)


def _submit() -> None:
    state: CompareState = st.session_state[STATE]
    query = str(st.session_state.get("cmp_q_input") or "").strip()
    st.session_state[STATE] = replace(state, query=query, k=int(st.session_state.get("cmp_k") or 10))


def _request(state: CompareState, mode: str) -> SearchRequest:
    return SearchRequest(
        query=state.query,
        k=state.k,
        date_from=state.date_from,
        date_to=state.date_to,
        mode=mode,  # type: ignore[arg-type]
        must_contain=state.must,
    )


def _search(service: SearchService, request: SearchRequest) -> SearchResponse:
    """One search, remembered for this session (widget reruns must not repeat it)."""
    key = (service.store.settings.keyspace, request)
    cache: dict[object, SearchResponse] = st.session_state.setdefault("_cmp_cache", {})
    if key not in cache:
        if len(cache) > 32:
            cache.clear()
        cache[key] = service.search(request)
    return cache[key]


def _columns(labels: list[str], responses: list[SearchResponse], baseline: int) -> None:
    base_ids = [r.article_id for r in responses[baseline].results]
    for column, label, response, i in zip(
        st.columns(len(responses), gap="medium"), labels, responses, range(len(responses)), strict=True
    ):
        ids = [r.article_id for r in response.results]
        changes = cmp.rank_changes(base_ids, ids, is_baseline=i == baseline)
        shared = len(set(ids) & set(base_ids))
        with column:
            st.markdown(f"##### {ps.md_escape(label)}" + (" (baseline)" if i == baseline else ""))
            note = f"{len(ids)} results in {response.timings.total_ms:,.0f} ms"
            if i != baseline:
                note += f" · {shared} shared with the baseline"
            st.caption(note)
            st.markdown(cmp.column_html(response.results, changes), unsafe_allow_html=True)


def _modes(service: SearchService, state: CompareState) -> None:
    st.subheader("Modes")
    st.radio(
        "Baseline",
        MODES,
        format_func=MODE_NAMES.__getitem__,
        key="cmp_base",
        horizontal=True,
        help="Rank changes in the other columns are against this mode.",
    )
    order = ["semantic", "hybrid", "keyword"]
    responses = [_search(service, _request(state, mode)) for mode in order]
    baseline = order.index(str(st.session_state.get("cmp_base") or "semantic"))
    _columns([MODE_NAMES[m] for m in order], responses, baseline)
    for mode, response in zip(order, responses, strict=True):
        for note in response.notes:
            st.caption(f"{MODE_NAMES[mode]}: {ps.md_escape(note)}")


def _models(settings: Settings, service: SearchService, state: CompareState) -> None:
    st.subheader("Models")
    others = [k for k in settings.compare_keyspaces if k != settings.keyspace]
    if not others:
        st.caption(
            "To compare two embedding models, ingest the same news into another keyspace with another "
            "NEWS_MODEL and list that keyspace in NEWS_COMPARE_KEYSPACES."
        )
        return
    labels = {}
    for keyspace in others:
        manifest = read_manifest(service.store.session, settings.with_(keyspace=keyspace))
        labels[keyspace] = f"{keyspace} ({manifest.model})" if manifest else f"{keyspace} (no index)"
    if st.session_state.get("cmp_b") not in labels:
        st.session_state["cmp_b"] = others[0]
    pick, mode = st.columns(2)
    pick.selectbox("Second index", others, format_func=labels.__getitem__, key="cmp_b")
    mode.selectbox("Mode for both", MODES, format_func=MODE_NAMES.__getitem__, key="cmp_bmode")
    keyspace = str(st.session_state["cmp_b"])
    chosen_mode = str(st.session_state.get("cmp_bmode") or "hybrid")
    try:
        other = common.other_service(settings, keyspace)
    except NewsSearchError as exc:
        st.warning(f"The index in {keyspace!r} cannot be searched: {exc}")
        return
    request = _request(state, chosen_mode)
    responses = [_search(service, request), _search(other, request)]
    names = [f"A: {_model_name(service)} · {settings.keyspace}", f"B: {_model_name(other)} · {keyspace}"]
    _columns(names, responses, baseline=0)


def _model_name(service: SearchService) -> str:
    return service.manifest.model if service.manifest else service.encoder.profile.name


def _evaluation(settings: Settings) -> None:
    st.subheader("Measured retrieval quality")
    path = settings.evaluation_file
    try:
        report = cmp.load_evaluation(path)
    except cmp.EvaluationFileError as exc:
        st.warning(f"The evaluation file cannot be shown: {exc}")
        return
    if report is None:
        st.info(
            f"No evaluation results: `{path}` does not exist. Run the retrieval evaluation "
            "(`python -m bench.evaluate`, see docs/EVALUATION.md) to create it; this page shows only measured numbers."
        )
        return
    st.caption(
        f"Measured {report.generated_at or 'at an unrecorded time'} on {report.machine or 'an unrecorded machine'}, "
        f"commit {report.commit or 'unrecorded'}, corpus: {report.corpus or 'unrecorded'}. "
        "MRR@10 and nDCG@10: higher is better; R@k: share of queries whose answer is in the top k."
    )
    table = pd.DataFrame(cmp.eval_table(report))
    st.dataframe(table, hide_index=True, width="stretch", key="cmp_eval_table")
    rows = pd.DataFrame(cmp.chart_rows(report))
    if rows.empty:
        return
    chart = (
        alt.Chart(rows)
        .mark_bar()
        .encode(
            x=alt.X("value:Q", scale=alt.Scale(domain=[0, 1]), title=None),
            y=alt.Y("system:N", title=None, sort="-x"),
            yOffset=alt.YOffset("metric:N"),
            color=alt.Color("metric:N", title="metric"),
            tooltip=["model", "mode", "query set", "metric", alt.Tooltip("value:Q", format=".3f")],
        )
        .properties(width=380, height=alt.Step(14))
        .facet(column=alt.Column("query set:N", title=None))
        .properties(usermeta={"embedOptions": {"renderer": "svg"}})
    )
    st.altair_chart(chart, key="cmp_eval_chart")


def _form() -> None:
    with st.form("cmp_search", border=False):
        box, k, go = st.columns([5, 1, 1], vertical_alignment="bottom")
        box.text_input("Query", key="cmp_q_input", placeholder="a query to compare", label_visibility="collapsed")
        k.number_input("Results", min_value=1, max_value=COMPARE_K_MAX, step=1, key="cmp_k")
        go.form_submit_button("Compare", type="primary", on_click=_submit, width="stretch")


def main() -> None:
    st.set_page_config(page_title="Compare · Transfer news search", page_icon="⚽", layout="wide")
    st.title("Compare modes and models")
    settings = common.settings_or_stop()
    _load()
    service = common.service_or_stop(settings)
    st.caption(f"Searching {common.describe_index(service)}.")
    _form()
    for note in st.session_state.pop("_cmp_notes", []):
        st.warning(ps.md_escape(note))
    state: CompareState = st.session_state[STATE]
    state = replace(
        state,
        baseline=str(st.session_state.get("cmp_base") or state.baseline),
        other_keyspace=st.session_state.get("cmp_b") or state.other_keyspace,
        other_mode=str(st.session_state.get("cmp_bmode") or state.other_mode),
    )
    if state.query:
        try:
            _modes(service, state)
            state = replace(state, baseline=str(st.session_state.get("cmp_base") or state.baseline))
            _models(settings, service, state)
            state = replace(
                state,
                other_keyspace=st.session_state.get("cmp_b") or state.other_keyspace,
                other_mode=str(st.session_state.get("cmp_bmode") or state.other_mode),
            )
        except NewsSearchError as exc:
            st.warning(str(exc))
        except Exception:
            log.exception("comparing %r failed", state)
            st.error("Something went wrong while comparing. The server log has the details.")
    else:
        st.info("Type a query to see it under each mode side by side.")
    st.session_state[STATE] = state
    common.sync_url(compare_params(state), COMPARE_KEYS)
    st.divider()
    _evaluation(settings)


main()
