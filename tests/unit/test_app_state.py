"""The search page's pure helpers: URL <-> page state <-> request, and the escaping of result cards."""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st

from newsindex.search import ArticleResult, SearchRequest, Timings
from newsindex.snippet import snippet_html
from search_app import state as ps
from search_app.state import PageState

SCRIPT_TEXT = "He is quick. <b>bold</b> He said: \"Great.\" <script>alert('x')</script> Leeds' director spoke."


def _result(**changes: object) -> ArticleResult:
    fields: dict[str, object] = {
        "article_id": "abc123",
        "title": "Chelsea agree fee with Southampton",
        "date": dt.date(2023, 8, 15),
        "link": "https://example.org/fictional/chelsea-agree-fee",
        "score": 0.0325,
        "passage": "Chelsea have agreed a fee.",
        "snippet": "Chelsea have agreed a fee.",
        "snippet_html": "<mark>Chelsea</mark> have agreed a fee.",
        "chunk_no": 0,
    }
    fields.update(changes)
    return ArticleResult(**fields)  # type: ignore[arg-type]


# --- URL round trip ------------------------------------------------------------------------------
FULL = PageState(
    query="young Brazilian striker",
    k=3,
    date_from=dt.date(2022, 1, 1),
    date_to=dt.date(2023, 12, 31),
    sort="date",
    mode="keyword",
    must=("Lavia", "loan"),
    recency_days=30,
    diversity=0.35,
    like="76bd10dca648d810",
)


@pytest.mark.parametrize(
    "page",
    [PageState(), PageState(query="goalkeeper loan"), FULL, PageState(like="abc", k=100), PageState(diversity=1.0)],
    ids=["empty", "query-only", "everything", "like-only", "max-diversity"],
)
def test_url_params_round_trip_to_the_same_page_state(page: PageState) -> None:
    parsed, notes = ps.parse_params(ps.to_params(page))
    assert parsed == page
    assert notes == []


def test_default_values_are_left_out_of_the_url() -> None:
    assert ps.to_params(PageState(query="  fee agreed ")) == {"q": "fee agreed"}
    assert ps.to_params(PageState()) == {}


def test_every_url_key_is_written_for_a_full_state() -> None:
    assert set(ps.to_params(FULL)) == set(ps.PARAM_KEYS)
    assert ps.to_params(FULL)["must"] == "Lavia,loan"
    assert ps.to_params(FULL)["div"] == "0.35"
    assert ps.to_params(FULL)["recency"] == "30"


def test_default_mode_comes_from_the_settings_and_stays_out_of_the_url() -> None:
    defaults = PageState(mode="semantic")
    parsed, _ = ps.parse_params({"q": "x"}, defaults)
    assert parsed.mode == "semantic"
    assert "mode" not in ps.to_params(parsed, defaults)
    assert ps.to_params(PageState(query="x", mode="hybrid"), defaults)["mode"] == "hybrid"


@pytest.mark.parametrize(
    ("params", "key"),
    [
        ({"k": "ten"}, "k"),
        ({"from": "2023-13-01"}, "from"),
        ({"to": "yesterday"}, "to"),
        ({"sort": "random"}, "sort"),
        ({"mode": "fuzzy"}, "mode"),
        ({"recency": "soon"}, "recency"),
        ({"recency": "nan"}, "recency"),
        ({"div": "lots"}, "div"),
        ({"like": "<script>"}, "like"),
    ],
)
def test_malformed_url_values_are_ignored_with_a_note(params: dict[str, str], key: str) -> None:
    parsed, notes = ps.parse_params({"q": "fee", **params})
    assert parsed == PageState(query="fee")
    assert len(notes) == 1
    assert f"{key}=" in notes[0]


@pytest.mark.parametrize(
    ("params", "field", "expected"),
    [
        ({"k": "500"}, "k", 100),
        ({"k": "0"}, "k", 1),
        ({"div": "3"}, "diversity", 1.0),
        ({"div": "-1"}, "diversity", 0.0),
        ({"div": "0.33"}, "diversity", 0.35),
        ({"recency": "-5"}, "recency_days", 0),
        ({"recency": "45.6"}, "recency_days", 46),
        ({"from": "1066-10-14"}, "date_from", ps.MIN_DATE),
    ],
)
def test_out_of_range_url_values_are_clamped(params: dict[str, str], field: str, expected: object) -> None:
    parsed, notes = ps.parse_params(params)
    assert getattr(parsed, field) == expected
    assert notes == []


def test_repeated_must_keys_and_separators_are_merged() -> None:
    parsed, _ = ps.parse_params({"must": ["Lavia", "loan, fee;Lavia"]})
    assert parsed.must == ("Lavia", "loan", "fee")


def test_repeated_scalar_key_takes_the_last_value() -> None:
    parsed, _ = ps.parse_params({"q": ["first", "second"], "k": ["3", "5"]})
    assert (parsed.query, parsed.k) == ("second", 5)


def test_blank_values_count_as_absent() -> None:
    parsed, notes = ps.parse_params({"q": "  ", "k": "", "like": ""})
    assert parsed == PageState()
    assert notes == []


@given(
    query=st.text(min_size=0, max_size=30).map(str.strip),
    k=st.integers(1, 100),
    sort=st.sampled_from(ps.SORTS),
    must=st.lists(st.from_regex(r"[A-Za-z0-9'-]{1,12}", fullmatch=True), max_size=4, unique=True),
    days=st.integers(0, ps.RECENCY_MAX_DAYS),
    div=st.integers(0, 20).map(lambda n: n / 20),
)
def test_any_valid_state_survives_the_url(
    query: str, k: int, sort: str, must: list[str], days: int, div: float
) -> None:
    page = PageState(query=query, k=k, sort=sort, must=tuple(must), recency_days=days, diversity=div)
    assert ps.parse_params(ps.to_params(page))[0] == page


# --- session state and request ---------------------------------------------------------------------
def test_session_values_round_trip_to_the_same_page_state() -> None:
    assert ps.from_session(ps.to_session(FULL)) == FULL
    assert ps.from_session({}) == PageState()


def test_session_must_text_is_split_into_words() -> None:
    assert ps.from_session({"must": "Lavia  loan,fee"}).must == ("Lavia", "loan", "fee")


def test_page_state_maps_onto_a_search_request() -> None:
    request = ps.to_request(FULL)
    assert request == SearchRequest(
        query="young Brazilian striker",
        k=3,
        date_from=dt.date(2022, 1, 1),
        date_to=dt.date(2023, 12, 31),
        sort="date",
        mode="keyword",
        must_contain=("Lavia", "loan"),
        recency_half_life_days=30.0,
        diversity=0.35,
    )
    request.validate()


def test_a_page_is_active_with_a_query_or_a_similar_source() -> None:
    assert not PageState().active
    assert not PageState(query="   ").active
    assert PageState(query="fee").active
    assert PageState(like="abc").active


def test_narrowing_filters_are_described_and_removed() -> None:
    assert FULL.narrowing_filters() == [
        "published from 2022-01-01",
        "published until 2023-12-31",
        "must contain Lavia, loan",
        "keyword (BM25) mode",
    ]
    cleared = FULL.without_filters()
    assert cleared.narrowing_filters() == []
    assert (cleared.query, cleared.k, cleared.sort, cleared.mode) == (FULL.query, 3, "date", "hybrid")


def test_keyword_mode_is_not_a_filter_when_it_is_the_default() -> None:
    assert PageState(mode="keyword").narrowing_filters(default_mode="keyword") == []


@pytest.mark.parametrize(
    ("text", "words"),
    [("Lavia", ("Lavia",)), ("Lavia, loan", ("Lavia", "loan")), (" a  b ,, a ", ("a", "b")), ("", ())],
)
def test_must_contain_text_is_parsed_into_words(text: str, words: tuple[str, ...]) -> None:
    assert ps.parse_words(text) == words
    assert ps.parse_words(ps.format_words(words)) == words


# --- rendering ---------------------------------------------------------------------------------
@pytest.mark.parametrize(
    "url",
    ["https://example.org/fictional/x", "http://example.com", "HTTPS://EXAMPLE.COM/a?b=c&d=e"],
)
def test_http_links_are_kept(url: str) -> None:
    assert ps.safe_url(url) == url


@pytest.mark.parametrize(
    "url",
    [
        "javascript:alert(1)",
        "JavaScript:alert(1)",
        "data:text/html,<script>alert(1)</script>",
        "/posts/relative",
        "//evil.example/x",
        "https://",
        "ftp://example.com/file",
        "https://example.com/a b",
        "https://example.com/\nx",
        "",
    ],
)
def test_other_links_are_refused(url: str) -> None:
    assert ps.safe_url(url) is None


def test_card_shows_title_link_date_score_and_highlighted_snippet() -> None:
    card = ps.card_html(_result(), 1)
    assert (
        '<a href="https://example.org/fictional/chelsea-agree-fee" target="_blank" rel="noopener noreferrer">' in card
    )
    assert "Chelsea agree fee with Southampton</a>" in card
    assert "15 Aug 2023" in card
    assert "score 0.0325" in card
    assert "<mark>Chelsea</mark> have agreed a fee." in card
    assert "\n" not in card  # one HTML block: markdown must not touch its inside


def test_card_escapes_the_title() -> None:
    card = ps.card_html(_result(title="<script>alert('t')</script> & <b>Deal</b>"), 1)
    assert "<script" not in card
    assert "&lt;script&gt;alert(&#x27;t&#x27;)&lt;/script&gt; &amp; &lt;b&gt;Deal&lt;/b&gt;" in card


def test_card_escapes_quotes_in_the_link() -> None:
    card = ps.card_html(_result(link='https://example.com/"onmouseover="alert(1)'), 1)
    assert 'href="https://example.com/&quot;onmouseover=&quot;alert(1)"' in card
    assert '"onmouseover="' not in card


def test_card_with_an_unsafe_link_shows_the_title_without_a_link() -> None:
    card = ps.card_html(_result(link="javascript:alert(1)"), 2)
    assert "<a " not in card
    assert "javascript" not in card
    assert "Chelsea agree fee with Southampton" in card


def test_card_of_an_article_with_a_script_tag_has_no_live_markup() -> None:
    snippet = snippet_html(SCRIPT_TEXT, "Leeds director")
    card = ps.card_html(_result(snippet_html=snippet, date=None), 3)
    assert "<script" not in card and "<b>" not in card
    assert "&lt;script&gt;alert(&#x27;x&#x27;)&lt;/script&gt;" in card
    assert "&lt;b&gt;bold&lt;/b&gt;" in card
    assert "undated" in card


def test_similar_heading_escapes_the_source_title() -> None:
    heading = ps.heading_html("Articles similar to", "<img src=x onerror=alert(1)>")
    assert "<img" not in heading and "&lt;img src=x onerror=alert(1)&gt;" in heading
    expected = '<div class="ns-like-heading">Articles similar to “Deal”</div>'
    assert ps.heading_html("Articles similar to", "Deal") == expected
    assert "Articles similar to the selected article<" in ps.heading_html("Articles similar to", None)


@pytest.mark.parametrize(
    ("text", "escaped"),
    [("plain words", "plain words"), ("[x](javascript:y)", r"\[x\]\(javascript\:y\)"), ("*a* $b$", r"\*a\* \$b\$")],
)
def test_markdown_punctuation_in_user_text_is_escaped(text: str, escaped: str) -> None:
    assert ps.md_escape(text) == escaped


def test_dates_are_formatted_for_people() -> None:
    assert ps.format_date(dt.date(2022, 5, 4)) == "4 May 2022"
    assert ps.format_date(None) == "undated"


def test_timings_show_the_total_and_the_split() -> None:
    main, split = ps.timing_lines(Timings(encode_ms=20.4, cql_ms=280.2, rest_ms=11.6, total_ms=1312.2), 5)
    assert main == "5 articles in 1,312 ms"
    assert split == "encode 20 ms · CQL 280 ms · ranking 12 ms"
    assert ps.timing_lines(Timings(), 1)[0] == "1 article in 0 ms"


def test_state_module_does_not_import_streamlit() -> None:
    source = Path(ps.__file__).read_text(encoding="utf-8")
    assert "import streamlit" not in source and "from streamlit" not in source
