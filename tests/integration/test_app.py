"""The Streamlit page under `AppTest`, against the real local node and the real model.

The page reads its settings from the environment like a user's would; the tests point it at the
session's test-corpus keyspace (never a developer's `news`). The cached search service is keyed by
the settings, so the tests share one state dir to build it only once.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
import streamlit as st
from streamlit.testing.v1 import AppTest

from newsindex.settings import Settings
from tests.conftest import TEST_MODEL
from tests.integration import sample_corpus
from tests.integration.sample_corpus import first_case as demo_case

pytestmark = pytest.mark.integration

REPO = Path(__file__).resolve().parents[2]
APP = str(REPO / "search_app" / "app.py")
SCRIPT_QUERY = sample_corpus.SCRIPT_QUERY
SCRIPT_TITLE = "Harbour City complete signing of Norwegian defender Sindre Aasland"


@pytest.fixture(autouse=True)
def _app_env(_isolated_env: None, monkeypatch: pytest.MonkeyPatch, sample_index: Settings) -> None:
    monkeypatch.setenv("NEWS_STATE_DIR", str(sample_index.state_dir))
    monkeypatch.setenv("NEWS_MODEL", TEST_MODEL)
    monkeypatch.setenv("NEWS_KEYSPACE", sample_index.keyspace)
    for name in ("NEWS_PASSAGE_PREFIX", "NEWS_QUERY_PREFIX"):
        monkeypatch.delenv(name, raising=False)


@pytest.fixture
def fresh_service_cache() -> Iterator[None]:
    """For tests that change the environment: no service cached by an earlier test may answer."""
    st.cache_resource.clear()
    yield
    st.cache_resource.clear()


def new_app() -> AppTest:
    return AppTest.from_file(APP, default_timeout=60)


def cards(at: AppTest) -> list[str]:
    return [m.value for m in at.markdown if 'class="ns-card"' in m.value]


def submit(at: AppTest, query: str) -> AppTest:
    at.text_input(key="q_input").input(query)
    return at.button(key="FormSubmitter:search-Search").click().run()


def test_empty_state_offers_example_queries() -> None:
    at = new_app().run()
    assert not at.exception
    assert not at.error
    assert any("Try a search" in m.value for m in at.markdown)
    examples = [b for b in at.button if (b.key or "").startswith("example_")]
    assert len(examples) >= 3
    assert cards(at) == []


def test_typed_query_shows_the_expected_article_and_updates_the_url() -> None:
    query, title = demo_case()
    at = submit(new_app().run(), query)
    assert not at.exception
    found = cards(at)
    assert found and len(found) <= 10
    assert title in found[0] or any(title in c for c in found[:3])
    assert at.query_params["q"] in (query, [query])
    timing = [m.value for m in at.markdown if 'class="ns-time"' in m.value]
    assert timing and " ms" in timing[0] and "encode" in timing[0] and "CQL" in timing[0]


def test_example_query_button_runs_that_search() -> None:
    at = new_app().run()
    example = at.button(key="example_0")
    label = example.label
    example.click().run()
    assert not at.exception
    assert cards(at)
    assert at.text_input(key="q_input").value == label
    assert at.query_params["q"] in (label, [label])


def test_query_params_drive_the_search() -> None:
    query, title = demo_case()
    at = new_app()
    at.query_params["q"] = query
    at.query_params["k"] = "3"
    at.run()
    assert not at.exception
    assert len(cards(at)) == 3
    assert any(title in c for c in cards(at))
    assert at.text_input(key="q_input").value == query
    assert at.sidebar.number_input(key="k").value == 3


def test_malformed_query_param_is_reported_and_ignored() -> None:
    query, _ = demo_case()
    at = new_app()
    at.query_params["q"] = query
    at.query_params["k"] = "lots"
    at.run()
    assert not at.exception
    assert any("k=" in w.value for w in at.warning)
    assert len(cards(at)) == 10


def test_date_range_that_excludes_everything_shows_the_no_result_state() -> None:
    query, _ = demo_case()
    at = new_app()
    at.query_params.update({"q": query, "from": "1990-01-01", "to": "1990-12-31"})
    at.run()
    assert not at.exception
    assert cards(at) == []
    assert any("No articles matched" in i.value and "1990" in i.value for i in at.info)
    at.button(key="remove_filters").click().run()
    assert not at.exception
    assert cards(at)
    assert "from" not in at.query_params and "to" not in at.query_params


def test_must_contain_filter_in_the_sidebar_narrows_results_and_goes_into_the_url() -> None:
    at = submit(new_app().run(), "a striker's surprise transfer")
    assert len(cards(at)) == 10
    at.sidebar.text_input(key="must").input(sample_corpus.RARE_NAME).run()
    assert not at.exception
    found = cards(at)
    assert len(found) == 1 and sample_corpus.RARE_NAME in found[0]
    assert sample_corpus.RARE_NAME in str(at.query_params["must"])


def test_similar_articles_button_shows_more_like_this_and_back_returns() -> None:
    query, title = demo_case()
    at = new_app()
    at.query_params.update({"q": query, "k": "3"})
    at.run()
    first_card = cards(at)[0]
    source = next(b for b in at.button if (b.key or "").startswith("like_"))  # the first card's button
    source_id = source.key.removeprefix("like_")
    source.click().run()
    assert not at.exception
    heading = [m.value for m in at.markdown if m.value.startswith('<div class="ns-like-heading">')]
    assert heading and "Articles similar to" in heading[0]
    source_title = heading[0].split("“")[1].split("”")[0]
    assert source_title in first_card
    assert source_id in str(at.query_params["like"])
    assert not any(f"like_{source_id}" == b.key for b in at.button)  # the source itself is excluded
    assert cards(at)
    at.button(key="like_back").click().run()
    assert "like" not in at.query_params
    assert any(title in c for c in cards(at))


def test_unknown_similar_article_in_the_url_shows_a_warning() -> None:
    at = new_app()
    at.query_params["like"] = "no-such-article"
    at.run()
    assert not at.exception
    assert any("not in the index" in w.value for w in at.warning)
    assert cards(at) == []
    assert at.button(key="like_back")


def test_article_with_a_script_tag_renders_it_as_text() -> None:
    at = submit(new_app().run(), SCRIPT_QUERY)
    assert not at.exception
    card = next(c for c in cards(at) if SCRIPT_TITLE in c)
    assert "&lt;script&gt;alert(&#x27;x&#x27;)&lt;/script&gt;" in card
    assert "<script" not in card


def test_unreachable_database_shows_a_friendly_error(
    monkeypatch: pytest.MonkeyPatch, fresh_service_cache: None
) -> None:
    monkeypatch.setenv("NEWS_CASSANDRA_PORT", "1")
    monkeypatch.setenv("NEWS_CONNECT_TIMEOUT_S", "3")
    at = new_app()
    at.query_params["q"] = "goalkeeper"
    at.run()
    assert not at.exception
    assert len(at.error) == 1
    message = at.error[0].value
    assert "not reachable" in message and "news-search db start" in message
    assert message.count("db start") == 1
    assert "Traceback" not in message
    assert cards(at) == []
    assert at.button(key="retry_service")


def test_index_built_with_another_model_setup_refuses_to_search(
    monkeypatch: pytest.MonkeyPatch, fresh_service_cache: None
) -> None:
    monkeypatch.setenv("NEWS_PASSAGE_PREFIX", "document: ")
    query, _ = demo_case()
    at = new_app()
    at.query_params["q"] = query
    at.run()
    assert not at.exception
    assert len(at.error) == 1
    message = at.error[0].value
    assert "does not match" in message and "different model setup" in message
    assert cards(at) == []
    assert not [t for t in at.text_input if t.key == "q_input"]
