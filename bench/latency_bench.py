"""End-to-end search latency through `SearchService`, split into encode / CQL / rest.

- On the ingested sample (`bench_pipeline`): semantic and hybrid modes, alternated per round.
- On a recombined synthetic corpus (`bench_search_<size>`: copies of the sample's articles with
  their real passage vectors plus noise, see bench/synthetic.py): semantic mode, with the
  product's 200 candidates and with 50, alternated.
- Where the CQL time goes on that corpus: the product's ANN query (LIMIT 200, every column) vs the
  same query selecting only keys and score, vs LIMIT 50, alternated over the same query vectors.
- Query encoding alone, fp32 vs bf16 autocast, on 1 and on 2 torch threads (one short text per
  call, as search does; the product encodes queries on 1 thread since this table).

The query set is the eval queries of shared/eval (judged ones first, then known-item titles), cycled.
"""

from __future__ import annotations

import contextlib
import time
from collections.abc import Sequence
from typing import Any

import numpy as np

from bench import common, node
from bench.synthetic import load_rows, read_source_passages, recombined_rows

SEED = 7


def cycle(items: Sequence[str], n: int) -> list[str]:
    return [items[i % len(items)] for i in range(n)]


def service_for(settings: Any, encoder: Any, candidates: int | None = None) -> Any:
    from newsindex.factory import build_service

    if candidates is not None:
        settings = settings.with_(search_candidates=candidates)
    return build_service(settings, encoder)


def timings_of(service: Any, queries: Sequence[str], mode: str) -> list[dict[str, float]]:
    from newsindex.search import SearchRequest

    out = []
    for query in queries:
        response = service.search(SearchRequest(query, k=10, mode=mode))  # type: ignore[arg-type]
        t = response.timings
        out.append({"encode_ms": t.encode_ms, "cql_ms": t.cql_ms, "rest_ms": t.rest_ms, "total_ms": t.total_ms})
    return out


def summarise(samples: list[dict[str, float]]) -> dict[str, Any]:
    out: dict[str, Any] = {key: common.percentiles([s[key] for s in samples]) for key in samples[0]}
    outside = [s["total_ms"] - s["encode_ms"] for s in samples]
    out["outside_encode_ms"] = common.percentiles(outside)
    out["outside_over_encode"] = common.ratio(out["outside_encode_ms"]["median"], out["encode_ms"]["median"])
    return out


Variant = tuple[Any, str, int | None]  # service, mode, torch threads (None: as configured)


def alternated_services(variants: dict[str, Variant], queries: list[str], rounds: int) -> dict[str, Any]:
    """Each variant answers every query once, split into `rounds` alternating blocks; after a warm-up."""
    for service, mode, threads in variants.values():
        with common.torch_threads(threads):
            timings_of(service, queries[:10], mode)
    per_round = max(len(queries) // rounds, 1)
    samples: dict[str, list[dict[str, float]]] = {name: [] for name in variants}

    def block(name: str, part: list[str]) -> Any:
        service, mode, threads = variants[name]

        def call() -> None:
            with common.torch_threads(threads):
                samples[name].extend(timings_of(service, part, mode))

        return call

    for number in range(rounds):
        part = queries[number * per_round : (number + 1) * per_round]
        common.in_order({name: block(name, part) for name in variants}, reverse=number % 2 == 1)
    return {name: summarise(s) for name, s in samples.items()}


def one_query(model: Any, text: str, dtype: str) -> None:
    """One short text through the model as the product's encoder runs it (inference mode, bf16 autocast or not)."""
    import torch

    autocast = torch.autocast("cpu", dtype=torch.bfloat16) if dtype == "bf16" else contextlib.nullcontext()
    with torch.inference_mode(), autocast:
        model.encode([text], convert_to_numpy=True, normalize_embeddings=True, show_progress_bar=False)


def query_encoding(encoder: Any, queries: list[str], rounds: int = 2) -> dict[str, Any]:
    """fp32 vs bf16 on 1 and 2 torch threads, and the product's own `encode_query`, alternated."""
    from bench.encode_bench import torch_encoders

    dtypes = ["fp32", *(["bf16"] if len(torch_encoders(encoder)) > 1 else [])]
    prefix = encoder.profile.query_prefix
    variants: dict[str, Any] = {
        f"{dtype}, {threads} torch thread{'s' if threads > 1 else ''}": (
            lambda q, dtype=dtype: one_query(encoder.model, prefix + q, dtype),
            threads,
        )
        for dtype in dtypes
        for threads in (2, 1)
    }
    variants[f"product encode_query ({encoder.precision.dtype}, pins 1 thread)"] = (encoder.encode_query, None)
    samples: dict[str, list[float]] = {name: [] for name in variants}

    def run_all(name: str) -> Any:
        encode, threads = variants[name]

        def call() -> None:
            with common.torch_threads(threads):
                for query in queries:
                    t = time.perf_counter()
                    encode(query)
                    samples[name].append((time.perf_counter() - t) * 1000)

        return call

    for encode, threads in variants.values():
        with common.torch_threads(threads):
            encode("warm up")
    common.alternate({name: run_all(name) for name in variants}, rounds)
    return {name: common.percentiles(s) for name, s in samples.items()}


def build_synthetic(session: Any, source_keyspace: str, size: int, profile: Any) -> Any:
    """`size` recombined passages in `bench_search_<size>`, an index of `profile`'s model (the sample's)."""
    from newsindex.schema import ensure_schema
    from newsindex.store import IndexStore

    label = f"{size // 1000}k"
    settings = common.bench_settings(f"bench_search_{label}")
    sources = read_source_passages(session, source_keyspace)
    if not sources:
        raise common.SkipBenchmark(
            f"keyspace {source_keyspace} holds no passages to recombine; run the ingest bench first"
        )
    node.drop_keyspace(session, settings.keyspace)
    ensure_schema(session, settings, profile)
    common.say(
        f"[latency] loading {size:,} recombined passages from {len(sources):,} real ones into {settings.keyspace}"
    )
    rows = list(recombined_rows(sources, size, SEED))
    keys = [(r[0], r[1]) for r in rows]
    vectors = np.stack([r[7] for r in rows])
    loaded = load_rows(IndexStore(session, settings), iter(rows), node.write_concurrency())
    del rows
    if loaded.failed:
        raise RuntimeError(f"{loaded.failed} writes failed loading {settings.keyspace}: {loaded.first_error}")
    node.flush_table(session, settings, settings.keyspace, "passages")
    settled = node.wait_until_settled(session, settings.keyspace)
    return settings, {
        "rows": loaded.rows,
        "load_rows_per_s": loaded.rows_per_s,
        "failed_first_pass": loaded.failed_first_pass,
        "first_error": loaded.first_error,
        "sources": len(sources),
        "settle": settled,
        "bytes": node.keyspace_bytes(settings, settings.keyspace),
        "_keys": keys,
        "_vectors": vectors,
    }


def realistic_recall(
    store: Any, keys: list[tuple[str, int]], vectors: np.ndarray, queries: np.ndarray
) -> dict[str, Any]:
    """ANN recall@10 on real query embeddings over the recombined corpus, vs exact numpy dot product."""
    from bench.scale_bench import exact_top

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


def cql_shapes(session: Any, settings: Any, vectors: list[Any], rounds: int = 2) -> dict[str, Any]:
    """Where ANN time goes: columns fetched and LIMIT, same vectors, alternated."""
    from cassandra import ConsistencyLevel

    from newsindex.store import IndexStore

    table = f"{settings.keyspace}.passages"
    shapes = {
        "LIMIT 200, all columns (product)": (
            f"SELECT article_id, chunk_no, title, link, published, body, similarity_dot_product(vector, ?) AS score "
            f"FROM {table} ORDER BY vector ANN OF ? LIMIT 200",
            200,
        ),
        "LIMIT 200, keys + score only": (
            f"SELECT article_id, chunk_no, similarity_dot_product(vector, ?) AS score FROM {table} "
            "ORDER BY vector ANN OF ? LIMIT 200",
            200,
        ),
        "LIMIT 50, all columns": (
            f"SELECT article_id, chunk_no, title, link, published, body, similarity_dot_product(vector, ?) AS score "
            f"FROM {table} ORDER BY vector ANN OF ? LIMIT 50",
            50,
        ),
    }
    prepared = {name: session.prepare(cql) for name, (cql, _) in shapes.items()}
    samples: dict[str, list[float]] = {name: [] for name in shapes}

    def run_all(name: str, part: list[Any]) -> Any:
        def call() -> None:
            for vector in part:
                param = IndexStore.vector_param(vector)
                bound = prepared[name].bind([param, param])
                bound.consistency_level = ConsistencyLevel.LOCAL_ONE
                bound.fetch_size = 5000
                t = time.perf_counter()
                list(session.execute(bound, timeout=60))
                samples[name].append((time.perf_counter() - t) * 1000)

        return call

    per_round = max(len(vectors) // rounds, 1)
    for number in range(rounds):
        part = vectors[number * per_round : (number + 1) * per_round]
        common.in_order({name: run_all(name, part) for name in shapes}, reverse=number % 2 == 1)
    return {name: common.percentiles(s) for name, s in samples.items()}


def run(
    sample_keyspace: str, synthetic_size: int, queries: int, encoder: Any = None, keep: bool = False
) -> dict[str, Any]:
    from newsindex.encoder import load_encoder

    texts = cycle(common.eval_queries(), queries)
    settings = common.bench_settings(sample_keyspace, precision="auto")
    encoder = encoder or load_encoder(settings)
    result: dict[str, Any] = {
        "queries": queries,
        "precision": encoder.precision.dtype,
        "model": encoder.profile.name,
        "load_average": [common.load_average()],
    }
    common.say(f"[latency] query encoding fp32 vs bf16, 1 vs 2 torch threads, {min(queries, 100)} queries x 2 rounds")
    result["query_encoding"] = query_encoding(encoder, texts[:100])
    common.say(f"[latency] sample corpus ({sample_keyspace}): semantic vs hybrid, {queries} queries each")
    service = service_for(settings, encoder)
    try:
        result["sample"] = alternated_services(
            {
                "semantic": (service, "semantic", None),
                "hybrid": (service, "hybrid", None),
            },
            texts,
            2,
        )
        result["sample_passages"] = service.store.count(settings.passages_table)
        session = service.store.session
        synth_settings, result["synthetic"] = build_synthetic(session, sample_keyspace, synthetic_size, encoder.profile)
        common.say(f"[latency] synthetic {synthetic_size:,}: semantic, 200 vs 50 candidates, {queries} queries each")
        big = service_for(synth_settings, encoder)
        small = service_for(synth_settings, encoder, candidates=50)
        result["synthetic"]["search"] = alternated_services(
            {
                "semantic, 200 candidates": (big, "semantic", None),
                "semantic, 50 candidates": (small, "semantic", None),
            },
            texts,
            2,
        )
        vectors = [encoder.encode_query(q) for q in texts[:200]]
        result["synthetic"]["cql_shapes"] = cql_shapes(session, synth_settings, vectors)
        keys, corpus = result["synthetic"].pop("_keys"), result["synthetic"].pop("_vectors")
        common.say("[latency] recall@10 of the ANN on real query vectors over the synthetic corpus")
        result["synthetic"]["recall"] = realistic_recall(big.store, keys, corpus, np.stack(vectors[:100]))
        for svc in (big, small):
            svc.store.session.cluster.shutdown()
        if not keep and synthetic_size >= 100_000:
            node.drop_keyspace(session, synth_settings.keyspace)
    finally:
        service.store.session.cluster.shutdown()
    result["synthetic_size"] = synthetic_size
    result["load_average"].append(common.load_average())
    return result


def _row(label: str, s: dict[str, Any]) -> list[Any]:
    return [
        label,
        s["total_ms"]["n"],
        s["encode_ms"]["median"],
        s["cql_ms"]["median"],
        s["rest_ms"]["median"],
        s["total_ms"]["median"],
        s["total_ms"]["p95"],
        s["total_ms"]["p99"],
        s["outside_encode_ms"]["median"],
        s["outside_over_encode"],
    ]


def report(result: dict[str, Any]) -> str:
    headers = [
        "corpus / mode",
        "queries",
        "encode ms",
        "CQL ms",
        "rest ms",
        "total median",
        "total p95",
        "total p99",
        "outside encode (median)",
        "outside / encode",
    ]
    rows = [_row(f"sample ({result['sample_passages']:,} passages), {mode}", s) for mode, s in result["sample"].items()]
    size = result["synthetic_size"]
    rows += [_row(f"synthetic {size:,}, {name}", s) for name, s in result["synthetic"]["search"].items()]
    text = (
        f"### Search latency, ms (median unless stated); {result['model']}, queries encoded in {result['precision']}; "
        f"load average {result['load_average'][0]} at start, {result['load_average'][-1]} at end\n\n"
    ) + common.table(headers, rows, 1)
    shapes = result["synthetic"]["cql_shapes"]
    base = shapes["LIMIT 200, all columns (product)"]["median"]
    text += f"\n\n### ANN query shapes on the synthetic {size:,} corpus, ms\n\n" + common.table(
        ["query", "n", "median", "p95", "p99", "vs product query"],
        [
            [name, s["n"], s["median"], s["p95"], s["p99"], common.ratio(s["median"], base)]
            for name, s in shapes.items()
        ],
        2,
    )
    enc = result["query_encoding"]
    base_enc = next(iter(enc.values()))["median"]
    text += "\n\n### Query encoding alone, ms\n\n" + common.table(
        ["precision, threads", "n", "median", "p95", "p99", "vs fp32 2 threads"],
        [
            [name, s["n"], s["median"], s["p95"], s["p99"], common.ratio(s["median"], base_enc)]
            for name, s in enc.items()
        ],
        2,
    )
    rec = result["synthetic"].get("recall")
    if rec:
        text += (
            f"\n\nANN recall@10 on the synthetic {size:,} corpus (100 real query embeddings, exact numpy baseline): "
            f"LIMIT 10 {rec['limit10']['mean']:.3f} (min {rec['limit10']['min']:.1f}), "
            f"LIMIT 200 then top 10 {rec['limit200']['mean']:.3f} (min {rec['limit200']['min']:.1f})"
        )
    return text
