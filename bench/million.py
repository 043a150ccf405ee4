"""One node, 1,000,000 passages with real-embedding-like vectors: load, disk, recall, latency.

`python -m bench.million` against the node the NEWS_* settings name (run it on a node of its own:
own NEWS_LOCAL_NODE_DIR and ports, see docs/BENCHMARKS.md). Steps, each timed:
1. the source: the first --source-limit real articles of data/news_sample.csv (default 400 of 1,220;
   encoding all of them with e5-small-v2 takes hours on a loaded 2-core machine) ingested by the
   product into `bench_million_src` (incremental: a rerun skips what is already there);
2. the corpus: its passages recombined (bench.synthetic.recombined_rows: whole articles copied,
   each copy's vectors noised to cosine ~0.85) up to --rows, loaded through the product's
   BoundedWriter and prepared INSERT into `bench_million` (vector, date and terms SAI indexes), in
   blocks whose rate is logged, with a time cap (--max-load-min) after which the run goes on with
   the rows loaded so far and says so;
3. memtables flushed, indexes built and compactions finished (bounded wait), bytes on disk;
4. recall@10 of the ANN query (LIMIT 10, and the product's LIMIT 200 then top 10) for real e5 query
   embeddings of the eval queries, against an exact numpy dot product over the same vectors;
5. latency p50/p95/p99 of the ANN query (LIMIT 10 and 200) and of a whole semantic search, from one
   thread, alternated, beside the exact numpy scan of the same vectors measured in the same run.
"""

from __future__ import annotations

import argparse
import itertools
import json
import logging
import os
import sys
import time
from pathlib import Path
from typing import Any

import numpy as np

from bench import common
from bench.scale_bench import exact_top
from bench.synthetic import load_rows, read_source_passages, recombined_rows

SEED = 20241206
SOURCE_KEYSPACE = "bench_million_src"
KEYSPACE = "bench_million"
BLOCK = 50_000
PROGRESS = common.RESULTS_DIR / "million-progress.json"


def settings_for(keyspace: str) -> Any:
    from newsindex.settings import DEFAULT_MODEL, Settings

    state = Path(os.environ.get("TMPDIR", "/tmp")) / f"news-bench-million-{os.getpid()}"
    return Settings.from_env(keyspace=keyspace, state_dir=state, model=os.environ.get("NEWS_MODEL", DEFAULT_MODEL))


def ingest_source(encoder: Any, limit: int | None) -> dict[str, Any]:
    from ingest.cli import run_ingest

    settings = settings_for(SOURCE_KEYSPACE)
    csv = common.REPO / "data" / "news_sample.csv"
    common.say(f"[million] source: ingesting {csv} with {encoder.profile.name} into {SOURCE_KEYSPACE}")
    summary = run_ingest(csv, settings, encoder=encoder, limit=limit)  # incremental: a rerun skips what is there
    return summary.as_dict()  # type: ignore[no-any-return]


def load(session: Any, encoder: Any, rows: int, max_load_s: float, resume: bool) -> dict[str, Any]:
    """Recombined rows in blocks of BLOCK; keys and vectors kept for the exact search.

    The rows are the same on every run (seeded), so a run stopped between or inside blocks can go on
    (`--resume`): blocks the progress file records as written are generated again but not re-sent,
    and the load time adds up over the segments. The progress file is only for that.
    """
    from newsindex.schema import ensure_schema
    from newsindex.store import IndexStore

    settings = settings_for(KEYSPACE)
    sources = read_source_passages(session, SOURCE_KEYSPACE)
    progress: dict[str, Any] = {"rows_done": 0, "load_seconds": 0.0, "blocks": [], "segments": 0}
    if resume and PROGRESS.is_file():
        progress = json.loads(PROGRESS.read_text(encoding="utf-8"))
        common.say(f"[million] resuming after {progress['rows_done']:,} rows ({progress['load_seconds'] / 60:.1f} min)")
    else:
        common.drop_keyspace(session, KEYSPACE)
    progress["segments"] += 1
    ensure_schema(session, settings, encoder.profile)
    store = IndexStore(session, settings)
    vectors = np.empty((rows, encoder.profile.dimension), dtype=np.float32)
    keys: list[tuple[str, int]] = []
    stream = recombined_rows(sources, rows, SEED)
    capped, failed = False, sum(b.get("failed", 0) for b in progress["blocks"])
    while len(keys) < rows:
        part = list(itertools.islice(stream, BLOCK))
        if not part:
            break
        for row in part:
            vectors[len(keys)] = row[7]
            keys.append((row[0], row[1]))
        if len(keys) <= progress["rows_done"]:
            continue  # written by an earlier segment
        if progress["load_seconds"] > max_load_s:
            capped = True
            common.say(f"[million] load cap of {max_load_s / 60:.0f} min reached at {len(keys) - len(part):,} rows")
            keys = keys[: len(keys) - len(part)]
            break
        result = load_rows(store, iter(part), common.write_concurrency(), settings.write_retries)
        failed += result.failed  # still failed after load_rows' second pass: counted and reported, not fatal
        progress["load_seconds"] += result.seconds
        progress["rows_done"] = len(keys)
        progress["blocks"].append(
            {
                "rows_total": len(keys),
                "rows_per_s": result.rows_per_s,
                "retried": result.retried,
                "failed_first_pass": result.failed_first_pass,
                "failed": result.failed,
                "first_error": result.first_error,
                "load_avg": os.getloadavg()[0],
                "segment": progress["segments"],
            }
        )
        PROGRESS.parent.mkdir(parents=True, exist_ok=True)
        PROGRESS.write_text(json.dumps(progress, indent=1), encoding="utf-8")
        common.say(
            f"[million] {len(keys):,} rows after {progress['load_seconds'] / 60:.1f} min of loading; this block "
            f"{result.rows_per_s:,.0f} rows/s (load average {os.getloadavg()[0]:.1f})"
        )
    return {
        "rows": len(keys),
        "requested_rows": rows,
        "capped": capped,
        "failed_writes": failed,
        "sources": len(sources),
        "segments": progress["segments"],
        "load_seconds": progress["load_seconds"],
        "rows_per_s": len(keys) / progress["load_seconds"] if progress["load_seconds"] else 0.0,
        "blocks": progress["blocks"],
        "_keys": keys,
        "_vectors": vectors[: len(keys)],
    }


def settle(session: Any) -> dict[str, Any]:
    settings = settings_for(KEYSPACE)
    flush_s = common.flush_table(session, settings, KEYSPACE, "passages", timeout_s=900)
    state = common.wait_until_settled(session, KEYSPACE, timeout_s=3600)
    return {
        "flush_wait_s": round(flush_s, 1),
        "settle": state,
        "bytes_keyspace": common.keyspace_bytes(settings, KEYSPACE),
        "vector_sstables": common.vector_sstables(session, KEYSPACE),
    }


def recall(store: Any, keys: list[tuple[str, int]], vectors: np.ndarray, queries: np.ndarray) -> dict[str, Any]:
    truth = exact_top(vectors, queries, 10)
    out: dict[str, Any] = {}
    for limit in (10, 200):
        scores = []
        for query, expected in zip(queries, truth, strict=True):
            hits = sorted(store.ann(query, limit), key=lambda h: -h.score)[:10]
            got = {(h.article_id, h.chunk_no) for h in hits}
            scores.append(len(got & {keys[i] for i in expected.tolist()}) / 10)
        out[f"limit{limit}"] = {"mean": float(np.mean(scores)), "min": float(np.min(scores)), "queries": len(scores)}
    return out


def latency(service: Any, vectors: np.ndarray, texts: list[str], query_vectors: np.ndarray) -> dict[str, Any]:
    """ANN LIMIT 10 / LIMIT 200 / whole semantic search / numpy exact scan, alternated in 2 rounds."""
    from newsindex.search import SearchRequest

    store = service.store
    samples: dict[str, list[float]] = {"ann_limit10": [], "ann_limit200": [], "semantic_search": [], "numpy_exact": []}
    half = len(texts) // 2

    def timed(name: str, fn: Any, items: Any) -> Any:
        def call() -> None:
            for item in items:
                t = time.perf_counter()
                fn(item)
                samples[name].append((time.perf_counter() - t) * 1000)

        return call

    for number in range(2):
        part = slice(number * half, (number + 1) * half)
        variants = {
            "ann_limit10": timed("ann_limit10", lambda q: store.ann(q, 10), query_vectors[part]),
            "ann_limit200": timed("ann_limit200", lambda q: store.ann(q, 200), query_vectors[part]),
            "semantic_search": timed(
                "semantic_search", lambda t: service.search(SearchRequest(t, k=10, mode="semantic")), texts[part]
            ),
            "numpy_exact": timed("numpy_exact", lambda q: exact_top(vectors, q[None, :], 10), query_vectors[part]),
        }
        common.in_order(variants, reverse=number % 2 == 1)
    return {name: common.percentiles(values) for name, values in samples.items()}


def report(result: dict[str, Any]) -> str:
    loaded, settled = result["load"], result["settle"]
    lat = result["latency"]
    lines = [
        common.table(
            ["rows", "load min", "rows/s", "GiB on disk", "bytes/row", "vector sstables", "settle wait s"],
            [
                [
                    loaded["rows"],
                    loaded["load_seconds"] / 60,
                    loaded["rows_per_s"],
                    settled["bytes_keyspace"] / 2**30,
                    settled["bytes_keyspace"] / max(loaded["rows"], 1),
                    settled["vector_sstables"],
                    settled["settle"].get("waited_s", 0.0),
                ]
            ],
            2,
        ),
        "",
        common.table(
            ["query", "n", "p50 ms", "p95 ms", "p99 ms", "p50 vs numpy exact"],
            [
                [name, s["n"], s["median"], s["p95"], s["p99"], common.ratio(s["median"], lat["numpy_exact"]["median"])]
                for name, s in lat.items()
            ],
            2,
        ),
        "",
        common.table(
            ["recall@10 vs numpy exact", "mean", "min", "queries"],
            [[name, r["mean"], r["min"], r["queries"]] for name, r in result["recall"].items()],
            3,
        ),
    ]
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.million", description=__doc__.split("\n")[0])
    parser.add_argument("--rows", type=int, default=1_000_000)
    parser.add_argument("--max-load-min", type=float, default=240.0, help="stop loading after this long (all segments)")
    parser.add_argument("--queries", type=int, default=200, help="latency queries (recall uses the first 100)")
    parser.add_argument("--keep", action="store_true", help="keep both keyspaces (default: dropped at the end)")
    parser.add_argument("--resume", action="store_true", help="go on loading after the rows an earlier run wrote")
    parser.add_argument("--source-limit", type=int, default=400, help="sample articles whose passages are recombined")
    args = parser.parse_args(argv)
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")
    logging.basicConfig(level=logging.WARNING, format="%(levelname)s %(name)s: %(message)s")
    from newsindex.encoder import load_encoder
    from newsindex.factory import build_service

    with common.exclusive_run("bench.million"):
        machine = common.machine_info()
        common.say(f"[million] {machine['cpu']}, {machine['cores']} cores; load average {machine['load_avg_at_start']}")
        encoder = load_encoder(settings_for(KEYSPACE))
        result: dict[str, Any] = {"args": vars(args), "model": encoder.profile.name}
        if args.resume and PROGRESS.is_file():
            result["source_ingest"] = "ingested by the run this one resumes"
        else:
            PROGRESS.unlink(missing_ok=True)
            result["source_ingest"] = ingest_source(encoder, args.source_limit)
        session = common.connect(settings_for(KEYSPACE))
        try:
            loaded = load(session, encoder, args.rows, args.max_load_min * 60, args.resume)
            keys, vectors = loaded.pop("_keys"), loaded.pop("_vectors")
            result["load"] = loaded
            common.save_results("million-partial", result)
            common.say("[million] flushing and waiting for index builds and compactions")
            result["settle"] = settle(session)
            common.save_results("million-partial", result)
            texts = list(itertools.islice(itertools.cycle(common.eval_queries()), args.queries))
            query_vectors = np.stack([encoder.encode_query(t) for t in texts])
            service = build_service(settings_for(KEYSPACE), encoder=encoder)
            try:
                common.say("[million] recall@10 and latency")
                result["recall"] = recall(service.store, keys, vectors, query_vectors[:100])
                result["latency"] = latency(service, vectors, texts, query_vectors)
            finally:
                service.store.session.cluster.shutdown()
            result["end_load_avg"] = os.getloadavg()
            if not args.keep:
                for keyspace in (KEYSPACE, SOURCE_KEYSPACE):
                    common.drop_keyspace(session, keyspace)
                PROGRESS.unlink(missing_ok=True)
        finally:
            session.cluster.shutdown()
        common.say(report(result))
        path = common.save_results("million", result)
        common.say(f"[million] results: {path}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
