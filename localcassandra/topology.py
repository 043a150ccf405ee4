"""Where each local node sits: its loopback address, state subdirectory, token and JMX port.

One state dir (NEWS_LOCAL_NODE_DIR) holds one topology: a single node in the dir itself (the
default), or an N-node cluster in `node1/ .. nodeN/` with node i on 127.0.0.i, recorded in
`cluster.json` when the cluster is first started, so `status`, `stop` and `logs` find every node.
Every node of a cluster uses the same CQL and storage ports on its own address; JMX (for nodetool)
binds to 127.0.0.1 only, so node i takes NEWS_LOCAL_JMX_PORT + i - 1.

Pure apart from `recorded_nodes` / `record_nodes`, which read and write the small record file.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

from localcassandra.errors import NodeError

LOCAL_HOST = "127.0.0.1"
LOCAL_DC = "dc1"
LOCAL_RACK = "rack1"
MAX_NODES = 9
RECORD = "cluster.json"
_MIN_TOKEN = -(2**63)


@dataclass(frozen=True)
class Member:
    """Node `index` (1-based) of a local topology of `nodes` nodes; `Member()` is the single node."""

    index: int = 1
    nodes: int = 1

    def __post_init__(self) -> None:
        if not 1 <= self.nodes <= MAX_NODES or not 1 <= self.index <= self.nodes:
            raise ValueError(f"node {self.index} of {self.nodes}: a local cluster has 1 to {MAX_NODES} nodes")

    @property
    def in_cluster(self) -> bool:
        return self.nodes > 1

    @property
    def is_seed(self) -> bool:
        return self.index == 1

    @property
    def address(self) -> str:
        """127.0.0.i: every address of 127.0.0.0/8 is loopback on Linux, no interface setup needed."""
        return f"127.0.0.{self.index}"

    @property
    def name(self) -> str:
        return f"node{self.index}" if self.in_cluster else "node"

    @property
    def initial_token(self) -> int:
        """One token per node, evenly spread over the Murmur3 ring (0 for the single node, as before)."""
        if not self.in_cluster:
            return 0
        return _MIN_TOKEN + (self.index - 1) * (2**64 // self.nodes)

    def root(self, state_dir: Path) -> Path:
        return state_dir / self.name if self.in_cluster else state_dir

    def jmx_port(self, base: int) -> int | None:
        """JMX only for cluster nodes (nodetool status/repair); the single node runs without it."""
        return base + self.index - 1 if self.in_cluster else None


def members(nodes: int) -> list[Member]:
    return [Member(i, nodes) for i in range(1, nodes + 1)]


def contact_points(nodes: int) -> str:
    """The NEWS_CASSANDRA_HOSTS value for a local topology."""
    return ",".join(m.address for m in members(nodes))


def replication_for(nodes: int) -> str:
    """The NEWS_REPLICATION that keeps one copy per node of a local cluster (RF 3 on 3 nodes)."""
    if nodes == 1:
        return "{'class': 'SimpleStrategy', 'replication_factor': 1}"
    return f"{{'class': 'NetworkTopologyStrategy', '{LOCAL_DC}': {nodes}}}"


def recorded_nodes(state_dir: Path) -> int | None:
    """The size of the cluster created in `state_dir`, None when it holds no cluster."""
    path = state_dir / RECORD
    try:
        nodes = int(json.loads(path.read_text(encoding="utf-8"))["nodes"])
    except FileNotFoundError:
        return None
    except (OSError, ValueError, KeyError, TypeError) as exc:
        raise NodeError(f"Cannot read {path} ({exc}); fix or delete it (`news-search db reset --yes`).") from None
    return nodes


def record_nodes(state_dir: Path, nodes: int) -> None:
    state_dir.mkdir(parents=True, exist_ok=True)
    (state_dir / RECORD).write_text(json.dumps({"nodes": nodes, "dc": LOCAL_DC}) + "\n", encoding="utf-8")


def holds_single_node(state_dir: Path) -> bool:
    return (state_dir / "conf").is_dir()


def resolve_nodes(state_dir: Path, requested: int | None) -> int:
    """How many nodes `db` commands act on: `--nodes` if given, else what the state dir holds (1 if empty).

    A state dir keeps the topology it was created with: asking another size is refused with the fix.
    """
    recorded = recorded_nodes(state_dir)
    existing = recorded or (1 if holds_single_node(state_dir) else None)
    if requested is None:
        return existing or 1
    if not 1 <= requested <= MAX_NODES:
        raise NodeError(f"--nodes {requested}: a local cluster has 1 to {MAX_NODES} nodes (3 is the usual choice).")
    if existing is not None and existing != requested:
        what = f"a {existing}-node cluster" if existing > 1 else "a single node"
        raise NodeError(
            f"{state_dir} already holds {what}; a state dir keeps the topology it was created with. Use "
            f"another NEWS_LOCAL_NODE_DIR for {requested} node(s), or delete this one first "
            "(`news-search db reset --yes`)."
        )
    return requested
