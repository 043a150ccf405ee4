"""LocalNode and `db` CLI paths that need no real JVM: a fake `java` script stands in for it."""

from __future__ import annotations

import os
import socket
from pathlib import Path

import pytest
from click.testing import CliRunner

from localcassandra import LocalNode, NodeError
from localcassandra.cli import db
from localcassandra.errors import squash_stacks
from localcassandra.jars import MARKER
from newsindex.settings import Settings


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def fake_java(tmp_path: Path, body: str) -> Path:
    """A 'JDK 17' whose java answers -version and otherwise runs `body` (sh)."""
    home = tmp_path / "jdk17"
    (home / "bin").mkdir(parents=True)
    java = home / "bin" / "java"
    java.write_text(
        f'#!/bin/sh\nif [ "$1" = -version ]; then echo \'openjdk version "17.0.15"\' >&2; exit 0; fi\n{body}\n'
    )
    java.chmod(0o755)
    return home


@pytest.fixture
def settings(tmp_path: Path) -> Settings:
    lib = tmp_path / "cache" / "5.0.9" / "lib"
    lib.mkdir(parents=True)
    (lib / "jamm-0.4.0.jar").touch()
    (lib / MARKER).touch()
    return Settings(
        local_node_dir=tmp_path / "node",
        local_cache_dir=tmp_path / "cache",
        cassandra_port=_free_port(),
        local_storage_port=_free_port(),
        java_home=str(fake_java(tmp_path, "echo 'Error: boom from the fake JVM'; exit 1")),
    )


def test_node_that_dies_while_starting_reports_exit_code_and_output(settings: Settings) -> None:
    node = LocalNode(settings)
    with pytest.raises(NodeError) as err:
        node.start(timeout_s=20)
    assert "died while starting (exit code 1)" in str(err.value)
    assert "boom from the fake JVM" in err.value.render()
    assert not node.layout.pid_file.exists()


def test_node_that_never_answers_times_out_and_is_left_for_stop(tmp_path: Path, settings: Settings) -> None:
    hanging = settings.with_(java_home=str(fake_java(tmp_path / "h", "while true; do sleep 0.1; done")))
    node = LocalNode(hanging)
    try:
        with pytest.raises(NodeError, match=r"did not answer CQL .* within 1 s"):
            node.start(timeout_s=1)
        assert node.pid() is not None  # recognised by its command line, not only the pid file
        node.layout.pid_file.unlink()
        assert node.pid() is not None
    finally:
        stopped = node.stop(timeout_s=5)
    assert stopped.was_running and not stopped.killed
    assert node.pid() is None


def test_node_that_ignores_sigterm_is_killed(tmp_path: Path, settings: Settings) -> None:
    ignores_term = "trap '' TERM\nwhile true; do sleep 0.1; done"
    stubborn = settings.with_(java_home=str(fake_java(tmp_path / "s", ignores_term)))
    node = LocalNode(stubborn)
    with pytest.raises(NodeError, match="did not answer CQL"):
        node.start(timeout_s=0.5)
    stopped = node.stop(timeout_s=0.5)
    assert stopped.was_running and stopped.killed
    assert node.pid() is None


def test_stop_and_status_when_nothing_runs(settings: Settings) -> None:
    node = LocalNode(settings)
    assert not node.stop().was_running
    status = node.status()
    assert not status.running and not status.cql_up and status.pid is None


def test_stale_pid_file_of_another_process_is_ignored(settings: Settings) -> None:
    node = LocalNode(settings)
    node.layout.root.mkdir(parents=True)
    node.layout.pid_file.write_text(f"{os.getpid()}\n")
    assert node.pid() is None


def test_cli_status_exits_3_when_down(settings: Settings) -> None:
    result = CliRunner().invoke(db, ["status"], obj=settings)
    assert result.exit_code == 3
    assert "state:    down" in result.output


def test_cli_start_with_missing_java_is_one_clean_error(settings: Settings) -> None:
    result = CliRunner().invoke(db, ["start"], obj=settings.with_(java_home="/nonexistent"))
    assert result.exit_code == 2
    assert "Error: No Java 17 found" in result.output
    assert "Traceback" not in result.output


def test_cli_start_on_a_taken_port_names_it(settings: Settings) -> None:
    with socket.socket() as s:
        s.bind(("127.0.0.1", settings.cassandra_port))
        s.listen()
        result = CliRunner().invoke(db, ["start"], obj=settings)
    assert result.exit_code == 2
    port = settings.cassandra_port
    assert f"Port {port} on 127.0.0.1 (NEWS_CASSANDRA_PORT) is already taken" in result.output


def test_cli_reset_needs_yes_and_then_deletes_the_state_dir(settings: Settings) -> None:
    node_dir = settings.local_node_dir
    (node_dir / "conf").mkdir(parents=True)
    assert CliRunner().invoke(db, ["reset"], obj=settings).exit_code == 2
    assert node_dir.exists()
    assert CliRunner().invoke(db, ["reset", "--yes"], obj=settings).exit_code == 0
    assert not node_dir.exists()


def test_reset_refuses_a_dir_that_is_not_a_node(settings: Settings) -> None:
    settings.local_node_dir.mkdir(parents=True)
    (settings.local_node_dir / "precious.txt").touch()
    with pytest.raises(NodeError, match="does not look like a node state dir"):
        LocalNode(settings).reset()
    assert (settings.local_node_dir / "precious.txt").exists()


def test_dry_run_prints_the_jvm_command(settings: Settings) -> None:
    result = CliRunner().invoke(db, ["start", "--dry-run"], obj=settings)
    assert result.exit_code == 0
    assert "org.apache.cassandra.service.CassandraDaemon" in result.output
    assert not (settings.local_node_dir / "cassandra.pid").exists()


def test_stack_traces_are_squashed_to_their_causes() -> None:
    lines = [
        "ERROR boom",
        "java.lang.IllegalStateException: bad",
        "\tat a.b(C.java:1)",
        "\tat d.e(F.java:2)",
        "Caused by: java.io.IOException: disk",
        "\tat g.h(I.java:3)",
        "\t... 4 more",
        "WARNING: System::setSecurityManager will be removed in a future release",
    ]
    assert squash_stacks(lines) == [
        "ERROR boom",
        "java.lang.IllegalStateException: bad",
        "\t[2 stack frames omitted]",
        "Caused by: java.io.IOException: disk",
        "\t[2 stack frames omitted]",
    ]
