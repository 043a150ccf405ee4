"""Find a Java 17 to run the node: Cassandra 5.0 supports 11 and 17, and our JVM flags are 17's.

A newer JDK (21, 25) starts but needs other flags and is unsupported, so it is skipped, not used.
"""

from __future__ import annotations

import os
import re
import subprocess
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

from localcassandra.errors import NodeError

REQUIRED_MAJOR = 17
JVM_ROOT = Path("/usr/lib/jvm")
_VERSION_LINE = re.compile(r'version "([^"]+)"')


@dataclass(frozen=True)
class Java:
    """A usable JDK/JRE 17."""

    home: Path
    binary: Path
    version: str


def parse_java_version(output: str) -> tuple[int, str]:
    """(major, full version) from `java -version` output; 1.8.0_x counts as 8."""
    match = _VERSION_LINE.search(output)
    if not match:
        raise ValueError(f"no version in {output[:200]!r}")
    full = match.group(1)
    parts = re.split(r"[._+-]", full)
    major = int(parts[1]) if parts[0] == "1" and len(parts) > 1 else int(parts[0])
    return major, full


def _probe(home: Path) -> tuple[Java | None, str]:
    """The Java at `home`, or None and the reason it is unusable."""
    binary = home / "bin" / "java"
    if not binary.is_file() or not os.access(binary, os.X_OK):
        return None, "no bin/java there"
    try:
        done = subprocess.run([str(binary), "-version"], capture_output=True, text=True, timeout=30)
        major, full = parse_java_version(done.stderr + done.stdout)
    except (OSError, subprocess.SubprocessError, ValueError) as exc:
        return None, f"`java -version` failed ({exc})"
    if major != REQUIRED_MAJOR:
        return None, f"it is Java {full}, not {REQUIRED_MAJOR}"
    return Java(home=home.resolve(), binary=home.resolve() / "bin" / "java", version=full), ""


def candidate_homes(java_home: str, env: Mapping[str, str], jvm_root: Path = JVM_ROOT) -> list[tuple[str, Path]]:
    """(where it came from, home) in search order; an explicit NEWS_JAVA_HOME is the only candidate."""
    if java_home:
        return [("NEWS_JAVA_HOME", Path(java_home).expanduser())]
    found: list[tuple[str, Path]] = []
    if env.get("JAVA_HOME"):
        found.append(("JAVA_HOME", Path(env["JAVA_HOME"]).expanduser()))
    if jvm_root.is_dir():
        found.extend((str(jvm_root), p) for p in sorted(jvm_root.glob(f"*{REQUIRED_MAJOR}*")) if p.is_dir())
    unique: list[tuple[str, Path]] = []
    seen: set[Path] = set()
    for source, home in found:
        real = home.resolve()
        if real not in seen:
            seen.add(real)
            unique.append((source, home))
    return unique


def find_java(java_home: str = "", env: Mapping[str, str] | None = None, jvm_root: Path = JVM_ROOT) -> Java:
    """The first Java 17 found, or a NodeError listing everything that was tried and why it failed."""
    env = os.environ if env is None else env
    tried: list[str] = []
    for source, home in candidate_homes(java_home, env, jvm_root):
        java, why = _probe(home)
        if java:
            return java
        tried.append(f"{home} (from {source}: {why})")
    searched = "; ".join(tried) if tried else f"JAVA_HOME is unset and {jvm_root} has no *{REQUIRED_MAJOR}* JDK"
    if java_home:
        other = next((j for j in (_probe(h)[0] for _, h in candidate_homes("", env, jvm_root)) if j), None)
        fix = (
            "NEWS_JAVA_HOME is set, so nothing else was searched: point it at a Java 17 home"
            + (f" (there is one at {other.home})" if other else "")
            + " or unset it."
        )
    else:
        fix = (
            "Install one (Debian: `apt-get install openjdk-17-jre-headless`) or set NEWS_JAVA_HOME "
            "to the home of a Java 17."
        )
    raise NodeError(
        f"No Java {REQUIRED_MAJOR} found to run the local Cassandra node (Cassandra 5.0 is run on "
        f"Java {REQUIRED_MAJOR} here; newer JDKs are skipped). Searched: {searched}. {fix}"
    )
