"""The judged evaluation's inputs: the query sets (../shared/eval) and the judged corpus (data/news_sample.csv).

- `sample_queries.jsonl`: graded queries (2 = about exactly what is asked, 1 = discusses it), each
  with a `type` (event, topic, name + word, ...);
- `title_queries.jsonl`: known-item queries, an article's title must find its own link (type `title`);
- `corpus_links.txt`: the judged corpus, the first rows of data/news_sample.csv, by link.

Links are compared after the product's `ingest.clean.canonical_link`, the spelling the index stores.
The articles' text for the in-memory baselines is the product's cleaning (`ingest.clean.clean_row`)
of the same rows, so baselines and product see the same words.
"""

from __future__ import annotations

import csv
import json
from dataclasses import dataclass
from pathlib import Path

from bench import common

SAMPLE_QUERIES = "sample_queries"
TITLE_QUERIES = "title_queries"
QUERY_SETS = (SAMPLE_QUERIES, TITLE_QUERIES)


class MissingInputs(Exception):
    """An input file is absent or does not match the others; the message names the fix."""


@dataclass(frozen=True)
class Query:
    qid: str
    text: str
    type: str
    grades: dict[str, int]  # canonical link -> grade (1 or 2)


@dataclass(frozen=True)
class Doc:
    """One judged article as the product cleans it."""

    link: str  # canonical
    title: str
    content: str

    @property
    def text(self) -> str:
        return self.title + "\n" + self.content


@dataclass(frozen=True)
class EvalInputs:
    queries: dict[str, list[Query]]  # query set name -> queries, file order
    docs: list[Doc]  # the judged corpus, file order
    csv_path: Path  # exactly those rows, for `run_ingest`

    @property
    def links(self) -> set[str]:
        return {d.link for d in self.docs}


def load_queries(path: Path) -> list[Query]:
    from ingest.clean import canonical_link

    queries = []
    for number, line in enumerate(path.read_text(encoding="utf-8").splitlines(), start=1):
        if not line.strip():
            continue
        try:
            d = json.loads(line)
            grades = {canonical_link(link): int(g) for link, g in d["grades"].items()}
            queries.append(Query(str(d["id"]), d["query"], d.get("type") or "untyped", grades))
        except (ValueError, KeyError, TypeError) as exc:
            raise MissingInputs(f"{path}:{number}: not an eval query ({exc}); is this the shared eval set?") from None
    return queries


def corpus_links(path: Path) -> list[str]:
    from ingest.clean import canonical_link

    return [canonical_link(x) for x in path.read_text(encoding="utf-8").split() if x]


def write_judged_csv(sample: Path, rows: int, out: Path) -> None:
    """The first `rows` records of `sample`, copied as they are (the header included)."""
    with sample.open(encoding="utf-8", newline="") as src, out.open("w", encoding="utf-8", newline="") as dst:
        reader = csv.reader(src)
        writer = csv.writer(dst)
        writer.writerow(next(reader))
        for number, record in enumerate(reader):
            if number >= rows:
                break
            writer.writerow(record)


def cleaned_docs(path: Path) -> list[Doc]:
    """Every article of `path` through the product's reader and cleaner; a bad row is an error here."""
    from ingest.clean import clean_row
    from ingest.read import read_rows
    from ingest.records import Article, RawRow

    docs = []
    for row in read_rows(path):
        cleaned = clean_row(row) if isinstance(row, RawRow) else row
        if not isinstance(cleaned, Article):
            raise MissingInputs(f"{path}: a judged row does not clean to an article: {cleaned}")
        docs.append(Doc(cleaned.link, cleaned.title, cleaned.content))
    return docs


def load_inputs(workdir: Path) -> EvalInputs:
    """The query sets and the judged corpus, checked against each other; raises MissingInputs."""
    folder = common.eval_dir()
    files = {name: folder / f"{name}.jsonl" for name in QUERY_SETS} | {"corpus": folder / "corpus_links.txt"}
    missing = [str(p) for p in files.values() if not p.is_file()]
    if missing:
        raise MissingInputs(
            f"the eval sets are missing ({', '.join(missing)}); set NEWS_SHARED_DIR to the folder holding eval/"
        )
    sample = common.require_sample()
    links = corpus_links(files["corpus"])
    csv_path = workdir / "judged_corpus.csv"
    write_judged_csv(sample, len(links), csv_path)
    docs = cleaned_docs(csv_path)
    if [d.link for d in docs] != links:
        raise MissingInputs(
            f"the first {len(links)} rows of {sample} are not the judged corpus {files['corpus']}; "
            "are the eval sets and the sample from the same version?"
        )
    queries = {name: load_queries(files[name]) for name in QUERY_SETS}
    known = set(links)
    for name, items in queries.items():
        stray = sorted({link for q in items for link in q.grades} - known)
        if stray:
            raise MissingInputs(f"{files[name]} judges {len(stray)} links outside the corpus, e.g. {stray[0]}")
    return EvalInputs(queries, docs, csv_path)
