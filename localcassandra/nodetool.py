"""nodetool from the same Maven jars as the nodes, over each cluster node's local-only JMX port.

Used for what CQL cannot tell: whether every node sees every other one Up and Normal (`status`),
and anti-entropy `repair` after a node was down. Each call is a short JVM (a few seconds of CPU).
"""

from __future__ import annotations

import re
import subprocess
from dataclasses import dataclass
from importlib import resources
from pathlib import Path

from localcassandra.command import jpms_flags
from localcassandra.errors import NodeError
from localcassandra.topology import LOCAL_HOST

NODETOOL = "org.apache.cassandra.tools.NodeTool"
_STATUS_LINE = re.compile(r"^([UD])([NLJM])\s+(\d+\.\d+\.\d+\.\d+)(?::\d+)?\s")


@dataclass(frozen=True)
class RingEntry:
    """One line of `nodetool status`: e.g. `UN 127.0.0.2`."""

    address: str
    up: bool
    state: str  # N(ormal), L(eaving), J(oining), M(oving)

    @property
    def code(self) -> str:
        return ("U" if self.up else "D") + self.state


def nodetool_command(java: Path, lib_dir: Path, jmx_port: int, args: list[str]) -> list[str]:
    logback = resources.files("localcassandra").joinpath("templates", "logback-tools.xml")
    return [
        str(java),
        "-Xmx256m",
        "-XX:+UseSerialGC",
        "-XX:TieredStopAtLevel=1",  # a short-lived client: start fast rather than optimise
        *jpms_flags(),
        f"-Dlogback.configurationFile={logback}",
        "-Dcassandra.storagedir=/nonexistent",
        "-cp",
        f"{lib_dir}/*",
        NODETOOL,
        "-h",
        LOCAL_HOST,
        "-p",
        str(jmx_port),
        *args,
    ]


def run(java: Path, lib_dir: Path, jmx_port: int, args: list[str], timeout_s: float = 120.0) -> str:
    """nodetool's stdout; a NodeError with its message when it fails or runs past `timeout_s`."""
    argv = nodetool_command(java, lib_dir, jmx_port, args)
    try:
        done = subprocess.run(argv, capture_output=True, text=True, timeout=timeout_s, check=False)
    except subprocess.TimeoutExpired:
        what = f"`nodetool {' '.join(args)}` on JMX port {jmx_port}"
        raise NodeError(f"{what} did not finish in {timeout_s:.0f} s.") from None
    if done.returncode != 0:
        lines = (done.stderr.strip() or done.stdout.strip()).splitlines()
        message = next((line for line in lines if "error" in line.lower()), lines[-1] if lines else "")
        raise NodeError(f"`nodetool {' '.join(args)}` on JMX port {jmx_port} failed: {message[:300]}")
    return done.stdout


def parse_status(text: str) -> list[RingEntry]:
    """The node lines of `nodetool status` output, in order."""
    out = []
    for line in text.splitlines():
        match = _STATUS_LINE.match(line)
        if match:
            out.append(RingEntry(match.group(3), match.group(1) == "U", match.group(2)))
    return out
