"""Search under load and at scale: the concurrency curve and the 100k-passage latency budget (e5-small-v2).

    .venv/bin/python -m bench.search_bench curve  [--threads 1,4,16,64] [--seconds 60]
    .venv/bin/python -m bench.search_bench budget [--passages 100000] [--queries 200] [--variants 200/50,100/50,50/50]

- curve: the real sample (data/news_sample.csv, 1,220 articles) in keyspace `bench_search_sample`;
  N threads share one SearchService (one driver session, one query encoder) and search the public
  eval queries round robin for `--seconds`: queries/s, latency percentiles, errors, encoder batch size.
- budget: a corpus of `--passages` passages made from the real articles: copy c of article a gets its
  own id, passage vectors perturbed to cosine ~0.9 of the real ones, the same term counts (so document
  frequencies grow as in a bigger corpus) and the real date; written with the product's write path
  (passages, postings batches, committed rows), statistics recounted. Then single-thread hybrid and
  semantic searches per candidate setting (dense LIMIT / lexical top-N): encode time, time outside
  encoding, p50/p95/p99, and MRR@10 of the title queries on the real articles inside it.
Results go to bench/results/search-<mode>-<time>.json; docs/BENCHMARKS.md reports them.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import statistics
import threading
import time
from pathlib import Path
from typing import Any

import numpy as np

from bench import common

REPO = Path(__file__).resolve().parents[1]
SAMPLE_KEYSPACE = "bench_search_sample"


def _settings(keyspace: str, **env: str) -> Any:
    from newsindex.settings import Settings

    return Settings.from_env(
        env={**{k: v for k, v in os.environ.items() if k.startswith("NEWS_")}, "NEWS_KEYSPACE": keyspace, **env}
    )


def _queries() -> list[tuple[str, str | None]]:
    """(query, expected link or None): the public judged and title queries."""
    shared = Path(os.environ.get("NEWS_SHARED_DIR") or REPO.parent / "shared") / "eval"
    out: list[tuple[str, str | None]] = []
    for name in ("sample_queries.jsonl", "title_queries.jsonl"):
        for line in (shared / name).read_text(encoding="utf-8").splitlines():
            if line.strip():
                record = json.loads(line)
                relevant = record.get("relevant") or []
                out.append((record["query"], relevant[0] if name.startswith("title") and relevant else None))
    return out


def ensure_sample(encoder: Any) -> Any:
    from ingest.cli import run_ingest

    settings = _settings(SAMPLE_KEYSPACE, NEWS_STATE_DIR=str(REPO / "bench" / "results" / "state"))
    summary = run_ingest(REPO / "data" / "news_sample.csv", settings, encoder=encoder)
    common.say(f"sample keyspace: {summary.new} new, {summary.unchanged} unchanged articles")
    return settings


# --- concurrency curve ---------------------------------------------------------------------------
def curve(service: Any, queries: list[str], threads: int, seconds: float) -> dict[str, Any]:
    from newsindex.search import SearchRequest

    latencies: list[float] = []
    errors: list[str] = []
    lock = threading.Lock()
    stop = time.monotonic() + seconds
    batches0, encoded0 = service.queries.batches, service.queries.encoded

    def worker(offset: int) -> None:
        i = offset
        while time.monotonic() < stop:
            query = queries[i % len(queries)]
            i += threads
            started = time.perf_counter()
            try:
                service.search(SearchRequest(query, k=10))
            except Exception as exc:  # counted, the run goes on
                with lock:
                    errors.append(f"{type(exc).__name__}: {exc}"[:200])
                continue
            with lock:
                latencies.append((time.perf_counter() - started) * 1000)

    began = time.monotonic()
    pool = [threading.Thread(target=worker, args=(n,)) for n in range(threads)]
    for t in pool:
        t.start()
    for t in pool:
        t.join()
    elapsed = time.monotonic() - began
    batches = service.queries.batches - batches0
    return {
        "threads": threads,
        "seconds": round(elapsed, 1),
        "queries": len(latencies),
        "qps": len(latencies) / elapsed,
        "errors": len(errors),
        "first_errors": errors[:3],
        "latency_ms": common.percentiles(latencies) if latencies else {},
        "mean_encoder_batch": (service.queries.encoded - encoded0) / batches if batches else 0.0,
    }


# --- synthetic corpus for the budget ---------------------------------------------------------------
def build_scaled(source: Any, target_passages: int, keyspace: str) -> dict[str, Any]:
    """Copies of the real articles, written through the product's tables, until `target_passages`."""
    from bench.synthetic import perturb
    from newsindex.connect import close, connect
    from newsindex.postings import Postings, Version, by_bucket, postings_for
    from newsindex.schema import ensure_schema
    from newsindex.store import IndexStore
    from newsindex.writer import BoundedWriter

    settings = _settings(keyspace)
    session = connect(settings)
    try:
        columns = "article_id, link, title, published, content_hash, doc_len, term_freqs"
        rows = list(session.execute(f"SELECT {columns} FROM {source.keyspace}.articles"))
        passages: dict[str, list[Any]] = {}
        for r in session.execute(f"SELECT article_id, chunk_no, body, terms, vector FROM {source.keyspace}.passages"):
            passages.setdefault(r.article_id, []).append(r)
        per_copy = sum(len(v) for v in passages.values())
        copies = max(1, -(-target_passages // per_copy))
        from newsindex.profiles import KNOWN_PROFILES

        ensure_schema(session, settings, KNOWN_PROFILES[settings.model])
        store = IndexStore(session, settings)
        postings = Postings(store, settings.lexical_buckets)
        from cassandra.query import SimpleStatement

        paged = SimpleStatement(f"SELECT article_id FROM {keyspace}.articles", fetch_size=5000)
        existing = sum(1 for _ in session.execute(paged, timeout=60))
        if existing >= copies * len(rows):
            started = time.perf_counter()
            stats = postings.refresh_statistics([], full=True)  # a load stopped before its recount
            return {
                "copies": copies,
                "articles": existing,
                "passages": copies * per_copy,
                "load_seconds": 0.0,
                "stats": stats,
                "stats_seconds": round(time.perf_counter() - started, 1),
                "reused": True,
            }
        writer = BoundedWriter(session, 64, retries=8)
        started = time.perf_counter()
        insert_passage, commit = store.insert_passage_stmt(), store.commit_stmt()
        for copy in range(copies):
            batch_rows = []
            for r in rows:
                aid = r.article_id if copy == 0 else hashlib.sha256(f"{r.article_id}/{copy}".encode()).hexdigest()[:16]
                own = passages.get(r.article_id, [])
                vectors = np.stack([np.asarray(p.vector, dtype=np.float32) for p in own]) if own else None
                if vectors is not None and copy:
                    vectors = perturb(vectors, 0.9, seed=copy)
                for p, vector in zip(own, vectors if vectors is not None else [], strict=False):
                    writer.submit(
                        insert_passage,
                        (aid, p.chunk_no, r.title, r.link, r.published, p.body, p.terms, [float(x) for x in vector]),
                    )
                version = Version(dict(r.term_freqs or {}), int(r.doc_len or 0), r.published)
                batch_rows += postings_for(aid, version, postings.buckets)
                writer.submit(
                    commit,
                    (
                        r.link if copy == 0 else f"{r.link}#copy{copy}",
                        r.title,
                        r.published,
                        r.content_hash,
                        len(own),
                        version.doc_len,
                        dict(version.term_freqs),
                        None,
                        aid,
                    ),
                )
            for _bucket, ops in by_bucket(batch_rows, []):
                writer.submit(postings.batch(ops), None)
            common.say(f"  copy {copy + 1}/{copies} sent ({time.perf_counter() - started:.0f}s)")
        writer.flush()
        load_seconds = time.perf_counter() - started
        stats = postings.refresh_statistics([], full=True)
        return {
            "copies": copies,
            "articles": copies * len(rows),
            "passages": copies * per_copy,
            "load_seconds": round(load_seconds, 1),
            "stats_seconds": round(time.perf_counter() - started - load_seconds, 1),
            "failed_writes": len(writer.failed),
            "stats": stats,
            "reused": False,
        }
    finally:
        close(session)


def budget(service: Any, queries: list[tuple[str, str | None]], n: int, mode: str) -> dict[str, Any]:
    from bench.metrics import mrr_at_k
    from ingest.clean import canonical_link
    from newsindex.search import SearchRequest

    samples, mrr = [], []
    for i in range(n):
        query, expected = queries[i % len(queries)]
        response = service.search(SearchRequest(query, k=10, mode=mode))
        t = response.timings
        samples.append({"encode": t.encode_ms, "total": t.total_ms, "outside": t.total_ms - t.encode_ms})
        if expected:
            ranked = [canonical_link(r.link.split("#copy")[0]) for r in response.results]
            mrr.append(mrr_at_k(ranked, {canonical_link(expected): 1}))
    encode = statistics.median(s["encode"] for s in samples)
    outside = [s["outside"] for s in samples]
    total = [s["total"] for s in samples]
    p = common.percentiles(total)
    return {
        "mode": mode,
        "encode_ms_median": encode,
        "outside_ms": common.percentiles(outside),
        "total_ms": p,
        "p99_over_p50": p["p99"] / p["median"] if p.get("median") else None,
        "outside_over_encode": statistics.median(outside) / encode if encode else None,
        "title_mrr@10": statistics.mean(mrr) if mrr else None,
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.search_bench")
    parser.add_argument("what", choices=["curve", "budget"])
    parser.add_argument("--threads", default="1,4,16,64")
    parser.add_argument("--seconds", type=float, default=60.0)
    parser.add_argument("--passages", type=int, default=100_000)
    parser.add_argument("--queries", type=int, default=200)
    parser.add_argument("--variants", default="200/50,100/50,100/20,50/20")
    parser.add_argument(
        "--query-threads", type=int, default=None, help="torch threads of the query encoder (default: the product's)"
    )
    args = parser.parse_args(argv)
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")
    from newsindex.encoder import load_encoder
    from newsindex.factory import build_service
    from newsindex.search import SearchRequest

    machine = common.machine_info()
    common.say(
        f"# search bench ({args.what}) on {machine['cpu']}; load average at start {machine['load_avg_at_start']}"
    )
    encoder = load_encoder(_settings(SAMPLE_KEYSPACE))
    sample = ensure_sample(encoder)
    queries = _queries()
    results: dict[str, Any] = {"args": vars(args), "machine": machine, "model": encoder.profile.name}
    if args.what == "curve":
        chosen = sample if args.query_threads is None else sample.with_(query_threads=args.query_threads)
        results["query_threads"] = chosen.query_threads
        common.say(f"query encoder torch threads: {chosen.query_threads} (0 = torch's default)")
        service = build_service(chosen, encoder)
        texts = [q for q, _ in queries]
        for q in texts[:20]:  # warm the caches and the prepared statements
            service.search(SearchRequest(q))
        rows = []
        for threads in [int(t) for t in args.threads.split(",")]:
            point = curve(service, texts, threads, args.seconds)
            results.setdefault("curve", []).append(point)
            lat = point["latency_ms"]
            rows.append(
                (
                    threads,
                    point["queries"],
                    f"{point['qps']:.1f}",
                    f"{lat.get('median', 0):.0f}",
                    f"{lat.get('p95', 0):.0f}",
                    f"{lat.get('p99', 0):.0f}",
                    point["errors"],
                    f"{point['mean_encoder_batch']:.1f}",
                )
            )
            common.say(
                f"  {threads} threads: {point['qps']:.1f} q/s, p99 {lat.get('p99', 0):.0f} ms, {point['errors']} errors"
            )
        service.close()
        common.say(
            common.table(
                ["threads", "searches", "q/s", "p50 ms", "p95 ms", "p99 ms", "errors", "mean encoder batch"], rows
            )
        )
    else:
        keyspace = f"bench_hybrid_{args.passages // 1000}k"
        results["corpus"] = build_scaled(sample, args.passages, keyspace)
        common.say(f"corpus: {results['corpus']}")
        rows = []
        for variant in args.variants.split(","):
            dense, lexical = (int(x) for x in variant.split("/"))
            settings = _settings(keyspace, NEWS_SEARCH_CANDIDATES=str(dense), NEWS_LEXICAL_CANDIDATES=str(lexical))
            service = build_service(settings, encoder)
            for mode in ("hybrid", "semantic"):
                budget(service, queries, 20, mode)  # warm-up
                point = budget(service, queries, args.queries, mode) | {"dense": dense, "lexical": lexical}
                results.setdefault("budget", []).append(point)
                rows.append(
                    (
                        variant,
                        mode,
                        f"{point['encode_ms_median']:.1f}",
                        f"{point['outside_ms']['median']:.1f}",
                        f"{point['outside_over_encode']:.2f}",
                        f"{point['total_ms']['median']:.0f}",
                        f"{point['total_ms']['p99']:.0f}",
                        f"{point['p99_over_p50']:.2f}",
                        "-" if point["title_mrr@10"] is None else f"{point['title_mrr@10']:.3f}",
                    )
                )
            service.close()
        common.say(
            common.table(
                [
                    "dense/lexical",
                    "mode",
                    "encode ms",
                    "outside ms p50",
                    "outside/encode",
                    "total p50",
                    "total p99",
                    "p99/p50",
                    "title MRR@10",
                ],
                rows,
            )
        )
    common.say(f"results: {common.save_results(f'search-{args.what}', results)}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
