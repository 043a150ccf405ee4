"""Asynchronous writes with a cap on requests in flight, retries, and a database that goes away.

Every write the product sends is an idempotent upsert or delete, so resending one is always safe.
Two kinds of failure are told apart:
- a slow or busy node (timeouts, overload, CASSANDRA-21644's WriteFailure): the write is retried with
  exponential backoff, a bounded number of times;
- no node at all (NoHostAvailable, a closed connection): the writer stops sending, holds the writes
  that failed, and checks every second whether the database is back. If it is within the outage
  budget, the held writes go out again and the run carries on; if not, the writer gives up and every
  held write fails with `StoreUnavailable`, which stops the run with one clear message. The log gets
  one line when the outage starts and one when it ends, not one per write.
"""

from __future__ import annotations

import logging
import random
import threading
import time
from collections.abc import Callable, Sequence
from typing import Any

from newsindex.errors import StoreUnavailable

log = logging.getLogger(__name__)

# WriteFailure included: Cassandra 5.0.9 can fail a vector insert under concurrency (CASSANDRA-21644).
RETRYABLE = frozenset(
    {"WriteTimeout", "WriteFailure", "ReadTimeout", "OperationTimedOut", "OverloadedErrorMessage", "Unavailable"}
)
UNREACHABLE = frozenset({"NoHostAvailable", "ConnectionException", "ConnectionShutdown", "ConnectionBusy"})
OnDone = Callable[[Any, BaseException | None], None]


class BoundedWriter:
    """At most `max_in_flight` writes outstanding; `submit` blocks only for a free slot (or an outage)."""

    def __init__(
        self,
        session: Any,
        max_in_flight: int,
        retries: int = 5,
        base_delay_s: float = 0.2,
        outage_wait_s: float = 120.0,
        probe: Callable[[], bool] | None = None,
    ) -> None:
        self.session = session
        self.retries = retries
        self.base_delay_s = base_delay_s
        self.outage_wait_s = outage_wait_s
        self._probe = probe or self._default_probe
        self._slots = threading.BoundedSemaphore(max_in_flight)
        self._lock = threading.Lock()
        self._idle = threading.Condition(self._lock)
        self._pending = 0
        self._held: list[tuple[Any, Sequence[Any] | None, Any, OnDone | None]] = []
        self._outage_since: float | None = None
        self._outage_over = threading.Condition(self._lock)
        self.aborted: StoreUnavailable | None = None
        self.written = 0
        self.retried = 0
        self.failed: list[tuple[Any, BaseException]] = []
        self.outages: list[float] = []  # seconds each outage lasted (the last one may be unfinished)
        self.busy_seconds = 0.0  # wall time with at least one write in flight
        self._busy_since: float | None = None

    # --- public ------------------------------------------------------------------------------------
    def submit(
        self, statement: Any, params: Sequence[Any] | None, tag: Any = None, on_done: OnDone | None = None
    ) -> None:
        """Queue one write; raises StoreUnavailable once the writer has given up on the database."""
        if self.aborted is not None:
            raise self.aborted
        self._slots.acquire()
        with self._lock:
            if self._pending == 0:
                self._busy_since = time.perf_counter()
            self._pending += 1
        self._send(statement, params, tag, on_done, attempt=0)

    def flush(self, timeout_s: float | None = None) -> None:
        """Wait until every submitted write has finished (successfully or not)."""
        with self._idle:
            self._idle.wait_for(lambda: self._pending == 0, timeout=timeout_s)

    @property
    def in_outage(self) -> bool:
        return self._outage_since is not None

    def call(self, fn: Callable[[], Any]) -> Any:
        """Run a read (or a blocking write) of the main thread, waiting out an outage like the writes do."""
        while True:
            try:
                return fn()
            except Exception as exc:
                if type(exc).__name__ not in UNREACHABLE:
                    raise
                self._start_outage()
                with self._outage_over:
                    self._outage_over.wait_for(lambda: self._outage_since is None or self.aborted is not None)
                if self.aborted is not None:
                    raise self.aborted from None

    # --- internals ---------------------------------------------------------------------------------
    def _send(
        self, statement: Any, params: Sequence[Any] | None, tag: Any, on_done: OnDone | None, attempt: int
    ) -> None:
        try:
            future = self.session.execute_async(statement, params)
        except Exception as exc:  # session shut down, no host...
            self._on_error(exc, statement, params, tag, on_done, attempt)
            return
        future.add_callbacks(
            callback=lambda _rows: self._finish(tag, on_done, None),
            errback=lambda exc: self._on_error(exc, statement, params, tag, on_done, attempt),
        )

    def _on_error(
        self,
        exc: BaseException,
        statement: Any,
        params: Sequence[Any] | None,
        tag: Any,
        on_done: OnDone | None,
        attempt: int,
    ) -> None:
        kind = type(exc).__name__
        if kind in UNREACHABLE and self.aborted is None:
            self._hold(statement, params, tag, on_done)
            return
        if kind in RETRYABLE and attempt < self.retries and self.aborted is None:
            delay = self.base_delay_s * (2**attempt) * (1 + random.random())
            with self._lock:
                self.retried += 1
            timer = threading.Timer(delay, self._send, args=(statement, params, tag, on_done, attempt + 1))
            timer.daemon = True
            timer.start()
            return
        self._finish(tag, on_done, self.aborted or exc)

    def _hold(self, statement: Any, params: Sequence[Any] | None, tag: Any, on_done: OnDone | None) -> None:
        with self._lock:
            self._held.append((statement, params, tag, on_done))
        self._start_outage()

    def _start_outage(self) -> None:
        with self._lock:
            starting = self._outage_since is None and self.aborted is None
            if starting:
                self._outage_since = time.monotonic()
        if starting:
            log.warning(
                "the database is unreachable: holding writes and checking every second for up to %.0f s "
                "(NEWS_DB_OUTAGE_WAIT_S)",
                self.outage_wait_s,
            )
            threading.Thread(target=self._wait_out_outage, name="db-outage", daemon=True).start()

    def _wait_out_outage(self) -> None:
        started = self._outage_since or time.monotonic()
        while time.monotonic() - started < self.outage_wait_s:
            time.sleep(1.0)
            if self._probe():
                with self._lock:
                    held, self._held = self._held, []
                    self._outage_since = None
                    self._outage_over.notify_all()
                lasted = time.monotonic() - started
                self.outages.append(lasted)
                log.warning("the database is back after %.0f s; resending %d held writes", lasted, len(held))
                for statement, params, tag, on_done in held:
                    self._send(statement, params, tag, on_done, attempt=0)
                return
        lasted = time.monotonic() - started
        self.outages.append(lasted)
        self.aborted = StoreUnavailable(
            f"the database has been unreachable for {lasted:.0f} s (NEWS_DB_OUTAGE_WAIT_S={self.outage_wait_s:.0f}); "
            "stopping the run"
        )
        with self._lock:
            held, self._held = self._held, []
            self._outage_over.notify_all()
        log.error("%s; %d held writes not sent", self.aborted, len(held))
        for _statement, _params, tag, on_done in held:
            self._finish(tag, on_done, self.aborted)

    def _default_probe(self) -> bool:
        try:
            self.session.execute("SELECT release_version FROM system.local", timeout=2.0)
            return True
        except Exception:
            return False

    def _finish(self, tag: Any, on_done: OnDone | None, error: BaseException | None) -> None:
        try:
            if on_done is not None:
                on_done(tag, error)
        finally:
            with self._lock:
                if error is None:
                    self.written += 1
                else:
                    self.failed.append((tag, error))
                self._pending -= 1
                if self._pending == 0 and self._busy_since is not None:
                    self.busy_seconds += time.perf_counter() - self._busy_since
                    self._busy_since = None
                    self._idle.notify_all()
            self._slots.release()
