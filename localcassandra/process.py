"""Facts about the node's JVM process, read from /proc: alive, ours, memory."""

from __future__ import annotations

import contextlib
import os
import signal
import time
from pathlib import Path

from localcassandra.command import DAEMON

PROC = Path("/proc")


def is_alive(pid: int) -> bool:
    """Running and not a zombie; a zombie child of ours is reaped on the way."""
    try:
        stat = (PROC / str(pid) / "stat").read_text()
    except OSError:
        return False
    if stat.rsplit(")", 1)[1].split()[0] == "Z":
        with contextlib.suppress(ChildProcessError):
            os.waitpid(pid, os.WNOHANG)
        return False
    return True


def argv_of(pid: int) -> list[str]:
    try:
        raw = (PROC / str(pid) / "cmdline").read_bytes()
    except OSError:
        return []
    return [a.decode("utf-8", "replace") for a in raw.split(b"\0") if a]


def is_node_of(pid: int, root: Path) -> bool:
    """True if `pid` is a Cassandra daemon using `root` as its state dir (guards against pid reuse)."""
    argv = argv_of(pid)
    return DAEMON in argv and f"-Dcassandra.storagedir={root}" in argv and is_alive(pid)


def find_node(root: Path) -> int | None:
    """Pid of the daemon using `root`, found by scanning /proc (for a lost or stale pid file)."""
    for entry in PROC.iterdir():
        if entry.name.isdigit() and is_node_of(int(entry.name), root):
            return int(entry.name)
    return None


def rss_bytes(pid: int) -> int | None:
    try:
        for line in (PROC / str(pid) / "status").read_text().splitlines():
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) * 1024
    except (OSError, ValueError):
        return None
    return None


def wait_gone(pid: int, timeout_s: float) -> bool:
    """Wait until `pid` has exited; True if it did within `timeout_s`."""
    deadline = time.monotonic() + timeout_s
    while is_alive(pid):
        if time.monotonic() >= deadline:
            return False
        time.sleep(0.2)
    return True


def kill_now(pid: int, timeout_s: float = 15.0) -> None:
    """SIGKILL, as a crash would: no drain, no flush; waits until the process is gone."""
    with contextlib.suppress(ProcessLookupError):
        os.kill(pid, signal.SIGKILL)
    wait_gone(pid, timeout_s)


def terminate(pid: int, timeout_s: float) -> bool:
    """SIGTERM (Cassandra drains and flushes on it), then SIGKILL after `timeout_s`; True if killed."""
    with contextlib.suppress(ProcessLookupError):
        os.kill(pid, signal.SIGTERM)
    if wait_gone(pid, timeout_s):
        return False
    with contextlib.suppress(ProcessLookupError):
        os.kill(pid, signal.SIGKILL)
    wait_gone(pid, 15.0)
    return True
