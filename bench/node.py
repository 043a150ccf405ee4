"""The local Cassandra node, as the benchmarks use it: connect, drop, flush, wait, measure on disk.

The local node runs without JMX (no nodetool), so flushing and "is the index built" go through CQL:
a short `memtable_flush_period_in_ms`, and the `system_views` virtual tables.
"""

from __future__ import annotations

import os
import time
from pathlib import Path
from typing import Any

from bench.common import SkipBenchmark


def write_concurrency() -> int:
    """Writes in flight for bulk loads into a vector-indexed table (NEWS_BENCH_WRITE_CONCURRENCY, default 2).

    Cassandra 5.0.9's memtable vector index (jvector 1.0.2 `GraphIndexBuilder`) pools per-thread
    scratch objects up to `availableProcessors() + 1`; more concurrent mutations than that on one
    table fail with "Number of outstanding pooled objects has gone beyond the limit of 3" on this
    2-core node, whose yaml allows 8 concurrent writes. Two in flight never trips it and loads
    fastest here (measured: 2 -> 0 failures, 8 -> ~25% failed writes).
    """
    return int(os.environ.get("NEWS_BENCH_WRITE_CONCURRENCY", "2"))


def connect(settings: Any) -> Any:
    from newsindex.connect import connect as product_connect
    from newsindex.errors import StoreUnavailable

    try:
        return product_connect(settings)
    except StoreUnavailable as exc:
        raise SkipBenchmark(f"no Cassandra node: {exc}") from None


def node_version(session: Any) -> str:
    row = session.execute("SELECT release_version FROM system.local").one()
    return str(row.release_version)


def drop_keyspace(session: Any, keyspace: str) -> None:
    session.execute(f"DROP KEYSPACE IF EXISTS {keyspace}", timeout=300)


def keyspace_bytes(settings: Any, keyspace: str) -> int:
    """Bytes on disk under the local node's data dir for `keyspace` (what `du -sb` says)."""
    folder = Path(settings.local_node_dir) / "data" / keyspace
    if not folder.exists():
        return 0
    total = 0
    for path in folder.rglob("*"):
        try:
            if path.is_file():
                total += path.stat().st_size
        except OSError:  # compaction removed it meanwhile
            continue
    return total


def flush_table(session: Any, settings: Any, keyspace: str, table_name: str, timeout_s: float = 180.0) -> float:
    """Get the memtable onto disk without JMX: a short flush period, then wait until the size settles.

    The local node runs without JMX (no nodetool), so this sets `memtable_flush_period_in_ms` for a
    moment and waits until the keyspace's size on disk holds still and no flush is pending.
    """
    started = time.perf_counter()
    session.execute(f"ALTER TABLE {keyspace}.{table_name} WITH memtable_flush_period_in_ms = 1000", timeout=60)
    try:
        time.sleep(3)
        last, stable = -1, 0
        while time.perf_counter() - started < timeout_s and stable < 3:
            time.sleep(1.0)
            size = keyspace_bytes(settings, keyspace)
            busy = pending_flushes(session) > 0
            stable = stable + 1 if size == last and not busy else 0
            last = size
    finally:
        session.execute(f"ALTER TABLE {keyspace}.{table_name} WITH memtable_flush_period_in_ms = 0", timeout=60)
    return time.perf_counter() - started


def pending_flushes(session: Any) -> int:
    total = 0
    for row in session.execute("SELECT name, active_tasks, pending_tasks FROM system_views.thread_pools"):
        if row.name in ("MemtableFlushWriter", "MemtablePostFlush", "MemtableReclaimMemory"):
            total += int(row.active_tasks or 0) + int(row.pending_tasks or 0)
    return total


def wait_until_settled(session: Any, keyspace: str, timeout_s: float = 600.0) -> dict[str, Any]:
    """Wait until the keyspace's SAI indexes are built and queryable and no compaction runs on it."""
    started = time.perf_counter()
    state: dict[str, Any] = {}
    while True:
        indexes = list(
            session.execute(
                "SELECT index_name, is_building, is_queryable FROM system_views.sai_column_indexes "
                "WHERE keyspace_name = %s ALLOW FILTERING",
                (keyspace,),
            )
        )
        tasks = [
            r
            for r in session.execute("SELECT keyspace_name, kind, progress, total FROM system_views.sstable_tasks")
            if r.keyspace_name == keyspace
        ]
        building = [r.index_name for r in indexes if r.is_building or not r.is_queryable]
        state = {"indexes": len(indexes), "building": building, "compactions": len(tasks)}
        if not building and not tasks:
            break
        if time.perf_counter() - started > timeout_s:
            state["timed_out"] = True
            break
        time.sleep(2.0)
    state["waited_s"] = round(time.perf_counter() - started, 1)
    return state


def vector_sstables(session: Any, keyspace: str, table_name: str = "passages") -> int:
    """How many sstables carry a vector index (an ANN query searches one graph per sstable)."""
    try:
        rows = session.execute(
            "SELECT table_name, column_name FROM system_views.sai_sstable_indexes "
            "WHERE keyspace_name = %s ALLOW FILTERING",
            (keyspace,),
        )
        return sum(1 for r in rows if r.column_name == "vector" and r.table_name == table_name)
    except Exception:  # informative only; never fail a run over it
        return -1
