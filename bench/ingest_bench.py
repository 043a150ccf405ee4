"""Ingest throughput: the product pipeline vs the notebook-style loop, same rows, model and node.

- pipeline: `ingest.cli.run_ingest(path, settings, limit=N, encoder=enc, recreate=True)` into
  `bench_pipeline`: chunked passages (`title\\npassage`), batched encoding at the precision the
  encoder chose (bf16 autocast where measured safe), bounded asynchronous writes overlapping it.
- the same pipeline with 2 writes in flight (what this node sustains without failures, see
  `node.write_concurrency`), and with 2 in flight and 32-article windows (`read_chunk_rows`), so
  one window's writes overlap the next window's encoding;
- notebook: what the seed notebook did, into `bench_notebook`: for each CSV row, encode the whole
  article text alone (one `SentenceTransformer.encode` call, fp32, no batching; the model silently
  truncates it at its `max_seq_length`; the model's passage prefix added, as e5 needs one), then a
  blocking cassio `put` with row id `Date|Title`.

Both exclude table creation; both include reading the CSV. The two alternate (P N N P ...).
"""

from __future__ import annotations

import csv
import time
from pathlib import Path
from typing import Any

from bench import common, node

PIPELINE = "pipeline (64 writes in flight, product default)"
PIPELINE_BOUNDED = "pipeline (2 writes in flight)"
PIPELINE_FP32 = "pipeline (fp32 encoder, 64 writes in flight)"
NOTEBOOK = "notebook"


def pipeline_once(path: Path, rows: int, settings: Any, encoder: Any) -> dict[str, Any]:
    from ingest.cli import run_ingest

    started = time.perf_counter()
    summary = run_ingest(path, settings, limit=rows, encoder=encoder, recreate=True)
    data = summary.as_dict()
    data["wall_with_setup_s"] = time.perf_counter() - started
    return data


def notebook_table(session: Any, keyspace: str) -> Any:
    from cassio.table import MetadataVectorCassandraTable

    session.execute(
        f"CREATE KEYSPACE IF NOT EXISTS {keyspace} WITH replication = "
        "{'class': 'SimpleStrategy', 'replication_factor': 1}"
    )
    session.execute(f"DROP TABLE IF EXISTS {keyspace}.news", timeout=120)
    return MetadataVectorCassandraTable(
        session=session, keyspace=keyspace, table="news", vector_dimension=common.DIMENSION, primary_key_type="TEXT"
    )


def notebook_once(path: Path, rows: int, session: Any, model: Any, prefix: str, keyspace: str) -> dict[str, Any]:
    """The seed notebook's loop, timed from reading the CSV to the last acknowledged put."""
    table = notebook_table(session, keyspace)
    encode_s = write_s = 0.0
    count = 0
    started = time.perf_counter()
    with path.open(encoding="utf-8", newline="") as f:
        for row in csv.DictReader(f):
            if count >= rows:
                break
            t = time.perf_counter()
            vector = model.encode(prefix + row["Content"])
            encode_s += time.perf_counter() - t
            t = time.perf_counter()
            table.put(
                row_id=f"{row['Date']}|{row['Title']}",
                body_blob=row["Content"],
                vector=[float(x) for x in vector],
                metadata={"title": row["Title"], "date": row["Date"], "link": row["Link"]},
            )
            write_s += time.perf_counter() - t
            count += 1
    seconds = time.perf_counter() - started
    return {
        "new": count,
        "passages": count,
        "seconds": seconds,
        "encode_seconds": encode_s,
        "write_seconds": write_s,
        "articles_per_s": count / seconds,
        "passages_per_s": count / seconds,
        "failed": 0,
    }


def token_coverage(path: Path, rows: int, encoder: Any) -> dict[str, float]:
    """Share of each article's word pieces that reach the encoder: notebook (truncated) vs pipeline (all)."""
    limit = int(encoder.model.max_seq_length) - int(getattr(encoder, "special_tokens", 2))
    total = kept = 0
    with path.open(encoding="utf-8", newline="") as f:
        for number, row in enumerate(csv.DictReader(f)):
            if number >= rows:
                break
            n = encoder.count_tokens(row["Content"])
            total += n
            kept += min(n, limit)
    return {"article_tokens": total, "notebook_tokens_encoded": kept, "notebook_share": kept / total if total else 0.0}


def run(rows: int, rounds: int, encoder: Any = None) -> dict[str, Any]:
    from newsindex.encoder import Encoder, load_encoder

    path = common.require_sample()
    settings = common.bench_settings("bench_pipeline", precision="auto")
    encoder = encoder or load_encoder(settings)
    session = node.connect(settings)
    try:
        load_start = common.load_average()
        common.say(
            f"[ingest] {encoder.profile.name}: {rows} rows, {rounds} rounds, pipeline ({encoder.precision.dtype}) "
            f"vs notebook (fp32); load average {load_start}"
        )
        bounded = settings.with_(write_concurrency=node.write_concurrency())
        variants = {PIPELINE: lambda: pipeline_once(path, rows, settings, encoder)}
        if encoder.precision.dtype != "fp32":
            fp32 = Encoder(encoder.model, encoder.profile, encoder.device, "fp32", encoder.batch_size)
            variants[PIPELINE_FP32] = lambda: pipeline_once(path, rows, settings, fp32)
        variants[PIPELINE_BOUNDED] = lambda: pipeline_once(path, rows, bounded, encoder)
        variants[NOTEBOOK] = lambda: notebook_once(
            path, rows, session, encoder.model, encoder.profile.passage_prefix, "bench_notebook"
        )
        raw = common.alternate(variants, rounds)
        notebook_rows = session.execute("SELECT COUNT(*) FROM bench_notebook.news", timeout=60).one()[0]
    finally:
        session.cluster.shutdown()
    result: dict[str, Any] = {
        "rows": rows,
        "rounds": rounds,
        "raw": raw,
        "precision": encoder.precision.dtype,
        "model": encoder.profile.name,
        "load_average": [load_start, common.load_average()],
    }
    result["notebook_rows_stored"] = int(notebook_rows)
    result["coverage"] = token_coverage(path, rows, encoder)
    med = {
        name: {
            key: common.median(r[key] for r in runs)
            for key in ("seconds", "encode_seconds", "write_seconds", "articles_per_s", "passages_per_s")
        }
        for name, runs in raw.items()
    }
    for name, runs in raw.items():
        med[name]["passages"] = runs[-1]["passages"]
        med[name]["articles"] = runs[-1]["new"]
        med[name]["failed"] = max(r.get("failed", 0) for r in runs)
    result["median"] = med
    # The headline pipeline is the one that wrote every article (see node.write_concurrency).
    best = PIPELINE if not med[PIPELINE]["failed"] else PIPELINE_BOUNDED
    for name, runs in raw.items():
        if name.startswith("pipeline"):
            for key in ("write_wait_seconds", "stats_seconds"):
                med[name][key] = common.median(r[key] for r in runs)
    result["headline"] = best
    result["ratio_articles_per_s"] = common.ratio(med[best]["articles_per_s"], med[NOTEBOOK]["articles_per_s"])
    result["ratio_passages_per_s"] = common.ratio(med[best]["passages_per_s"], med[NOTEBOOK]["passages_per_s"])
    if PIPELINE_FP32 in med:
        result["ratio_fp32_articles_per_s"] = common.ratio(
            med[PIPELINE_FP32]["articles_per_s"], med[NOTEBOOK]["articles_per_s"]
        )
    return result


def report(result: dict[str, Any]) -> str:
    rows = []
    for name in result["median"]:
        m = result["median"][name]
        raw = " / ".join(f"{r['seconds']:.1f}" for r in result["raw"][name])
        rows.append(
            [
                name,
                m["articles"],
                m["passages"],
                m["seconds"],
                m["articles_per_s"],
                m["passages_per_s"],
                m["encode_seconds"],
                m["write_seconds"],
                m.get("write_wait_seconds", float("nan")),
                m.get("stats_seconds", float("nan")),
                m["failed"],
                raw,
            ]
        )
    cov = result["coverage"]
    text = common.table(
        [
            "variant",
            "articles",
            "passages",
            "seconds (median)",
            "articles/s",
            "passages/s",
            "encode s",
            "write s",
            "waiting on writes s",
            "BM25 stats s",
            "failed",
            "raw seconds",
        ],
        rows,
        2,
    )
    text += (
        f"\n\n{result['headline']} / notebook: {result['ratio_articles_per_s']:.2f}x articles/s, "
        f"{result['ratio_passages_per_s']:.2f}x passages/s"
        + (
            f" (with an fp32 encoder, as the notebook: {result['ratio_fp32_articles_per_s']:.2f}x articles/s)"
            if "ratio_fp32_articles_per_s" in result
            else ""
        )
        + "; the notebook encodes "
        f"{cov['notebook_share']:.0%} of the articles' word pieces (the rest is truncated away), "
        f"the pipeline all of them. Model {result['model']}, pipeline precision {result['precision']}; load "
        f"average {result['load_average'][0]} at start, {result['load_average'][1]} at end."
    )
    return text
