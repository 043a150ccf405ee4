"""`LocalCluster`: N local nodes (127.0.0.1 .. 127.0.0.N) of the same Maven build, started as one.

Start order: the seed (node 1) first, until it answers CQL; then the others together; then wait
until `nodetool status`, asked on every node, shows every node Up and Normal (UN). A node that
already runs is left alone, so `start` after a crash brings back only the missing nodes.
Stop is parallel (each node drains on SIGTERM). All waiting is bounded by the start timeout.
"""

from __future__ import annotations

import os
import shutil
import time
from collections.abc import Callable, Mapping
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path

from localcassandra import nodetool
from localcassandra.errors import NodeError
from localcassandra.jars import ensure_jars, is_complete, lib_dir_for
from localcassandra.java import find_java
from localcassandra.layout import check_cluster_ports, check_local_settings
from localcassandra.node import LocalNode, NodeStatus, StartResult, StopResult
from localcassandra.topology import RECORD, members, record_nodes
from newsindex.settings import Settings

Progress = Callable[[str], None]
RING_POLL_S = 2.0


@dataclass(frozen=True)
class ClusterStart:
    nodes: list[StartResult]
    ring: list[nodetool.RingEntry]
    seconds: float


class LocalCluster:
    """Nodes 1..N of one state dir; `LocalCluster(settings, 1)` is the single node alone."""

    def __init__(
        self,
        settings: Settings,
        nodes: int,
        env: Mapping[str, str] | None = None,
        progress: Progress | None = None,
    ) -> None:
        self.settings = settings
        self.size = nodes
        self._env = os.environ if env is None else env
        self._progress = progress or (lambda _msg: None)
        self.nodes = [LocalNode(settings, env, self._progress, m) for m in members(nodes)]
        self.root = settings.local_node_dir.expanduser().absolute()

    def node(self, index: int) -> LocalNode:
        """Node `index`, 1-based as in its address 127.0.0.<index>."""
        return self.nodes[index - 1]

    # --- actions ---------------------------------------------------------------------------
    def start(self, timeout_s: float | None = None) -> ClusterStart:
        started = time.monotonic()
        timeout = self.settings.start_timeout_s if timeout_s is None else timeout_s
        if self.size == 1:
            return ClusterStart([self.nodes[0].start(timeout)], [], time.monotonic() - started)
        check_local_settings(self.settings)
        check_cluster_ports(self.settings, self.size)
        record_nodes(self.root, self.size)
        seed, others = self.nodes[0], self.nodes[1:]
        results = [seed.start(timeout)]
        remaining = max(timeout - (time.monotonic() - started), 1.0)
        with ThreadPoolExecutor(max_workers=len(others)) as pool:
            results += list(pool.map(lambda n: n.start(remaining), others))
        ring = self.wait_ring(max(timeout - (time.monotonic() - started), 10.0))
        return ClusterStart(results, ring, time.monotonic() - started)

    def stop(self, timeout_s: float = 60.0) -> list[StopResult]:
        with ThreadPoolExecutor(max_workers=self.size) as pool:
            return list(pool.map(lambda n: n.stop(timeout_s), self.nodes))

    def reset(self) -> None:
        """Stop every node and delete the whole state dir; refuses a dir that is not a cluster's."""
        if self.size == 1:
            self.nodes[0].reset()
            return
        if not (self.root / RECORD).is_file():
            raise NodeError(f"Refusing to delete {self.root}: it holds no {RECORD}. Check NEWS_LOCAL_NODE_DIR.")
        self.stop()
        shutil.rmtree(self.root, ignore_errors=True)

    def status(self) -> list[NodeStatus]:
        return [n.status() for n in self.nodes]

    def wait_ring(self, timeout_s: float) -> list[nodetool.RingEntry]:
        """Until every node's `nodetool status` lists all N nodes as UN; the last answer on timeout."""
        deadline = time.monotonic() + timeout_s
        pending = list(self.nodes)
        ring: list[nodetool.RingEntry] = []
        while pending:
            try:
                ring = self.ring(pending[0])
            except NodeError as exc:
                ring, last_error = [], str(exc)
            else:
                last_error = ""
            if len(ring) == self.size and all(e.up and e.state == "N" for e in ring):
                pending.pop(0)
                continue
            if time.monotonic() >= deadline:
                seen = ", ".join(f"{e.code} {e.address}" for e in ring) or last_error or "nothing"
                raise NodeError(
                    f"The {self.size} nodes answer CQL, but {pending[0].member.name} does not see all of them Up "
                    f"and Normal within {timeout_s:.0f} s (it sees: {seen}). Check the logs "
                    f"(`news-search db logs`), then run `news-search db start` again to keep waiting."
                )
            self._progress(f"Waiting for the ring: {pending[0].member.name} sees {_describe(ring)}")
            time.sleep(RING_POLL_S)
        return ring

    def ring(self, via: LocalNode | None = None) -> list[nodetool.RingEntry]:
        """`nodetool status` as seen by `via` (default: the first node that runs)."""
        via = via or next((n for n in self.nodes if n.pid() is not None), None)
        if via is None:
            return []
        return nodetool.parse_status(self.nodetool(via, ["status"], timeout_s=60.0))

    def repair(self, keyspace: str, timeout_s: float = 600.0) -> str:
        """Full anti-entropy repair of `keyspace` from every node in turn (`nodetool repair -full`)."""
        return "".join(self.nodetool(n, ["repair", "-full", keyspace], timeout_s) for n in self.nodes)

    def nodetool(self, node: LocalNode, args: list[str], timeout_s: float = 120.0) -> str:
        port = node.member.jmx_port(self.settings.local_jmx_port)
        if port is None:
            raise NodeError("nodetool needs JMX, which only the nodes of `db start --nodes N` (N > 1) have.")
        java = find_java(self.settings.java_home, self._env)
        lib = lib_dir_for(self.settings.local_cache_dir, self.settings.cassandra_version)
        if not is_complete(lib):
            ensure_jars(self.settings.local_cache_dir, self.settings.cassandra_version, java, self._progress)
        return nodetool.run(java.binary, lib, port, args, timeout_s)

    def log_paths(self) -> list[Path]:
        return [n.layout.system_log for n in self.nodes]


def _describe(ring: list[nodetool.RingEntry]) -> str:
    return ", ".join(f"{e.code} {e.address}" for e in ring) or "no ring yet (JMX not up)"
