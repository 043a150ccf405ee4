"""A local single-node Apache Cassandra 5.0 for development and tests, run from Maven jars.

Python API: `LocalNode(settings).start() / .stop() / .status()`; CLI: `news-search db ...`.
"""

from localcassandra.errors import NodeError
from localcassandra.node import LocalNode, NodeStatus, StartResult, StopResult

__all__ = ["LocalNode", "NodeError", "NodeStatus", "StartResult", "StopResult"]
