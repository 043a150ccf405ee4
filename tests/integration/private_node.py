"""A Cassandra node of a test's own, on free ports in a temporary directory: one a test may kill -9.

The shared node (`make test` starts it) must never be killed; fault tests use one of these.
"""

from __future__ import annotations

import os
import signal
import time
from pathlib import Path

from localcassandra.node import LocalNode
from localcassandra.ports import free_port
from newsindex.settings import Settings


class PrivateNode:
    def __init__(self, root: Path, heap: str = "768M") -> None:
        self.env = {
            "NEWS_LOCAL_NODE_DIR": str(root / "node"),
            "NEWS_CASSANDRA_PORT": str(free_port()),
            "NEWS_LOCAL_STORAGE_PORT": str(free_port()),
            "NEWS_LOCAL_HEAP": heap,
            "NEWS_START_TIMEOUT_S": "300",
        }
        self.settings = Settings.from_env(env=self.env)
        self.node = LocalNode(self.settings)

    def start(self) -> None:
        self.node.start()

    def kill(self) -> None:
        """kill -9 of the node's JVM, as a crash would; returns once the process is gone."""
        pid = self.node.pid()
        assert pid is not None, "the private node is not running"
        os.kill(pid, signal.SIGKILL)
        try:
            os.waitpid(pid, 0)  # our child: reap it, or it lingers as a zombie
            return
        except ChildProcessError:
            pass
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            try:
                os.kill(pid, 0)
            except ProcessLookupError:
                return
            time.sleep(0.1)
        raise AssertionError(f"pid {pid} survived SIGKILL for 30 s")

    def stop(self) -> None:
        self.node.stop()
