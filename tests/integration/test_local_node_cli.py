"""`python -m localcassandra` for real: a throwaway node on ports 19042/17000, apart from the main node.

The main test node (9042, default state dir) is started by `make test` outside pytest and is
never touched here.
"""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

pytestmark = pytest.mark.integration

CQL_PORT, STORAGE_PORT = 19042, 17000


@pytest.fixture
def env(tmp_path: Path) -> dict[str, str]:
    clean = {k: v for k, v in os.environ.items() if not k.startswith("NEWS_")}
    return {
        **clean,
        "NEWS_LOCAL_NODE_DIR": str(tmp_path / "node"),
        "NEWS_CASSANDRA_PORT": str(CQL_PORT),
        "NEWS_LOCAL_STORAGE_PORT": str(STORAGE_PORT),
        "NEWS_LOCAL_HEAP": "512M",
        "NEWS_START_TIMEOUT_S": "120",
    }


def db(env: dict[str, str], cwd: Path, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "localcassandra", *args], env=env, cwd=cwd, capture_output=True, text=True, timeout=300
    )


@pytest.fixture
def taken_port() -> Iterator[int]:
    with socket.socket() as s:
        s.bind(("127.0.0.1", CQL_PORT))
        s.listen()
        yield CQL_PORT


def test_start_on_a_taken_port_is_a_clear_error(env: dict[str, str], tmp_path: Path, taken_port: int) -> None:
    done = db(env, tmp_path, "start")
    assert done.returncode == 2
    assert f"Port {taken_port} on 127.0.0.1 (NEWS_CASSANDRA_PORT) is already taken by pid {os.getpid()}" in done.stderr
    assert "Traceback" not in done.stderr + done.stdout


def test_start_without_java_17_is_a_clear_error(env: dict[str, str], tmp_path: Path) -> None:
    done = db({**env, "NEWS_JAVA_HOME": "/nonexistent"}, tmp_path, "start")
    assert done.returncode == 2
    assert "No Java 17 found" in done.stderr and "/nonexistent (from NEWS_JAVA_HOME" in done.stderr
    assert "Traceback" not in done.stderr + done.stdout


def test_full_start_status_stop_cycle(env: dict[str, str], tmp_path: Path) -> None:
    started = time.monotonic()
    try:
        done = db(env, tmp_path, "start")
        assert done.returncode == 0, done.stderr
        assert f"is up on 127.0.0.1:{CQL_PORT}" in done.stderr
        again = db(env, tmp_path, "start")
        assert again.returncode == 0 and "already up" in again.stderr
        status = json.loads(db(env, tmp_path, "status", "--json").stdout)
        assert status["cql_up"] and status["version"].startswith("5.0.")
        assert status["node_dir"] == env["NEWS_LOCAL_NODE_DIR"]
    finally:
        stop = db(env, tmp_path, "stop")
    assert stop.returncode == 0 and "Stopped the node" in stop.stderr
    assert db(env, tmp_path, "status").returncode == 3
    assert db(env, tmp_path, "stop").returncode == 0  # idempotent
    assert time.monotonic() - started < 120
