"""The search page in a real browser: `streamlit run` in a subprocess, Debian's chromium through Playwright.

Never `playwright install`: `make test` runs tools/ensure_chromium.sh, which installs /usr/bin/chromium.
Screenshots go to test-output/screenshots/ (repo-root relative).
"""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from pathlib import Path
from typing import Any
from urllib.parse import urlencode

import pytest

from newsindex.settings import Settings
from tests.conftest import TEST_MODEL
from tests.integration import sample_corpus
from tests.integration.sample_corpus import first_case as demo_case

pytestmark = [pytest.mark.integration, pytest.mark.browser]

REPO = Path(__file__).resolve().parents[2]
CHROMIUM = Path("/usr/bin/chromium")
SCREENSHOTS = REPO / "test-output" / "screenshots"
SCRIPT_QUERY = sample_corpus.SCRIPT_QUERY
SCRIPT_TITLE = "Harbour City complete signing of Norwegian defender Sindre Aasland"
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--no-first-run",
    "--disable-sync",
    "--disable-quic",
]
CARD = ".ns-card"
WAIT_MS = 60_000


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _wait_until_serving(base: str, process: subprocess.Popen[bytes], log_path: Path, timeout_s: float = 90) -> None:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if process.poll() is not None:
            pytest.fail(f"streamlit exited with {process.returncode}:\n{log_path.read_text()[-3000:]}")
        try:
            with urllib.request.urlopen(f"{base}/_stcore/health", timeout=2) as response:
                if response.status == 200:
                    return
        except (urllib.error.URLError, OSError):
            pass
        time.sleep(0.5)
    pytest.fail(f"streamlit did not serve {base} within {timeout_s:.0f} s:\n{log_path.read_text()[-3000:]}")


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory, sample_index: Settings) -> Iterator[str]:
    """Base URL of `streamlit run search_app/app.py` over the test corpus, on a free port; stopped after the module."""
    if not CHROMIUM.exists():
        pytest.skip(f"{CHROMIUM} is missing: run `make browser-deps` (apt-get install chromium)")
    pytest.importorskip("playwright.sync_api", reason="the playwright Python package is not installed")
    tmp = tmp_path_factory.mktemp("browser")
    env = {
        **os.environ,
        "NEWS_MODEL": TEST_MODEL,
        "HF_HUB_OFFLINE": "1",
        "TOKENIZERS_PARALLELISM": "false",
        "NEWS_STATE_DIR": str(tmp / "state"),
        "NEWS_KEYSPACE": sample_index.keyspace,
        "PYTHONUNBUFFERED": "1",
    }
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
    context = browser.new_context(viewport={"width": 1280, "height": 1000})
    new_page = context.new_page()
    new_page.set_default_timeout(WAIT_MS)
    try:
        yield new_page
    finally:
        context.close()


def screenshot(page: Any, name: str) -> Path:
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    path = SCREENSHOTS / f"{name}.png"
    page.screenshot(path=str(path), full_page=True)
    print(f"screenshot: {path}")
    return path


def wait_idle(page: Any) -> None:
    """Wait until the script run is over and no stale element from the previous run is left."""
    page.wait_for_function(
        """() => {
            const app = document.querySelector('[data-testid="stApp"]');
            return app && app.getAttribute('data-test-script-state') === 'notRunning'
                && !document.querySelector('[data-stale="true"]');
        }"""
    )


def search_box(page: Any) -> Any:
    return page.get_by_placeholder("e.g. which clubs are chasing a young Brazilian striker?")


def test_typed_query_shows_result_cards(server: str, page: Any) -> None:
    query, title = demo_case()
    page.goto(server)
    page.get_by_text("Try a search").wait_for()
    box = search_box(page)
    box.fill(query)
    box.press("Enter")
    page.locator(CARD).first.wait_for()
    wait_idle(page)
    assert page.get_by_text("articles in").is_visible()
    assert page.locator(CARD).count() >= 1
    assert page.locator(CARD).filter(has_text=title).count() == 1
    assert page.locator(f"{CARD} mark").count() > 0  # query words highlighted
    page.wait_for_function("() => window.location.search.includes('q=')")
    assert "q=" in page.url
    screenshot(page, "typed-query")


def test_shared_url_runs_the_search(server: str, browser: Any) -> None:
    query, title = demo_case()
    context = browser.new_context(viewport={"width": 1280, "height": 1000})
    try:
        shared = context.new_page()
        shared.set_default_timeout(WAIT_MS)
        shared.goto(f"{server}/?{urlencode({'q': query, 'k': 3})}")
        shared.locator(CARD).first.wait_for()
        wait_idle(shared)
        assert shared.get_by_text("3 articles in").is_visible()
        assert shared.locator(CARD).count() == 3
        assert shared.locator(CARD).filter(has_text=title).count() == 1
        from playwright.sync_api import expect

        expect(search_box(shared)).to_have_value(query)  # waits out the frontend's last rerender
        screenshot(shared, "shared-url")
    finally:
        context.close()


def test_similar_articles_opens_more_like_this(server: str, page: Any) -> None:
    query, _ = demo_case()
    page.goto(f"{server}/?{urlencode({'q': query, 'k': 3})}")
    page.locator(CARD).first.wait_for()
    wait_idle(page)
    source_title = page.locator(f"{CARD} .ns-title a").first.inner_text()
    page.get_by_role("button", name="Similar articles").first.click()
    heading = page.locator(".ns-like-heading")
    heading.wait_for()
    wait_idle(page)
    assert heading.inner_text() == f"Articles similar to “{source_title}”"
    assert page.locator(CARD).count() == 3
    assert page.locator(CARD).filter(has_text=source_title).count() == 0  # the source is excluded
    page.wait_for_function("() => window.location.search.includes('like=')")
    screenshot(page, "similar-articles")
    page.get_by_role("button", name="Back to results").click()
    heading.wait_for(state="detached")
    wait_idle(page)
    assert page.locator(CARD).filter(has_text=source_title).count() == 1
    page.wait_for_function("() => !window.location.search.includes('like=')")


def test_script_in_an_article_renders_as_text(server: str, page: Any) -> None:
    dialogs: list[str] = []

    def on_dialog(dialog: Any) -> None:
        dialogs.append(dialog.message)
        dialog.dismiss()

    page.on("dialog", on_dialog)
    page.goto(server)
    box = search_box(page)
    box.fill(SCRIPT_QUERY)
    box.press("Enter")
    card = page.locator(CARD).filter(has_text=SCRIPT_TITLE)
    card.wait_for()
    wait_idle(page)
    page.wait_for_timeout(500)  # give an injected script every chance to run
    assert dialogs == []
    assert "<script>alert('x')</script>" in card.inner_text()
    assert page.get_by_text("<script>alert('x')</script>", exact=False).first.is_visible()
    assert page.locator(f"{CARD} script").count() == 0
    card.scroll_into_view_if_needed()
    screenshot(page, "script-as-text")
