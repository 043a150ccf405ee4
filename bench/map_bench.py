"""Corpus map benchmark: build and draw times of the map at the real sample and at 10k articles.

    python -m bench.map_bench --source news_pages_dev [--sizes 10000] [--rounds 2] [--full-tsne]

1. Real sample (`--source`, a keyspace holding data/news_sample.csv ingested with e5-small-v2):
   the first build (read articles + vectors, PCA + t-SNE, store) into an empty map dir, with t-SNE on
   one OpenMP thread and on two, alternated; then the page's read path (index version + stored map)
   and the chart spec (Altair -> Vega-Lite JSON) for every article.
   "Draw" is the server side of a page view; the browser's own drawing is not in these numbers.
2. Synthetic articles (`--sizes`): copies of the source's articles with noised vectors (bench.synthetic.
   perturb, cosine ~0.9 to the original), written as article + passage rows into a throwaway keyspace
   (dropped afterwards). Timed: the first build (t-SNE on a 2,500-article sample, the rest placed by
   nearest neighbours), the read path, an incremental build after 2% more articles, and with
   `--full-tsne` a t-SNE of all articles (projection only) for comparison. The vectors are synthetic:
   these runs time the map, they say nothing about its quality.

Results go to stdout and bench/results/map-*.json.
"""

from __future__ import annotations

import argparse
import datetime as dt
import os
import shutil
import statistics
import tempfile
import time
from pathlib import Path
from typing import Any

import numpy as np

from bench.common import machine_info, save_results, say
from newsindex import corpusmap, projection
from newsindex.schema import ensure_schema, read_manifest
from newsindex.settings import Settings


def _settings(keyspace: str, state: Path) -> Settings:
    return Settings.from_env(keyspace=keyspace, state_dir=state)


def _first_build(session: Any, settings: Settings, manifest: Any, threads: int) -> dict[str, float]:
    """A build into an empty map dir, split into read / fit / store."""
    shutil.rmtree(corpusmap.map_dir(settings), ignore_errors=True)
    params = projection.ProjectionParams(threads=threads)
    t0 = time.perf_counter()
    version = corpusmap.index_version(session, settings, manifest)
    rows = corpusmap.article_rows(session, settings)
    vectors = corpusmap.article_vectors(session, settings)
    t1 = time.perf_counter()
    matrix = np.stack([vectors[a] for a in rows["article_id"] if a in vectors])
    layout = projection.fit(matrix, params)
    t2 = time.perf_counter()
    built = corpusmap.build_map(session, settings, version, None, params)  # the product path, end to end
    corpusmap.save_map(built, corpusmap.map_dir(settings), manifest)
    t3 = time.perf_counter()
    return {
        "read_s": t1 - t0,
        "fit_s": t2 - t1,
        "build_and_store_s": t3 - t2,
        "articles": float(len(matrix)),
        "method": layout.method,  # type: ignore[dict-item]
    }


def _draw(session: Any, settings: Settings, manifest: Any, rounds: int = 5) -> dict[str, float]:
    """The page's path once a map is stored: index version + read the map, then the page's own chart
    (search_app.mapchart) turned into what Streamlit sends to the browser (spec JSON + Arrow data)."""
    from streamlit.elements.vega_charts import _convert_altair_to_vega_lite_spec

    from search_app import mapchart
    from search_app.pagestate import MapState

    read, spec = [], []
    for _ in range(rounds):
        t0 = time.perf_counter()
        corpus_map, built = corpusmap.ensure_map(session, settings, manifest)
        t1 = time.perf_counter()
        assert not built
        data = mapchart.view_frame(corpus_map.frame, MapState(), None)
        _convert_altair_to_vega_lite_spec(mapchart.chart(data, None))  # its datasets come back as Arrow bytes
        read.append(t1 - t0)
        spec.append(time.perf_counter() - t1)
    return {"read_median_s": statistics.median(read), "spec_median_s": statistics.median(spec)}


def real_sample(session: Any, keyspace: str, rounds: int) -> dict[str, Any]:
    state = Path(tempfile.mkdtemp(prefix="map-bench-"))
    try:
        settings = _settings(keyspace, state)
        manifest = read_manifest(session, settings)
        if manifest is None:
            raise SystemExit(f"no index in keyspace {keyspace!r}: ingest data/news_sample.csv into it first")
        runs: dict[int, list[dict[str, float]]] = {1: [], 2: []}
        for _ in range(rounds):
            for threads in (1, 2):
                runs[threads].append(_first_build(session, settings, manifest, threads))
                r = runs[threads][-1]
                say(f"  {keyspace}: {int(r['articles'])} articles, {threads} thread(s): read {r['read_s']:.1f} s, "
                    f"fit {r['fit_s']:.1f} s, build+store {r['build_and_store_s']:.1f} s ({r['method']})")  # fmt: skip
        draw = _draw(session, settings, manifest)
        read_ms, spec_ms = draw["read_median_s"] * 1000, draw["spec_median_s"] * 1000
        say(f"  draw path: read {read_ms:.0f} ms, chart JSON {spec_ms:.0f} ms")
        return {"keyspace": keyspace, "builds": runs, "draw": draw}
    finally:
        shutil.rmtree(state, ignore_errors=True)


def _write_synthetic(session: Any, settings: Settings, source: Settings, n_articles: int, seed: int,
                     start: int = 0) -> None:  # fmt: skip
    """`n_articles` copies of the source's articles (noised vectors) as article + passage rows."""
    from cassandra.concurrent import execute_concurrent_with_args

    from bench.synthetic import perturb, read_source_passages

    sources = read_source_passages(session, source.keyspace)
    by_article: dict[str, list[Any]] = {}
    for p in sources:
        by_article.setdefault(p.article_id, []).append(p)
    originals = list(by_article.values())
    ks = settings.keyspace
    ins_p = session.prepare(
        f"INSERT INTO {ks}.passages (article_id, chunk_no, title, link, published, body, terms, vector)"
        " VALUES (?, ?, ?, ?, ?, ?, ?, ?)"
    )
    ins_a = session.prepare(
        f"INSERT INTO {ks}.articles (article_id, link, title, published, content_hash, passage_count, ingested_at)"
        " VALUES (?, ?, ?, ?, ?, ?, ?)"
    )
    rng = np.random.default_rng(seed)
    passage_rows, article_rows = [], []
    now = dt.datetime.now(dt.UTC)
    for i in range(start, start + n_articles):
        passages = originals[int(rng.integers(len(originals)))]
        vectors = perturb(np.stack([p.vector for p in passages]), 0.9, seed + i)
        aid = f"syn{i:07d}"
        for p, v in zip(passages, vectors, strict=True):
            passage_rows.append((aid, p.chunk_no, f"synthetic {i}", f"https://example.invalid/{aid}", p.published,
                                 "", set(), [float(x) for x in v]))  # fmt: skip
        article_rows.append((aid, f"https://example.invalid/{aid}", f"synthetic {i}", passages[0].published, "x",
                             len(passages), now))  # fmt: skip
    for statement, rows in ((ins_p, passage_rows), (ins_a, article_rows)):
        for ok, result in execute_concurrent_with_args(session, statement, rows, concurrency=48):
            if not ok:
                raise RuntimeError(f"write failed: {result}")


def synthetic(session: Any, source_keyspace: str, size: int, full_tsne: bool) -> dict[str, Any]:
    from newsindex.profiles import profile_for

    state = Path(tempfile.mkdtemp(prefix="map-bench-"))
    keyspace = f"bench_map_{size}_{os.getpid()}"
    settings = _settings(keyspace, state)
    source = _settings(source_keyspace, state)
    manifest_src = read_manifest(session, source)
    profile = profile_for(source.with_(model=manifest_src.model)) if manifest_src else None
    if profile is None:
        raise SystemExit(f"no e5 index in {source_keyspace!r}")
    out: dict[str, Any] = {"articles": size}
    try:
        manifest = ensure_schema(session, settings, profile)
        t = time.perf_counter()
        _write_synthetic(session, settings, source, size, seed=size)
        out["write_s"] = time.perf_counter() - t
        say(f"  {size:,} synthetic articles written in {out['write_s']:.0f} s")
        t = time.perf_counter()
        built, _ = corpusmap.ensure_map(session, settings, manifest)
        out["first_build_s"] = time.perf_counter() - t
        out["method"] = built.method
        say(f"  first build: {out['first_build_s']:.1f} s ({built.method}, {built.articles:,} articles)")
        out["draw"] = _draw(session, settings, manifest)
        say(f"  draw path: read {out['draw']['read_median_s'] * 1000:.0f} ms, "
            f"chart JSON {out['draw']['spec_median_s'] * 1000:.0f} ms")  # fmt: skip
        extra = max(size // 50, 1)
        _write_synthetic(session, settings, source, extra, seed=size + 1, start=size)
        t = time.perf_counter()
        grown, _ = corpusmap.ensure_map(session, settings, manifest)
        out["incremental_s"] = time.perf_counter() - t
        out["incremental_placed"] = grown.placed
        say(f"  +{extra:,} articles, incremental build: {out['incremental_s']:.1f} s ({grown.placed:,} placed)")
        if full_tsne:
            vectors = corpusmap.article_vectors(session, settings)
            matrix = np.stack(list(vectors.values()))
            t = time.perf_counter()
            layout = projection.fit(matrix, projection.ProjectionParams(sample_cap=len(matrix) + 1))
            out["full_tsne_fit_s"] = time.perf_counter() - t
            say(f"  full t-SNE of {len(matrix):,} (projection only): {out['full_tsne_fit_s']:.1f} s ({layout.method})")
    finally:
        session.execute(f"DROP KEYSPACE IF EXISTS {keyspace}", timeout=300)
        shutil.rmtree(state, ignore_errors=True)
    return out


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.map_bench", description=__doc__.split("\n")[0])
    parser.add_argument("--source", required=True, help="keyspace holding the ingested real sample")
    parser.add_argument("--sizes", default="10000", help="synthetic article counts, comma-separated ('' = none)")
    parser.add_argument("--rounds", type=int, default=2, help="alternated builds per thread setting")
    parser.add_argument("--full-tsne", action="store_true", help="also time a t-SNE of all synthetic articles")
    parser.add_argument("--skip-real", action="store_true")
    args = parser.parse_args(argv)
    from newsindex.connect import close, connect

    session = connect(Settings.from_env(keyspace=args.source))
    machine = machine_info()
    say(f"machine: {machine.get('cpu')} · {machine.get('cores')} cores · load {os.getloadavg()}")
    results: dict[str, Any] = {}
    try:
        if not args.skip_real:
            say("real sample:")
            results["real"] = real_sample(session, args.source, args.rounds)
        for size in [int(s) for s in args.sizes.split(",") if s.strip()]:
            say(f"synthetic {size:,}:")
            results[f"synthetic_{size}"] = synthetic(session, args.source, size, args.full_tsne)
    finally:
        close(session)
    results["load_avg_at_end"] = os.getloadavg()
    say(f"saved {save_results('map', results)}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
