"""Search quality on the judged corpus: the product's modes on the real node against baselines in memory.

    .venv/bin/python -m bench.evaluate               # the product's model and passage budget
    .venv/bin/python -m bench.evaluate --publish     # ... and write docs/evaluation.json
    .venv/bin/python -m bench.evaluate --budgets 256,512   # more passage budgets (each one re-ingests)

Inputs: data/news_sample.csv (its first rows are the judged corpus) and the eval sets in
../shared/eval (or $NEWS_SHARED_DIR/eval), see bench/eval_data.py. The judged rows are ingested with
`ingest.cli.run_ingest` into `eval_<model>_p<budget>`; a re-run with the same product code skips
unchanged articles, a run with changed code (ingest/, newsindex/) rebuilds the keyspace. Then every
query goes through `SearchService.search` in each mode (hybrid, semantic, keyword), and the same
queries through BM25 alone and the seed notebook's approach (bench/eval_rankers.py).
Prints Markdown tables (bench/eval_report.py); writes every query's top 10 and metrics to
bench/results/eval-<time>.json and the published numbers to bench/results/evaluation.json
(docs/evaluation.json with --publish). docs/EVALUATION.md discusses them.
"""

from __future__ import annotations

import argparse
import datetime as dt
import hashlib
import json
import sys
import tempfile
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from bench import common, node
from bench.eval_data import EvalInputs, MissingInputs, Query, load_inputs
from bench.eval_rankers import Run, bm25_ours_run, bm25s_run, notebook_run, service_runs
from bench.eval_report import published, raw, render, same_rankings

MODES = ("hybrid", "semantic", "keyword")
PUBLISHED_JSON = common.REPO / "docs" / "evaluation.json"
STAMPS = common.RESULTS_DIR / "eval-index-stamps.json"


def log(message: str) -> None:
    print(f"[evaluate] {message}", file=sys.stderr, flush=True)


# --- the product index ---------------------------------------------------------------------------
def keyspace_for(model: str, budget: int, precision: str = "") -> str:
    """One keyspace per model and budget; an int8 index (other vectors) gets its own."""
    slug = "".join(ch for ch in model.rsplit("/", 1)[-1].lower() if ch.isalnum())[:24]
    return f"eval_{slug}_p{budget}" + ("_int8" if precision == "int8" else "")


def code_stamp(inputs: EvalInputs, settings: Any) -> str:
    """What an eval keyspace was built from: the product code that ingests and the judged rows."""
    digest = hashlib.sha256()
    for folder in ("ingest", "newsindex"):
        for path in sorted((common.REPO / folder).rglob("*.py")):
            digest.update(str(path.relative_to(common.REPO)).encode() + b"\0" + path.read_bytes())
    digest.update(inputs.csv_path.read_bytes())
    digest.update(f"{settings.model}|{settings.passage_max_tokens}|{settings.passage_overlap_tokens}".encode())
    return digest.hexdigest()[:16]


def read_stamps() -> dict[str, dict[str, Any]]:
    """keyspace -> {"stamp": code_stamp, "passages": passages written when it was built}."""
    try:
        return {k: v for k, v in json.loads(STAMPS.read_text(encoding="utf-8")).items() if isinstance(v, dict)}
    except (OSError, ValueError, AttributeError):
        return {}


def ensure_index(settings: Any, inputs: EvalInputs, encoder: Any, recreate: bool, workdir: Path) -> dict[str, Any]:
    """Ingest exactly the judged rows into settings.keyspace; rebuilt when the product code changed."""
    from ingest.cli import run_ingest

    stamp = code_stamp(inputs, settings)
    stamps = read_stamps()
    rebuilt = recreate = recreate or stamps.get(settings.keyspace, {}).get("stamp") != stamp
    runs: list[dict[str, Any]] = []
    for _attempt in range(3):
        summary = run_ingest(
            inputs.csv_path, settings, encoder=encoder, recreate=recreate, quarantine=workdir / "quarantine.jsonl"
        ).as_dict()
        runs.append({k: summary[k] for k in ("new", "updated", "unchanged", "quarantined", "failed", "passages")})
        runs[-1]["seconds"] = round(summary["seconds"], 1)
        log(f"{settings.keyspace}: {runs[-1]}{' (rebuilt)' if recreate else ''}")
        complete = summary["new"] + summary["updated"] + summary["unchanged"] == len(inputs.docs)
        if complete and not summary["failed"] and not summary["quarantined"]:
            if rebuilt:
                stamps[settings.keyspace] = {"stamp": stamp, "passages": sum(r["passages"] for r in runs)}
                STAMPS.parent.mkdir(parents=True, exist_ok=True)
                STAMPS.write_text(json.dumps(stamps, indent=1), encoding="utf-8")
            passages = stamps[settings.keyspace]["passages"]
            return {"keyspace": settings.keyspace, "ingest": runs, "rebuilt": rebuilt, "passages": passages}
        recreate = False  # every write is an idempotent upsert: run again to fill what failed
    raise SystemExit(f"could not ingest the judged corpus into {settings.keyspace}: {runs}")


def product_runs(
    settings: Any, inputs: EvalInputs, encoder: Any, model: str, suffix: str, workdir: Path, recreate: bool
) -> tuple[list[Run], dict[str, Any]]:
    """The service's modes over every query, on one passage budget's keyspace."""
    from newsindex.factory import build_service

    index = ensure_index(settings, inputs, encoder, recreate, workdir)
    service = build_service(settings, encoder)
    try:
        index["cassandra"] = node.node_version(service.store.session)
        started = time.perf_counter()
        runs = service_runs(service, [q for qs in inputs.queries.values() for q in qs], MODES, model)
        log(f"{settings.keyspace}: {len(MODES)} modes in {time.perf_counter() - started:.0f}s")
    finally:
        service.store.session.cluster.shutdown()
    stray = sorted({h.link for r in runs.values() for hs in r.hits.values() for h in hs} - inputs.links)
    if stray:
        raise SystemExit(
            f"{settings.keyspace} holds articles outside the judged corpus (e.g. {stray[0]}); run with --recreate"
        )
    out = list(runs.values())
    for run in out:
        if suffix:
            run.name, run.mode = f"{run.mode} {suffix}", ""  # only the default budget is published
    return out, index


# --- main ----------------------------------------------------------------------------------------
def parse(argv: Sequence[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="python -m bench.evaluate", description=(__doc__ or "").split("\n")[0])
    parser.add_argument("--budgets", default="", help="passage token budgets, e.g. 256,512 (default: the product's)")
    parser.add_argument("--publish", action="store_true", help=f"also write {PUBLISHED_JSON.relative_to(common.REPO)}")
    parser.add_argument("--recreate", action="store_true", help="rebuild the eval keyspaces from scratch")
    parser.add_argument("--out", type=Path, default=common.RESULTS_DIR, help="folder for the JSON results")
    return parser.parse_args(argv)


def main(argv: Sequence[str] | None = None) -> int:
    args = parse(argv)
    common.setup_env()
    from newsindex.errors import NewsSearchError

    with tempfile.TemporaryDirectory(prefix="news-eval-") as tmp:
        try:
            inputs = load_inputs(Path(tmp))
        except (MissingInputs, common.SkipBenchmark) as exc:
            print(f"skipped: {exc}", file=sys.stderr)
            return 0
        try:
            return evaluate(args, inputs, Path(tmp))
        except NewsSearchError as exc:
            print(f"Error: {exc}", file=sys.stderr)
            return 2


def evaluate(args: argparse.Namespace, inputs: EvalInputs, workdir: Path) -> int:
    from newsindex.encoder import Encoder, load_encoder
    from newsindex.settings import Settings

    started, load_start = time.perf_counter(), common.load_average()
    base = Settings.from_env()
    encoder = load_encoder(base)
    int8 = base.precision == "int8"
    model = encoder.profile.name + (" (int8)" if int8 else "")
    default_budget = base.passage_max_tokens or encoder.profile.max_tokens
    budgets = [default_budget, *sorted({int(b) for b in args.budgets.split(",") if b} - {default_budget})]
    queries: dict[str, list[Query]] = dict(inputs.queries)
    runs: list[Run] = []
    indexes: dict[int, Any] = {}
    for budget in budgets:
        settings = base.with_(keyspace=keyspace_for(encoder.profile.name, budget, base.precision))
        if budget != default_budget or base.passage_max_tokens:
            settings = settings.with_(passage_max_tokens=budget)
        found, indexes[budget] = product_runs(
            settings, inputs, encoder, model, "" if budget == default_budget else f"(p{budget})", workdir, args.recreate
        )
        runs += found
    everything = [q for qs in queries.values() for q in qs]
    ours, ours_bm25s = bm25_ours_run(inputs.docs, everything), bm25s_run(inputs.docs, everything, our_tokens=True)
    runs += [bm25s_run(inputs.docs, everything), ours, ours_bm25s]
    if not int8:  # the baselines do not depend on the product's precision: measured once, with bf16/fp32
        notebook_encoder = Encoder(encoder.model, encoder.profile, encoder.device, "fp32", encoder.batch_size)
        notebook, notebook_s = notebook_run(notebook_encoder, inputs.docs, everything, model)
        runs.append(notebook)
        log(f"notebook: {len(inputs.docs)} articles encoded (fp32, as the notebook did) in {notebook_s:.0f}s")
    machine = common.machine_info()
    load_end = common.load_average()
    meta = {
        "generated_at": dt.datetime.now(dt.UTC).isoformat(timespec="seconds"),
        "commit": common.git_commit(),
        "machine": f"{machine['cpu'] or 'unknown CPU'}, {machine['cores']} cores, shared: load average "
        f"{load_start} at start, {load_end} at end",
        "corpus": f"the {len(inputs.docs)} judged articles (the first rows of data/news_sample.csv); "
        f"passages of at most {default_budget} tokens, overlap {base.passage_overlap_tokens}; "
        f"Cassandra {indexes[default_budget]['cassandra']}, keyspace {indexes[default_budget]['keyspace']}",
    }
    checks = {"BM25 ours == bm25s on our tokens (identical top 10)": same_rankings(ours, ours_bm25s, everything)}
    seconds = time.perf_counter() - started
    header = [
        f"# Evaluation {meta['generated_at']} ({seconds:.0f}s), commit {meta['commit']}",
        "",
        f"{meta['machine']}. Model {model} ({encoder.precision.dtype}, {encoder.precision.reason}); {meta['corpus']}.",
        "Checks: " + "; ".join(f"{k}: {v}" for k, v in checks.items()) + ".",
    ]
    print(render(runs, queries, header))
    document = published(runs, queries, meta)
    details = {
        "meta": meta,
        "model": model,
        "precision": encoder.precision.dtype,
        "budgets": budgets,
        "indexes": indexes,
        "checks": checks,
        "seconds": round(seconds, 1),
        "machine_info": machine,
        "published": document,
        "runs": raw(runs, queries),
    }
    write(args.out, details, document, args.publish)
    return 0


def write(folder: Path, details: dict[str, Any], document: dict[str, Any], publish: bool) -> None:
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / f"eval-{time.strftime('%Y%m%d-%H%M%S')}.json"
    path.write_text(json.dumps(details, indent=1, default=str), encoding="utf-8")
    text = json.dumps(document, indent=2) + "\n"
    (folder / "evaluation.json").write_text(text, encoding="utf-8")
    log(f"wrote {path} and {folder / 'evaluation.json'}")
    if publish:
        text = json.dumps(merged_with_published(document), indent=2) + "\n"
        PUBLISHED_JSON.write_text(text, encoding="utf-8")
        log(f"published {PUBLISHED_JSON}")


def merged_with_published(document: dict[str, Any]) -> dict[str, Any]:
    """`document` plus the published runs of models it does not have (e.g. an int8 run beside bf16).

    Each kept run says when and at which commit it was measured, since the document's own fields
    describe only the newest run.
    """
    if not PUBLISHED_JSON.exists():
        return document
    previous = json.loads(PUBLISHED_JSON.read_text(encoding="utf-8"))
    ours = {r["model"] for r in document["runs"]}
    kept = [
        {**r, "measured": r.get("measured") or {k: previous.get(k) for k in ("generated_at", "commit")}}
        for r in previous.get("runs", [])
        if r["model"] not in ours
    ]
    return {**document, "runs": document["runs"] + kept}


if __name__ == "__main__":
    with common.exclusive_run("python -m bench.evaluate"):  # `python -m bench quick` holds it when it calls main
        raise SystemExit(main())
