"""Screenshots of the app's pages for the README, from a real index, in Debian's chromium.

    NEWS_KEYSPACE=news .venv/bin/python tools/page_screenshots.py [--out docs/screenshots]

Serves `search_app/app.py` with the caller's NEWS_* settings (the keyspace should hold the real
sample, data/news_sample.csv), opens each page with a worked example in the URL, waits until its
charts are drawn and writes one PNG per page. Never `playwright install`: /usr/bin/chromium only.
"""

from __future__ import annotations

import argparse
import os
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path
from urllib.parse import urlencode

REPO = Path(__file__).resolve().parents[1]
CHROMIUM = "/usr/bin/chromium"
ARGS = ["--no-sandbox", "--disable-gpu", "--no-first-run", "--disable-background-networking"]
QUERY = "young Brazilian striker wanted by European giants"
CHART = '[data-testid="stVegaLiteChart"]'


def _port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _serve(port: int, log: Path) -> subprocess.Popen[bytes]:
    command = [
        sys.executable, "-m", "streamlit", "run", str(REPO / "search_app" / "app.py"), "--server.port", str(port),
        "--server.address", "127.0.0.1", "--server.headless", "true", "--browser.gatherUsageStats", "false",
    ]  # fmt: skip
    with log.open("wb") as out:
        process = subprocess.Popen(command, cwd=REPO, stdout=out, stderr=subprocess.STDOUT, env=dict(os.environ))
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline:
        try:
            with urllib.request.urlopen(f"http://127.0.0.1:{port}/_stcore/health", timeout=2):
                return process
        except OSError:
            time.sleep(0.5)
    process.kill()
    raise SystemExit(f"streamlit did not start; see {log}")


def _idle(page: object) -> None:
    page.wait_for_function(  # type: ignore[attr-defined]
        """() => { const app = document.querySelector('[data-testid="stApp"]');
            return app && app.getAttribute('data-test-script-state') === 'notRunning'
                && !document.querySelector('[data-stale="true"]'); }"""
    )
    page.wait_for_timeout(800)  # type: ignore[attr-defined]


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--out", default=str(REPO / "docs" / "screenshots"))
    args = parser.parse_args()
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    from playwright.sync_api import sync_playwright

    port = _port()
    process = _serve(port, out / ".streamlit.log")
    base = f"http://127.0.0.1:{port}"
    try:
        with sync_playwright() as p:
            browser = p.chromium.launch(executable_path=CHROMIUM, headless=True, args=ARGS)
            page = browser.new_page(viewport={"width": 1400, "height": 1000})
            page.set_default_timeout(300_000)
            page.goto(f"{base}/?{urlencode({'q': QUERY, 'k': 5})}")
            page.locator(".ns-card").first.wait_for()
            _idle(page)
            page.screenshot(path=str(out / "search.png"), full_page=True)
            page.locator("a", has_text="Why this result?").first.click()
            page.locator(f"{CHART} g.mark-rect.role-mark path").first.wait_for()
            _idle(page)
            page.screenshot(path=str(out / "explain.png"), full_page=True)
            page.goto(f"{base}/map?{urlencode({'color': 'term', 'term': 'Chelsea'})}")
            page.locator(f"{CHART} g.mark-symbol.role-mark path").first.wait_for()
            _idle(page)
            points = page.locator(f"{CHART} g.mark-symbol.role-mark").first.locator("path")
            points.nth(points.count() - 1).click()
            page.get_by_text("1 selected article").wait_for()
            _idle(page)
            page.screenshot(path=str(out / "map.png"), full_page=True)
            page.goto(f"{base}/compare?{urlencode({'q': QUERY, 'k': 8})}")
            page.locator(".ns-col").first.wait_for()
            _idle(page)
            page.screenshot(path=str(out / "compare.png"), full_page=True)
            browser.close()
    finally:
        process.terminate()
        process.wait(timeout=30)
    print(f"screenshots in {out}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
