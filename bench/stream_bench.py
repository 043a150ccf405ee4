"""Streaming at any size: rows/s and peak RSS of read -> plan -> clean -> chunk on a synthetic CSV.

    python -m bench.stream_bench                          # 10k, 100k and 1M rows
    python -m bench.stream_bench --sizes 20000 --no-baseline

What it covers, exactly: the two passes ingestion makes over a file before anything reaches the model
or the database. Pass one reads every record and plans (`plan_rows`: winning line per article id);
pass two reads the file again, keeps the winners, cleans them (`clean_row`) and splits them into
passages with the real e5-small-v2 tokenizer (`TokenCounter` on its tokenizer.json, the budget the
pipeline computes: 512 tokens less the specials, `passage: ` and the title). It does **not** encode
(e5-small-v2 on this CPU manages tens of passages a second: a million articles would take days) and
writes nothing to Cassandra; `bench/ingest_bench.py` measures those.

Each size runs in a fresh child process, so `peak RSS` (the kernel's high-water mark, VmHWM) belongs
to that size alone; `RSS after imports` is the same process before the first row. The baseline is the
plan pass as it was before this benchmark (a dict from 16-hex-digit id strings to line numbers), run
in its own child process on the same file beside the compact plan (ids and lines in flat integer
arrays, only winning lines kept).

The CSV is generated on the fly into a temporary file and deleted afterwards: clearly synthetic
articles ("Synthetic article N ... not news") on https://example.org/synthetic/ links, about 2,000
characters each like the real sample, sentences made from word lists with a seeded random generator so
few repeat (the token counter's cache gets no free ride), with 1% repeated links (duplicates to merge)
and 0.1% rows with a link that is not a URL (quarantined).
"""

from __future__ import annotations

import argparse
import csv
import json
import os
import random
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

from bench.common import REPO, machine_info, save_results, say, table

DEFAULT_SIZES = (10_000, 100_000, 1_000_000)
CONTENT_CHARS = 2_000

_CLUBS = [
    "Harbour City",
    "Northvale",
    "Riverside",
    "Coastal United",
    "Summit Athletic",
    "Valley Rovers",
    "Eastfield",
    "Westmoor",
]
_FIRST = [
    "Lucas",
    "Sindre",
    "Tom",
    "Mateo",
    "Kofi",
    "Jonas",
    "Rafael",
    "Emil",
    "Dario",
    "Yusuf",
    "Niklas",
    "Andrés",
    "Théo",
    "Bjørn",
]
_LAST = [
    "Aasland",
    "Ashworth",
    "Vandersteen",
    "Okafor",
    "Lindqvist",
    "Moreau",
    "Castillo",
    "Novak",
    "Brennan",
    "Kowalski",
]
_ROLES = ["striker", "goalkeeper", "centre-back", "left-back", "winger", "midfielder", "full-back"]
_TEMPLATES = (
    "{club} have agreed a fee of around £{fee}m with {club2} for {role} {first} {last}.",
    "The {age}-year-old scored {goals} goals last season and a medical is planned for {day}.",
    '"{first} is exactly what we needed," the {club} manager said on {day}.',
    "{club2} had rejected an opening bid of €{fee2}m for the {role} earlier in the window.",
    "{last} has {years} years left on his contract and earns a reported £{wage},000 a week.",
    "Talks between {club} and the player's representatives began in {month} and are at an advanced stage.",
    "The deal includes add-ons worth up to £{addon}m and a {pct}% sell-on clause for {club2}.",
    "{first} {last} would become the club's {nth} signing of the summer after {other} joined from {club2}.",
)
_DAYS = ["Monday", "Tuesday", "Wednesday", "Thursday", "Friday", "Saturday", "Sunday"]
_MONTHS = ["January", "February", "March", "April", "May", "June", "July", "August"]
_SHORT_MONTHS = ["Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec"]


# --- the synthetic file --------------------------------------------------------------------------


def synthetic_row(i: int, rng: random.Random, content_chars: int = CONTENT_CHARS) -> list[str]:
    """Row `i`: a clearly synthetic article on an example.org link (1% reuse an earlier link, 0.1% a bad one)."""
    club, club2 = rng.sample(_CLUBS, 2)
    first, last = rng.choice(_FIRST), rng.choice(_LAST)
    fill = {"club": club, "club2": club2, "first": first, "last": last, "role": rng.choice(_ROLES)}
    sentences = [f"Synthetic article {i} for the news-search streaming benchmark; not news."]
    size = len(sentences[0])
    while size < content_chars:
        template = rng.choice(_TEMPLATES)
        sentence = template.format(
            **fill,
            fee=rng.randint(2, 120),
            fee2=rng.randint(2, 90),
            age=rng.randint(17, 34),
            goals=rng.randint(0, 40),
            day=rng.choice(_DAYS),
            years=rng.randint(1, 5),
            wage=rng.randint(10, 400),
            month=rng.choice(_MONTHS),
            addon=rng.randint(1, 30),
            pct=rng.randint(5, 25),
            nth=rng.choice(["second", "third", "fourth", "fifth"]),
            other=f"{rng.choice(_FIRST)} {rng.choice(_LAST)}",
        )
        sentences.append(sentence)
        size += len(sentence) + 1
    roll = rng.random()
    if roll < 0.001:
        link = "not a link"
    elif roll < 0.011 and i > 10:
        link = f"https://example.org/synthetic/{rng.randrange(i)}"  # an earlier article again
    else:
        link = f"https://example.org/synthetic/{i}"
    date = f"{rng.choice(_SHORT_MONTHS)} {rng.randint(1, 28)}, {rng.randint(2020, 2023)}"
    title = f"{club} agree deal for {fill['role']} {first} {last} ({i})"
    return [title, date, link, " ".join(sentences)]


def write_synthetic_csv(path: Path, rows: int, content_chars: int = CONTENT_CHARS, seed: int = 7) -> int:
    """Write the file; returns its size in bytes."""
    rng = random.Random(seed)
    with path.open("w", encoding="utf-8", newline="") as f:
        writer = csv.writer(f, lineterminator="\n")
        writer.writerow(["Title", "Date", "Link", "Content"])
        for i in range(rows):
            writer.writerow(synthetic_row(i, rng, content_chars))
    return path.stat().st_size


# --- what a child process measures ---------------------------------------------------------------


def _status_kib(field: str) -> int:
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith(field + ":"):
            return int(line.split()[1])
    return 0


def _token_counter() -> tuple[Any, int]:
    """The e5-small-v2 tokenizer as the pipeline uses it, and the passage budget before the title."""
    from ingest.chunk import TokenCounter
    from newsindex.encoder import model_source
    from newsindex.profiles import profile_for
    from newsindex.settings import Settings

    settings = Settings.from_env(env={"NEWS_MODEL": "intfloat/e5-small-v2", "HF_HUB_OFFLINE": "1"})
    source, _ = model_source(settings, "intfloat/e5-small-v2")
    counter = TokenCounter.from_pretrained(source)
    profile = profile_for(settings)
    assert profile is not None
    specials = 2  # [CLS] and [SEP]
    return counter, profile.max_tokens - specials - counter(profile.passage_prefix)


def child_stream(path: Path) -> dict[str, Any]:
    """Both passes, as the pipeline makes them, up to (not including) encoding."""
    from ingest.chunk import split_passages
    from ingest.clean import clean_row
    from ingest.plan import Shard, link_id, plan_rows
    from ingest.read import read_rows
    from ingest.records import Quarantined

    counter, budget_base = _token_counter()
    rss_start = _status_kib("VmRSS")
    started = time.perf_counter()
    plan = plan_rows(read_rows(path), Shard())
    plan_s = time.perf_counter() - started
    rows = articles = quarantined = passages = tokens = 0
    started = time.perf_counter()
    for row in read_rows(path):
        rows += 1
        if isinstance(row, Quarantined):
            quarantined += 1
            continue
        if link_id(row.link) is not None and not plan.wins(row.line):
            continue  # a duplicate merged into its later copy (a link that is no URL goes on, to quarantine)
        article = clean_row(row)
        if isinstance(article, Quarantined):
            quarantined += 1
            continue
        articles += 1
        budget = budget_base - counter(article.title + "\n")
        for passage in split_passages(article, counter, budget, 32):
            passages += 1
            tokens += passage.token_count
    stream_s = time.perf_counter() - started
    return {
        "rows": rows,
        "articles": articles,
        "quarantined": quarantined,
        "duplicates": plan.duplicates,
        "passages": passages,
        "tokens": tokens,
        "pass1_s": plan_s,
        "pass2_s": stream_s,
        "plan_bytes": plan.lines.itemsize * len(plan.lines),
        "rss_after_imports_mib": rss_start / 1024,
        "peak_rss_mib": _status_kib("VmHWM") / 1024,
    }


def _dict_plan(path: Path) -> tuple[int, int]:
    """The plan pass before this change: a dict from id strings to lines (the baseline)."""
    from ingest.plan import link_id
    from ingest.read import read_rows
    from ingest.records import Quarantined

    winners: dict[str, int] = {}
    duplicates = 0
    for row in read_rows(path):
        if isinstance(row, Quarantined) or (ident := link_id(row.link)) is None:
            continue
        if ident in winners:
            duplicates += 1
        winners[ident] = row.line
    return len(winners), duplicates


def _array_plan(path: Path) -> tuple[int, int]:
    from ingest.plan import Shard, plan_rows
    from ingest.read import read_rows

    plan = plan_rows(read_rows(path), Shard())
    return plan.articles, plan.duplicates


def child_plan(path: Path, kind: str) -> dict[str, Any]:
    import ingest.plan  # imports (numpy) before the RSS baseline, as in the stream child
    import ingest.read  # noqa: F401

    rss_start = _status_kib("VmRSS")
    started = time.perf_counter()
    articles, duplicates = (_dict_plan if kind == "dict" else _array_plan)(path)
    return {
        "articles": articles,
        "duplicates": duplicates,
        "seconds": time.perf_counter() - started,
        "rss_after_imports_mib": rss_start / 1024,
        "peak_rss_mib": _status_kib("VmHWM") / 1024,
    }


def run_child(*args: str) -> dict[str, Any]:
    env = {**os.environ, "TOKENIZERS_PARALLELISM": "false", "HF_HUB_OFFLINE": "1"}
    done = subprocess.run(
        [sys.executable, "-m", "bench.stream_bench", *args], cwd=REPO, env=env, capture_output=True, text=True
    )
    if done.returncode != 0:
        raise RuntimeError(f"child {args} failed:\n{done.stderr[-3000:]}")
    result: dict[str, Any] = json.loads(done.stdout.strip().splitlines()[-1])
    return result


# --- the parent ----------------------------------------------------------------------------------


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="python -m bench.stream_bench", description=__doc__.split("\n")[0])
    parser.add_argument("--sizes", default=",".join(map(str, DEFAULT_SIZES)), help="rows per synthetic file")
    parser.add_argument(
        "--content-chars", type=int, default=CONTENT_CHARS, help="about how long each article is (the sample: 2,000)"
    )
    parser.add_argument("--no-baseline", action="store_true", help="skip the dict-plan baseline")
    parser.add_argument("--child", choices=["stream", "plan-dict", "plan-array"], help=argparse.SUPPRESS)
    parser.add_argument("--csv", type=Path, help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.child:
        data = child_stream(args.csv) if args.child == "stream" else child_plan(args.csv, args.child[5:])
        print(json.dumps(data))
        return
    sizes = [int(s) for s in args.sizes.split(",")]
    # No `exclusive_run` lock: this touches no keyspace, only the CPU, and every rate is printed
    # beside the load average it was measured under.
    results = [measure(size, args.content_chars, baseline=not args.no_baseline) for size in sizes]
    report(results)
    data = {"sizes": sizes, "content_chars": args.content_chars, "results": results, "machine_at_end": machine_info()}
    path = save_results("stream", data)
    say(f"\nresults: {path}")


def measure(size: int, content_chars: int, baseline: bool) -> dict[str, Any]:
    with tempfile.TemporaryDirectory(prefix="news-search-stream-") as folder:
        path = Path(folder) / f"synthetic-{size}.csv"
        started = time.perf_counter()
        file_bytes = write_synthetic_csv(path, size, content_chars)
        say(f"[stream] {size:,} rows: wrote {file_bytes / 2**20:,.0f} MiB in {time.perf_counter() - started:.0f}s")
        load = os.getloadavg()[0]
        stream = run_child("--child", "stream", "--csv", str(path))
        say(f"[stream] {size:,} rows streamed: {json.dumps(stream)}")
        result: dict[str, Any] = {
            "size": size,
            "content_chars": content_chars,
            "file_mib": file_bytes / 2**20,
            "load_before": load,
            **stream,
        }
        if baseline:
            for kind in ("array", "dict", "dict", "array"):  # alternated, each in a fresh process
                plan = run_child("--child", f"plan-{kind}", "--csv", str(path))
                result.setdefault(f"plan_{kind}", []).append(plan)
                say(f"[stream] {size:,} rows, plan pass with a {kind}: {json.dumps(plan)}")
        result["load_after"] = os.getloadavg()[0]
        return result


def report(results: list[dict[str, Any]]) -> None:
    say("\nread -> plan -> clean -> chunk (e5-small-v2 tokenizer), no encoding, no database")
    say(f"articles of about {results[0]['content_chars'] if results else '?'} characters")
    say(
        table(
            [
                "rows",
                "file MiB",
                "pass 1 rows/s",
                "pass 2 rows/s",
                "both passes rows/s",
                "passages",
                "RSS after imports MiB",
                "peak RSS MiB",
                "load 1-min",
            ],
            [
                (
                    r["size"],
                    r["file_mib"],
                    r["rows"] / r["pass1_s"],
                    r["rows"] / r["pass2_s"],
                    r["rows"] / (r["pass1_s"] + r["pass2_s"]),
                    r["passages"],
                    r["rss_after_imports_mib"],
                    r["peak_rss_mib"],
                    f"{r['load_before']:.1f} / {r['load_after']:.1f}",
                )
                for r in results
            ],
        )
    )
    with_baseline = [r for r in results if "plan_dict" in r]
    if not with_baseline:
        return
    say("\nplan pass alone, peak RSS (MiB, each run in a fresh process; two runs each, alternated)")
    rows = []
    for r in with_baseline:
        dict_peak = min(p["peak_rss_mib"] for p in r["plan_dict"])
        array_peak = min(p["peak_rss_mib"] for p in r["plan_array"])
        base = r["plan_array"][0]["rss_after_imports_mib"]
        rows.append(
            (
                r["size"],
                dict_peak,
                array_peak,
                (dict_peak - base) / max(array_peak - base, 0.1),
                r["size"] / min(p["seconds"] for p in r["plan_dict"]),
                r["size"] / min(p["seconds"] for p in r["plan_array"]),
            )
        )
    say(
        table(
            [
                "rows",
                "dict of id strings",
                "flat integer arrays",
                "growth ratio dict/arrays",
                "dict rows/s",
                "arrays rows/s",
            ],
            rows,
        )
    )


if __name__ == "__main__":
    main()
