"""`news-search ingest PATH` (and `python -m ingest PATH` for cron): a thin layer over the pipeline.

Exit codes (also in `--help`, the README and docs/deploy/):
  0   every row ingested or unchanged
  1   done, but some rows were quarantined or failed (see the summary and the quarantine file)
  2   usage, configuration, input file, or database unreachable (nothing or only part was done;
      a rerun resumes once it is fixed)
  3   another ingestion run into the same keyspace holds the lock
  70  internal error: a bug (EX_SOFTWARE); the traceback is saved under NEWS_STATE_DIR/crash/
  130 interrupted (Ctrl-C); a rerun resumes
Every run ends with exactly one summary line on stderr, and never with a bare traceback.
"""

from __future__ import annotations

import contextlib
import fcntl
import json
import logging
import os
import sys
import tempfile
import time
import traceback
from collections.abc import Iterator
from pathlib import Path
from typing import Any, NoReturn

import click

from newsindex.errors import ConfigError, LockHeld, NewsSearchError
from newsindex.settings import Settings

log = logging.getLogger("ingest")
EXIT_OK, EXIT_PARTIAL, EXIT_USAGE, EXIT_LOCKED = 0, 1, 2, 3
EXIT_INTERNAL = 70  # EX_SOFTWARE in sysexits.h
EXIT_INTERRUPTED = 130  # 128 + SIGINT, what shells report for Ctrl-C
EXIT_MEANINGS = {
    EXIT_OK: "all good",
    EXIT_PARTIAL: "some rows quarantined or failed",
    EXIT_USAGE: "usage, configuration, input or database problem",
    EXIT_LOCKED: "another run holds the lock",
    EXIT_INTERNAL: "internal error",
    EXIT_INTERRUPTED: "interrupted",
}


@contextlib.contextmanager
def run_lock(settings: Settings) -> Iterator[Path]:
    """One ingestion at a time per keyspace on this machine; released even on kill -9 (flock)."""
    path = settings.state_dir / f"ingest-{settings.keyspace}.lock"
    try:
        settings.state_dir.mkdir(parents=True, exist_ok=True)
        handle = path.open("a+")
    except OSError as exc:
        raise ConfigError(
            f"cannot write the state directory {settings.state_dir} ({exc.strerror or exc}); "
            "set NEWS_STATE_DIR to a writable directory"
        ) from None
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
    handle.write(f"pid {os.getpid()} since {time.strftime('%Y-%m-%d %H:%M:%S')}\n")
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


def _human_summary(s: dict[str, Any], code: int) -> str:
    """Detail lines first, then the one summary line (the last line of stderr, for `tail -1`)."""
    lines = [
        f"{s['passages']} passages written in {s['seconds']:.1f}s "
        f"({s['articles_per_s']:.1f} articles/s, {s['passages_per_s']:.1f} passages/s); "
        f"encoding {s['encode_seconds']:.1f}s ({s['precision']}), writes in flight {s['write_seconds']:.1f}s, "
        f"waiting on writes {s['write_wait_seconds']:.1f}s, BM25 statistics {s['stats_seconds']:.1f}s",
    ]
    for failure in s["failures"][:5]:
        lines.append(f"failed: {failure}")
    where = f"; reasons in {s['quarantine_file']}" if s["quarantine_file"] and s["quarantined"] else ""
    lines.append(
        f"ingest: read {s['read']} articles from {s['rows']} rows: {s['new']} new, {s['updated']} updated, "
        f"{s['unchanged']} unchanged, {s['quarantined']} quarantined, {s['failed']} failed"
        + (f"; {s['duplicates']} duplicate rows merged" if s["duplicates"] else "")
        + (f"; {s['other_shard']} rows in other shards" if s["other_shard"] else "")
        + (f"; {s['over_limit']} over --limit" if s["over_limit"] else "")
        + f"{where} (exit {code}: {EXIT_MEANINGS[code]})"
    )
    return "\n".join(lines)


def _fail(message: str, code: int) -> NoReturn:
    """The one line an unsuccessful run leaves on stderr, then the exit code."""
    click.echo(f"Error: {' '.join(message.split())} (exit {code}: {EXIT_MEANINGS[code]})", err=True)
    sys.exit(code)


def _is_database_error(exc: BaseException) -> bool:
    """The driver's own errors (no host, timeouts, unavailable): the database, not a bug of ours."""
    return any(cls.__module__.split(".")[0] == "cassandra" for cls in type(exc).__mro__)


def _crash(exc: BaseException, settings: Settings | None) -> NoReturn:
    """An internal error: save the traceback to a file, print one line naming it, exit 70."""
    text = "".join(traceback.format_exception(exc))
    log.debug("internal error", exc_info=exc)
    folder = (settings.state_dir if settings else Path(tempfile.gettempdir())) / "crash"
    report = folder / f"ingest-{time.strftime('%Y%m%d-%H%M%S')}-{os.getpid()}.txt"
    try:
        folder.mkdir(parents=True, exist_ok=True)
        report.write_text(text, encoding="utf-8")
        where = f"traceback saved in {report}"
    except OSError:
        where = "rerun with `news-search -vv ingest ...` to see the traceback"
    detail = " ".join(str(exc).split())[:300]
    _fail(f"internal error (a bug, not your input): {type(exc).__name__}: {detail}; {where}", EXIT_INTERNAL)


@click.command()
@click.argument("path", type=click.Path(path_type=Path))
@click.option("--limit", type=click.IntRange(min=1), help="Ingest at most this many articles.")
@click.option("--shard", default="0/1", show_default=True, help="Take shard i of N (by article id), e.g. 1/4.")
@click.option("--recreate", is_flag=True, help="Drop the index tables first (e.g. to change the model).")
@click.option("--json", "as_json", is_flag=True, help="Print the summary as one JSON object on stdout.")
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
    and a killed run resumes where it stopped. Bad rows never stop a run: each goes to the
    quarantine file with its line number and reason.

    \b
    Examples:
      news-search ingest data/news_sample.csv
      news-search ingest news.csv --json          # machine-readable summary on stdout
      news-search ingest news.csv --shard 0/2     # on a second machine: --shard 1/2

    \b
    Exit codes (the last line on stderr always says which and why):
      0   all good
      1   some rows quarantined or failed
      2   usage, configuration, input file, or database unreachable
      3   another run into this keyspace holds the lock
      70  internal error (a bug; traceback saved under NEWS_STATE_DIR/crash/)
      130 interrupted; a rerun resumes
    """
    from ingest.plan import Shard

    try:
        shard_spec = Shard.parse(shard)
    except ValueError as exc:
        raise click.BadParameter(str(exc), param_hint="--shard") from None
    settings: Settings | None = None
    try:
        settings = Settings.from_env(model=model, encode_batch_size=batch_size)
        summary = run_ingest(
            path, settings, shard=shard_spec, limit=limit, recreate=recreate, quarantine=quarantine, sync=sync
        )
    except LockHeld as exc:
        _fail(str(exc), EXIT_LOCKED)
    except NewsSearchError as exc:
        _fail(str(exc), EXIT_USAGE)
    except KeyboardInterrupt:
        _fail("interrupted; run the same command again to finish (it resumes where this one stopped)", EXIT_INTERRUPTED)
    except Exception as exc:
        if _is_database_error(exc):
            detail = " ".join(str(exc).split())[:300]
            _fail(
                f"the database stopped answering ({type(exc).__name__}: {detail}); check the node "
                "(`news-search db status`) and run again: the rerun resumes",
                EXIT_USAGE,
            )
        _crash(exc, settings)
    data = summary.as_dict()
    code = EXIT_PARTIAL if (summary.quarantined or summary.failed) else EXIT_OK
    if as_json:
        click.echo(json.dumps(data))
    click.echo(_human_summary(data, code), err=True)
    sys.exit(code)


def _append_history(settings: Settings, path: Path, summary: dict[str, Any]) -> None:
    """One JSON line per run in NEWS_STATE_DIR/ingest-history.jsonl: what cron did, and when."""
    record = {
        "finished_at": time.strftime("%Y-%m-%dT%H:%M:%S%z"),
        "file": str(path.resolve()),
        "keyspace": settings.keyspace,
        **summary,
    }
    try:
        with (settings.state_dir / "ingest-history.jsonl").open("a", encoding="utf-8") as f:
            f.write(json.dumps(record) + "\n")
    except OSError as exc:  # the run is done; a missing history line must not turn it into a failure
        log.warning("could not append to %s: %s", settings.state_dir / "ingest-history.jsonl", exc)


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
            _check_writable(quarantine)
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


def _check_writable(target: Path) -> None:
    """The quarantine file must be writable before the run starts, not after its first bad row."""
    problem = ""
    try:
        target.parent.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        problem = exc.strerror or str(exc)
    if not problem and (target.is_dir() or not os.access(target if target.exists() else target.parent, os.W_OK)):
        problem = "not a writable file"
    if problem:
        raise ConfigError(
            f"cannot write the quarantine file {target} ({problem}); pass --quarantine PATH "
            "or set NEWS_STATE_DIR to a writable directory"
        )
