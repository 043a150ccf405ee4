"""The vector index at 10k / 100k (/ 1M) passages: load rate, size on disk, ANN latency and recall.

Per size, in one keyspace `bench_scale_<size>` with the product schema:
- load: random unit vectors through BoundedWriter into `passages` (vector + date + terms SAI
  indexes) and, interleaved block by block, the same rows into `passages_plain`, an identical table
  with no index: the baseline that prices the indexes (rows/s and bytes on disk);
- latency: `IndexStore.ann(q, 10)` from 1, 4 and 16 threads sharing one session, interleaved with
  a primary-key read of one passage (the round-trip baseline), alternating the order per round;
- recall@10 against an exact numpy dot product over the same vectors, for random unit queries
  (no structure: HNSW's hard case) and for stored vectors with noise (cosine ~0.9 to a stored one),
  with LIMIT 10 and with LIMIT 100 (the product fetches 200 candidates).
"""

from __future__ import annotations

import shutil
import threading
import time
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import numpy as np

from bench import common, node
from bench.common import DIMENSION
from bench.synthetic import load_rows, perturb, random_rows, random_unit_vectors, row_key

SEED = 20240601
CONCURRENCY = (1, 4, 16)
MILLION_MAX_LOAD_MIN = 25.0


def plain_table_cql(keyspace: str, dimension: int) -> str:
    return (
        f"CREATE TABLE IF NOT EXISTS {keyspace}.passages_plain ("
        " article_id text, chunk_no int, title text, link text, published date, body text,"
        f" terms set<text>, vector vector<float, {dimension}>, PRIMARY KEY ((article_id), chunk_no))"
    )


def timed_calls(fn: Callable[[Any], Any], items: Sequence[Any], concurrency: int) -> tuple[list[float], float]:
    """Call `fn` on every item from `concurrency` threads; per-call latencies (ms) and wall seconds."""
    latencies: list[float] = []
    lock = threading.Lock()

    def one(item: Any) -> None:
        t = time.perf_counter()
        fn(item)
        elapsed = (time.perf_counter() - t) * 1000
        with lock:
            latencies.append(elapsed)

    started = time.perf_counter()
    with ThreadPoolExecutor(max_workers=concurrency) as pool:
        for future in [pool.submit(one, item) for item in items]:
            future.result()
    return latencies, time.perf_counter() - started


def exact_top(vectors: np.ndarray, queries: np.ndarray, k: int) -> np.ndarray:
    """Indexes of the k largest dot products per query (exact, blockwise to bound memory)."""
    best_scores = np.full((len(queries), k), -np.inf, dtype=np.float32)
    best_ids = np.zeros((len(queries), k), dtype=np.int64)
    for start in range(0, len(vectors), 200_000):
        scores = queries @ vectors[start : start + 200_000].T
        top = np.argpartition(-scores, min(k, scores.shape[1] - 1), axis=1)[:, :k]
        merged_scores = np.concatenate([best_scores, np.take_along_axis(scores, top, axis=1)], axis=1)
        merged_ids = np.concatenate([best_ids, top + start], axis=1)
        order = np.argsort(-merged_scores, axis=1)[:, :k]
        best_scores = np.take_along_axis(merged_scores, order, axis=1)
        best_ids = np.take_along_axis(merged_ids, order, axis=1)
    return best_ids


def ann_ids(store: Any, query: np.ndarray, limit: int, k: int = 10) -> list[int]:
    hits = sorted(store.ann(query, limit), key=lambda h: -h.score)[:k]
    return [row_key(h.article_id, h.chunk_no) for h in hits]


def recall(store: Any, vectors: np.ndarray, queries: np.ndarray, limit: int, k: int = 10) -> dict[str, float]:
    truth = exact_top(vectors, queries, k)
    scores = []
    for query, expected in zip(queries, truth, strict=True):
        got = set(ann_ids(store, query, limit, k))
        scores.append(len(got & set(expected.tolist())) / k)
    return {"mean": float(np.mean(scores)), "min": float(np.min(scores)), "queries": len(scores)}


def source_found(store: Any, queries: np.ndarray, sources: np.ndarray, limit: int = 10) -> dict[str, float]:
    """For noised copies of stored vectors: how often the ANN's first hit / top 10 holds the original."""
    first = top = 0
    for query, source in zip(queries, sources, strict=True):
        ids = ann_ids(store, query, limit)
        first += bool(ids) and ids[0] == int(source)
        top += int(source) in ids
    return {"top1": first / len(queries), "top10": top / len(queries), "queries": len(queries)}


def warm_up(store: Any, queries: np.ndarray, tries: int = 30) -> int:
    """ANN queries until one succeeds; a timeout while the node is still busy is waited out politely."""
    for attempt in range(tries):
        try:
            for query in queries[:20]:
                store.ann(query, 10)
            return attempt
        except Exception as exc:  # timeouts while compaction/index build runs
            common.say(f"  warm-up query failed ({type(exc).__name__}: {exc}); retrying in 10 s")
            time.sleep(10)
    raise RuntimeError("ANN queries keep failing; see the node log (`news-search db logs`)")


def load_size(session: Any, settings: Any, n: int, profile: Any, blocks: int = 4) -> dict[str, Any]:
    from newsindex.schema import ensure_schema
    from newsindex.store import IndexStore

    ks = settings.keyspace
    node.drop_keyspace(session, ks)
    ensure_schema(session, settings, profile)
    session.execute(plain_table_cql(ks, profile.dimension), timeout=120)
    store = IndexStore(session, settings)
    plain = IndexStore(session, settings.with_(passages_table="passages_plain"))
    vectors = random_unit_vectors(n, SEED)
    rows = list(random_rows(vectors, SEED))
    size = (n + blocks - 1) // blocks
    totals = {"indexed": [0, 0.0], "plain": [0, 0.0]}
    first_pass_failures = 0
    for block in range(blocks):
        part = rows[block * size : (block + 1) * size]
        order = [("indexed", store), ("plain", plain)]
        for name, target in order if block % 2 == 0 else reversed(order):
            result = load_rows(target, iter(part), node.write_concurrency(), settings.write_retries)
            if result.failed:
                raise RuntimeError(f"{result.failed} writes failed while loading {ks}: {result.first_error}")
            first_pass_failures += result.failed_first_pass
            totals[name][0] += result.rows
            totals[name][1] += result.seconds
    del rows
    flush_s = node.flush_table(session, settings, ks, "passages")
    node.flush_table(session, settings, ks, "passages_plain")
    settled = node.wait_until_settled(session, ks)
    out = {
        "rows": n,
        "load_rows_per_s": totals["indexed"][0] / totals["indexed"][1],
        "load_seconds": totals["indexed"][1],
        "plain_rows_per_s": totals["plain"][0] / totals["plain"][1],
        "plain_seconds": totals["plain"][1],
        "flush_wait_s": round(flush_s, 1),
        "failed_first_pass": first_pass_failures,
        "settle": settled,
        "bytes_indexed": table_bytes(settings, ks, "passages"),
        "bytes_plain": table_bytes(settings, ks, "passages_plain"),
        "bytes_keyspace": node.keyspace_bytes(settings, ks),
        "vector_sstables": node.vector_sstables(session, ks),
    }
    out["_vectors"] = vectors
    return out


def table_bytes(settings: Any, keyspace: str, table_name: str) -> int:
    folder = settings.local_node_dir / "data" / keyspace
    total = 0
    for sub in folder.glob(f"{table_name}-*"):
        for path in sub.rglob("*"):
            try:
                total += path.stat().st_size if path.is_file() else 0
            except OSError:
                continue
    return total


def latency(store: Any, n: int, per_level: int, rounds: int = 2) -> dict[str, Any]:
    """ANN LIMIT 10 vs primary-key read at each concurrency, alternated over `rounds`."""
    queries = random_unit_vectors(per_level * rounds, SEED + 2)
    pk = store.prepare(
        f"SELECT article_id, chunk_no, title, body, vector FROM {store.settings.keyspace}.passages "
        "WHERE article_id = ? AND chunk_no = 0"
    )
    rng = np.random.default_rng(SEED + 3)
    keys = [f"r{int(i):07d}" for i in rng.integers(0, n, per_level * rounds)]
    samples: dict[tuple[str, int], list[float]] = {}
    walls: dict[tuple[str, int], float] = {}
    for number in range(rounds):
        levels = CONCURRENCY if number % 2 == 0 else tuple(reversed(CONCURRENCY))
        part = slice(number * per_level, (number + 1) * per_level)
        for c in levels:
            kinds = [
                ("ann", lambda q: store.ann(q, 10), list(queries[part])),
                ("pk_read", lambda key: store.session.execute(pk, (key,)).one(), keys[part]),
            ]
            for kind, fn, items in kinds if number % 2 == 0 else reversed(kinds):
                lat, wall = timed_calls(fn, items, c)
                samples.setdefault((kind, c), []).extend(lat)
                walls[(kind, c)] = walls.get((kind, c), 0.0) + wall
    out: dict[str, Any] = {}
    for (kind, c), lat in samples.items():
        stats = common.percentiles(lat)
        stats["qps"] = len(lat) / walls[(kind, c)]
        out[f"{kind}@{c}"] = stats
    return out


def run_size(session: Any, n: int, queries: int, recall_queries: int) -> dict[str, Any]:
    from newsindex.profiles import profile_for
    from newsindex.store import IndexStore

    label = f"{n // 1000}k" if n < 1_000_000 else f"{n // 1_000_000}m"
    settings = common.bench_settings(f"bench_scale_{label}")
    profile = profile_for(settings)  # the product's model: random vectors of its dimension
    if profile is None or profile.dimension != DIMENSION:
        raise common.SkipBenchmark(f"the scale run writes {DIMENSION}-d vectors; {settings.model} is not a known one")
    common.say(f"[scale] {label}: loading {n:,} random unit vectors (indexed table + plain baseline)")
    loaded = load_size(session, settings, n, profile)
    vectors = loaded.pop("_vectors")
    store = IndexStore(session, settings)
    common.say(f"[scale] {label}: loaded at {loaded['load_rows_per_s']:,.0f} rows/s; settled {loaded['settle']}")
    warm_up(store, random_unit_vectors(20, SEED + 9))
    common.say(f"[scale] {label}: latency, {queries} queries per concurrency level")
    result: dict[str, Any] = {"size": n, "label": label, "keyspace": settings.keyspace, **loaded}
    result["latency"] = latency(store, n, max(queries // 2, 1))
    common.say(f"[scale] {label}: recall@10 over {recall_queries} + {recall_queries} queries")
    random_q = random_unit_vectors(recall_queries, SEED + 4)
    picks = np.random.default_rng(SEED + 5).integers(0, n, recall_queries)
    near_q = perturb(vectors[picks], 0.9, SEED + 6)
    result["recall"] = {
        "random@limit10": recall(store, vectors, random_q, 10),
        "random@limit100": recall(store, vectors, random_q, 100),
        "near_stored@limit10": recall(store, vectors, near_q, 10),
        "near_stored@limit100": recall(store, vectors, near_q, 100),
    }
    result["source_found"] = source_found(store, near_q, picks)
    t = time.perf_counter()
    exact_top(vectors, random_q[:50], 10)
    result["numpy_exact_ms_per_query"] = (time.perf_counter() - t) * 1000 / 50
    return result


def million_decision(hundred_k: dict[str, Any], settings: Any) -> tuple[bool, str]:
    """Run 1M only when 100k extrapolates to < 25 min of loading and the disk has room for it."""
    minutes = 1_000_000 / hundred_k["load_rows_per_s"] / 60
    need = hundred_k["bytes_keyspace"] * 10 * 2  # the data, plus as much again for compaction
    free = shutil.disk_usage(settings.local_node_dir).free
    if minutes >= MILLION_MAX_LOAD_MIN:
        return False, f"100k loaded at {hundred_k['load_rows_per_s']:,.0f} rows/s: 1M would take {minutes:.0f} min"
    if need > free:
        return False, f"1M needs about {need / 2**30:.1f} GiB (with compaction headroom), {free / 2**30:.1f} GiB free"
    return (
        True,
        f"1M extrapolates to {minutes:.1f} min of loading and {need / 2**30:.1f} GiB; {free / 2**30:.0f} GiB free",
    )


def report(results: list[dict[str, Any]]) -> str:
    base = results[0]
    lines = ["### Load and size", ""]
    rows = []
    for r in results:
        rows.append(
            [
                r["label"],
                r["load_rows_per_s"],
                r["plain_rows_per_s"],
                common.ratio(r["load_rows_per_s"], r["plain_rows_per_s"]),
                r["bytes_indexed"] / 2**20,
                r["bytes_plain"] / 2**20,
                common.ratio(r["bytes_indexed"], r["bytes_plain"]),
                r["bytes_indexed"] / r["rows"],
                r["vector_sstables"],
            ]
        )
    lines.append(
        common.table(
            [
                "size",
                "rows/s (indexed)",
                "rows/s (no index)",
                "ratio",
                "MiB (indexed)",
                "MiB (no index)",
                "ratio",
                "bytes/row",
                "sstables with a vector index",
            ],
            rows,
            2,
        )
    )
    lines += ["", "### ANN latency (LIMIT 10) vs primary-key read, ms", ""]
    rows = []
    for r in results:
        for c in CONCURRENCY:
            ann, pk = r["latency"][f"ann@{c}"], r["latency"][f"pk_read@{c}"]
            base_ann = base["latency"][f"ann@{c}"]
            rows.append(
                [
                    r["label"],
                    c,
                    ann["n"],
                    ann["median"],
                    ann["p95"],
                    ann["p99"],
                    ann["qps"],
                    pk["median"],
                    common.ratio(ann["median"], pk["median"]),
                    common.ratio(ann["median"], base_ann["median"]),
                ]
            )
    lines.append(
        common.table(
            [
                "size",
                "threads",
                "queries",
                "median",
                "p95",
                "p99",
                "queries/s",
                "pk read median",
                "ANN / pk read",
                f"median vs {base['label']}",
            ],
            rows,
            2,
        )
    )
    lines += ["", "### ANN recall@10 vs exact numpy dot product", ""]
    rows = []
    for r in results:
        rec = r["recall"]
        rows.append(
            [
                r["label"],
                rec["random@limit10"]["mean"],
                rec["random@limit100"]["mean"],
                rec["near_stored@limit10"]["mean"],
                rec["near_stored@limit100"]["mean"],
                "{top1:.2f} / {top10:.2f}".format(**r["source_found"]) if "source_found" in r else "n/a",
                rec["random@limit10"]["queries"],
                r["numpy_exact_ms_per_query"],
            ]
        )
    lines.append(
        common.table(
            [
                "size",
                "random q, LIMIT 10",
                "random q, LIMIT 100",
                "near-stored q, LIMIT 10",
                "near-stored q, LIMIT 100",
                "original found first / in top 10",
                "queries each",
                "numpy exact ms/query",
            ],
            rows,
            3,
        )
    )
    return "\n".join(lines)


def run(
    sizes: Sequence[int], queries: int = 200, recall_queries: int = 100, million: str = "no", keep: bool = False
) -> dict[str, Any]:
    settings = common.bench_settings("bench_scale_probe")
    session = node.connect(settings)
    results: list[dict[str, Any]] = []
    notes: list[str] = []
    try:
        for n in sizes:
            results.append(run_size(session, n, queries, recall_queries))
            if not keep and n >= 100_000:
                node.drop_keyspace(session, results[-1]["keyspace"])
        hundred = next((r for r in results if r["size"] == 100_000), None)
        if million != "no" and hundred is not None:
            go, why = million_decision(hundred, settings)
            notes.append(why)
            common.say(f"[scale] 1M: {'running' if go else 'skipped'}: {why}")
            if go or million == "yes":
                results.append(run_size(session, 1_000_000, queries, recall_queries))
                if not keep:
                    node.drop_keyspace(session, results[-1]["keyspace"])
    finally:
        session.cluster.shutdown()
    text = report(results)
    common.say(text)
    path = common.save_results("scale", {"results": results, "notes": notes, "seed": SEED})
    common.say(f"[scale] results: {path}")
    return {"results": results, "notes": notes, "report": text}
