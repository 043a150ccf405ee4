"""The corpus map's chart data and spec (pure: pandas + Altair)."""

from __future__ import annotations

import datetime as dt

import pandas as pd

from search_app import mapchart
from search_app.pagestate import MapState


def frame() -> pd.DataFrame:
    return pd.DataFrame(
        {
            "article_id": ["a", "b", "c", "d"],
            "title": ["<script>alert(1)</script>", "B", "C", "D"],
            "date": [dt.date(2021, 1, 5), dt.date(2022, 6, 1), None, dt.date(2023, 3, 2)],
            "month": ["2021-01", "2022-06", "undated", "2023-03"],
            "link": ["javascript:alert(1)", "https://example.org/b", "", "https://example.org/d"],
            "x": [-0.9, -0.1, 0.2, 0.8],
            "y": [0.5, 0.1, -0.2, -0.9],
        }
    )


def test_the_date_range_filters_points_and_drops_undated_ones() -> None:
    data = mapchart.view_frame(frame(), MapState(date_from=dt.date(2022, 1, 1)), None)
    assert list(data["article_id"]) == ["b", "d"]
    assert list(mapchart.view_frame(frame(), MapState(), None)["article_id"]) == ["a", "b", "c", "d"]


def test_a_word_splits_points_into_two_groups_mentions_drawn_last() -> None:
    data = mapchart.view_frame(frame(), MapState(), {"a", "c"})
    assert list(data["group"]) == [mapchart.OTHER, mapchart.OTHER, mapchart.MENTIONS, mapchart.MENTIONS]


def test_selection_is_the_clicked_ids_plus_the_box() -> None:
    state = MapState(selected=("d", "zz"), box=(-0.5, 0.5, -0.5, 0.5))
    data = mapchart.view_frame(frame(), state, None)
    assert mapchart.selected_ids(data, state) == ["d", "b", "c"]  # "zz" is not on the map
    assert list(data.loc[data["selected"], "article_id"]) == ["b", "c", "d"]


def test_chart_has_a_tooltip_two_selections_and_svg_for_small_maps() -> None:
    spec = mapchart.chart(mapchart.view_frame(frame(), MapState(), None), None).to_dict()
    points, rings = spec["layer"]
    assert [p["name"] for p in spec["params"]] == ["pick", "box"]  # Altair lifts layer params to the top
    assert [t["field"] for t in points["encoding"]["tooltip"]] == ["title", "date"]
    assert rings["transform"] == [{"filter": "datum.selected"}]
    assert spec["usermeta"] == {"embedOptions": {"renderer": "svg"}}


def test_a_word_colours_by_group_with_the_word_in_the_legend() -> None:
    spec = mapchart.chart(mapchart.view_frame(frame(), MapState(), {"a"}), "Lavia").to_dict()
    color = spec["layer"][0]["encoding"]["color"]
    assert color["field"] == "group" and color["legend"]["title"] == "“Lavia”"


def test_a_selection_event_becomes_the_page_state() -> None:
    event = {"selection": {"pick": [{"article_id": "b"}], "box": {"x": [0.5, -0.5], "y": [-1, 1]}}}
    state = mapchart.apply_event(event, MapState(similar="a"))
    assert state.selected == ("b",) and state.box == (-0.5, 0.5, -1, 1) and state.similar is None
    assert mapchart.has_selection(type("E", (), {"selection": event["selection"]})())
    assert not mapchart.has_selection(type("E", (), {"selection": {"pick": [], "box": {}}})())


def test_the_selected_list_escapes_titles_and_drops_unsafe_links() -> None:
    f = frame()
    out = mapchart.selection_html(f["article_id"], f["title"], f["date"], f["link"])
    assert "<script" not in out and "&lt;script&gt;" in out
    assert "javascript:" not in out and 'href="https://example.org/b"' in out
    assert out.count("<li ") == 4 and "undated" in out
