"""`news-search db start|stop|status|logs|reset`: the local Cassandra node from the command line.

Human output goes to stderr, `--json` to stdout. Every known failure is one paragraph plus the
relevant log lines and exit code 2; `status` exits 3 when the node is down (like systemctl).
"""

from __future__ import annotations

import contextlib
import dataclasses
import functools
import json
import shlex
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any, TypeVar

import click

from localcassandra.errors import NodeError
from localcassandra.node import LocalNode
from newsindex.errors import NewsSearchError
from newsindex.settings import Settings

F = TypeVar("F", bound=Callable[..., Any])
EXIT_DOWN = 3


class NodeCliError(click.ClickException):
    """Printed as `Error: <message>` on stderr, no traceback."""

    exit_code = 2


def _errors_to_click(fn: F) -> F:
    @functools.wraps(fn)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        try:
            return fn(*args, **kwargs)
        except NodeError as exc:
            raise NodeCliError(exc.render()) from None
        except NewsSearchError as exc:
            raise NodeCliError(str(exc)) from None

    return wrapper  # type: ignore[return-value]


def _say(message: str) -> None:
    click.echo(message, err=True)


def _node(ctx: click.Context) -> LocalNode:
    """Settings come from the parent group (ctx.obj) when there is one, else from the environment."""
    settings = ctx.find_object(Settings) or Settings.from_env()
    return LocalNode(settings, progress=_say)


def human_bytes(size: float) -> str:
    for unit in ("B", "KiB", "MiB", "GiB"):
        if size < 1024 or unit == "GiB":
            return f"{size:.0f} {unit}" if unit == "B" else f"{size:.1f} {unit}"
        size /= 1024
    return f"{size:.1f} GiB"


@click.group(name="db")
def db() -> None:
    """Run the local single-node Cassandra 5.0 (no Docker): jars from Maven Central, state in
    NEWS_LOCAL_NODE_DIR, CQL on 127.0.0.1:NEWS_CASSANDRA_PORT.

    \b
    Examples:
      news-search db start        # first run downloads ~70 MB of jars once
      news-search db status
      news-search db logs -n 100
      news-search db stop

    Exit codes: 0 ok, 2 error (message says what to do), 3 `status` found the node down.
    """


@db.command()
@click.option("--timeout", type=float, default=None, help="Seconds to wait for CQL [NEWS_START_TIMEOUT_S].")
@click.option("--dry-run", is_flag=True, help="Print the JVM command line and exit; starts nothing.")
@click.pass_context
@_errors_to_click
def start(ctx: click.Context, timeout: float | None, dry_run: bool) -> None:
    """Start the node and wait until it answers CQL; does nothing if it already runs."""
    node = _node(ctx)
    if dry_run:
        click.echo(shlex.join(node.command()))
        return
    try:
        result = node.start(timeout_s=timeout)
    except KeyboardInterrupt:
        _say(
            "Interrupted. The node may still be starting in the background: "
            "`news-search db status` to see, `news-search db stop` to stop it."
        )
        sys.exit(130)
    if result.already_running:
        _say(f"Cassandra {result.version} is already up on {result.address} (pid {result.pid}). Log: {result.log_path}")
        return
    jars = " (incl. the one-time jar download)" if result.jars_downloaded else ""
    _say(
        f"Cassandra {result.version} is up on {result.address} (pid {result.pid}) after "
        f"{result.seconds:.1f} s{jars}. Log: {result.log_path}"
    )


@db.command()
@click.option(
    "--timeout",
    type=float,
    default=60.0,
    show_default=True,
    help="Seconds to wait for a clean shutdown before SIGKILL.",
)
@click.pass_context
@_errors_to_click
def stop(ctx: click.Context, timeout: float) -> None:
    """Stop the node cleanly (SIGTERM, then SIGKILL after --timeout); fine if it is already down."""
    result = _node(ctx).stop(timeout_s=timeout)
    if not result.was_running:
        _say("The local node is not running.")
    elif result.killed:
        _say(
            f"The node (pid {result.pid}) ignored SIGTERM for {timeout:.0f} s and was killed (SIGKILL); "
            "the commit log is replayed on the next start."
        )
    else:
        _say(f"Stopped the node (pid {result.pid}) in {result.seconds:.1f} s.")


@db.command()
@click.option("--json", "as_json", is_flag=True, help="Machine-readable output on stdout.")
@click.pass_context
@_errors_to_click
def status(ctx: click.Context, as_json: bool) -> None:
    """Say whether the node is up: pid, version, data size, memory, log path. Exit 3 when down."""
    st = _node(ctx).status()
    if as_json:
        click.echo(
            json.dumps({k: str(v) if isinstance(v, Path) else v for k, v in dataclasses.asdict(st).items()}, indent=2)
        )
    else:
        state = "up" if st.cql_up else ("starting" if st.running else "down")
        lines = [f"state:    {state}", f"address:  {st.address}"]
        if st.running:
            lines += [
                f"pid:      {st.pid}",
                f"version:  {st.version or '?'}",
                f"memory:   {human_bytes(st.rss_bytes or 0)} RSS",
            ]
        lines += [f"data:     {human_bytes(st.data_bytes)} in {st.node_dir / 'data'}", f"log:      {st.log_path}"]
        if st.note:
            lines.append(f"note:     {st.note}")
        _say("\n".join(lines))
    if not st.running:
        sys.exit(EXIT_DOWN)


@db.command()
@click.option("-n", "--lines", type=int, default=50, show_default=True, help="How many lines.")
@click.option("-f", "--follow", is_flag=True, help="Keep printing new lines (Ctrl-C to stop).")
@click.pass_context
@_errors_to_click
def logs(ctx: click.Context, lines: int, follow: bool) -> None:
    """Print the end of the node's system.log."""
    node = _node(ctx)
    path = node.layout.system_log
    if not path.exists():
        raise NodeError(f"No log yet at {path}; the node has never started from this state dir.")
    for line in node.log_tail(lines):
        click.echo(line)
    if follow:
        with open(path, "rb") as f, contextlib.suppress(KeyboardInterrupt):
            f.seek(0, 2)
            while True:
                chunk = f.readline()
                if chunk:
                    click.echo(chunk.decode("utf-8", "replace").rstrip("\n"))
                else:
                    time.sleep(0.5)


@db.command()
@click.option("--yes", is_flag=True, help="Really delete all data of the local node.")
@click.pass_context
@_errors_to_click
def reset(ctx: click.Context, yes: bool) -> None:
    """Stop the node and delete its state dir (all keyspaces, logs, config). Jars stay cached."""
    node = _node(ctx)
    if not yes:
        raise NodeCliError(f"This deletes everything in {node.layout.root}; add --yes to confirm.")
    node.reset()
    _say(f"Deleted {node.layout.root}. `news-search db start` creates a fresh node.")
