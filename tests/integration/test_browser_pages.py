"""The map, explanation and comparison pages in a real browser (`streamlit run` + Debian's chromium).

Charts are drawn as SVG (the pages ask for it up to 2,000 points), so the tests count Vega's marks,
hover them for the tooltip, click and drag on them, and read the URL the page writes.
"""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlencode, urlsplit

import pytest

from newsindex.corpusmap import articles_with_term
from newsindex.settings import Settings
from tests.conftest import TEST_MODEL
from tests.integration import sample_corpus
from tests.integration.sample_corpus import first_case as demo_case
from tests.integration.test_browser import CHROMIUM, CHROMIUM_ARGS, WAIT_MS, _free_port, _wait_until_serving, screenshot
from tests.integration.test_browser import wait_idle as _wait_idle

pytestmark = [pytest.mark.integration, pytest.mark.browser]

REPO = Path(__file__).resolve().parents[2]
FIXTURE = REPO / "tests" / "data" / "evaluation_fixture.json"
SCRIPT_TITLE = "Harbour City complete signing of Norwegian defender Sindre Aasland"
CHART = '[data-testid="stVegaLiteChart"]'
POINTS = f"{CHART} g.mark-symbol.role-mark path"
TOOLTIP = "#vg-tooltip-element"


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory, sample_index: Settings) -> Iterator[str]:
    if not CHROMIUM.exists():
        pytest.skip(f"{CHROMIUM} is missing: run `make browser-deps` (apt-get install chromium)")
    pytest.importorskip("playwright.sync_api", reason="the playwright Python package is not installed")
    tmp = tmp_path_factory.mktemp("browser-pages")
    env = {
        **os.environ,
        "NEWS_MODEL": TEST_MODEL,
        "HF_HUB_OFFLINE": "1",
        "TOKENIZERS_PARALLELISM": "false",
        "NEWS_STATE_DIR": str(tmp / "state"),
        "NEWS_KEYSPACE": sample_index.keyspace,
        "NEWS_EVALUATION_FILE": str(FIXTURE),
        "PYTHONUNBUFFERED": "1",
    }
    env.pop("NEWS_COMPARE_KEYSPACES", None)
    port = _free_port()
    log_path = tmp / "streamlit.log"
    command = [
        sys.executable, "-m", "streamlit", "run", str(REPO / "search_app" / "app.py"),
        "--server.port", str(port), "--server.address", "127.0.0.1", "--server.headless", "true",
        "--browser.gatherUsageStats", "false", "--server.fileWatcherType", "none",
    ]  # fmt: skip
    with log_path.open("wb") as log:
        process = subprocess.Popen(command, cwd=REPO, env=env, stdout=log, stderr=subprocess.STDOUT)
    base = f"http://127.0.0.1:{port}"
    try:
        _wait_until_serving(base, process, log_path)
        yield base
    finally:
        process.terminate()
        try:
            process.wait(timeout=15)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait(timeout=15)


@pytest.fixture(scope="module")
def browser(server: str) -> Iterator[Any]:
    from playwright.sync_api import sync_playwright

    with sync_playwright() as p:
        chromium = p.chromium.launch(executable_path=str(CHROMIUM), headless=True, args=CHROMIUM_ARGS)
        try:
            yield chromium
        finally:
            chromium.close()


@pytest.fixture
def page(browser: Any) -> Iterator[Any]:
    context = browser.new_context(viewport={"width": 1400, "height": 1000})
    new_page = context.new_page()
    new_page.set_default_timeout(WAIT_MS * 2)
    dialogs: list[str] = []
    new_page.on("dialog", lambda d: (dialogs.append(d.message), d.dismiss()))
    new_page.dialogs = dialogs  # any alert() from an article's <script> would land here
    try:
        yield new_page
    finally:
        context.close()


@pytest.fixture(scope="module")
def article_count(sample_index: Settings, node_session: Any) -> int:
    return int(node_session.execute(f"SELECT COUNT(*) FROM {sample_index.keyspace}.articles").one()[0])


@pytest.fixture(scope="module")
def script_id(sample_index: Settings, node_session: Any) -> str:
    (found,) = articles_with_term(node_session, sample_index, "Aasland")
    return found


def wait_idle(page: Any) -> None:
    _wait_idle(page)
    page.wait_for_timeout(300)  # Vega draws after the script run ends


def url_params(page: Any) -> dict[str, list[str]]:
    return parse_qs(urlsplit(page.url).query)


def test_map_draws_every_article_hover_shows_it_and_a_click_opens_it(
    server: str, page: Any, article_count: int
) -> None:
    page.goto(f"{server}/map")
    page.locator(POINTS).first.wait_for()
    wait_idle(page)
    points = page.locator(POINTS)
    assert points.count() == article_count  # the selection-ring layer is empty
    top = points.nth(article_count - 1)  # drawn last: nothing covers it
    top.hover()
    tooltip = page.locator(TOOLTIP)
    tooltip.wait_for(state="visible")
    text = tooltip.inner_text()  # vega-tooltip shows the `title` field as the heading, then the date
    hovered_title = text.split("\n")[0].strip()
    assert hovered_title and "date" in text
    screenshot(page, "map")
    top.click()
    page.get_by_text("1 selected article").wait_for()
    wait_idle(page)
    page.wait_for_function("() => window.location.search.includes('sel=')")
    listed = page.locator(".ns-selected li")
    assert listed.count() == 1 and listed.first.inner_text().startswith(hovered_title)  # the clicked article
    assert page.get_by_text("Articles similar to").is_visible()
    assert page.locator(".ns-card").count() == 5


def test_map_drag_selects_a_box_and_the_url_restores_it(server: str, page: Any, browser: Any) -> None:
    page.goto(f"{server}/map")
    page.locator(POINTS).first.wait_for()
    wait_idle(page)
    box = page.locator(f"{CHART} svg").first.bounding_box()
    x0, y0 = box["x"] + box["width"] * 0.3, box["y"] + box["height"] * 0.3
    page.mouse.move(x0, y0)
    page.mouse.down()
    page.mouse.move(x0 + box["width"] * 0.4, y0 + box["height"] * 0.4, steps=8)
    page.mouse.up()
    heading = page.get_by_text("selected article")
    heading.first.wait_for()
    wait_idle(page)
    page.wait_for_function("() => window.location.search.includes('box=')")
    shared = url_params(page)
    selected = page.locator(".ns-card").count()
    assert selected == 5 and "box" in shared
    context = browser.new_context(viewport={"width": 1400, "height": 1000})
    try:
        other = context.new_page()
        other.set_default_timeout(WAIT_MS * 2)
        other.goto(f"{server}/map?{urlencode({k: v[0] for k, v in shared.items()})}")
        other.get_by_text("selected article").first.wait_for()
        wait_idle(other)
        rings = other.locator(f"{CHART} g.mark-symbol.layer_1_marks path")  # the selection-ring layer
        rings.first.wait_for()
        assert rings.count() >= 1  # the shared box's articles are ringed on the map
    finally:
        context.close()


def test_why_this_result_from_a_card_shows_the_heatmap_and_keeps_scripts_as_text(server: str, page: Any) -> None:
    page.goto(f"{server}/?{urlencode({'q': sample_corpus.SCRIPT_QUERY, 'k': 3})}")
    page.locator(".ns-card").first.wait_for()
    wait_idle(page)
    titles = page.locator(".ns-card .ns-title").all_inner_texts()
    index = next(i for i, t in enumerate(titles) if SCRIPT_TITLE in t)
    page.get_by_role("link", name="Why this result?").nth(index).click()  # cards and their links are in order
    page.wait_for_url("**/explain?**")
    cells = page.locator(f"{CHART} g.mark-rect.role-mark path")
    cells.first.wait_for()
    wait_idle(page)
    params = url_params(page)
    assert params["q"] == [sample_corpus.SCRIPT_QUERY] and params["id"]
    passage = page.locator(".ns-passage")
    assert "<script>alert('x')</script>" in passage.inner_text()
    assert page.locator(".ns-passage script").count() == 0
    assert passage.locator("mark").count() >= 1
    n_query = len(page.locator(f"{CHART} .role-axis").nth(1).locator(".role-axis-label text").all())
    n_passage = len(page.locator(f"{CHART} .role-axis").nth(0).locator(".role-axis-label text").all())
    assert n_query >= 5 and n_passage >= 5 and cells.count() == n_query * n_passage
    cells.first.hover()
    tooltip = page.locator(TOOLTIP)
    tooltip.wait_for(state="visible")
    assert "cosine" in tooltip.inner_text() and "query_token" in tooltip.inner_text()
    page.wait_for_timeout(300)
    assert page.dialogs == []
    screenshot(page, "explain")


def test_a_shared_explanation_link_opens_the_same_explanation(server: str, page: Any, script_id: str) -> None:
    page.goto(f"{server}/explain?{urlencode({'q': sample_corpus.SCRIPT_QUERY, 'id': script_id})}")
    page.locator(f"{CHART} g.mark-rect.role-mark path").first.wait_for()
    wait_idle(page)
    assert SCRIPT_TITLE in page.locator(".ns-like-heading").inner_text()
    assert page.get_by_text("Final rank").is_visible()


def test_compare_shows_modes_side_by_side_with_rank_changes_and_the_evaluation_chart(server: str, page: Any) -> None:
    query, _ = demo_case()
    page.goto(f"{server}/compare?{urlencode({'q': query, 'k': 5})}")
    page.locator(".ns-col").first.wait_for()
    page.locator(f"{CHART} g.mark-rect.role-mark path").first.wait_for()
    wait_idle(page)
    assert page.locator(".ns-col").count() == 3
    assert page.locator(".ns-col").nth(0).locator(".ns-item").count() == 5
    assert page.locator(".ns-change").count() >= 1
    bars = page.locator(f"{CHART} g.mark-rect.role-mark path")
    assert bars.count() == 6  # 3 runs x (MRR@10, nDCG@10) in the fixture
    assert page.get_by_text("FICTIONAL test fixture", exact=False).is_visible()
    page.get_by_text("Hybrid", exact=True).first.click()  # baseline radio
    page.wait_for_function("() => window.location.search.includes('base=hybrid')")
    screenshot(page, "compare")
