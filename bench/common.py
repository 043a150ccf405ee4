"""What every benchmark shares: paths, settings, statistics, tables, results files, node helpers.

Every figure the benchmarks print is measured in the same run as its baseline, the variants
alternated (A B B A ...) and repeated, with the median reported beside the raw numbers: the machine
is small and shared, so an absolute number from one run says little on its own.
"""

from __future__ import annotations

import contextlib
import fcntl
import json
import math
import os
import platform
import statistics
import subprocess
import sys
import time
from collections.abc import Callable, Iterable, Iterator, Sequence
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parents[1]
RESULTS_DIR = REPO / "bench" / "results"
BENCH_MODEL = "all-MiniLM-L6-v2"
DIMENSION = 384


# --- environment and inputs -------------------------------------------------------------------


def setup_env() -> None:
    """The bundled offline model, no hub traffic, quiet tokenizers; call before importing the model."""
    os.environ.setdefault("NEWS_MODEL", BENCH_MODEL)
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")


def shared_dir() -> Path:
    """`../shared` beside the checkout (where the team keeps the sample), or NEWS_SHARED_DIR."""
    return Path(os.environ.get("NEWS_SHARED_DIR") or REPO.parent / "shared")


def sample_csv() -> Path | None:
    path = shared_dir() / "data" / "news_sample.csv"
    return path if path.is_file() else None


def require_sample() -> Path:
    path = sample_csv()
    if path is None:
        raise SkipBenchmark(
            f"the shared sample {shared_dir() / 'data' / 'news_sample.csv'} is absent "
            "(set NEWS_SHARED_DIR to the folder holding data/news_sample.csv)"
        )
    return path


def eval_queries() -> list[str]:
    """The judged and known-item queries of shared/eval, judged ones first (the latency query set)."""
    folder = shared_dir() / "eval"
    queries: list[str] = []
    for name in ("sample_queries.jsonl", "title_queries.jsonl"):
        path = folder / name
        if path.is_file():
            for line in path.read_text(encoding="utf-8").splitlines():
                if line.strip():
                    queries.append(json.loads(line)["query"])
    if not queries:
        raise SkipBenchmark(f"no eval queries under {folder} (set NEWS_SHARED_DIR)")
    return queries


@contextlib.contextmanager
def exclusive_run(name: str) -> Iterator[None]:
    """One benchmark run at a time on this machine: two would share keyspaces and distort each other's timings."""
    path = Path(os.environ.get("TMPDIR", "/tmp")) / "news-search-bench.lock"
    handle = path.open("a+")
    try:
        fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        handle.seek(0)
        say(f"[bench] waiting for another benchmark run to finish ({handle.read().strip() or 'unknown'})")
        fcntl.flock(handle, fcntl.LOCK_EX)
    handle.seek(0)
    handle.truncate()
    handle.write(f"pid {os.getpid()}: {name}\n")
    handle.flush()
    try:
        yield
    finally:
        fcntl.flock(handle, fcntl.LOCK_UN)
        handle.close()


class SkipBenchmark(Exception):
    """A benchmark cannot run here (missing input, no node); its message says why."""


def bench_settings(keyspace: str, **overrides: Any) -> Any:
    """Settings for a bench keyspace, state (lock, quarantine) in a private temp dir."""
    from newsindex.settings import Settings

    setup_env()
    state = Path(os.environ.get("TMPDIR", "/tmp")) / f"news-bench-{os.getpid()}"
    overrides.setdefault("state_dir", state)
    return Settings.from_env(keyspace=keyspace, **overrides)


# --- statistics -------------------------------------------------------------------------------


def percentiles(values: Sequence[float]) -> dict[str, float]:
    """Median, p95, p99 (nearest-rank), mean, min, max and count of `values`."""
    if not values:
        return {"n": 0}
    ordered = sorted(values)

    def rank(p: float) -> float:
        index = max(0, min(len(ordered) - 1, math.ceil(p / 100 * len(ordered)) - 1))
        return ordered[index]

    return {
        "n": len(ordered),
        "median": statistics.median(ordered),
        "p95": rank(95),
        "p99": rank(99),
        "mean": statistics.fmean(ordered),
        "min": ordered[0],
        "max": ordered[-1],
    }


def median(values: Iterable[float]) -> float:
    items = list(values)
    return statistics.median(items) if items else float("nan")


def ratio(a: float, b: float) -> float:
    return a / b if b else float("nan")


def alternate(variants: dict[str, Callable[[], Any]], rounds: int) -> dict[str, list[Any]]:
    """Run each variant `rounds` times in A B / B A order, so drift and neighbours hit both alike."""
    names = list(variants)
    out: dict[str, list[Any]] = {name: [] for name in names}
    for number in range(rounds):
        order = names if number % 2 == 0 else list(reversed(names))
        for name in order:
            out[name].append(variants[name]())
    return out


def in_order(variants: dict[str, Callable[[], Any]], reverse: bool) -> dict[str, Any]:
    """One round: every variant once, in the given order or reversed (callers alternate `reverse`)."""
    names = list(reversed(variants)) if reverse else list(variants)
    return {name: variants[name]() for name in names}


def write_concurrency() -> int:
    """Writes in flight for bulk loads into a vector-indexed table (NEWS_BENCH_WRITE_CONCURRENCY, default 2).

    Cassandra 5.0.9's memtable vector index (jvector 1.0.2 `GraphIndexBuilder`) pools per-thread
    scratch objects up to `availableProcessors() + 1`; more concurrent mutations than that on one
    table fail with "Number of outstanding pooled objects has gone beyond the limit of 3" on this
    2-core node, whose yaml allows 8 concurrent writes. Two in flight never trips it and loads
    fastest here (measured: 2 -> 0 failures, 8 -> ~25% failed writes).
    """
    return int(os.environ.get("NEWS_BENCH_WRITE_CONCURRENCY", "2"))


class Stopwatch:
    def __enter__(self) -> Stopwatch:
        self.started = time.perf_counter()
        self.seconds = 0.0
        return self

    def __exit__(self, *exc: object) -> None:
        self.seconds = time.perf_counter() - self.started


# --- output -----------------------------------------------------------------------------------


def fmt(value: Any, digits: int = 1) -> str:
    if isinstance(value, float):
        if value != value:  # NaN
            return "n/a"
        if abs(value) >= 100:
            return f"{value:,.0f}"
        return f"{value:.{digits}f}"
    if isinstance(value, int):
        return f"{value:,}"
    return str(value)


def table(headers: Sequence[str], rows: Iterable[Sequence[Any]], digits: int = 1) -> str:
    """A Markdown table (what docs/BENCHMARKS.md pastes)."""
    lines = ["| " + " | ".join(headers) + " |", "|" + "|".join("---" for _ in headers) + "|"]
    lines += ["| " + " | ".join(fmt(cell, digits) for cell in row) + " |" for row in rows]
    return "\n".join(lines)


def say(text: str = "") -> None:
    print(text, flush=True)


def save_results(name: str, data: dict[str, Any]) -> Path:
    RESULTS_DIR.mkdir(parents=True, exist_ok=True)
    stamp = time.strftime("%Y%m%d-%H%M%S")
    payload = {"benchmark": name, "at": stamp, "command": " ".join(sys.argv), "machine": machine_info(), **data}
    path = RESULTS_DIR / f"{name}-{stamp}.json"
    text = json.dumps(payload, indent=2, default=str)
    path.write_text(text, encoding="utf-8")
    (RESULTS_DIR / f"{name}-latest.json").write_text(text, encoding="utf-8")
    return path


_MACHINE: dict[str, Any] = {}


def machine_info() -> dict[str, Any]:
    """CPU model, cores, RAM and the versions that matter, gathered once per process."""
    if _MACHINE:
        return _MACHINE
    cpu = ""
    try:
        out = subprocess.run(["lscpu"], capture_output=True, text=True, timeout=10).stdout
        cpu = next((ln.split(":", 1)[1].strip() for ln in out.splitlines() if ln.startswith("Model name")), "")
        flags = next((ln for ln in out.splitlines() if ln.startswith("Flags")), "")
        _MACHINE["bf16_cpu_flag"] = "avx512_bf16" in flags
    except (OSError, subprocess.SubprocessError):
        pass
    mem_kib = 0
    try:
        for line in Path("/proc/meminfo").read_text().splitlines():
            if line.startswith("MemTotal"):
                mem_kib = int(line.split()[1])
    except OSError:
        pass
    _MACHINE.update(
        {
            "cpu": cpu,
            "cores": os.cpu_count(),
            "ram_gib": round(mem_kib / 1024 / 1024, 1),
            "python": platform.python_version(),
            "load_avg_at_start": os.getloadavg(),
        }
    )
    for module in ("torch", "sentence_transformers", "transformers", "cassandra", "numpy"):
        try:
            _MACHINE[module] = __import__(module).__version__
        except Exception:  # reported as missing, never fatal
            _MACHINE[module] = "missing"
    try:
        from importlib.metadata import version

        _MACHINE["cassio"] = version("cassio")
    except Exception:
        _MACHINE["cassio"] = "missing"
    return _MACHINE


# --- the Cassandra node -----------------------------------------------------------------------


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


class torch_threads:
    """Set torch's intra-op thread count for a block, restore it afterwards (None = leave as is)."""

    def __init__(self, count: int | None) -> None:
        self.count = count
        self.before = 0

    def __enter__(self) -> None:
        import torch

        self.before = torch.get_num_threads()
        if self.count:
            torch.set_num_threads(self.count)

    def __exit__(self, *exc: object) -> None:
        import torch

        torch.set_num_threads(self.before)
