"""`news-search search "QUERY"` (or `--batch`, queries on stdin) and `news-search app`: the read side from the terminal.

stdout carries results only (text, a JSON array with `--json`, JSON lines with `--batch`); notes,
timings and errors go to stderr. Exit codes: 0 done (no match is not an error); 1 `--batch` where
some queries failed (each says why in its line); 2 usage, configuration, database unreachable or no
index; 70 internal error (a bug); 130 interrupted. Errors are one line on stderr, never a traceback.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import io
import json
import logging
import os
import subprocess
import sys
from pathlib import Path
from typing import IO, Any, NoReturn

import click

from newsindex.errors import NewsSearchError
from newsindex.settings import Settings

log = logging.getLogger(__name__)
EXIT_OK, EXIT_PARTIAL, EXIT_USAGE, EXIT_INTERNAL, EXIT_INTERRUPTED = 0, 1, 2, 70, 130
# e5-small-v2 reads at most 512 tokens (about 2,000 characters of English); a longer "query" is
# almost always the wrong file piped in, and would send thousands of terms to the lexical side.
MAX_QUERY_CHARS = 2000


def _date(_ctx: click.Context, _param: click.Parameter, value: str | None) -> dt.date | None:
    if value is None:
        return None
    try:
        return dt.date.fromisoformat(value)
    except ValueError:
        raise click.BadParameter(f"{value!r} is not a date like 2023-08-15") from None


@click.command()
@click.argument("query", required=False)
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
@click.option(
    "--recency",
    "half_life",
    type=click.FloatRange(min=0),
    default=0.0,
    help="Recency boost half-life in days (0 = off).",
)
@click.option("--diversity", type=click.FloatRange(0, 1), default=0.0, help="MMR diversity, 0 (off) to 1.")
@click.option("--like", "like", help="Instead of QUERY text, find articles similar to this article id.")
@click.option("--json", "as_json", is_flag=True, help="Print a JSON array of results on stdout.")
@click.option(
    "--batch",
    is_flag=True,
    help="Read queries from stdin, one per line; print one JSON object per input line. The model loads once.",
)
def search(
    query: str | None,
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
    batch: bool,
) -> None:
    """Search the index for QUERY and print the best articles with their matching passage.

    Results are all that goes to stdout; notes and timings go to stderr.

    \b
    Examples:
      news-search search "which clubs are chasing a young Brazilian striker?"
      news-search search "goalkeeper loan" --from 2023-01-01 --sort date --json
      news-search search "fee agreed" --must Lavia
      news-search search --batch --k 3 < queries.txt > results.jsonl

    \b
    --batch writes, for each input line N, one line:
      {"line": N, "query": "...", "results": [{article_id, title, date, link, score, snippet}, ...], "ms": 41.5}
    an empty line gives {"line": N, "query": "", "results": [], "skipped": "empty line"},
    and a query that fails gives {"line": N, "query": "...", "results": [], "error": "why"}.

    \b
    Exit codes:
      0   done (finding nothing is not an error)
      1   --batch: some queries failed (each line says why, e.g. too long)
      2   usage, configuration, database unreachable, or no index in the keyspace
      70  internal error (a bug; `news-search -vv search ...` logs the traceback)
      130 interrupted
    """
    if batch and (query is not None or like):
        raise click.UsageError("--batch reads its queries from stdin: give no QUERY and no --like")
    if not batch and query is None and not like:
        raise click.UsageError("give a QUERY (or --like ARTICLE_ID, or --batch to read queries from stdin)")
    from newsindex.search import SearchRequest

    service: Any = None
    try:
        settings = Settings.from_env()
        request = SearchRequest(
            query=query or "",
            k=k,
            date_from=date_from,
            date_to=date_to,
            sort=sort,  # type: ignore[arg-type]
            mode=(mode or settings.search_mode),  # type: ignore[arg-type]
            must_contain=must,
            recency_half_life_days=half_life,
            diversity=diversity,
        )
        request.validate(require_query=not (batch or like))  # before the model loads: bad arguments fail fast
        _check_length(request.query)
        service = _build(settings)
        code = _run_batch(service, request, _stdin()) if batch else _run_one(service, request, like, as_json)
    except NewsSearchError as exc:
        _fail(str(exc), EXIT_USAGE)
    except KeyboardInterrupt:
        _fail("interrupted", EXIT_INTERRUPTED)
    except BrokenPipeError:
        sys.stdout = open(os.devnull, "w")  # noqa: SIM115  # the reader left (`| head`); nothing more to say
        code = EXIT_OK
    except Exception as exc:
        if _is_database_error(exc):
            detail = " ".join(str(exc).split())[:300]
            _fail(
                f"the database stopped answering ({type(exc).__name__}: {detail}); check the node "
                "(`news-search db status`) or NEWS_CASSANDRA_HOSTS/NEWS_CASSANDRA_PORT and try again",
                EXIT_USAGE,
            )
        log.debug("internal error", exc_info=exc)
        detail = " ".join(str(exc).split())[:300]
        _fail(
            f"internal error (a bug): {type(exc).__name__}: {detail}; `news-search -vv search ...` logs the traceback",
            EXIT_INTERNAL,
        )
    finally:
        if service is not None:
            from newsindex.connect import close

            close(service.store.session)
    sys.exit(code)


def _build(settings: Settings) -> Any:
    from newsindex.factory import build_service

    service = build_service(settings)
    if service.notice:
        click.echo(f"Note: {service.notice}", err=True)
    return service


def _stdin() -> IO[str]:
    """stdin as text; a byte that is not UTF-8 becomes U+FFFD instead of ending the batch."""
    if isinstance(sys.stdin, io.TextIOWrapper):
        sys.stdin.reconfigure(errors="replace")
    return sys.stdin


def _run_one(service: Any, request: Any, like: str | None, as_json: bool) -> int:
    response = service.more_like_this(like, request) if like else service.search(request)
    if as_json:
        click.echo(json.dumps([r.as_json() for r in response.results], ensure_ascii=False))
    else:
        for i, r in enumerate(response.results, 1):
            click.echo(f"{i:2}. {r.title}  ({r.date or 'undated'}, score {r.score:.4f})")
            click.echo(f"    {r.link}")
            click.echo(f"    {r.snippet}\n")
    if not response.results:
        click.echo("No articles matched. Try fewer filters or other words.", err=True)
    t = response.timings
    click.echo(
        f"[{len(response.results)} results in {t.total_ms:.0f} ms: encode {t.encode_ms:.0f}, "
        f"CQL {t.cql_ms:.0f}, rest {t.rest_ms:.0f}]",
        err=True,
    )
    return EXIT_OK


def _run_batch(service: Any, request: Any, lines: IO[str]) -> int:
    """One JSON line out per line in; a query's own error is reported in its line and the batch goes on."""
    done = failed = 0
    for number, raw in enumerate(lines, 1):
        text = raw.strip()
        record: dict[str, Any] = {"line": number, "query": text, "results": []}
        if not text:
            record["skipped"] = "empty line"
        else:
            try:
                _check_length(text)
                response = service.search(dataclasses.replace(request, query=text))
            except NewsSearchError as exc:
                record["error"] = str(exc)
                failed += 1
            else:
                record["results"] = [r.as_json() for r in response.results]
                record["ms"] = round(response.timings.total_ms, 1)
                done += 1
        click.echo(json.dumps(record, ensure_ascii=False))
    click.echo(f"[batch: {done} queries answered, {failed} failed]", err=True)
    return EXIT_PARTIAL if failed else EXIT_OK


def _check_length(query: str) -> None:
    if len(query) > MAX_QUERY_CHARS:
        raise NewsSearchError(
            f"the query is {len(query)} characters; the model reads about {MAX_QUERY_CHARS} at most, so shorten it"
        )


def _fail(message: str, code: int) -> NoReturn:
    click.echo(f"Error: {' '.join(message.split())}", err=True)
    sys.exit(code)


def _is_database_error(exc: BaseException) -> bool:
    """The driver's own errors (no host, timeouts, unavailable): the database, not a bug of ours."""
    return any(cls.__module__.split(".")[0] == "cassandra" for cls in type(exc).__mro__)


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
