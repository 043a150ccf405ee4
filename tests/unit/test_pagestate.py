"""URL state of the map, explanation and comparison pages (pure)."""

from __future__ import annotations

import datetime as dt

from search_app import state as ps
from search_app.pagestate import (
    CompareState,
    ExplainState,
    MapState,
    compare_params,
    explain_params,
    map_params,
    parse_compare,
    parse_explain,
    parse_map,
)


def test_map_state_round_trips_through_the_url() -> None:
    state = MapState("term", "Lavia", dt.date(2022, 1, 1), None, ("a1", "b2"), (-0.5, 0.25, 0.0, 1.0), "b2")
    params = map_params(state)
    assert params == {"color": "term", "term": "Lavia", "from": "2022-01-01", "sel": "a1,b2",
                      "box": "-0.5000,0.2500,0.0000,1.0000", "sim": "b2"}  # fmt: skip
    assert parse_map(params) == (state, [])


def test_default_map_state_has_an_empty_url() -> None:
    assert map_params(MapState()) == {}
    assert parse_map({}) == (MapState(), [])


def test_malformed_map_params_are_dropped_with_a_note() -> None:
    state, notes = parse_map({"color": "rainbow", "box": "1,2,3", "sim": "<script>", "from": "yesterday"})
    assert state == MapState()
    assert len(notes) == 4 and any("box=" in n for n in notes) and any("color=" in n for n in notes)


def test_map_selection_keeps_valid_ids_and_at_most_fifty() -> None:
    ids = ",".join(f"id{i}" for i in range(60)) + ",bad id"
    state, notes = parse_map({"sel": ids})
    assert len(state.selected) == 50 and state.selected[0] == "id0"
    assert notes == ["kept the first 50 of 60 selected articles"]


def test_a_reversed_box_is_normalised() -> None:
    state, _ = parse_map({"box": "1,-1,0.5,-0.5"})
    assert state.box == (-1.0, 1.0, -0.5, 0.5)


def test_explain_state_carries_the_search_and_the_article() -> None:
    search = ps.PageState(query="young striker", mode="semantic", must=("Lavia",), date_from=dt.date(2023, 1, 1))
    state = ExplainState(search, "abc123", 2)
    params = explain_params(state)
    assert params == {"q": "young striker", "mode": "semantic", "must": "Lavia", "from": "2023-01-01",
                      "id": "abc123", "chunk": "2"}  # fmt: skip
    assert parse_explain(params) == (state, [])


def test_explain_ignores_like_and_reports_a_bad_id() -> None:
    state, notes = parse_explain({"q": "x", "like": "abc", "id": "no/such", "chunk": "-1"})
    assert state == ExplainState(ps.PageState(query="x"), None, None)
    assert len(notes) == 2


def test_compare_state_round_trips_and_clamps_k() -> None:
    state = CompareState("loan", 5, None, dt.date(2023, 8, 1), ("Chelsea",), "hybrid", "news_minilm", "semantic")
    assert parse_compare(compare_params(state)) == (state, [])
    big, _ = parse_compare({"q": "x", "k": "500"})
    assert big.k == 30
    bad, notes = parse_compare({"base": "magic", "b": "drop table", "k": "many"})
    assert bad == CompareState() and len(notes) == 3
