"""`news-search search "QUERY"` and `news-search app`: the read side from the terminal."""

from __future__ import annotations

import datetime as dt
import json
import os
import subprocess
import sys
from pathlib import Path

import click

from newsindex.errors import NewsSearchError
from newsindex.settings import Settings


def _date(_ctx: click.Context, _param: click.Parameter, value: str | None) -> dt.date | None:
    if value is None:
        return None
    try:
        return dt.date.fromisoformat(value)
    except ValueError:
        raise click.BadParameter(f"{value!r} is not a date like 2023-08-15") from None


@click.command()
@click.argument("query")
@click.option("-k", "--k", "k", default=10, show_default=True, type=click.IntRange(1, 100), help="Articles to return.")
@click.option("--from", "date_from", callback=_date, help="Published on or after YYYY-MM-DD.")
@click.option("--to", "date_to", callback=_date, help="Published on or before YYYY-MM-DD.")
@click.option("--sort", type=click.Choice(["relevance", "date"]), default="relevance", show_default=True)
@click.option(
    "--mode",
    type=click.Choice(["hybrid", "semantic", "keyword"]),
    default=None,
    help="Ranking mode (default NEWS_SEARCH_MODE, hybrid).",
)
@click.option("--must", "must", multiple=True, help="A word every result must contain (repeatable).")
@click.option("--recency", "half_life", type=float, default=0.0, help="Recency boost half-life in days (0 = off).")
@click.option("--diversity", type=click.FloatRange(0, 1), default=0.0, help="MMR diversity, 0 (off) to 1.")
@click.option("--like", "like", help="Instead of QUERY text, find articles similar to this article id.")
@click.option("--json", "as_json", is_flag=True, help="Print a JSON array of results on stdout.")
def search(
    query: str,
    k: int,
    date_from: dt.date | None,
    date_to: dt.date | None,
    sort: str,
    mode: str | None,
    must: tuple[str, ...],
    half_life: float,
    diversity: float,
    like: str | None,
    as_json: bool,
) -> None:
    """Search the index for QUERY and print the best articles with their matching passage.

    \b
    Examples:
      news-search search "which clubs are chasing a young Brazilian striker?"
      news-search search "goalkeeper loan" --from 2023-01-01 --sort date --json
      news-search search "fee agreed" --must Lavia
    """
    from newsindex.factory import build_service
    from newsindex.search import SearchRequest

    settings = Settings.from_env()
    request = SearchRequest(
        query=query,
        k=k,
        date_from=date_from,
        date_to=date_to,
        sort=sort,  # type: ignore[arg-type]
        mode=(mode or settings.search_mode),  # type: ignore[arg-type]
        must_contain=must,  # type: ignore[arg-type]
        recency_half_life_days=half_life,
        diversity=diversity,
    )
    try:
        service = build_service(settings)
        response = service.more_like_this(like, request) if like else service.search(request)
    except NewsSearchError as exc:
        click.echo(f"Error: {exc}", err=True)
        sys.exit(2)
    if as_json:
        click.echo(json.dumps([r.as_json() for r in response.results], ensure_ascii=False))
    else:
        for i, r in enumerate(response.results, 1):
            click.echo(f"{i:2}. {r.title}  ({r.date or 'undated'}, score {r.score:.4f})")
            click.echo(f"    {r.link}")
            click.echo(f"    {r.snippet}\n")
        if not response.results:
            click.echo("No articles matched. Try fewer filters or other words.")
    t = response.timings
    click.echo(
        f"[{len(response.results)} results in {t.total_ms:.0f} ms: encode {t.encode_ms:.0f}, "
        f"CQL {t.cql_ms:.0f}, rest {t.rest_ms:.0f}]",
        err=True,
    )


@click.command()
@click.option("--port", default=8501, show_default=True, help="Port of the search page.")
@click.option("--host", default="127.0.0.1", show_default=True, help="Address to bind.")
def app(port: int, host: str) -> None:
    """Serve the Streamlit search page (http://HOST:PORT)."""
    page = Path(__file__).with_name("app.py")
    command = [
        sys.executable,
        "-m",
        "streamlit",
        "run",
        str(page),
        "--server.port",
        str(port),
        "--server.address",
        host,
        "--server.headless",
        "true",
        "--browser.gatherUsageStats",
        "false",
        "--client.toolbarMode",
        "minimal",
    ]
    click.echo(f"search page on http://{host}:{port}  (Ctrl-C to stop)", err=True)
    sys.exit(subprocess.call(command, env={**os.environ, "PYTHONUNBUFFERED": "1"}))
