"""The one error type of the local node, carrying the log lines that explain it."""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from pathlib import Path

from newsindex.errors import NewsSearchError


@dataclass(frozen=True)
class LogExcerpt:
    """The last lines of one log file, shown under an error so nobody has to go digging."""

    path: Path
    lines: list[str] = field(default_factory=list)


class NodeError(NewsSearchError):
    """The local node could not be started, stopped or inspected; the message says what to do."""

    def __init__(self, message: str, excerpts: list[LogExcerpt] | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.excerpts = [e for e in (excerpts or []) if e.lines]

    def render(self) -> str:
        """Message plus the log excerpts, as the CLI prints it."""
        parts = [self.message]
        for excerpt in self.excerpts:
            parts.append(f"\n--- last {len(excerpt.lines)} lines of {excerpt.path} ---")
            parts.extend(excerpt.lines)
        return "\n".join(parts)


_ANSI = re.compile(r"\x1b\[[0-9;]*m")
_FRAME = re.compile(r"^\s+(at |\.\.\. \d+ more)")
# Java 17 prints these for every Cassandra 5.0 start; they are never the problem.
_NOISE = re.compile(r"^WARNING: .*(terminally deprecated|[sS]ecurityManager)")


def squash_stacks(lines: list[str]) -> list[str]:
    """Drop Java stack frames (keeping exception and `Caused by` lines) and known JVM noise."""
    out: list[str] = []
    skipped = 0
    for line in lines:
        if _FRAME.match(line):
            skipped += 1
            continue
        if skipped:
            out.append(f"\t[{skipped} stack frames omitted]")
            skipped = 0
        if not _NOISE.match(line):
            out.append(line)
    if skipped:
        out.append(f"\t[{skipped} stack frames omitted]")
    return out


def tail_lines(path: Path, count: int, start: int = 0, readable: bool = False) -> list[str]:
    """Last `count` lines of `path` written after byte offset `start`; [] if the file is missing.

    `readable` squashes stack traces first, so the excerpt shows causes rather than frames.
    """
    try:
        with open(path, "rb") as f:
            size = f.seek(0, 2)
            if size < start:  # rotated or truncated since: show the new file
                start = 0
            f.seek(max(start, size - 256 * 1024))
            data = f.read()
    except OSError:
        return []
    lines = _ANSI.sub("", data.decode("utf-8", "replace")).splitlines()
    return (squash_stacks(lines) if readable else lines)[-count:]
