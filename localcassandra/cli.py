"""`news-search db start|stop|status|logs|reset`: the local Cassandra node (or cluster) from the command line.

`start --nodes 3` runs a local 3-node cluster on 127.0.0.1-3 in per-node subdirectories of the state
dir; `status`, `stop` and `logs` then cover every node. Human output goes to stderr, `--json` to
stdout. Every known failure is one paragraph plus the relevant log lines and exit code 2; `status`
exits 3 when a node is down (like systemctl).
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

from localcassandra.cluster import LocalCluster
from localcassandra.errors import NodeError
from localcassandra.node import LocalNode, NodeStatus
from localcassandra.topology import contact_points, replication_for, resolve_nodes
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


def _settings(ctx: click.Context) -> Settings:
    """Settings come from the parent group (ctx.obj) when there is one, else from the environment."""
    return ctx.find_object(Settings) or Settings.from_env()


def _node(ctx: click.Context) -> LocalNode:
    return LocalNode(_settings(ctx), progress=_say)


def _cluster(ctx: click.Context, nodes: int | None = None) -> LocalCluster:
    """Every node of the state dir: the single node, or the cluster recorded by `start --nodes N`."""
    settings = _settings(ctx)
    return LocalCluster(settings, resolve_nodes(settings.local_node_dir.expanduser().absolute(), nodes), progress=_say)


def human_bytes(size: float) -> str:
    for unit in ("B", "KiB", "MiB", "GiB"):
        if size < 1024 or unit == "GiB":
            return f"{size:.0f} {unit}" if unit == "B" else f"{size:.1f} {unit}"
        size /= 1024
    return f"{size:.1f} GiB"


@click.group(name="db")
def db() -> None:
    """Run a local Cassandra 5.0 (no Docker): jars from Maven Central, state in NEWS_LOCAL_NODE_DIR,
    CQL on 127.0.0.1:NEWS_CASSANDRA_PORT; or a local cluster of N nodes on 127.0.0.1..N.

    \b
    Examples:
      news-search db start        # first run downloads ~70 MB of jars once
      news-search db status
      news-search db logs -n 100
      news-search db stop
      NEWS_LOCAL_NODE_DIR=~/.local/state/news-search/cluster news-search db start --nodes 3

    Exit codes: 0 ok, 2 error (message says what to do), 3 `status` found a node down.
    """


@db.command()
@click.option("--timeout", type=float, default=None, help="Seconds to wait for CQL [NEWS_START_TIMEOUT_S].")
@click.option("--dry-run", is_flag=True, help="Print the JVM command line(s) and exit; starts nothing.")
@click.option(
    "--nodes",
    type=click.IntRange(1, 9),
    default=None,
    help="1 (the default) or N for a local cluster on 127.0.0.1..N (3: one node may fail without loss).",
)
@click.pass_context
@_errors_to_click
def start(ctx: click.Context, timeout: float | None, dry_run: bool, nodes: int | None) -> None:
    """Start the node (or every node of the cluster) and wait until it answers CQL; nodes that already
    run are left alone, so after a crash this brings back only the missing ones.

    \b
    --nodes 3: nodes on 127.0.0.1, .2 and .3, each with its own data, commit log and logs in
    NEWS_LOCAL_NODE_DIR/node1..3, the same ports on each address, node 1 the seed, datacenter dc1,
    NEWS_LOCAL_HEAP each; waits until every node sees all three Up and Normal (nodetool status).
    A state dir keeps the topology it was created with.
    """
    cluster = _cluster(ctx, nodes)
    if dry_run:
        for node in cluster.nodes:
            click.echo(shlex.join(node.command()))
        return
    if cluster.size > 1:
        _start_cluster(cluster, timeout)
        return
    node = cluster.nodes[0]
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


def _start_cluster(cluster: LocalCluster, timeout: float | None) -> None:
    try:
        result = cluster.start(timeout_s=timeout)
    except KeyboardInterrupt:
        _say(
            "Interrupted. Nodes may still be starting in the background: "
            "`news-search db status` to see, `news-search db stop` to stop them."
        )
        sys.exit(130)
    for node, started in zip(cluster.nodes, result.nodes, strict=True):
        how = "was already up" if started.already_running else f"started in {started.seconds:.1f} s"
        _say(f"{node.member.name}: Cassandra {started.version} on {started.address} (pid {started.pid}) {how}")
    ring = ", ".join(f"{e.code} {e.address}" for e in result.ring)
    settings = cluster.settings
    _say(
        f"All {cluster.size} nodes are Up and Normal ({ring}) after {result.seconds:.1f} s. Point the product "
        f"at the cluster with:\n  export NEWS_CASSANDRA_HOSTS={contact_points(cluster.size)} "
        f"NEWS_CASSANDRA_PORT={settings.cassandra_port} NEWS_CASSANDRA_LOCAL_DC=dc1 "
        f'NEWS_REPLICATION="{replication_for(cluster.size)}"'
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
    """Stop the node (every node of a cluster) cleanly: SIGTERM, then SIGKILL after --timeout; fine if down."""
    cluster = _cluster(ctx)
    for node, result in zip(cluster.nodes, cluster.stop(timeout_s=timeout), strict=True):
        name = "the node" if cluster.size == 1 else node.member.name
        if not result.was_running:
            _say("The local node is not running." if cluster.size == 1 else f"{name} is not running.")
        elif result.killed:
            _say(
                f"{name.capitalize()} (pid {result.pid}) ignored SIGTERM for {timeout:.0f} s and was killed "
                "(SIGKILL); the commit log is replayed on the next start."
            )
        else:
            _say(f"Stopped {name} (pid {result.pid}) in {result.seconds:.1f} s.")


@db.command()
@click.option("--json", "as_json", is_flag=True, help="Machine-readable output on stdout.")
@click.pass_context
@_errors_to_click
def status(ctx: click.Context, as_json: bool) -> None:
    """Say whether the node is up: pid, version, data size, memory, log path; for a cluster, each node
    and the ring as nodetool sees it. Exit 3 when a node is down."""
    cluster = _cluster(ctx)
    states = cluster.status()
    if cluster.size == 1:
        _print_node(states[0], as_json)
    else:
        _print_cluster(cluster, states, as_json)
    if not all(st.running for st in states):
        sys.exit(EXIT_DOWN)


def _as_dict(st: NodeStatus) -> dict[str, Any]:
    return {k: str(v) if isinstance(v, Path) else v for k, v in dataclasses.asdict(st).items()}


def _state(st: NodeStatus) -> str:
    return "up" if st.cql_up else ("starting" if st.running else "down")


def _print_node(st: NodeStatus, as_json: bool) -> None:
    if as_json:
        click.echo(json.dumps(_as_dict(st), indent=2))
        return
    lines = [f"state:    {_state(st)}", f"address:  {st.address}"]
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


def _print_cluster(cluster: LocalCluster, states: list[NodeStatus], as_json: bool) -> None:
    ring, ring_note = [], ""
    if any(st.cql_up for st in states):
        try:
            ring = cluster.ring(next(n for n, st in zip(cluster.nodes, states, strict=True) if st.cql_up))
        except NodeError as exc:
            ring_note = exc.message
    if as_json:
        out = {
            "nodes": [_as_dict(st) for st in states],
            "ring": [{"address": e.address, "status": e.code} for e in ring],
            "ring_note": ring_note,
        }
        click.echo(json.dumps(out, indent=2))
        return
    lines = [f"cluster:  {cluster.size} nodes in {cluster.root} (datacenter dc1)"]
    for node, st in zip(cluster.nodes, states, strict=True):
        memory = f", {human_bytes(st.rss_bytes or 0)} RSS" if st.running else ""
        pid = f" pid {st.pid}" if st.pid else ""
        lines.append(
            f"{node.member.name}:    {_state(st):8} {st.address}{pid}{memory}, data {human_bytes(st.data_bytes)}, "
            f"log {st.log_path}"
        )
        if st.note:
            lines.append(f"          note: {st.note}")
    if ring:
        lines.append("ring:     " + ", ".join(f"{e.code} {e.address}" for e in ring) + " (nodetool status)")
    elif ring_note:
        lines.append(f"ring:     unknown ({ring_note})")
    _say("\n".join(lines))


@db.command()
@click.option("-n", "--lines", type=int, default=50, show_default=True, help="How many lines (per node).")
@click.option("-f", "--follow", is_flag=True, help="Keep printing new lines (Ctrl-C to stop); one node only.")
@click.option("--node", "node_index", type=int, default=None, help="Only node N of a cluster (1-based).")
@click.pass_context
@_errors_to_click
def logs(ctx: click.Context, lines: int, follow: bool, node_index: int | None) -> None:
    """Print the end of the node's system.log (of every node of a cluster, each under a header)."""
    cluster = _cluster(ctx)
    nodes = cluster.nodes
    if node_index is not None:
        if not 1 <= node_index <= cluster.size:
            raise NodeError(f"--node {node_index}: this state dir holds {cluster.size} node(s).")
        nodes = [cluster.node(node_index)]
    if follow and len(nodes) > 1:
        raise NodeError(f"--follow follows one log: add --node N (1 to {cluster.size}).")
    shown = 0
    for node in nodes:
        path = node.layout.system_log
        if not path.exists():
            if len(nodes) == 1:
                raise NodeError(f"No log yet at {path}; the node has never started from this state dir.")
            continue
        if len(nodes) > 1:
            click.echo(f"==> {node.member.name} ({node.host}): {path} <==")
        for line in node.log_tail(lines):
            click.echo(line)
        shown += 1
    if not shown:
        raise NodeError(f"No logs yet under {cluster.root}; the cluster has never started from this state dir.")
    if follow:
        _follow(nodes[0].layout.system_log)


def _follow(path: Path) -> None:
    with open(path, "rb") as f, contextlib.suppress(KeyboardInterrupt):
        f.seek(0, 2)
        while True:
            chunk = f.readline()
            if chunk:
                click.echo(chunk.decode("utf-8", "replace").rstrip("\n"))
            else:
                time.sleep(0.5)


@db.command(context_settings={"ignore_unknown_options": True})
@click.option("--node", "node_index", type=int, default=1, show_default=True, help="Ask node N (1-based).")
@click.argument("args", nargs=-1, type=click.UNPROCESSED, required=True)
@click.pass_context
@_errors_to_click
def nodetool(ctx: click.Context, node_index: int, args: tuple[str, ...]) -> None:
    """Run nodetool (from the same jars) against a node of the local cluster, e.g. `db nodetool status`."""
    cluster = _cluster(ctx)
    if not 1 <= node_index <= cluster.size:
        raise NodeError(f"--node {node_index}: this state dir holds {cluster.size} node(s).")
    click.echo(cluster.nodetool(cluster.node(node_index), list(args), timeout_s=3600), nl=False)


@db.command()
@click.argument("keyspace", required=False)
@click.pass_context
@_errors_to_click
def repair(ctx: click.Context, keyspace: str | None) -> None:
    """Full repair of KEYSPACE (default NEWS_KEYSPACE) on every node of the local cluster: after a node
    was down longer than hints cover, this makes every replica hold every row again."""
    cluster = _cluster(ctx)
    name = keyspace or cluster.settings.keyspace
    started = time.monotonic()
    cluster.repair(name, timeout_s=3600)
    _say(f"Repaired keyspace {name} on {cluster.size} nodes in {time.monotonic() - started:.1f} s.")


@db.command()
@click.option("--yes", is_flag=True, help="Really delete all data of the local node(s).")
@click.pass_context
@_errors_to_click
def reset(ctx: click.Context, yes: bool) -> None:
    """Stop the node (every node of a cluster) and delete the state dir (all keyspaces, logs, config).
    Jars stay cached."""
    cluster = _cluster(ctx)
    if not yes:
        raise NodeCliError(f"This deletes everything in {cluster.root}; add --yes to confirm.")
    cluster.reset()
    _say(f"Deleted {cluster.root}. `news-search db start` creates a fresh node.")
