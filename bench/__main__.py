"""`python -m bench quick` (minutes) or `python -m bench scale` (the long runs); tables go to stdout.

\b
  python -m bench quick                      # 50 articles, 10k index, search on sample + 10k synthetic
  python -m bench scale                      # 1,220 articles, 10k/100k index (1M if it fits), 100k search
  python -m bench scale --parts index --sizes 10000,100000 --million no
Results (JSON) go to bench/results/; docs/BENCHMARKS.md explains every table.
"""

from __future__ import annotations

import argparse
import logging
import os
import sys
from typing import Any

from bench import common

PARTS = ("ingest", "encode", "index", "latency")


def parse(argv: list[str]) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="python -m bench", description=__doc__.split("\n")[0])
    parser.add_argument("mode", choices=["quick", "scale"])
    parser.add_argument("--parts", default=",".join(PARTS), help=f"comma-separated subset of {','.join(PARTS)}")
    parser.add_argument("--rows", type=int, help="articles for the ingest/encode comparison (quick 50, scale 1220)")
    parser.add_argument("--encode-rows", type=int, help="articles for the encode ceiling (quick = --rows, scale 150)")
    parser.add_argument("--rounds", type=int, default=2, help="alternated repetitions of each variant")
    parser.add_argument("--ingest-rounds", type=int, help="rounds of the ingest comparison (quick 2, scale 1)")
    parser.add_argument("--sizes", help="index sizes (quick 10000, scale 10000,100000)")
    parser.add_argument("--million", choices=["auto", "yes", "no"], help="1M run (scale: auto = if 100k says it fits)")
    parser.add_argument("--synthetic", type=int, help="passages in the search-latency corpus (quick 10k, scale 100k)")
    parser.add_argument("--queries", type=int, default=200, help="queries per latency measurement")
    parser.add_argument("--no-onnx", action="store_true", help="skip the ONNX Runtime (Maven export) variants")
    parser.add_argument("--no-eval", action="store_true", help="skip bench.evaluate (retrieval quality)")
    parser.add_argument("--keep", action="store_true", help="keep the big keyspaces (default: dropped)")
    return parser.parse_args(argv)


def defaults(args: argparse.Namespace) -> argparse.Namespace:
    quick = args.mode == "quick"
    args.rows = args.rows or (50 if quick else 1220)
    args.encode_rows = args.encode_rows or (args.rows if quick else 150)
    args.ingest_rounds = args.ingest_rounds or (args.rounds if quick else 1)
    args.sizes = [int(s) for s in (args.sizes or ("10000" if quick else "10000,100000")).split(",")]
    args.million = args.million or ("no" if quick else "auto")
    args.synthetic = args.synthetic or (10_000 if quick else 100_000)
    args.parts = [p.strip() for p in args.parts.split(",") if p.strip()]
    unknown = set(args.parts) - set(PARTS)
    if unknown:
        raise SystemExit(f"unknown --parts {sorted(unknown)}; choose from {', '.join(PARTS)}")
    return args


def run_evaluate() -> dict[str, Any]:
    """Retrieval quality (bench.evaluate) at the product's passage budget; NEWS_BENCH_EVAL_ARGS adds flags."""
    from bench import evaluate

    common.say("\n## Retrieval quality (bench.evaluate)\n")
    try:
        code = evaluate.main(os.environ.get("NEWS_BENCH_EVAL_ARGS", "").split())
    except SystemExit as exc:
        code = exc.code
    return {"status": "ran", "exit": code}


def targets(results: dict[str, Any]) -> list[tuple[str, str, str]]:
    """(target, measured, met?) rows from whatever parts ran."""
    rows: list[tuple[str, str, str]] = []
    ingest, encode = results.get("ingest"), results.get("encode")
    if ingest and encode:
        from bench.encode_bench import TORCH_BF16, TORCH_FP32

        chosen = encode["chosen_precision"]
        rates = encode["passages_per_s"]
        ceiling = rates.get(TORCH_BF16 if chosen == "bf16" else TORCH_FP32) or rates[TORCH_FP32]
        pipe = ingest["median"][ingest["headline"]]
        share = pipe["passages_per_s"] / ceiling
        rows.append(
            (
                "pipeline end to end >= 90% of the encode-only ceiling",
                f"{share:.0%} ({pipe['passages_per_s']:.1f} vs {ceiling:.1f} passages/s at {chosen}; "
                f"{ingest['headline']})",
                "met" if share >= 0.90 else "missed",
            )
        )
    if ingest:
        for key, label in (("ratio_articles_per_s", "articles/s"), ("ratio_passages_per_s", "passages/s")):
            value = ingest[key]
            rows.append(
                (f"pipeline >= 1.3x the notebook ({label})", f"{value:.2f}x", "met" if value >= 1.3 else "missed")
            )
        for name, med in ingest["median"].items():
            if name.startswith("pipeline"):
                ok = not med["failed"]
                rows.append((f"{name} writes every article", f"{med['failed']} failed", "met" if ok else "missed"))
    latency = results.get("latency")
    if latency:
        search = latency["synthetic"]["search"]["semantic, 200 candidates"]
        value = search["outside_over_encode"]
        rows.append(
            (
                f"at {latency['synthetic_size']:,} passages, search time outside encoding <= encoding",
                f"{search['outside_encode_ms']['median']:.1f} ms vs {search['encode_ms']['median']:.1f} ms "
                f"({value:.2f}x)",
                "met" if value <= 1 else "missed",
            )
        )
    return rows


def main(argv: list[str] | None = None) -> int:
    args = defaults(parse(sys.argv[1:] if argv is None else argv))
    with common.exclusive_run(" ".join(sys.argv)):
        return run(args)


def run(args: argparse.Namespace) -> int:
    common.setup_env()
    logging.basicConfig(level=logging.WARNING, format="%(levelname)s %(name)s: %(message)s")
    from newsindex.encoder import load_encoder
    from newsindex.errors import NewsSearchError

    machine = common.machine_info()
    common.say(
        f"# news-search benchmarks ({args.mode}), model {machine['model']}, commit {machine['commit']}, on "
        f"{machine['cpu']}, {machine['cores']} cores, {machine['ram_gib']} GiB; load average at start "
        f"{machine['load_avg_at_start']}"
    )
    results: dict[str, Any] = {"args": {k: v for k, v in vars(args).items()}}
    encoder = None
    if {"ingest", "encode", "latency"} & set(args.parts):
        encoder = load_encoder(common.bench_settings("bench_pipeline", precision="auto"))
    try:
        if "ingest" in args.parts:
            from bench import ingest_bench

            results["ingest"] = ingest_bench.run(args.rows, args.ingest_rounds, encoder)
            common.save_results(f"{args.mode}-partial", results)
            common.say("\n## Ingest: pipeline vs notebook\n\n" + ingest_bench.report(results["ingest"]))
        if "encode" in args.parts:
            from bench import encode_bench

            results["encode"] = encode_bench.run(args.encode_rows, args.rounds, encoder, not args.no_onnx)
            common.save_results(f"{args.mode}-partial", results)
            common.say("\n## Encode-only ceiling (no database)\n\n" + encode_bench.report(results["encode"]))
        if "index" in args.parts:
            from bench import scale_bench

            results["index"] = scale_bench.run(args.sizes, args.queries, 100, args.million, args.keep)
            common.save_results(f"{args.mode}-partial", results)
        if "latency" in args.parts:
            from bench import latency_bench

            results["latency"] = latency_bench.run("bench_pipeline", args.synthetic, args.queries, encoder, args.keep)
            common.say("\n## Search latency\n\n" + latency_bench.report(results["latency"]))
    except (common.SkipBenchmark, NewsSearchError) as exc:
        common.say(f"\nSKIPPED: {exc}")
        return 0
    rows = targets(results)
    if rows:
        common.say("\n## Targets\n\n" + common.table(["target", "measured", "status"], rows))
    results["targets"] = rows
    if args.mode == "quick" and not args.no_eval:
        results["evaluate"] = run_evaluate()
    path = common.save_results(args.mode, results)
    common.say(f"\nresults: {path}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
