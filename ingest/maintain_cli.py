"""`news-search verify [--repair]` and `news-search prune --before DATE`: keeping an index exact and bounded.

Exit codes as for ingest: 0 all good; 1 problems found (verify) or some articles not removed
(prune); 2 configuration or database problem; 3 another run holds the keyspace's lock.
"""

from __future__ import annotations

import datetime as dt
import json
import sys
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any

import click

from newsindex.errors import LockHeld, NewsSearchError
from newsindex.settings import Settings

EXIT_PROBLEMS, EXIT_USAGE, EXIT_LOCKED = 1, 2, 3


@contextmanager
def _index(settings: Settings) -> Iterator[tuple[Any, Any, Any]]:
    """Lock, session, store and postings of the configured keyspace's index (which must exist)."""
    from ingest.cli import run_lock
    from newsindex.connect import close, connect
    from newsindex.postings import Postings
    from newsindex.schema import read_manifest
    from newsindex.store import IndexStore
    from newsindex.writer import BoundedWriter

    with run_lock(settings):
        session = connect(settings)
        try:
            manifest = read_manifest(session, settings)
            if manifest is None:
                raise NewsSearchError(f"no index in keyspace {settings.keyspace!r}; nothing to do")
            store = IndexStore(session, settings)
            writer = BoundedWriter(
                session, settings.write_concurrency, settings.write_retries, outage_wait_s=settings.db_outage_wait_s
            )
            yield store, Postings(store, manifest.lexical_buckets or settings.lexical_buckets), writer
        finally:
            close(session)


def _run(action: Callable[[Settings], tuple[dict[str, Any], bool]], as_json: bool) -> None:
    try:
        report, ok = action(Settings.from_env())
    except LockHeld as exc:
        click.echo(f"Error: {exc}", err=True)
        sys.exit(EXIT_LOCKED)
    except NewsSearchError as exc:
        click.echo(f"Error: {exc}", err=True)
        sys.exit(EXIT_USAGE)
    click.echo(report.pop("message"), err=True)
    if as_json:
        click.echo(json.dumps(report))
    sys.exit(0 if ok else EXIT_PROBLEMS)


@click.command()
@click.option("--repair", is_flag=True, help="Mark broken articles for the next ingest and recount the statistics.")
@click.option("--json", "as_json", is_flag=True, help="Print the report as one JSON object on stdout.")
def verify(repair: bool, as_json: bool) -> None:
    """Check that every article has all its passages and postings, and no unfinished write attempt.

    \b
    With --repair, each broken article is turned into an unfinished attempt, which the next
    `news-search ingest` of its file redoes, and the BM25 statistics are recounted from the postings.
    """

    def action(settings: Settings) -> tuple[dict[str, Any], bool]:
        from newsindex import verify as check

        with _index(settings) as (store, postings, writer):
            report = writer.call(lambda: check.verify(store, postings))
            invalidated, stats = 0, None
            if repair:
                invalidated = check.invalidate(store, list(report.problems))
                stats = writer.call(lambda: postings.refresh_statistics([], full=True))
        message = f"checked {report.checked} articles: {len(report.problems)} with problems" + (
            f"; {invalidated} marked for the next ingest, statistics recounted" if repair else ""
        )
        for aid, problem in list(report.problems.items())[:10]:
            message += f"\n  {aid}: {problem}"
        data = {"checked": report.checked, "problems": report.problems, "invalidated": invalidated, "stats": stats}
        return {"message": message, **data}, report.ok

    _run(action, as_json)


@click.command()
@click.option("--before", "before", required=True, help="Remove articles published before this date (YYYY-MM-DD).")
@click.option("--json", "as_json", is_flag=True, help="Print the summary as one JSON object on stdout.")
def prune(before: str, as_json: bool) -> None:
    """Remove articles published before a date: passages, postings and statistics, consistently.

    \b
    Example (keep two years):
      news-search prune --before $(date -d '2 years ago' +%F)
    For a rolling window on every ingest run, set NEWS_RETENTION_DAYS instead.
    """
    try:
        cutoff = dt.date.fromisoformat(before)
    except ValueError:
        raise click.BadParameter(f"{before!r} is not a date like 2021-01-01", param_hint="--before") from None

    def action(settings: Settings) -> tuple[dict[str, Any], bool]:
        from ingest.prune import articles_published_before, remove_articles

        with _index(settings) as (store, postings, writer):
            ids = writer.call(lambda: articles_published_before(store, cutoff))
            summary, touched = remove_articles(store, postings, writer, ids)
            stats = writer.call(lambda: postings.refresh_statistics(sorted(touched))) if touched else None
        message = (
            f"removed {summary.removed} articles published before {cutoff} ({summary.failed} failed) "
            f"in {summary.seconds:.1f}s"
        )
        data = {"before": cutoff.isoformat(), "removed": summary.removed, "failed": summary.failed, "stats": stats}
        return {"message": message, **data}, summary.failed == 0

    _run(action, as_json)
