"""`news-search ingest PATH` (and `python -m ingest PATH` for cron): a thin layer over the pipeline.

Exit codes: 0 every row ingested or unchanged; 1 some rows were quarantined or failed (see the
summary and the quarantine file); 2 usage, configuration, input file or database problem;
3 another ingestion run holds the lock.
"""

from __future__ import annotations

import contextlib
import fcntl
import json
import logging
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import click

from newsindex.errors import LockHeld, NewsSearchError
from newsindex.settings import Settings

log = logging.getLogger("ingest")
EXIT_PARTIAL, EXIT_USAGE, EXIT_LOCKED = 1, 2, 3


@contextlib.contextmanager
def run_lock(settings: Settings) -> Iterator[Path]:
    """One ingestion at a time per keyspace on this machine; released even on kill -9 (flock)."""
    settings.state_dir.mkdir(parents=True, exist_ok=True)
    path = settings.state_dir / f"ingest-{settings.keyspace}.lock"
    handle = path.open("a+")
    try:
        fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        handle.seek(0)
        owner = handle.read().strip() or "unknown"
        handle.close()
        raise LockHeld(
            f"another ingestion into keyspace {settings.keyspace!r} is running ({owner}); "
            f"wait for it, or remove {path} only if no such process exists"
        ) from None
    handle.seek(0)
    handle.truncate()
    handle.write(f"pid {__import__('os').getpid()} since {time.strftime('%Y-%m-%d %H:%M:%S')}\n")
    handle.flush()
    try:
        yield path
    finally:
        fcntl.flock(handle, fcntl.LOCK_UN)
        handle.close()


def _progress(total_hint: str) -> Any:
    from ingest.pipeline import Progress

    if sys.stderr.isatty():
        from tqdm import tqdm

        bar = tqdm(unit="article", desc=total_hint, file=sys.stderr, dynamic_ncols=True)
        progress = Progress()

        def update(n: int) -> None:
            if bar.total is None and progress.total is not None:
                bar.total = progress.total
                bar.refresh()
            bar.update(n)

        progress.update = update
        progress.close = bar.close
        return progress

    state = {"done": 0, "last": time.monotonic()}
    progress = Progress()

    def update_plain(n: int) -> None:
        state["done"] += n
        now = time.monotonic()
        if now - state["last"] >= 10:
            state["last"] = now
            print(f"[ingest] {state['done']}/{progress.total or '?'} articles", file=sys.stderr, flush=True)

    progress.update = update_plain
    return progress


def _human_summary(s: dict[str, Any]) -> str:
    lines = [
        f"read {s['read']} articles from {s['rows']} rows: {s['new']} new, {s['updated']} updated, "
        f"{s['unchanged']} unchanged, {s['quarantined']} quarantined, {s['failed']} failed"
        + (f"; {s['duplicates']} duplicate rows merged" if s["duplicates"] else "")
        + (f"; {s['other_shard']} rows in other shards" if s["other_shard"] else "")
        + (f"; {s['over_limit']} over --limit" if s["over_limit"] else ""),
        f"{s['passages']} passages written in {s['seconds']:.1f}s "
        f"({s['articles_per_s']:.1f} articles/s, {s['passages_per_s']:.1f} passages/s); "
        f"encoding {s['encode_seconds']:.1f}s ({s['precision']}), writes in flight {s['write_seconds']:.1f}s, "
        f"waiting on writes {s['write_wait_seconds']:.1f}s, BM25 statistics {s['stats_seconds']:.1f}s",
    ]
    if s["quarantine_file"]:
        lines.append(f"quarantined rows and reasons: {s['quarantine_file']}")
    for failure in s["failures"][:5]:
        lines.append(f"failed: {failure}")
    return "\n".join(lines)


@click.command()
@click.argument("path", type=click.Path(dir_okay=False, path_type=Path))
@click.option("--limit", type=click.IntRange(min=1), help="Ingest at most this many articles.")
@click.option("--shard", default="0/1", show_default=True, help="Take shard i of N (by article id), e.g. 1/4.")
@click.option("--recreate", is_flag=True, help="Drop the index tables first (e.g. to change the model).")
@click.option("--json", "as_json", is_flag=True, help="Print the summary as one JSON object on the last line.")
@click.option(
    "--quarantine",
    type=click.Path(dir_okay=False, path_type=Path),
    help="Where bad rows go (JSON lines). Default: NEWS_STATE_DIR/quarantine/<file>-<time>.jsonl",
)
@click.option("--batch-size", type=click.IntRange(min=1), help="Passages per encoder batch.")
@click.option("--model", help="Override NEWS_MODEL for this run.")
@click.option("--sync", is_flag=True, help="Also remove indexed articles that this file no longer has.")
def ingest(
    path: Path,
    limit: int | None,
    shard: str,
    recreate: bool,
    as_json: bool,
    quarantine: Path | None,
    batch_size: int | None,
    model: str | None,
    sync: bool,
) -> None:
    """Ingest a football-transfer news CSV (Title, Date, Link, Content) into the index.

    Safe to re-run: unchanged articles are skipped without re-encoding, edited ones replaced,
    and a killed run resumes where it stopped.

    \b
    Examples:
      news-search ingest data/demo_news.csv
      news-search ingest news.csv --json          # machine-readable summary on the last line
      news-search ingest news.csv --shard 0/2     # on a second machine: --shard 1/2
    """
    from ingest.plan import Shard

    try:
        shard_spec = Shard.parse(shard)
    except ValueError as exc:
        raise click.BadParameter(str(exc), param_hint="--shard") from None
    try:
        summary = run_ingest(
            path,
            Settings.from_env(model=model, encode_batch_size=batch_size),
            shard=shard_spec,
            limit=limit,
            recreate=recreate,
            quarantine=quarantine,
            sync=sync,
        )
    except LockHeld as exc:
        click.echo(f"Error: {exc}", err=True)
        sys.exit(EXIT_LOCKED)
    except NewsSearchError as exc:
        click.echo(f"Error: {exc}", err=True)
        sys.exit(EXIT_USAGE)
    data = summary.as_dict()
    click.echo(_human_summary(data), err=True)
    if as_json:
        click.echo(json.dumps(data))
    sys.exit(EXIT_PARTIAL if (summary.quarantined or summary.failed) else 0)


def _append_history(settings: Settings, path: Path, summary: dict[str, Any]) -> None:
    """One JSON line per run in NEWS_STATE_DIR/ingest-history.jsonl: what cron did, and when."""
    record = {
        "finished_at": time.strftime("%Y-%m-%dT%H:%M:%S%z"),
        "file": str(path.resolve()),
        "keyspace": settings.keyspace,
        **summary,
    }
    with (settings.state_dir / "ingest-history.jsonl").open("a", encoding="utf-8") as f:
        f.write(json.dumps(record) + "\n")


def run_ingest(
    path: Path,
    settings: Settings,
    *,
    shard: Any = None,
    limit: int | None = None,
    recreate: bool = False,
    quarantine: Path | None = None,
    encoder: Any = None,
    sync: bool = False,
) -> Any:
    """Everything `ingest` does, as a function (tests and benchmarks call it)."""
    from ingest.pipeline import IngestRun
    from ingest.read import check_header
    from newsindex.connect import close, connect
    from newsindex.encoder import load_encoder
    from newsindex.schema import ensure_schema, wait_for_index
    from newsindex.store import IndexStore

    check_header(path)
    with run_lock(settings):
        session = connect(settings)
        try:
            encoder = encoder or load_encoder(settings)
            if shard is not None and shard.index > 0 and not recreate:
                wait_for_index(session, settings, encoder.profile)
            else:
                ensure_schema(session, settings, encoder.profile, recreate=recreate)
            if quarantine is None:
                stamp = time.strftime("%Y%m%d-%H%M%S")
                quarantine = settings.state_dir / "quarantine" / f"{path.stem}-{stamp}.jsonl"
            run = IngestRun(
                settings,
                encoder,
                IndexStore(session, settings),
                shard=shard,
                limit=limit,
                quarantine_path=quarantine,
                progress=_progress(path.name),
                sync=sync,
            )
            summary = run.run(path)
            summary.precision = getattr(getattr(encoder, "precision", None), "dtype", "")
            _append_history(settings, path, summary.as_dict())
            return summary
        finally:
            close(session)
