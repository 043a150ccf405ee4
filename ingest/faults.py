"""Deterministic crash points for the fault tests (`NEWS_FAULT_KILL_AFTER=article:5`).

A test that kills an ingest "after a while" depends on timing; one that names the exact point (the
5th acknowledged article row, the 40th acknowledged write) fails or passes the same way every time.
The kill is a real SIGKILL of this process, from whichever thread reaches the point: nothing is
flushed, closed or caught, exactly as with `kill -9`. Unset, this costs one comparison per event.
"""

from __future__ import annotations

import os
import signal
import threading


def parse(spec: str) -> tuple[str, int] | None:
    """`event:n` -> (event, n); empty -> None (Settings has already checked the form)."""
    if not spec:
        return None
    event, _, count = spec.partition(":")
    return event, int(count)


class KillSwitch:
    """Counts events and SIGKILLs the process at the n-th one of the chosen kind."""

    def __init__(self, spec: str) -> None:
        self._target = parse(spec)
        self._seen = 0
        self._lock = threading.Lock()

    def tick(self, event: str) -> None:
        if self._target is None or event != self._target[0]:
            return
        with self._lock:
            self._seen += 1
            due = self._seen == self._target[1]
        if due:
            os.kill(os.getpid(), signal.SIGKILL)
