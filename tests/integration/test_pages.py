"""The map, explanation and comparison pages (and the search page's rank explanations) under AppTest,
against the real local node, the real model and the session's test-corpus keyspace.

Charts are checked by their data: the Arrow datasets Streamlit sends to the browser with the spec.
"""

from __future__ import annotations

import io
import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs

import pandas as pd
import pyarrow as pa
import pytest
import streamlit as st
from streamlit.testing.v1 import AppTest

from newsindex.corpusmap import articles_with_term
from newsindex.settings import Settings
from search_app.state import md_escape
from tests.conftest import TEST_MODEL
from tests.integration import sample_corpus
from tests.integration.conftest import base_env, new_keyspace
from tests.integration.sample_corpus import first_case as demo_case

pytestmark = pytest.mark.integration

REPO = Path(__file__).resolve().parents[2]
APP = str(REPO / "search_app" / "app.py")
FIXTURE = REPO / "tests" / "data" / "evaluation_fixture.json"
SCRIPT_TITLE = "Harbour City complete signing of Norwegian defender Sindre Aasland"


@pytest.fixture(autouse=True)
def _app_env(_isolated_env: None, monkeypatch: pytest.MonkeyPatch, sample_index: Settings) -> None:
    monkeypatch.setenv("NEWS_STATE_DIR", str(sample_index.state_dir))
    monkeypatch.setenv("NEWS_MODEL", TEST_MODEL)
    monkeypatch.setenv("NEWS_KEYSPACE", sample_index.keyspace)
    monkeypatch.setenv("NEWS_EVALUATION_FILE", str(FIXTURE))
    for name in ("NEWS_PASSAGE_PREFIX", "NEWS_QUERY_PREFIX", "NEWS_COMPARE_KEYSPACES"):
        monkeypatch.delenv(name, raising=False)


@pytest.fixture
def fresh_service_cache() -> Iterator[None]:
    st.cache_resource.clear()
    yield
    st.cache_resource.clear()


@pytest.fixture(scope="module")
def ids(sample_index: Settings, node_session: Any) -> dict[str, str]:
    """Article ids of the fictional articles, found through their rare words."""
    found = {}
    for name, word in (("script", "Aasland"), ("rare", sample_corpus.RARE_NAME)):
        (found[name],) = articles_with_term(node_session, sample_index, word)
    return found


def page(path: str, **params: str) -> AppTest:
    """Run the app, switch to `path` with `params` in the URL, run that page."""
    at = AppTest.from_file(APP, default_timeout=120)
    at.run()
    at.query_params.clear()
    at.query_params.update(params)
    at.session_state["_page"] = None  # as if arriving from another page
    return at.switch_page(path).run()


def charts(at: AppTest) -> list[Any]:
    return list(at.get("vega_lite_chart"))


def chart_data(chart: Any) -> pd.DataFrame:
    """The rows of the chart's (only) dataset, as the browser receives them."""
    proto = chart.proto
    blobs = [d.data.data for d in proto.datasets] or [proto.data.data]
    frames = [pa.ipc.open_stream(io.BytesIO(b)).read_all().to_pandas() for b in blobs if b]
    return pd.concat(frames, ignore_index=True)


def markdowns(at: AppTest, marker: str) -> list[str]:
    return [m.value for m in at.markdown if marker in m.value]


def link_params(link: Any) -> dict[str, list[str]]:
    return parse_qs(link.proto.query_string)


# --- corpus map ----------------------------------------------------------------------------------
def test_map_draws_every_article_once_built_and_reads_the_stored_map_after(
    sample_index: Settings, node_session: Any
) -> None:
    articles = node_session.execute(f"SELECT COUNT(*) FROM {sample_index.keyspace}.articles").one()[0]
    at = page("views/map.py")
    assert not at.exception and not at.error
    (chart,) = charts(at)
    data = chart_data(chart)
    assert len(data) == articles
    assert data["article_id"].is_unique and data["title"].str.len().gt(0).all()
    assert data[["x", "y"]].abs().max().max() <= 1.0 + 1e-6
    spec = json.loads(chart.proto.spec)
    assert any("tooltip" in layer.get("encoding", {}) for layer in spec["layer"])
    assert any(f"{articles:,} articles" in c.value for c in at.caption)
    assert any("Built the map" in t.value for t in at.toast)  # the first view built it
    maps = list((sample_index.state_dir / "maps" / sample_index.keyspace).glob("*.npz"))
    assert len(maps) == 1
    built = maps[0].stat().st_mtime
    again = page("views/map.py")
    assert len(chart_data(charts(again)[0])) == articles
    assert maps[0].stat().st_mtime == built  # read, not rebuilt
    assert not any("Built the map" in t.value for t in again.toast)


def test_map_colours_the_articles_that_contain_a_typed_word(ids: dict[str, str]) -> None:
    at = page("views/map.py", color="term", term=sample_corpus.RARE_NAME)
    assert not at.exception
    data = chart_data(charts(at)[0])
    marked = data[data["group"] == "mentions the word"]
    assert list(marked["article_id"]) == [ids["rare"]]
    assert any(f"1 of {len(data):,} shown articles contain" in c.value for c in at.caption)
    at.radio(key="map_color").set_value("month").run()
    assert "group" not in chart_data(charts(at)[0]).columns
    assert "color" not in at.query_params


def test_map_selection_from_the_url_lists_the_articles_and_their_similar_ones(ids: dict[str, str]) -> None:
    at = page("views/map.py", sel=ids["script"])
    assert not at.exception
    assert any("1 selected article" in m.value for m in at.markdown)
    (listed,) = markdowns(at, 'class="ns-selected"')
    assert listed.count("<li ") == 1 and f'data-article="{ids["script"]}"' in listed
    assert SCRIPT_TITLE in listed
    similar = markdowns(at, 'class="ns-card"')
    assert len(similar) == 5 and not any(SCRIPT_TITLE in c for c in similar)
    data = chart_data(charts(at)[0])
    assert list(data.loc[data["selected"], "article_id"]) == [ids["script"]]
    (link,) = [p for p in at.get("page_link") if "similar" in p.value]
    assert link_params(link)["like"] == [ids["script"]]


def test_map_date_range_filters_the_points() -> None:
    at = page("views/map.py", **{"from": "2023-01-01", "to": "2023-12-31"})
    data = chart_data(charts(at)[0])
    assert len(data) > 0 and (data["date"].dt.year == 2023).all()
    assert at.query_params["from"] in ("2023-01-01", ["2023-01-01"])


def test_map_of_an_index_with_no_articles_says_so(
    node_session: Any, encoder: Any, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    from newsindex.schema import ensure_schema

    keyspace = new_keyspace("t_empty")
    settings = Settings.from_env(env=base_env(NEWS_KEYSPACE=keyspace, NEWS_MODEL=TEST_MODEL))
    try:
        ensure_schema(node_session, settings, encoder.profile)
        monkeypatch.setenv("NEWS_KEYSPACE", keyspace)
        monkeypatch.setenv("NEWS_STATE_DIR", str(tmp_path))
        at = page("views/map.py")
        assert not at.exception and not at.error
        assert any("no articles yet" in i.value for i in at.info)
        assert charts(at) == []
    finally:
        node_session.execute(f"DROP KEYSPACE IF EXISTS {keyspace}", timeout=120)


def test_map_that_cannot_be_stored_shows_an_error_not_a_traceback(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    blocked = tmp_path / "state"
    blocked.mkdir()
    (blocked / "maps").write_text("a file where the maps folder should be")
    monkeypatch.setenv("NEWS_STATE_DIR", str(blocked))
    at = page("views/map.py")
    assert not at.exception
    assert len(at.error) == 1 and "could not be built" in at.error[0].value
    assert "Traceback" not in at.error[0].value


def test_pages_over_a_keyspace_without_an_index_say_there_is_none(
    monkeypatch: pytest.MonkeyPatch, fresh_service_cache: None
) -> None:
    monkeypatch.setenv("NEWS_KEYSPACE", new_keyspace("t_none"))
    for path in ("views/map.py", "views/explain.py", "views/compare.py"):
        at = page(path, q="goalkeeper")
        assert not at.exception
        assert any("no news index here yet" in i.value for i in at.info), path
        assert at.button(key="retry_service")


def test_pages_with_the_database_unreachable_show_a_friendly_error(
    monkeypatch: pytest.MonkeyPatch, fresh_service_cache: None
) -> None:
    monkeypatch.setenv("NEWS_CASSANDRA_PORT", "1")
    monkeypatch.setenv("NEWS_CONNECT_TIMEOUT_S", "3")
    for path in ("views/map.py", "views/explain.py", "views/compare.py"):
        at = page(path, q="goalkeeper")
        assert not at.exception, path
        assert len(at.error) == 1 and "not reachable" in at.error[0].value, path
        assert "Traceback" not in at.error[0].value
        assert charts(at) == []


# --- why this result -----------------------------------------------------------------------------
def test_explanation_shows_the_breakdown_marked_passage_and_token_heatmap(ids: dict[str, str]) -> None:
    at = page("views/explain.py", q=sample_corpus.SCRIPT_QUERY, id=ids["script"])
    assert not at.exception and not at.error
    heading = markdowns(at, 'class="ns-like-heading"')
    assert heading and SCRIPT_TITLE in heading[0] and "#1 for" in heading[0]
    passage = markdowns(at, 'class="ns-passage"')[0]
    assert "<script" not in passage and "&lt;script&gt;" in passage
    assert '<mark class="ns-why"' in passage
    breakdown = at.table[0].value
    parts = dict(zip(breakdown.index, breakdown["value"], strict=True))
    assert parts["Final rank"].startswith("#1 of ")
    assert "by meaning" in parts["Meaning (dense)"] and "Fusion" in parts
    data = chart_data(charts(at)[0])
    query_tokens = data["query_token"].unique()
    assert {"harbour", "city", "director"} <= set(query_tokens)
    assert len(data) == len(query_tokens) * data["passage_token"].nunique()
    assert data["cosine"].between(-1, 1).all() and data["cosine"].max() > 0.5
    assert at.query_params["id"] in (ids["script"], [ids["script"]])


def test_explanation_of_another_passage_follows_the_selectbox(ids: dict[str, str]) -> None:
    at = page("views/explain.py", q=sample_corpus.SCRIPT_QUERY, id=ids["script"], chunk="0")
    assert not at.exception
    assert at.query_params["chunk"] in ("0", ["0"])


def test_explanation_with_only_a_query_offers_its_results_to_pick() -> None:
    query, title = demo_case()
    at = page("views/explain.py", q=query)
    assert not at.exception
    picks = [b for b in at.button if (b.key or "").startswith("ex_pick_")]
    assert len(picks) == 10 and any(title in b.label for b in picks[:3])
    picks[0].click().run()
    assert not at.exception
    assert at.table and "Final rank" in list(at.table[0].value.index)
    assert at.query_params["id"] in (picks[0].key.removeprefix("ex_pick_"), [picks[0].key.removeprefix("ex_pick_")])


def test_explanation_without_a_query_says_how_to_open_one() -> None:
    at = page("views/explain.py")
    assert not at.exception
    assert any("Why this result?" in i.value for i in at.info)
    assert charts(at) == []


def test_explanation_of_an_unknown_article_warns() -> None:
    at = page("views/explain.py", q="goalkeeper", id="no-such-article")
    assert not at.exception
    assert any("not in the index" in w.value for w in at.warning)


# --- compare -------------------------------------------------------------------------------------
def test_compare_shows_each_mode_with_rank_changes_against_the_baseline() -> None:
    query, _ = demo_case()
    at = page("views/compare.py", q=query, k="5")
    assert not at.exception and not at.error
    columns = markdowns(at, 'class="ns-col"')
    assert len(columns) == 3
    assert all(c.count('class="ns-item"') == 5 for c in columns[:2])
    assert 'data-change="base"' in columns[0]  # semantic is the default baseline
    assert any(k in columns[1] for k in ('data-change="up"', 'data-change="same"', 'data-change="new"'))
    at.radio(key="cmp_base").set_value("hybrid").run()
    assert 'data-change="base"' in markdowns(at, 'class="ns-col"')[1]
    assert at.query_params["base"] in ("hybrid", ["hybrid"])


@pytest.fixture(scope="module")
def minilm_index(node_session: Any, tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """A second index, built with the bundled all-MiniLM-L6-v2 from the fictional articles only: plumbing
    for the two-model comparison (which index, which model, which columns), not a quality claim."""
    from ingest.cli import run_ingest

    keyspace = new_keyspace("t_minilm")
    tmp = tmp_path_factory.mktemp("minilm")
    # base_env carries the node's host and ports: without them this index went to whatever node
    # answered on 9042 (a developer's own), and the page, on the test node, found none.
    settings = Settings.from_env(
        env=base_env(NEWS_KEYSPACE=keyspace, NEWS_MODEL="all-MiniLM-L6-v2", NEWS_STATE_DIR=str(tmp))
    )
    summary = run_ingest(sample_corpus.FICTIONAL_CSV, settings)
    assert summary.failed == 0 and summary.quarantined == 0
    yield keyspace
    node_session.execute(f"DROP KEYSPACE IF EXISTS {keyspace}", timeout=120)


def test_compare_puts_a_second_models_index_beside_this_one(
    minilm_index: str, monkeypatch: pytest.MonkeyPatch, sample_index: Settings
) -> None:
    monkeypatch.setenv("NEWS_COMPARE_KEYSPACES", minilm_index)
    at = page("views/compare.py", q=sample_corpus.SCRIPT_QUERY, k="3", bmode="semantic")
    assert not at.exception and not at.error
    assert at.selectbox(key="cmp_b").value == minilm_index
    assert "all-MiniLM-L6-v2" in at.selectbox(key="cmp_b").format_func(minilm_index)
    headers = [m.value for m in at.markdown if m.value.startswith("##### ")]
    assert "##### " + md_escape(f"A: {TEST_MODEL} · {sample_index.keyspace}") + " (baseline)" in headers
    assert "##### " + md_escape(f"B: all-MiniLM-L6-v2 · {minilm_index}") in headers
    columns = markdowns(at, 'class="ns-col"')
    assert len(columns) == 5  # three modes, then A and B
    assert SCRIPT_TITLE in columns[4].split("</div>")[0]  # B finds the article too (it only holds the fiction)
    assert at.query_params["b"] in (minilm_index, [minilm_index])


def test_compare_shows_the_evaluation_table_and_chart_with_when_it_was_measured() -> None:
    at = page("views/compare.py")
    assert not at.exception
    assert any("FICTIONAL test fixture" in c.value for c in at.caption)
    table = at.dataframe[0].value
    assert list(table["mode"]) == ["hybrid", "semantic", "bm25"]
    data = chart_data(charts(at)[0])
    assert sorted(data["metric"].unique()) == ["MRR@10", "nDCG@10"]
    assert len(data) == 6 and data["value"].max() == 0.925


def test_compare_without_an_evaluation_file_shows_no_numbers(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setenv("NEWS_EVALUATION_FILE", str(tmp_path / "missing.json"))
    at = page("views/compare.py")
    assert not at.exception
    assert any("No evaluation results" in i.value for i in at.info)
    assert at.dataframe == [] or len(at.dataframe) == 0
    bad = tmp_path / "bad.json"
    bad.write_text("{broken")
    monkeypatch.setenv("NEWS_EVALUATION_FILE", str(bad))
    at = page("views/compare.py")
    assert any("cannot be shown" in w.value for w in at.warning)


# --- the search page tells what it searched ------------------------------------------------------
def test_search_page_names_its_index_and_model_and_explains_each_rank(sample_index: Settings) -> None:
    query, _ = demo_case()
    at = AppTest.from_file(APP, default_timeout=120)
    at.query_params.update({"q": query, "k": "3"})
    at.run()
    assert not at.exception
    named = [c.value for c in at.caption if "Searching keyspace" in c.value]
    assert named and sample_index.keyspace in named[0] and TEST_MODEL in named[0]
    cards = markdowns(at, 'class="ns-card"')
    assert len(cards) == 3 and all("Why here: meaning" in c for c in cards)
    why = [p for p in at.get("page_link") if p.value == "Why this result?"]
    assert len(why) == 3
    params = link_params(why[0])
    assert params["q"] == [query] and params["id"]


def test_show_more_extends_the_results_and_the_url() -> None:
    query, _ = demo_case()
    at = AppTest.from_file(APP, default_timeout=120)
    at.query_params.update({"q": query, "k": "3"})
    at.run()
    first = markdowns(at, 'class="ns-card"')
    at.button(key="show_more").click().run()
    assert not at.exception
    more = markdowns(at, 'class="ns-card"')
    assert len(more) == 13
    assert [c.split("ns-snippet")[0] for c in more[:3]] == [c.split("ns-snippet")[0] for c in first]
    assert at.query_params["k"] in ("13", ["13"])
